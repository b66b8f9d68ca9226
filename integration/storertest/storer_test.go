package storertest

import (
	"encoding/json"
	"fmt"
	"github.com/vaultcred/gettoken/integration/harness"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func readJSON(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// tokenTTL looks a vault token up with the root token.
func tokenTTL(t *testing.T, tok string) time.Duration {
	t.Helper()
	sec, err := env.Stack.Vault.Admin.Logical().Write("auth/token/lookup", map[string]any{"token": strings.TrimSpace(tok)})
	if err != nil {
		t.Fatal(err)
	}
	ttl, err := sec.TokenTTL()
	if err != nil {
		t.Fatal(err)
	}
	return ttl
}

func near(d, want time.Duration) bool { return d <= want && d > want-time.Minute }

func credURL(path string) string { return env.Stack.Vault.Addr + "/v1/" + path }

func TestFirstSubmitThenNothingNew(t *testing.T) {
	s := newSubmitter(t)
	r := s.storerTTY("alice", "default")
	if r.Code != 0 {
		t.Fatalf("first submit:\n%v", r)
	}
	for _, want := range []string{"\nAuthentication needed for default\n", "Complete the authentication at:", "Storing condor credentials for default\n"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("terminal output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if !strings.HasPrefix(r.Stdout, "\n") {
		t.Error("no newline before the first message (condor_submit's line is unfinished)")
	}
	// The credd got the 28-day token and the base URL, byte for byte.
	top := readJSON(t, s.top("default"))
	wantURL := credURL("secret/oauth/creds/default/alice:default")
	if top["vault_url"] != wantURL || len(top) != 2 {
		t.Errorf(".top %v, want vault_token and vault_url %s", keys(top), wantURL)
	}
	if raw := s.Read(s.top("default")); raw != fmt.Sprintf("{\n  \"vault_token\": \"%s\",\n  \"vault_url\": \"%s\"\n}\n", top["vault_token"], wantURL) {
		t.Error(".top is not the original's exact JSON text")
	}
	if ttl := tokenTTL(t, top["vault_token"]); !near(ttl, 28*24*time.Hour) {
		t.Errorf("credd token TTL %v, want 28 days", ttl)
	}
	// The user keeps a 7-day token, and the bearer tokens.
	local := s.Read(s.vt("default"))
	if ttl := tokenTTL(t, local); !near(ttl, 7*24*time.Hour) {
		t.Errorf("local token TTL %v, want 7 days", ttl)
	}
	if s.Read(s.vt("")) != local {
		t.Error("/tmp/vt_<ID> is not a copy of the service's token")
	}
	for _, p := range []string{s.vt("default"), s.vt(""), s.bt("default"), s.bt("")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 || int(fi.Sys().(*syscall.Stat_t).Uid) != env.UID {
			t.Errorf("%s: mode %v uid %d", p, fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid)
		}
	}
	if s.Read(s.bt("")) != s.Read(s.bt("default")) {
		t.Error("bt_<ID> is not a copy of bt_<ID>-default")
	}
	assertNoStrayFiles(t, s)

	// A second submit: nothing new to store, nothing printed.
	before, _ := os.Stat(s.top("default"))
	reqs := env.Requests(t, func() { r = s.storer("default") })
	if r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
		t.Fatalf("second submit:\n%v", r)
	}
	after, _ := os.Stat(s.top("default"))
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("the .top was stored again")
	}
	if len(reqs) != 1 || reqs[0].Path != "secret/oauth/creds/default/alice:default" {
		t.Errorf("second submit made %d Vault requests, want the one read", len(reqs))
	}
}

func keys(m map[string]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

// assertNoStrayFiles checks no temporary bearer or token file is left.
func assertNoStrayFiles(t *testing.T, s *submitter) {
	t.Helper()
	ents, _ := os.ReadDir(s.Run)
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, ".") || strings.Contains(n, "tmp") {
			t.Errorf("stray file %s in %s", n, s.Run)
		}
	}
}

