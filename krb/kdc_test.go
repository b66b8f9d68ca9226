package krb

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/goidentity/v6"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// A real MIT KDC (Debian krb5-kdc) in a temporary directory, configured as
// the integration stack's KDC (integration/stack/kdc.go). host/localhost has +no_auth_data_required (no
// PAC, so gokrb5 acceptors work); host/pac.localhost does not.

const (
	kdcRealm    = "TEST.REALM"
	spnGood     = "host/localhost"
	spnPAC      = "host/pac.localhost"
	alicePass   = "alice-Pa55word"
	bobPass     = "bob-Pa55word"
	masterPass  = "master-Pa55word"
	kdcStartMax = 20 * time.Second
)

type testKDC struct {
	dir      string
	addr     string // 127.0.0.1:port
	krb5conf string
	keytab   *keytab.Keytab
	env      []string
	bins     map[string]string

	mu     sync.Mutex
	stderr bytes.Buffer
}

// mitBinary finds an MIT tool in PATH or the Debian locations.
func mitBinary(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// freeLoopbackPort returns a port free for both TCP and UDP on 127.0.0.1.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free loopback port for TCP and UDP")
	return 0
}

// startKDC creates a realm and starts krb5kdc; it is stopped in t.Cleanup.
// Without the MIT binaries the test is skipped, unless CI=true.
func startKDC(t *testing.T) *testKDC {
	t.Helper()
	k := &testKDC{dir: t.TempDir(), bins: map[string]string{}}
	for _, b := range []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit", "kdestroy", "kvno"} {
		p, ok := mitBinary(b)
		if !ok {
			if os.Getenv("CI") == "true" {
				t.Fatalf("MIT Kerberos binary %s not found (install krb5-kdc, krb5-admin-server, krb5-user)", b)
			}
			t.Skipf("MIT Kerberos binary %s not found; install krb5-kdc, krb5-admin-server and krb5-user to run this test", b)
		}
		k.bins[b] = p
	}
	port := freeLoopbackPort(t)
	k.addr = "127.0.0.1:" + strconv.Itoa(port)
	d := k.dir
	kdcConf := writeFile(t, filepath.Join(d, "kdc.conf"), []byte(fmt.Sprintf(`[kdcdefaults]
 kdc_listen = %[1]s
 kdc_tcp_listen = %[1]s
[realms]
 %[2]s = {
  database_name = %[3]s/principal
  key_stash_file = %[3]s/stash
  acl_file = %[3]s/kadm5.acl
  max_life = 10h
  max_renewable_life = 7d
 }
[logging]
 kdc = STDERR
`, k.addr, kdcRealm, d)))
	writeFile(t, filepath.Join(d, "kadm5.acl"), nil)
	k.krb5conf = writeFile(t, filepath.Join(d, "krb5.conf"), []byte(fmt.Sprintf(`[libdefaults]
 default_realm = %[1]s
 dns_lookup_kdc = false
 dns_lookup_realm = false
 rdns = false
 udp_preference_limit = 1
[realms]
 %[1]s = {
  kdc = %[2]s
 }
`, kdcRealm, k.addr)))
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KRB5") {
			k.env = append(k.env, e)
		}
	}
	k.env = append(k.env, "KRB5_CONFIG="+k.krb5conf, "KRB5_KDC_PROFILE="+kdcConf,
		"KRB5CCNAME=FILE:"+filepath.Join(d, "default_ccache"), "KRB5RCACHEDIR="+d)

	k.run(t, "", "kdb5_util", "create", "-s", "-r", kdcRealm, "-P", masterPass)
	for _, q := range []string{
		"addprinc -pw " + alicePass + " alice",
		"addprinc -pw " + bobPass + " bob",
		"addprinc -randkey +no_auth_data_required " + spnGood,
		"addprinc -randkey " + spnPAC,
		"ktadd -k " + filepath.Join(d, "service.keytab") + " " + spnGood + " " + spnPAC,
	} {
		k.run(t, "", "kadmin.local", "-r", kdcRealm, "-q", q)
	}
	kt, err := keytab.Load(filepath.Join(d, "service.keytab"))
	if err != nil {
		t.Fatalf("load keytab: %v", err)
	}
	k.keytab = kt

	cmd := exec.Command(k.bins["krb5kdc"], "-n", "-P", filepath.Join(d, "kdc.pid"))
	cmd.Env = k.env
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start krb5kdc: %v", err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pipe)
		signalled := false
		for sc.Scan() {
			k.mu.Lock()
			k.stderr.WriteString(sc.Text() + "\n")
			k.mu.Unlock()
			if !signalled && strings.Contains(sc.Text(), "commencing operation") {
				close(ready)
				signalled = true
			}
		}
		_, _ = io.Copy(io.Discard, pipe)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	select {
	case <-ready:
	case <-time.After(kdcStartMax):
		t.Fatalf("krb5kdc did not start within %v; stderr:\n%s", kdcStartMax, k.log())
	}
	return k
}

