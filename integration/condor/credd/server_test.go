package credd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newServer(t *testing.T, set Settings) (*Server, *bytes.Buffer) {
	t.Helper()
	if set.CredDir == "" {
		set.CredDir = t.TempDir()
	}
	if set.UIDDomain == "" {
		set.UIDDomain = "d"
	}
	var logb bytes.Buffer
	return New(set, &logb), &logb
}

func TestNamesAndWildcards(t *testing.T) {
	for s, ok := range map[string]bool{"dune_production": true, "a-b+c=d.e": true, "": true, "a/b": false, "a b": false, "é": false, "..": true} {
		if okName(s) != ok {
			t.Errorf("okName(%q) = %v", s, !ok)
		}
	}
	for _, c := range []struct {
		pat, s string
		ok     bool
	}{{"admin*", "admin2", true}, {"admin*", "xadmin", false}, {"*", "anyone", true}, {"a*z", "az", true}, {"a*z", "a", false}, {"bob", "bob", true}, {"bob", "bobby", false}} {
		if wildcardMatch(c.pat, c.s) != c.ok {
			t.Errorf("wildcardMatch(%q, %q) = %v", c.pat, c.s, !c.ok)
		}
	}
}

func TestTrusted(t *testing.T) {
	s, _ := newServer(t, Settings{TrustedVaultHosts: []string{"vault.example.org", "Other.org:8200", "[::1]"}})
	for cred, ok := range map[string]bool{
		`{"vault_url":"https://VAULT.example.org:8200/v1/x"}`: true,
		`{"vault_url":"https://other.org/v1/x"}`:              true,
		`{"vault_url":"https://[::1]:8200/v1/x"}`:             true,
		`{"vault_url":"https://evil.org:8200/v1/x"}`:          false,
		`{"vault_url":"::not a url"}`:                         false,
		`{"vault_url":7}`:                                     true, // not a string: not Vault
		`{"refresh_token":"x"}`:                               true,
		`opaque`:                                              true,
	} {
		if s.trusted([]byte(cred)) != ok {
			t.Errorf("trusted(%s) = %v", cred, !ok)
		}
	}
}

func TestHandleAddQueryDelete(t *testing.T) {
	s, logb := newServer(t, Settings{})
	me := Peer{UID: os.Getuid(), Name: "alice", PID: 1}
	secret := `{"vault_token":"hvs.SECRET","vault_url":"https://v:8200/v1/x"}`
	rep := s.Handle(Request{Mode: ModeAdd, Service: "svc", Credential: []byte(secret)}, me)
	if rep.Result != SuccessPending {
		t.Fatalf("add: %v", rep.Result)
	}
	if len(rep.Info) != 1 || rep.Info[0] != (Attr{Name: "fully_qualified_user", Value: "alice@d", Quoted: true}) {
		t.Errorf("info %+v", rep.Info)
	}
	got, err := os.ReadFile(filepath.Join(s.set.CredDir, "alice", "svc.top"))
	if err != nil || string(got) != secret {
		t.Fatalf("svc.top = %q, %v", got, err)
	}
	if rep := s.Handle(Request{Mode: ModeQuery, Service: "svc"}, me); rep.Result != SuccessPending {
		t.Errorf("query: %v", rep.Result)
	}
	if rep := s.Handle(Request{Mode: ModeQuery, Service: "svc", Audience: "x"}, me); rep.Result != FailureCredMismatch {
		t.Errorf("query -A: %v", rep.Result)
	}
	if rep := s.Handle(Request{Mode: ModeQuery}, me); rep.Result != SuccessPending || len(rep.Info) != 2 || rep.Info[1].Name != "svc.top" {
		t.Errorf("query all: %+v", rep)
	}
	if rep := s.Handle(Request{Mode: ModeQuery, User: "bob@d", Service: "svc"}, me); rep.Result != FailureNotAllowed {
		t.Errorf("other user: %v", rep.Result)
	}
	if rep := s.Handle(Request{Mode: "bogus"}, me); rep.Result != FailureBadArgs {
		t.Errorf("bad mode: %v", rep.Result)
	}
	if rep := s.Handle(Request{Mode: ModeAdd, Service: "svc"}, me); rep.Result != FailureBadArgs {
		t.Errorf("empty credential: %v", rep.Result)
	}
	if rep := s.Handle(Request{Mode: ModeAdd, Service: "svc", Credential: make([]byte, MaxCredential+1)}, me); rep.Result != FailureBadArgs {
		t.Errorf("oversized credential: %v", rep.Result)
	}
	if rep := s.Handle(Request{Mode: ModeDelete}, me); rep.Result != Success {
		t.Errorf("delete: %v", rep.Result)
	}
	if _, err := os.Stat(filepath.Join(s.set.CredDir, "alice")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("user directory left: %v", err)
	}
	if strings.Contains(logb.String(), "SECRET") {
		t.Errorf("the log holds the credential:\n%s", logb.String())
	}
	s.set.CredDir = ""
	if rep := s.Handle(Request{Mode: ModeQuery, Service: "svc"}, me); rep.Result != FailureConfigError {
		t.Errorf("no credential directory: %v", rep.Result)
	}
}