func TestHandleWithScopesAndAudience(t *testing.T) {
	s := newSubmitter(t)
	if r := s.storerTTY("alice", "default"); r.Code != 0 {
		t.Fatalf("%v", r)
	}
	req := "default&handle=ro&scopes=storage.read:/&audience=https://se.example.org"
	r := s.storer(req)
	if r.Code != 0 {
		t.Fatalf("%v", r)
	}
	top := readJSON(t, s.top("default_ro"))
	if top["vault_url"] != credURL("secret/oauth/sts/default/alice:default") || top["scopes"] != "storage.read:/" ||
		top["audience"] != "https://se.example.org" {
		t.Errorf("handle .top %v", top)
	}
	if _, ok := top["vault_token"]; ok {
		t.Error("the handle got a vault token although the service's is unchanged")
	}
	claims := harness.JWTClaims(t, s.Read(s.bt("default_ro")))
	if claims["scope"] != "storage.read:/" || claims["aud"] != "https://se.example.org" {
		t.Errorf("handle bearer token scope %v aud %v", claims["scope"], claims["aud"])
	}
	// -v with a new handle: as the original, the weakening is announced and
	// condor_store_cred's own output is shown; nothing starts with an empty
	// line other than the one condor_submit's unfinished line needs.
	r = s.storer("-v", "default&handle=rw&scopes=storage.read:/")
	if r.Code != 0 {
		t.Fatalf("-v handle: %v", r)
	}
	if !strings.HasPrefix(r.Stderr, "\n") {
		t.Errorf("-v: stderr does not start with the newline condor_submit's line needs:\n%s", r.Stderr)
	}
	for _, want := range []string{"\nWeakening token for default_rw\n", "\nStoring condor credentials for default_rw\n", "Account: ", "CredType: oauth\n", "Operation succeeded"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("-v handle: stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	if strings.Contains(r.Stderr, "Operation succeeded") && strings.Index(r.Stderr, "Weakening token") > strings.Index(r.Stderr, "Operation succeeded") {
		t.Errorf("-v handle: weakening announced after the store:\n%s", r.Stderr)
	}
	// Same handle, other scopes: the credd says mismatch (exit 2).
	r = s.storer("default&handle=ro&scopes=compute.read")
	want := `condor_vault_storer: Credentials exist that do not match the request.
They can be removed by
  condor_store_cred delete-oauth -s default_ro
but make sure no other job is using them.
  More details might be available by running
    condor_vault_storer -v "default&handle=ro&scopes=compute.read" 
`
	if r.Code != 1 || r.Stderr != want {
		t.Errorf("mismatch:\n%v\nwant stderr:\n%s", r, want)
	}
}

func TestKerberosRenewsAnExpiredLocalToken(t *testing.T) {
	s := newSubmitter(t)
	if r := s.storerTTY("alice", "default"); r.Code != 0 {
		t.Fatalf("%v", r)
	}
	old := readJSON(t, s.top("default"))["vault_token"]
	env.Revoke(t, s.Read(s.vt("default")))
	s.Kinit("alice")
	r := s.storer("default")
	if r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
		t.Fatalf("want a quiet renewal with no browser:\n%v", r)
	}
	nt := readJSON(t, s.top("default"))["vault_token"]
	if nt == old || !near(tokenTTL(t, nt), 28*24*time.Hour) {
		t.Error("the credd did not get a new 28-day token")
	}
	if !near(tokenTTL(t, s.Read(s.vt("default"))), 7*24*time.Hour) {
		t.Error("the local token was not renewed as a 7-day one")
	}
}

func TestErrorCases(t *testing.T) {
	s := newSubmitter(t)
	hint := func(args string) string {
		return "  More details might be available by running\n    condor_vault_storer -v " + args + "\n"
	}
	cases := []struct {
		name   string
		args   []string
		extra  []string
		stderr string
	}{
		{"two underscores", []string{"a_b_c"}, nil,
			"condor_vault_storer: Only one underscore allowed in use_oauth_services name\n" + hint(`"a_b_c" `)},
		{"reduced without handle", []string{"default&scopes=compute.read"}, nil,
			"condor_vault_storer: reduced scopes or audience require a handle\n" + hint(`"default&scopes=compute.read" `)},
		{"bad name", []string{"bad/name"}, nil,
			"condor_vault_storer: invalid credential name: \"bad/name\" may contain only letters, digits and - + = _ .\n" + hint(`"bad/name" `)},
		{"no options configured", []string{"default"}, []string{"_CONDOR_SEC_CREDENTIAL_GETTOKEN_OPTS="},
			"condor_vault_storer: Neither SEC_CREDENTIAL_GETTOKEN_OPTS condor value nor $HTGETTOKENOPTS environment set\n" + hint(`"default" `)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			saved := s.Environ
			s.Environ = append(append([]string{}, s.Environ...), tc.extra...)
			defer func() { s.Environ = saved }()
			r := s.storer(tc.args...)
			if r.Code != 1 || r.Stdout != "" || r.Stderr != tc.stderr {
				t.Errorf("got\n%v\nwant stderr:\n%s", r, tc.stderr)
			}
		})
	}
	// No request at all: the usage text. A quiet run's messages do not
	// start with an empty line, as the original's; with -v they do.
	if r := s.storer(); r.Code != 1 || !strings.HasPrefix(r.Stderr, "Usage: condor_vault_storer [-vd] oauth_service ...\n") {
		t.Errorf("usage:\n%v", r)
	}
}

