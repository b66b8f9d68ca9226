package credd

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestCheckCredsWritesKeyFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "box.secret")
	os.WriteFile(secret, []byte("EXAmpL3\"ClI3NtS3cREt\n"), 0o600)
	knobs := map[string]string{
		"BOX_CLIENT_ID": "ex4mpl3cl13nt1d", "BOX_CLIENT_SECRET_FILE": secret, "BOX_RETURN_URL_SUFFIX": "/return/box",
		"MYTOKENS_CLIENT_ID": "mytokens-client", "MYTOKENS_CLIENT_SECRET_FILE": secret, "MYTOKENS_RETURN_URL_SUFFIX": "/return/mytokens",
		"MYTOKENS_AUTHORIZATION_URL": "https://issuer.example.org/authorize", "MYTOKENS_TOKEN_URL": "https://issuer.example.org/token",
		"CREDMON_WEB_PREFIX": "https://ap.example.org",
	}
	cred := filepath.Join(dir, "creds")
	os.Mkdir(cred, 0o770)
	s, logb := newServer(t, Settings{CredDir: cred, Knob: func(k string) string { return knobs[strings.ToUpper(k)] }})
	peer := Peer{Name: "alice", UID: 1000}
	rep := s.Handle(Request{Mode: ModeCheck, Checks: []CheckRequest{
		{Service: "box"}, {Service: "mytokens", Handle: "personal", Scopes: "read:/home/alice, write:/home/alice", Audience: "https://storage.example.org"},
		{Service: "notoauth"},
	}}, peer)
	m := regexp.MustCompile(`^https://ap\.example\.org/key/([0-9a-f]{64})$`).FindStringSubmatch(rep.Message)
	if m == nil {
		t.Fatalf("reply %q", rep.Message)
	}
	if strings.Contains(logb.String(), m[1]) {
		t.Error("the key is in the log")
	}
	b, err := os.ReadFile(filepath.Join(cred, m[1]))
	if err != nil {
		t.Fatal(err)
	}
	want := `Handle = ""
Scopes = ""
Audience = ""
ClientId = "ex4mpl3cl13nt1d"
Provider = "box"
TokenUrl = "https://api.box.com/oauth2/token"
LocalUser = "alice"
ReturnUrl = "https://ap.example.org/return/box"
ClientSecret = "EXAmpL3\"ClI3NtS3cREt"
AuthorizationUrl = "https://account.box.com/api/oauth2/authorize"

Handle = "personal"
Scopes = "read:/home/alice, write:/home/alice"
Audience = "https://storage.example.org"
ClientId = "mytokens-client"
Provider = "mytokens"
TokenUrl = "https://issuer.example.org/token"
LocalUser = "alice"
ReturnUrl = "https://ap.example.org/return/mytokens"
ClientSecret = "EXAmpL3\"ClI3NtS3cREt"
AuthorizationUrl = "https://issuer.example.org/authorize"
`
	if string(b) != want {
		t.Errorf("key file:\n%s\nwant\n%s", b, want)
	}
	if st, _ := os.Stat(filepath.Join(cred, m[1])); st.Mode().Perm() != 0o640 {
		t.Errorf("key file mode %v", st.Mode())
	}
	// Present and matching: empty reply; present and different: error.
	os.MkdirAll(filepath.Join(cred, "alice"), 0o700)
	os.WriteFile(filepath.Join(cred, "alice", "box.top"), []byte(`{"refresh_token": "r"}`), 0o600)
	if rep := s.Handle(Request{Mode: ModeCheck, Checks: []CheckRequest{{Service: "box"}}}, peer); rep.Message != "" {
		t.Errorf("all present: %q", rep.Message)
	}
	if rep := s.Handle(Request{Mode: ModeCheck, Checks: []CheckRequest{{Service: "box", Scopes: "x"}}}, peer); !strings.HasPrefix(rep.Message, "ERROR - credentials exist that do not match the request") {
		t.Errorf("mismatch: %q", rep.Message)
	}
	delete(knobs, "MYTOKENS_CLIENT_SECRET_FILE")
	if rep := s.Handle(Request{Mode: ModeCheck, Checks: []CheckRequest{{Service: "mytokens"}}}, peer); rep.Message != "Failed to securely read client secret for service mytokens; Tell your admin that MYTOKENS_CLIENT_SECRET_FILE is not configured" {
		t.Errorf("no secret: %q", rep.Message)
	}
}
