package cli

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/vaultcred/gettoken/integration/harness"

	"github.com/vaultcred/gettoken/integration/stack"
)

func v() string { return env.Stack.Vault.Addr }

func jwtClaims(t *testing.T, tok string) map[string]any { return harness.JWTClaims(t, tok) }

func ops(es []stack.AuditEntry) []string {
	var s []string
	for _, e := range es {
		s = append(s, e.Operation+" "+e.Path)
	}
	return s
}

func mode(t *testing.T, p string) (os.FileMode, int) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode(), int(fi.Sys().(*syscall.Stat_t).Uid)
}

func TestFirstOIDCLoginThenOneRequest(t *testing.T) {
	u := newUser(t)
	var r harness.Result
	reqs := requests(t, func() { r = u.login("alice") })
	want := []string{
		"update auth/oidc-default/oidc/auth_url",
		"update auth/oidc-default/oidc/poll",
		"update auth/token/create",
		"update secret/oauth/creds/default/alice:default",
		"read secret/oauth/creds/default/alice:default",
	}
	got := ops(reqs)
	// Polls before the approval landed repeat the poll line.
	if len(got) < len(want) || got[0] != want[0] || got[len(got)-3] != want[2] || strings.Join(got[len(got)-2:], ",") != strings.Join(want[3:], ",") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	bt := filepath.Join(u.Run, fmt.Sprintf("bt_u%d", env.UID))
	ck := filepath.Join(u.Home, ".config/htgettoken/credkey-default-default")
	wantOut := fmt.Sprintf(`Attempting OIDC authentication with %[1]s

Complete the authentication at:
    %[2]s/device?user_code=CODE
No web open command defined, please copy/paste the above to any web browser
Waiting for response in web browser
Storing vault token in %[3]s
Saving credkey to %[4]s
Saving refresh token ... done
Attempting to get token from %[1]s ... succeeded
Storing bearer token in %[5]s
`, v(), env.Stack.IdP.URL, u.VT, ck, bt)
	if out := regexp.MustCompile(`user_code=[A-Z0-9-]+`).ReplaceAllString(r.Stdout, "user_code=CODE"); out != wantOut {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, wantOut)
	}
	if r.Stderr != "" {
		t.Errorf("stderr: %q", r.Stderr)
	}
	for _, p := range []string{u.VT, bt} {
		m, uid := mode(t, p)
		if m != 0o600 || uid != env.UID {
			t.Errorf("%s: mode %v uid %d, want 0600 and %d", p, m, uid, env.UID)
		}
		if c := u.Read(p); !strings.HasSuffix(c, "\n") || strings.Count(c, "\n") != 1 {
			t.Errorf("%s: not one token line", p)
		}
	}
	if c := u.Read(ck); c != "alice\n" {
		t.Errorf("credkey file %q", c)
	}
	if cl := jwtClaims(t, u.Read(bt)); cl["sub"] != "alice" {
		t.Errorf("bearer token sub %v", cl["sub"])
	}

	// Second run: the vault token works, exactly one request.
	reqs = requests(t, func() { r = u.gettoken("") })
	if r.Code != 0 {
		t.Fatalf("second run:\n%v", r)
	}
	if got := ops(reqs); len(got) != 1 || got[0] != "read secret/oauth/creds/default/alice:default" {
		t.Errorf("second run requests %q, want exactly the creds read", got)
	}
	if want := fmt.Sprintf("Attempting to get token from %s ... succeeded\nStoring bearer token in %s\n", v(), bt); r.Stdout != want {
		t.Errorf("second run stdout %q, want %q", r.Stdout, want)
	}
}

func TestKerberosRenewsAnExpiredVaultToken(t *testing.T) {
	u := newUser(t)
	u.login("alice")
	old := u.Read(u.VT)
	revoke(t, old)
	u.Kinit("alice")
	var r harness.Result
	reqs := requests(t, func() { r = u.gettoken("") })
	if r.Code != 0 {
		t.Fatalf("run with an expired vault token and a Kerberos ticket:\n%v", r)
	}
	want := fmt.Sprintf("Attempting to get token from %[1]s ... failed\nAttempting kerberos auth with %[1]s ... succeeded\nAttempting to get token from %[1]s ... succeeded\nStoring vault token in %[2]s\nStoring bearer token in ", v(), u.VT)
	if !strings.HasPrefix(r.Stdout, want) {
		t.Errorf("stdout:\n%s\nwant prefix:\n%s", r.Stdout, want)
	}
	got := ops(reqs)
	wantReqs := []string{
		"read secret/oauth/creds/default/alice:default",
		"update auth/kerberos-default_default/login",
		"update auth/token/create",
		"read secret/oauth/creds/default/alice:default",
	}
	if strings.Join(got, ",") != strings.Join(wantReqs, ",") {
		t.Errorf("requests %q, want %q", got, wantReqs)
	}
	if nv := u.Read(u.VT); nv == old {
		t.Error("vault token file not renewed")
	}
	// No browser: the command ran without a terminal.
	if strings.Contains(r.Stdout+r.Stderr, "Complete the authentication") {
		t.Error("OIDC was attempted")
	}
}