func TestReadonlyLocalTokenWithoutStoredCredential(t *testing.T) {
	s := newSubmitter(t)
	if r := s.storerTTY("alice", "cilogon"); r.Code != 0 {
		t.Fatalf("%v", r)
	}
	// The credd lost the credential (swept); the user's token is readonly.
	os.Remove(s.top("cilogon"))
	if err := os.Chmod(s.vt("cilogon"), 0o444); err != nil {
		t.Fatal(err)
	}
	r := s.storer("cilogon")
	want := fmt.Sprintf("condor_vault_storer: No cilogon credentials stored and %s is readonly\n", s.vt("cilogon"))
	if r.Code != 1 || !strings.HasPrefix(r.Stderr, want) {
		t.Errorf("got\n%v\nwant stderr starting:\n%s", r, want)
	}
	// Writable again: the token is removed and the user logs in anew,
	// which stores the credential.
	os.Chmod(s.vt("cilogon"), 0o600)
	if r := s.storerTTY("alice", "cilogon"); r.Code != 0 || !strings.Contains(r.Stdout, "Storing condor credentials for cilogon") {
		t.Fatalf("%v", r)
	}
	if _, err := os.Stat(s.top("cilogon")); err != nil {
		t.Error("not stored after the new login")
	}
}

func TestSeveralServicesInOneSubmit(t *testing.T) {
	s := newSubmitter(t)
	if r := s.storerTTY("alice", "default"); r.Code != 0 {
		t.Fatalf("%v", r)
	}
	// default is valid and stored; cilogon needs a login: only it asks.
	r := s.storerTTY("alice", "default", "cilogon", "default&handle=ro&scopes=storage.read:/")
	if r.Code != 0 {
		t.Fatalf("%v", r)
	}
	if strings.Contains(r.Stdout, "Authentication needed for default") || !strings.Contains(r.Stdout, "Authentication needed for cilogon") {
		t.Errorf("want a login for cilogon only:\n%s", r.Stdout)
	}
	for _, n := range []string{"default", "cilogon", "default_ro"} {
		if _, err := os.Stat(s.top(n)); err != nil {
			t.Errorf("%s not stored", n)
		}
	}
	// A second submit of the same three: nothing to do, nothing printed.
	if r := s.storer("default", "cilogon", "default&handle=ro&scopes=storage.read:/"); r.Code != 0 || r.Stdout+r.Stderr != "" {
		t.Errorf("second submit:\n%v", r)
	}
}

// TestCreddUnreachableIsReported: the original took any query failure for
// "not stored", deleted the user's token and forced a new browser login.
func TestCreddUnreachableIsReported(t *testing.T) {
	s := newSubmitter(t)
	if r := s.storerTTY("alice", "default"); r.Code != 0 {
		t.Fatalf("%v", r)
	}
	local := s.Read(s.vt("default"))
	s.Environ = append(s.Environ, "_CONDOR_CREDD_SOCKET=/nonexistent/credd.sock")
	r := s.storer("default")
	if r.Code != 1 || !strings.Contains(r.Stderr, "could not ask the credd") || !strings.Contains(r.Stderr, "\nQuerying condor credentials failed\n") {
		t.Fatalf("want the unreachable credd reported:\n%v", r)
	}
	if strings.Contains(r.Stderr, "Authentication needed") || s.Read(s.vt("default")) != local {
		t.Error("the local token was dropped or a login was started")
	}
}
