// Package transfertest runs gettoken_transfer_plugin, built from the main
// module, as HTCondor's starter runs it (-infile/-outfile/-upload, a
// job-like $_CONDOR_CREDS), against a real XRootD server with its HTTP and
// SciTokens plugins on loopback with TLS. XRootD trusts a local SciTokens
// issuer (the credmon's local issuer code, with a key pair made by the
// credmon's key functions) whose openid-configuration and JWKS are served
// over HTTPS by the test; XRootD fetches them with libcurl, which is made
// to trust the test CA by running XRootD in a private mount namespace
// with the CA bundle bind-mounted over the system one (hence root).
package transfertest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/credmon"
	"github.com/vaultcred/gettoken/integration/stack"
)

var (
	pluginBin string
	xrd       *xrootd
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func missing() []string {
	var out []string
	if _, err := exec.LookPath("xrootd"); err != nil {
		out = append(out, "xrootd (Debian xrootd-server)")
	}
	for _, lib := range []string{"libXrdHttp-5.so", "libXrdAccSciTokens-5.so"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/x86_64-linux-gnu", lib)); err != nil {
			if m, _ := filepath.Glob("/usr/lib*/" + lib); len(m) == 0 {
				out = append(out, lib+" (xrootd-server-plugins, xrootd-scitokens-plugins)")
			}
		}
	}
	if os.Geteuid() != 0 {
		out = append(out, "root (for the mount namespace XRootD runs in)")
	}
	return out
}

func run(m *testing.M) int {
	if miss := missing(); miss != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "transfertest: prerequisites missing in CI: %v\n", miss)
			return 1
		}
		fmt.Fprintf(os.Stderr, "transfertest: SKIPPING all tests, prerequisites missing (run make prereqs): %v\n", miss)
		return 0
	}
	dir, err := os.MkdirTemp("", "transfertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	pluginBin = filepath.Join(dir, "gettoken_transfer_plugin")
	build := exec.Command("go", "build", "-o", pluginBin, "./cmd/gettoken_transfer_plugin")
	build.Dir = filepath.Dir(stack.ModuleDir())
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "transfertest: building the plugin: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	xrd, err = startXRootD(ctx, filepath.Join(dir, "xrd"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "transfertest: %v\n", err)
		if xrd != nil {
			xrd.dumpLog(os.Stderr)
			xrd.stop()
		}
		return 1
	}
	code := m.Run()
	if code != 0 {
		xrd.dumpLog(os.Stderr)
	}
	xrd.stop()
	return code
}

