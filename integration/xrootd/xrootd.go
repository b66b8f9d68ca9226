// Package xrootd runs a real XRootD server (Debian xrootd-server with its
// HTTP and SciTokens plugins) on loopback with TLS, trusting a local
// SciTokens issuer: a key pair made by the credmon's key functions, tokens
// minted by the credmon's local issuer code, and the issuer's
// openid-configuration and JWKS served over HTTPS. XRootD fetches those
// with libcurl, which reads only the system CA bundle, so XRootD runs in a
// private mount namespace with a bundle holding the test CA bind-mounted
// over the system one; that needs root. The exported tree is writable by
// the tokens' scopes under /user/<name>.
//
// No checksum is configured (xrootd.chksum): XRootD 5.5.3 from Debian
// intermittently segfaults in libXrdHttpUtils answering a GET with
// Want-Digest when one is (two crashes in six runs here).
package xrootd

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/vaultcred/gettoken/credmon"
	"github.com/vaultcred/gettoken/integration/stack"
)

// Missing lists what this machine lacks to run XRootD here (nil if
// nothing).
func Missing() []string {
	var out []string
	if _, err := exec.LookPath("xrootd"); err != nil {
		out = append(out, "xrootd (Debian xrootd-server)")
	}
	for _, lib := range []string{"libXrdHttp-5.so", "libXrdAccSciTokens-5.so"} {
		a, _ := filepath.Glob("/usr/lib*/" + lib)
		b, _ := filepath.Glob("/usr/lib*/*/" + lib)
		if len(a)+len(b) == 0 {
			out = append(out, lib+" (xrootd-server-plugins, xrootd-scitokens-plugins)")
		}
	}
	if os.Geteuid() != 0 {
		out = append(out, "root (for the mount namespace XRootD runs in)")
	}
	return out
}

// Server is a running XRootD server and the local issuer it trusts.
type Server struct {
	dir string
	// Data is the exported directory: URL path /x is Data+"/x".
	Data string
	// Base is https://localhost:<port>.
	Base string
	port int
	// Certs are the CA and server certificate (CAFile for X509_CERT_DIR).
	Certs *stack.Certs
	// Issuer is the local issuer's URL; Audience the tokens' "aud".
	Issuer, Audience string
	key              crypto.Signer
	keyPath          string
	cmd              *exec.Cmd
	jwks             *http.Server
	log              string
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func Start(ctx context.Context, dir string) (*Server, error) {
	x := &Server{dir: dir, Data: filepath.Join(dir, "data")}
	for _, d := range []string{dir, x.Data, filepath.Join(x.Data, "user"), filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	var err error
	if x.Certs, err = stack.MakeCerts(dir); err != nil {
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
	x.Base = fmt.Sprintf("https://localhost:%d", x.port)
	x.Audience = x.Base
	// A CA bundle: the system's plus the test CA, for libcurl in XRootD.
	sys, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	ca, err := os.ReadFile(x.Certs.CAFile)
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
`, x.Audience, x.Issuer)
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
scitokens.trace all
`, x.Data, x.port, x.port, x.Certs.CertFile, x.Certs.KeyFile, x.Certs.CAFile,
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
	os.Chmod(x.Certs.CAFile, 0o644)
	os.Chmod(x.Certs.CertFile, 0o644)
	for _, d := range []string{x.Data, filepath.Join(x.Data, "user"), filepath.Join(dir, "run"), x.Certs.KeyFile} {
		os.Chown(d, 65534, 65534)
	}
	if err := x.cmd.Start(); err != nil {
		return x, err
	}
	exited := make(chan error, 1)
	go func() { exited <- x.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", x.port), &tls.Config{RootCAs: x.Certs.Pool, ServerName: "localhost"})
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

func (x *Server) serveJWKS() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	x.Issuer = fmt.Sprintf("https://localhost:%d", l.Addr().(*net.TCPAddr).Port)
	jwks, err := credmon.PublicJWKS(x.key.Public(), "local")
	if err != nil {
		return err
	}
	oidc, err := credmon.OpenIDConfiguration(x.Issuer, x.Issuer+"/jwks")
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
	go x.jwks.ServeTLS(l, x.Certs.CertFile, x.Certs.KeyFile)
	return nil
}

// Stop kills XRootD and the issuer's HTTPS server.
func (x *Server) Stop() {
	if x.cmd != nil && x.cmd.Process != nil {
		x.cmd.Process.Kill()
	}
	if x.jwks != nil {
		x.jwks.Close()
	}
}

// DumpLog writes the tail of XRootD's log to w.
func (x *Server) DumpLog(w io.Writer) {
	b, _ := os.ReadFile(x.log)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	fmt.Fprintf(w, "--- xrootd log (tail) ---\n%s\n", b)
}

// Mint returns a token from the credmon's local issuer for user with the
// given scope template, issued at now.
func (x *Server) Mint(user, template string, now time.Time, lifetime time.Duration) (string, error) {
	p, err := credmon.NewLocalProvider(credmon.LocalConfig{
		Provider: "store", PrivateKeyPath: x.keyPath, KeyID: "local", Issuer: x.Issuer,
		Audience: []string{x.Audience}, Version: "scitoken:2.0", Lifetime: lifetime,
		Scopes: credmon.ScopePolicy{AuthzTemplate: template},
		Now:    func() time.Time { return now },
	})
	if err != nil {
		return "", err
	}
	return p.Mint(user)
}