func (k *testKDC) log() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stderr.String()
}

// run runs an MIT tool with the realm's environment, stdin as given.
func (k *testKDC) run(t *testing.T, stdin string, tool string, args ...string) {
	t.Helper()
	k.runEnv(t, nil, stdin, tool, args...)
}

func (k *testKDC) runEnv(t *testing.T, extraEnv []string, stdin string, tool string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bins[tool], args...)
	cmd.Env = append(append([]string(nil), k.env...), extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s\nKDC log:\n%s", tool, strings.Join(args, " "), err, out, k.log())
	}
}

// kinit gets a TGT for principal into ccname (with -c) using the password.
func (k *testKDC) kinit(t *testing.T, ccname, principal, password string) {
	t.Helper()
	k.run(t, password+"\n", "kinit", "-c", ccname, principal)
}

// load calls LoadFromEnv with KRB5CCNAME=ccname and the realm's krb5.conf.
func (k *testKDC) load(t *testing.T, ccname string, opts Options) *Client {
	t.Helper()
	c, err := LoadFromEnv(k.options(ccname, opts))
	if err != nil {
		t.Fatalf("LoadFromEnv(%s): %v", ccname, err)
	}
	t.Cleanup(c.Close)
	return c
}

func (k *testKDC) options(ccname string, opts Options) Options {
	env := map[string]string{"KRB5CCNAME": ccname, "KRB5_CONFIG": k.krb5conf}
	opts.LookupEnv = envMap(env)
	return opts
}

// accept runs gokrb5's SPNEGO HTTP acceptor (the code path of Vault's
// kerberos auth plugin) with the service keytab and returns the status, the
// authenticated user and the acceptor's log.
func (k *testKDC) accept(t *testing.T, spn, header string, extra ...func(*service.Settings)) (int, string, string) {
	t.Helper()
	var logBuf bytes.Buffer
	var user string
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := goidentity.FromHTTPRequestContext(r); id != nil {
			user = id.UserName() + "@" + id.Domain()
		}
		w.WriteHeader(http.StatusOK)
	})
	settings := append([]func(*service.Settings){service.KeytabPrincipal(spn), service.Logger(log.New(&logBuf, "", 0))}, extra...)
	h := spnego.SPNEGOKRB5Authenticate(inner, k.keytab, settings...)
	req := httptest.NewRequest(http.MethodPost, "https://localhost:8200/v1/auth/kerberos/login", strings.NewReader(""))
	req.Header.Set("Authorization", header)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, user, logBuf.String()
}

func negotiate(t *testing.T, c *Client, spn string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	h, err := c.NegotiateHeader(ctx, spn)
	if err != nil {
		t.Fatalf("NegotiateHeader(%s): %v", spn, err)
	}
	if !strings.HasPrefix(h, "Negotiate ") || len(h) < 100 {
		t.Fatalf("header does not look like a Negotiate token: %.30q", h)
	}
	return h
}