// xrootd is a running XRootD server and the issuer it trusts.
type xrootd struct {
	dir      string
	data     string // the exported directory: URL path /x is data+/x
	base     string // https://localhost:port
	port     int
	certs    *stack.Certs
	issuer   string
	audience string
	key      crypto.Signer
	keyPath  string
	cmd      *exec.Cmd
	jwks     *http.Server
	log      string
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startXRootD(ctx context.Context, dir string) (*xrootd, error) {
	x := &xrootd{dir: dir, data: filepath.Join(dir, "data")}
	for _, d := range []string{dir, x.data, filepath.Join(x.data, "user"), filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	var err error
	if x.certs, err = stack.MakeCerts(dir); err != nil {
		return nil, err
	}
	// The local issuer: a key pair as the credmon makes it, its JWKS
	// served over HTTPS with the stack's CA.
	if x.key, err = credmon.GenerateSigningKey(credmon.KeyEC); err != nil {
		return nil, err
	}
	x.keyPath = filepath.Join(dir, "issuer-key.pem")
	if err := credmon.WriteKeyPair(x.key, x.keyPath, filepath.Join(dir, "issuer-pub.pem")); err != nil {
		return nil, err
	}
	if err := x.serveJWKS(); err != nil {
		return nil, err
	}
	if x.port, err = freePort(); err != nil {
		return nil, err
	}
	x.base = fmt.Sprintf("https://localhost:%d", x.port)
	x.audience = x.base
	// A CA bundle: the system's plus the test CA, for libcurl in XRootD.
	sys, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	ca, err := os.ReadFile(x.certs.CAFile)
	if err != nil {
		return nil, err
	}
	bundle := filepath.Join(dir, "ca-bundle.crt")
	if err := os.WriteFile(bundle, append(append(sys, '\n'), ca...), 0o644); err != nil {
		return nil, err
	}
	scitokens := fmt.Sprintf(`[Global]
audience = %s

[Issuer local]
issuer = %s
base_path = /
map_subject = False
default_user = nobody
`, x.audience, x.issuer)
	if err := os.WriteFile(filepath.Join(dir, "scitokens.cfg"), []byte(scitokens), 0o644); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`all.export /
oss.localroot %s
xrd.port %d
xrd.protocol XrdHttp:%d libXrdHttp.so
xrd.tls %s %s
xrd.tlsca certfile %s
all.adminpath %s
all.pidpath %s
ofs.authorize 1
ofs.authlib libXrdAccSciTokens.so config=%s
http.header2cgi Authorization authz
http.listingdeny yes
xrootd.chksum adler32
scitokens.trace all
`, x.data, x.port, x.port, x.certs.CertFile, x.certs.KeyFile, x.certs.CAFile,
		filepath.Join(dir, "run"), filepath.Join(dir, "run"), filepath.Join(dir, "scitokens.cfg"))
	cfgPath := filepath.Join(dir, "xrootd.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	logDir := filepath.Join(dir, "log")
	os.Mkdir(logDir, 0o755)
	os.Chown(logDir, 65534, 65534)
	x.log = filepath.Join(logDir, "xrootd.log")
	script := `mount --make-rprivate / && mount --bind "$1" /etc/ssl/certs/ca-certificates.crt && shift && exec "$@"`
	x.cmd = exec.CommandContext(ctx, "unshare", "--mount", "sh", "-c", script, "sh", bundle,
		"xrootd", "-c", cfgPath, "-l", x.log, "-R", "nobody")
	x.cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	os.MkdirAll(filepath.Join(dir, "cache"), 0o777)
	os.Chmod(filepath.Join(dir, "cache"), 0o777)
	var out bytes.Buffer
	x.cmd.Stdout, x.cmd.Stderr = &out, &out
	// XRootD runs as nobody: it must write the exported tree.
	os.Chmod(x.certs.CAFile, 0o644)
	os.Chmod(x.certs.CertFile, 0o644)
	for _, d := range []string{x.data, filepath.Join(x.data, "user"), filepath.Join(dir, "run"), x.certs.KeyFile} {
		os.Chown(d, 65534, 65534)
	}
	if err := x.cmd.Start(); err != nil {
		return x, err
	}
	exited := make(chan error, 1)
	go func() { exited <- x.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", x.port), &tls.Config{RootCAs: x.certs.Pool, ServerName: "localhost"})
		if err == nil {
			c.Close()
			return x, nil
		}
		select {
		case err := <-exited:
			return x, fmt.Errorf("xrootd exited: %v: %s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return x, fmt.Errorf("xrootd did not accept TLS connections within 30 s: %s", out.String())
		}
	}
}

func (x *xrootd) serveJWKS() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	x.issuer = fmt.Sprintf("https://localhost:%d", l.Addr().(*net.TCPAddr).Port)
	jwks, err := credmon.PublicJWKS(x.key.Public(), "local")
	if err != nil {
		return err
	}
	oidc, err := credmon.OpenIDConfiguration(x.issuer, x.issuer+"/jwks")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(oidc)
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	})
	x.jwks = &http.Server{Handler: mux}
	go x.jwks.ServeTLS(l, x.certs.CertFile, x.certs.KeyFile)
	return nil
}

func (x *xrootd) stop() {
	if x.cmd != nil && x.cmd.Process != nil {
		x.cmd.Process.Kill()
	}
	if x.jwks != nil {
		x.jwks.Close()
	}
}

func (x *xrootd) dumpLog(w *os.File) {
	b, _ := os.ReadFile(x.log)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	fmt.Fprintf(w, "--- xrootd log (tail) ---\n%s\n", b)
}

// mint returns a token from the credmon's local issuer for user with the
// given scope template, issued at now.
func (x *xrootd) mint(t *testing.T, user, template string, now time.Time, lifetime time.Duration) string {
	t.Helper()
	p, err := credmon.NewLocalProvider(credmon.LocalConfig{
		Provider: "store", PrivateKeyPath: x.keyPath, KeyID: "local", Issuer: x.issuer,
		Audience: []string{x.audience}, Version: "scitoken:2.0", Lifetime: lifetime,
		Scopes: credmon.ScopePolicy{AuthzTemplate: template},
		Now:    func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.Mint(user)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (x *xrootd) url(scheme, p string) string {
	return scheme + strings.TrimPrefix(x.base, "https") + p
}
