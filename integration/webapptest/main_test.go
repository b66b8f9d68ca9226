// Package webapptest runs condor_credmon_webserver, built from the main
// module, as an access point runs it (as root, knobs through the stand-in
// condor_config_val, key files written by the credd stand-in for the
// condor_submit stand-in), against the stack's real OpenID provider, in
// headless Chromium and with plain HTTP clients; then the credmon
// (condor_credmon_vault) refreshes what the web application stored.
//
// Screenshots of every page of the browser test are written to the test's
// artifact directory: run with -artifacts -outputdir DIR to keep them.
package webapptest

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/integration/condor"
	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

var env *harness.Env

// accessTTL is the IdP's access token lifetime: short, so the credmon
// refreshes within the test.
const accessTTL = 20 * time.Second

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, "webapptest", &env, stack.Options{PollInterval: 1, AccessTokenTTL: accessTTL}, nil,
		"condor_credmon_webserver", "condor_credmon_vault", "condor_credmon_vault_keygen"))
}

// site is one access point: the HTCondor stand-ins, the web application
// on https://localhost:<port>/credmon, and the IdP behind TLS.
type site struct {
	t       *testing.T
	condor  *condor.Condor
	web     *stack.Proc
	base    string // https://localhost:<port>/credmon
	idpTLS  string // https://localhost:<port> in front of the IdP
	secret  string // the client secret
	cid     string
	pubFile string
}

// tlsProxy serves target behind TLS with the stack's certificate, on
// https://localhost:<port>.
func tlsProxy(t *testing.T, h http.Handler) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(env.Stack.Certs.CertFile, env.Stack.Certs.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "https://localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// newSite starts an access point with the providers box (no handle) and
// mytokens (used with a handle), both clients of the stack's IdP, plus
// knobs.
func newSite(t *testing.T, knobs map[string]string) *site {
	t.Helper()
	dir, err := os.MkdirTemp("", "webapp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	iss := env.Stack.Issuers[0]
	u, _ := url.Parse(env.Stack.IdP.URL)
	s := &site{t: t, secret: iss.ClientSecret, cid: iss.ClientID}
	s.idpTLS = tlsProxy(t, httputil.NewSingleHostReverseProxy(u))
	secretFile := filepath.Join(dir, "client.secret")
	if err := os.WriteFile(secretFile, []byte(iss.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	priv, pub := filepath.Join(dir, "issuer.pem"), filepath.Join(dir, "issuer.pub")
	if out, err := exec.Command(filepath.Join(env.Bin, "condor_credmon_vault_keygen"), "-private", priv, "-public", pub, "-kid", "key1").CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	s.pubFile = pub
	port, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s.base = "https://localhost:" + strconv.Itoa(port) + "/credmon"
	all := map[string]string{
		"CREDMON_WEB_PREFIX":           s.base,
		"CREDMON_WEB_LISTEN":           "127.0.0.1:" + strconv.Itoa(port),
		"CREDMON_WEB_CERTIFICATE_FILE": env.Stack.Certs.CertFile,
		"CREDMON_WEB_KEY_FILE":         env.Stack.Certs.KeyFile,
		"LOCAL_CREDMON_PUBLIC_KEY":     pub,
		"LOCAL_CREDMON_KEY_ID":         "key1",
		"LOCAL_CREDMON_ISSUER":         "https://ap.example.org",
		"CREDMON_OAUTH_LOG":            filepath.Join(dir, "CredmonOauthLog"),
	}
	for _, p := range []string{"BOX", "MYTOKENS"} {
		all[p+"_CLIENT_ID"] = iss.ClientID
		all[p+"_CLIENT_SECRET_FILE"] = secretFile
		all[p+"_RETURN_URL_SUFFIX"] = "/return/" + strings.ToLower(p)
		all[p+"_AUTHORIZATION_URL"] = env.Stack.IdP.URL + "/auth"
		all[p+"_TOKEN_URL"] = s.idpTLS + "/token"
	}
	// box's scopes come from the admin's default (the submit file names
	// none); mytokens's from the submit file, with a handle.
	all["BOX_DEFAULT_SCOPES"] = "compute.read"
	for k, v := range knobs {
		all[k] = v
	}
	c, err := condor.Start(t.Context(), dir, env.Stack.LogDir, all)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	s.condor = c
	s.web, err = stack.StartProc(env.Stack.LogDir, "webserver-"+filepath.Base(dir),
		append(append([]string{}, c.Env...), "SSL_CERT_FILE="+env.CAFile), dir, filepath.Join(env.Bin, "condor_credmon_webserver"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.web.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("web server log:\n%s", s.web.Tail(4000))
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.web.WaitFor(ctx, "its port", stack.DialReady("127.0.0.1:"+strconv.Itoa(port))); err != nil {
		t.Fatal(err)
	}
	return s
}

// submitFile is a job asking for box and mytokens with handle personal.
const submitFile = `executable = /bin/true
use_oauth_services = box, mytokens
mytokens_oauth_permissions_personal = storage.read:/, storage.create:/
mytokens_oauth_resource_personal = https://storage.example.org
queue
`

var visitRE = regexp.MustCompile(`\nHellow, (\S+)\.\nPlease visit: (https://\S+/key/[0-9a-f]{64})\n\n`)

// submit runs condor_submit as sub on the submit file and returns the
// URL it prints (failing unless it prints one).
func (s *site) submit(sub *harness.Submitter) string {
	s.t.Helper()
	f := filepath.Join(sub.Dir, "job.sub")
	if err := os.WriteFile(f, []byte(submitFile), 0o644); err != nil {
		s.t.Fatal(err)
	}
	r := sub.Exec(filepath.Join(s.condor.Bin, "condor_submit"), "", f)
	m := visitRE.FindStringSubmatch(r.Stdout)
	if r.Code != 1 || m == nil {
		s.t.Fatalf("condor_submit: want the login URL and exit 1\n%s", r)
	}
	if !strings.HasPrefix(m[2], s.base+"/key/") {
		s.t.Fatalf("URL %s is not under %s", m[2], s.base)
	}
	return m[2]
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