func TestRealKDC(t *testing.T) {
	k := startKDC(t)
	d := k.dir

	t.Run("FILE cache accepted by gokrb5 acceptor", func(t *testing.T) {
		cc := "FILE:" + filepath.Join(d, "alice_cc")
		k.kinit(t, cc, "alice", alicePass)
		c := k.load(t, cc, Options{})
		if c.Principal() != "alice@"+kdcRealm {
			t.Fatalf("principal %q", c.Principal())
		}
		code, user, logs := k.accept(t, spnGood, negotiate(t, c, spnGood))
		if code != http.StatusOK || user != "alice@"+kdcRealm {
			t.Fatalf("acceptor: status %d user %q log:\n%s", code, user, logs)
		}
	})

	t.Run("bare path and host case", func(t *testing.T) {
		cc := filepath.Join(d, "alice_bare")
		k.kinit(t, cc, "alice", alicePass)
		c := k.load(t, cc, Options{Principal: "alice"})
		code, user, logs := k.accept(t, spnGood, negotiate(t, c, "host/LocalHost."))
		if code != http.StatusOK || user != "alice@"+kdcRealm {
			t.Fatalf("acceptor: status %d user %q log:\n%s", code, user, logs)
		}
	})

	t.Run("DIR collection and explicit principal", func(t *testing.T) {
		coll := filepath.Join(d, "collection")
		if err := os.Mkdir(coll, 0o700); err != nil {
			t.Fatal(err)
		}
		// kinit into the default collection, as a user with
		// KRB5CCNAME=DIR:... does: bob's cache becomes primary.
		env := []string{"KRB5CCNAME=DIR:" + coll}
		k.runEnv(t, env, alicePass+"\n", "kinit", "alice")
		k.runEnv(t, env, bobPass+"\n", "kinit", "bob")

		primary := k.load(t, "DIR:"+coll, Options{})
		if primary.Principal() != "bob@"+kdcRealm || !strings.HasPrefix(primary.CacheName(), "DIR::"+coll+"/tkt") {
			t.Fatalf("primary: %s in %s", primary.Principal(), primary.CacheName())
		}
		chosen := k.load(t, "DIR:"+coll, Options{Principal: "alice@" + kdcRealm})
		if chosen.Principal() != "alice@"+kdcRealm {
			t.Fatalf("explicit principal chose %s", chosen.Principal())
		}
		for _, c := range []*Client{primary, chosen} {
			code, user, logs := k.accept(t, spnGood, negotiate(t, c, spnGood))
			if code != http.StatusOK || user != c.Principal() {
				t.Fatalf("acceptor for %s: status %d user %q log:\n%s", c.Principal(), code, user, logs)
			}
		}
		_, err := LoadFromEnv(k.options("DIR:"+coll, Options{Principal: "carol"}))
		if !errors.Is(err, ErrPrincipalMismatch) {
			t.Fatalf("absent principal: %v", err)
		}
	})

	t.Run("PAC without no_auth_data_required is rejected", func(t *testing.T) {
		cc := "FILE:" + filepath.Join(d, "alice_pac")
		k.kinit(t, cc, "alice", alicePass)
		c := k.load(t, cc, Options{})
		code, _, logs := k.accept(t, spnPAC, negotiate(t, c, spnPAC))
		if code != http.StatusUnauthorized || !strings.Contains(logs, "KerbValidationInfo") {
			t.Fatalf("want 401 with a PAC error, got %d, log:\n%s", code, logs)
		}
		// The same kind of token passes when the acceptor skips the PAC:
		// the PAC is the only problem.
		code, user, logs := k.accept(t, spnPAC, negotiate(t, c, spnPAC), service.DecodePAC(false))
		if code != http.StatusOK || user != "alice@"+kdcRealm {
			t.Fatalf("with DecodePAC(false): status %d user %q log:\n%s", code, user, logs)
		}
	})

	t.Run("expired TGT", func(t *testing.T) {
		cc := "FILE:" + filepath.Join(d, "alice_exp")
		k.kinit(t, cc, "alice", alicePass)
		later := func() time.Time { return time.Now().Add(48 * time.Hour) }
		_, err := LoadFromEnv(k.options(cc, Options{Now: later}))
		if !errors.Is(err, ErrTGTExpired) {
			t.Fatalf("err = %v, want ErrTGTExpired", err)
		}
	})

	t.Run("destroyed cache", func(t *testing.T) {
		cc := "FILE:" + filepath.Join(d, "alice_gone")
		k.kinit(t, cc, "alice", alicePass)
		k.run(t, "", "kdestroy", "-c", cc)
		_, err := LoadFromEnv(k.options(cc, Options{}))
		if !errors.Is(err, ErrNoCredentials) {
			t.Fatalf("err = %v, want ErrNoCredentials", err)
		}
	})

	t.Run("unknown service principal", func(t *testing.T) {
		cc := "FILE:" + filepath.Join(d, "alice_unknown")
		k.kinit(t, cc, "alice", alicePass)
		c := k.load(t, cc, Options{})
		_, err := c.NegotiateHeader(context.Background(), "host/nosuch.localhost")
		if !errors.Is(err, ErrKDCRefused) || !strings.Contains(err.Error(), "PRINCIPAL_UNKNOWN") {
			t.Fatalf("err = %v, want ErrKDCRefused naming PRINCIPAL_UNKNOWN", err)
		}
	})

	t.Run("unreachable KDC", func(t *testing.T) {
		cc := "FILE:" + filepath.Join(d, "alice_unreach")
		k.kinit(t, cc, "alice", alicePass)
		for _, tc := range []struct {
			name     string
			kdc      string
			deadline time.Duration
		}{
			{"silent KDC", blackHoleKDC(t), 400 * time.Millisecond},
			{"closed port", "127.0.0.1:" + strconv.Itoa(freeLoopbackPort(t)), 10 * time.Second},
		} {
			t.Run(tc.name, func(t *testing.T) {
				conf := writeFile(t, filepath.Join(t.TempDir(), "krb5.conf"), []byte(
					"[libdefaults]\n udp_preference_limit = 1\n dns_lookup_kdc = false\n[realms]\n "+kdcRealm+" = {\n  kdc = "+tc.kdc+"\n }\n"))
				c, err := LoadFromEnv(Options{LookupEnv: envMap(map[string]string{"KRB5CCNAME": cc, "KRB5_CONFIG": conf})})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				ctx, cancel := context.WithTimeout(context.Background(), tc.deadline)
				defer cancel()
				start := time.Now()
				_, err = c.NegotiateHeader(ctx, spnGood)
				if !errors.Is(err, ErrKDCUnreachable) {
					t.Fatalf("err = %v, want ErrKDCUnreachable", err)
				}
				if el := time.Since(start); el > tc.deadline+time.Second {
					t.Fatalf("took %v with deadline %v", el, tc.deadline)
				}
			})
		}
	})

	t.Run("missing krb5.conf", func(t *testing.T) {
		cc := "FILE:" + filepath.Join(d, "alice_noconf")
		k.kinit(t, cc, "alice", alicePass)
		// Put a service ticket for host/localhost into the cache, as a
		// previous GSSAPI use would.
		k.run(t, "", "kvno", "-c", cc, spnGood)
		missing := filepath.Join(d, "no-such-krb5.conf")
		c, err := LoadFromEnv(Options{LookupEnv: envMap(map[string]string{"KRB5CCNAME": cc, "KRB5_CONFIG": missing})})
		if err != nil {
			t.Fatalf("LoadFromEnv without krb5.conf: %v", err)
		}
		defer c.Close()
		code, user, logs := k.accept(t, spnGood, negotiate(t, c, spnGood))
		if code != http.StatusOK || user != "alice@"+kdcRealm {
			t.Fatalf("acceptor: status %d user %q log:\n%s", code, user, logs)
		}
		// A new ticket needs the KDC, which can only be found through
		// DNS SRV records for TEST.REALM: there are none.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := c.NegotiateHeader(ctx, spnPAC); !errors.Is(err, ErrKDCUnreachable) {
			t.Fatalf("err = %v, want ErrKDCUnreachable", err)
		}
	})
}