func TestVaultTokenMinTTL(t *testing.T) {
	u := newUser(t)
	u.login("alice", "--vaulttokenttl=9d")
	u.Kinit("alice")
	old := u.Read(u.VT)
	// 9 days left is enough for an 8-day minimum: lookup-self, then the read.
	var r harness.Result
	reqs := requests(t, func() { r = u.gettoken("", "--vaulttokenttl=11d", "--vaulttokenminttl=8d", "-v") })
	if got := ops(reqs); r.Code != 0 || strings.Join(got, ",") != "read auth/token/lookup-self,read secret/oauth/creds/default/alice:default" {
		t.Fatalf("requests %q\n%v", got, r)
	}
	if !regexp.MustCompile(`(?m)^  77\d{4} seconds remaining$`).MatchString(r.Stdout) {
		t.Errorf("no remaining-seconds line:\n%s", r.Stdout)
	}
	// 10 days wanted, the token has 9: Kerberos gets a new one.
	reqs = requests(t, func() { r = u.gettoken("", "--vaulttokenttl=11d", "--vaulttokenminttl=10d") })
	if got := ops(reqs); r.Code != 0 || len(got) != 4 || got[1] != "update auth/kerberos-default_default/login" || got[2] != "update auth/token/create" {
		t.Fatalf("requests %q\n%v", got, r)
	}
	if u.Read(u.VT) == old {
		t.Error("vault token not replaced")
	}
}

func TestExchangeMode(t *testing.T) {
	u := newUser(t)
	u.login("alice")
	tok := u.Read(u.VT)
	other := filepath.Join(u.Dir, "vt-exchanged")
	bt := filepath.Join(u.Dir, "bt-exchanged")
	r := u.gettoken(tok, "--vaulttokeninfile=/dev/stdin", "--vaulttokenfile="+other, "--showbearerurl", "-q", "-o", bt)
	if r.Code != 0 {
		t.Fatalf("%v", r)
	}
	if want := v() + "/v1/secret/oauth/creds/default/alice:default\n"; r.Stdout != want {
		t.Errorf("stdout %q, want only the URL %q", r.Stdout, want)
	}
	if nt := u.Read(other); nt == tok || nt == "" {
		t.Error("the exchanged token is not a new token")
	}
	if cl := jwtClaims(t, u.Read(bt)); cl["sub"] != "alice" {
		t.Error("no bearer token")
	}
}

// TestHTCondorStdoutContract checks what the bash condor_vault_storer
// relies on: it counts htgettoken's stdout lines, and the vault token line
// comes before the URL.
func TestHTCondorStdoutContract(t *testing.T) {
	u := newUser(t)
	u.login("alice")
	u.Kinit("alice")
	in := filepath.Join(u.Dir, "vt-service")
	os.WriteFile(in, []byte("hvs.not-a-valid-token\n"), 0o600)
	u.Chown(in)
	args := []string{"--vaulttokenttl=28d", "--vaulttokeninfile=" + in, "--vaulttokenfile=/dev/stdout", "--showbearerurl", "--nooidc", "-q",
		"-o", filepath.Join(u.Dir, "bt-service")}
	url := v() + "/v1/secret/oauth/creds/default/alice:default"
	r := u.gettoken("", args...)
	lines := strings.Split(strings.TrimSuffix(r.Stdout, "\n"), "\n")
	if r.Code != 0 || len(lines) != 2 || lines[1] != url || !strings.HasPrefix(lines[0], "hvs.") {
		t.Fatalf("want two lines, vault token then URL:\n%v", r)
	}
	if r.Stderr != "" {
		t.Errorf("stderr with -q: %q", r.Stderr)
	}
	// The storer saves that token; with it, stdout is the URL alone.
	os.WriteFile(in, []byte(lines[0]+"\n"), 0o600)
	r = u.gettoken("", args...)
	if r.Code != 0 || r.Stdout != url+"\n" {
		t.Fatalf("want the URL alone:\n%v", r)
	}
}

func TestScopesAndAudience(t *testing.T) {
	u := newUser(t)
	u.login("alice")
	bt := filepath.Join(u.Dir, "bt-sts")
	r := u.gettoken("", "--scopes=storage.read:/", "--audience=https://se.example.org", "-o", bt, "--showbearerurl")
	if r.Code != 0 {
		t.Fatalf("%v", r)
	}
	if want := v() + "/v1/secret/oauth/sts/default/alice:default\n"; r.Stdout != want {
		t.Errorf("stdout %q, want %q", r.Stdout, want)
	}
	cl := jwtClaims(t, u.Read(bt))
	if cl["scope"] != "storage.read:/" || cl["aud"] != "https://se.example.org" || cl["sub"] != "alice" {
		t.Errorf("claims scope %v aud %v sub %v", cl["scope"], cl["aud"], cl["sub"])
	}
}