func TestAddScopesKeepsValues(t *testing.T) {
	out, err := addScopes([]byte(`{"b":1.50,"a":{"x":[1, 2]},"scopes":"old","u":"<&>"}`), "s", "")
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"a\": {\n    \"x\": [\n      1,\n      2\n    ]\n  },\n  \"b\": 1.50,\n  \"scopes\": \"s\",\n  \"u\": \"<&>\"\n}\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	for _, bad := range []string{"", "[1]", "null", `{"a":1} {}`, "{"} {
		if _, err := addScopes([]byte(bad), "s", ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestPidCache checks that the credmon pid is re-read only after
// PidCacheTime, and that a bad pid file stops the kick.
func TestPidCache(t *testing.T) {
	hup := make(chan os.Signal, 8)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	s, _ := newServer(t, Settings{})
	now := time.Unix(1_000_000, 0)
	s.now = func() time.Time { return now }
	pidFile := filepath.Join(s.set.CredDir, "pid")
	if s.kickCredmon() {
		t.Fatal("kicked without a pid file")
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	if !s.kickCredmon() {
		t.Fatal("no kick with a pid file")
	}
	<-hup
	if err := os.WriteFile(pidFile, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	now = now.Add(PidCacheTime)
	if !s.kickCredmon() {
		t.Fatal("the cached pid was not used")
	}
	<-hup
	now = now.Add(time.Second)
	if s.kickCredmon() {
		t.Fatal("a garbage pid file was accepted after the cache expired")
	}
	for _, bad := range []string{"0", "1", "-5", ""} {
		_ = os.WriteFile(pidFile, []byte(bad), 0o644)
		now = now.Add(time.Minute)
		if s.kickCredmon() {
			t.Errorf("pid %q accepted", bad)
		}
	}
}

// TestServe checks the socket side: peer authentication, a reply per
// request, a malformed request answered with FAILURE_PROTOCOL_MISMATCH.
func TestServe(t *testing.T) {
	s, logb := newServer(t, Settings{})
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	rep, err := Do(ctx, sock, Request{Mode: ModeQuery, Service: "none"})
	if err != nil || rep.Result != FailureNotFound {
		t.Fatalf("query: %+v, %v", rep, err)
	}
	if want := "from " + UserName(os.Getuid()) + " (uid " + strconv.Itoa(os.Getuid()); !strings.Contains(logb.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logb.String())
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("{not json\n")); err != nil {
		t.Fatal(err)
	}
	var bad Reply
	if err := json.NewDecoder(conn).Decode(&bad); err != nil || bad.Result != FailureProtocolMismatch {
		t.Errorf("malformed request: %+v, %v", bad, err)
	}
	var ue *UnreachableError
	if _, err := Do(ctx, filepath.Join(t.TempDir(), "nosock"), Request{Mode: ModeQuery}); !errors.As(err, &ue) {
		t.Errorf("missing socket: %v", err)
	}
}