func TestDeniedDeviceCode(t *testing.T) {
	u := newUser(t)
	r := u.oidc("")
	want := fmt.Sprintf("gettoken: error in response from %s: authorization failed: access_denied\n", v())
	if r.Code != 1 || !strings.HasSuffix(r.Stderr, want) {
		t.Fatalf("want exit 1 and %q:\n%v", want, r)
	}
	if _, err := os.Stat(u.VT); err == nil {
		t.Error("a vault token file was written")
	}
}

func TestRefreshTokenRevokedAtIdP(t *testing.T) {
	u := newUser(t)
	u.login("bob")
	if err := env.Stack.IdP.Revoke(t.Context(), "bob"); err != nil {
		t.Fatal(err)
	}
	// A minimum longer than the IdP's 120 s tokens forces Vault to refresh.
	r := u.gettoken("", "--minsecs=3600", "-v")
	if r.Code != 1 {
		t.Fatalf("want exit 1:\n%v", r)
	}
	if !strings.Contains(r.Stdout, "Read token from "+v()+"/v1/secret/oauth/creds/default/bob:default failed: HTTPError: Bad Request:") {
		t.Errorf("no read failure in the log:\n%s", r.Stdout)
	}
	if want := "gettoken: Failure getting token from " + v() + "\n"; r.Stderr != want {
		t.Errorf("stderr %q, want %q", r.Stderr, want)
	}
}

func TestVaultUnreachable(t *testing.T) {
	u := newUser(t)
	u.login("alice")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := u.gettoken("", "-a", fmt.Sprintf("localhost:%d", port), "-v")
	if r.Code != 1 || !strings.Contains(r.Stdout, "connection refused") {
		t.Fatalf("want exit 1 and a connection refused line:\n%v", r)
	}
	if tok := strings.TrimSpace(u.Read(u.VT)); strings.Contains(r.Stdout+r.Stderr, tok) {
		t.Error("the vault token appears in the output")
	}
}

func TestRoundRobinFirstAddressNeverAnswers(t *testing.T) {
	harness.NeedRoot(t, "a private /etc/hosts")
	u := newUser(t)
	u.login("alice")
	harness.Blackhole(t, "127.0.0.2", env.Stack.Vault.Port)
	hosts := filepath.Join(u.Dir, "hosts")
	os.WriteFile(hosts, []byte("127.0.0.2 rr.test\n127.0.0.1 rr.test\n127.0.0.1 localhost\n"), 0o644)
	// A private mount namespace in which rr.test has two addresses, the
	// first of which drops every connection attempt.
	u.Wrap = harness.HostsWrap(hosts, env.UID)
	r := u.gettoken("", "-a", fmt.Sprintf("rr.test:%d", env.Stack.Vault.Port), "--vaultcertname", "localhost", "-v")
	out := r.Stdout + r.Stderr
	want := "Connection timeout on rr.test ip 127.0.0.2, trying 127.0.0.1"
	if r.Code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "Storing bearer token") {
		t.Fatalf("want fail-over (%q) and success:\n%v", want, r)
	}
}

// TestVerboseAndDebugLinesAsHtgettoken checks two line sequences against
// the real Vault: after an OIDC login -v says "Getting bearer token from
// <V>" and then "  at path ...", with no "Attempting to get bearer token"
// line between them; and -d says "Reading <credkey file>" before
// "Credkey from <credkey file>: <credkey>".
func TestVerboseAndDebugLinesAsHtgettoken(t *testing.T) {
	u := newUser(t)
	r := u.login("alice", "-v")
	want := fmt.Sprintf("Getting bearer token from %s\n  at path secret/oauth/creds/default/alice:default\n", v())
	if !strings.Contains(r.Stdout, want) || strings.Contains(r.Stdout, "Attempting to get bearer token") {
		t.Errorf("-v login stdout:\n%s\nwant it to contain, with no 'Attempting to get bearer token' line:\n%s", r.Stdout, want)
	}
	ck := filepath.Join(u.Home, ".config/htgettoken/credkey-default-default")
	// -d output holds tokens: only say whether the lines are there.
	r = u.gettoken("", "-d")
	if r.Code != 0 {
		t.Fatalf("-d run: exit %d", r.Code)
	}
	if want := "Reading " + ck + "\nCredkey from " + ck + ": alice\n"; !strings.Contains(r.Stdout+r.Stderr, want) {
		t.Errorf("-d run lacks %q", want)
	}
}
