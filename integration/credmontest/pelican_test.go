package credmontest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	pelicanOnce sync.Once
	pelicanBin  string
	pelicanErr  error
)

// pelicanClient builds the stand-in pelican client (integration/cmd/pelican)
// into a directory every user may read.
func pelicanClient(t *testing.T) string {
	t.Helper()
	pelicanOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pelican-")
		if err != nil {
			pelicanErr = err
			return
		}
		os.Chmod(dir, 0o755)
		pelicanBin = filepath.Join(dir, "pelican")
		out, err := exec.Command("go", "build", "-o", pelicanBin, "../cmd/pelican").CombinedOutput()
		if err != nil {
			pelicanErr = &buildError{string(out)}
		}
	})
	if pelicanErr != nil {
		t.Fatalf("building the pelican stand-in: %v", pelicanErr)
	}
	return pelicanBin
}

type buildError struct{ out string }

func (e *buildError) Error() string { return e.out }

// pelicanSite is an access point whose credmon serves the Pelican service
// "osdf" with the IdP's client vault-default as its own client.
func pelicanSite(t *testing.T, extra map[string]string) *site {
	t.Helper()
	iss := env.Stack.Issuers[0]
	secret := filepath.Join(t.TempDir(), "osdf.secret")
	if err := os.WriteFile(secret, []byte(iss.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	knobs := map[string]string{
		"PELICAN_CREDMON_PROVIDER_NAMES":  "osdf",
		"OSDF_PELICAN_URL":                "https://federation.example",
		"OSDF_PELICAN_PREFIX":             "/ospool/data",
		"OSDF_PELICAN_PERMISSIONS":        "read, create",
		"OSDF_PELICAN_CLIENT_ID":          iss.ClientID,
		"OSDF_PELICAN_CLIENT_SECRET_FILE": secret,
		"OSDF_PELICAN_TOKEN_URL":          tlsIdP(t) + "/token",
		"PELICAN_CREDMON_CA_FILE":         env.CAFile,
	}
	for k, v := range extra {
		knobs[k] = v
	}
	return newSite(t, knobs)
}

// pelicanSubmit runs the storer in the pelican mode as condor_submit 25.14
// does, the stand-in client's device login approved as alice.
func pelicanSubmit(t *testing.T, s *site, mode string, args ...string) (stdout string, dir string) {
	t.Helper()
	sub := env.NewSubmitter(t, s.condor)
	iss := env.Stack.Issuers[0]
	sub.Environ = append(sub.Environ, "PELICAN_BIN="+pelicanClient(t),
		"PELICAN_STANDIN_ISSUER="+env.Stack.IdP.URL, "PELICAN_STANDIN_CLIENT_ID="+iss.ClientID,
		"PELICAN_STANDIN_CLIENT_SECRET="+iss.ClientSecret)
	if mode != "" {
		sub.Environ = append(sub.Environ, "CONDOR_CREDENTIAL_STORER_MODE="+mode)
	}
	r := sub.StorerTTY("alice", args...)
	if r.Code != 0 {
		t.Fatalf("storer:\n%v", r)
	}
	return r.Stdout, sub.CredDir()
}

func readJSONFile(t *testing.T, p string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(readFile(t, p), &m); err != nil {
		t.Fatalf("%s is not JSON: %v", p, err)
	}
	return m
}

func TestPelicanStoredExchangedRefreshedRevoked(t *testing.T) {
	s := pelicanSite(t, nil)
	w := s.watch()
	out, dir := pelicanSubmit(t, s, "pelican", "osdf&handle=h&scopes=storage.read:/,offline_access")
	if !strings.Contains(out, "Obtaining a Pelican token for service 'osdf' (pelican://federation.example/ospool/data, read,create)") ||
		!strings.Contains(out, "enter code") {
		t.Errorf("the storer's terminal output:\n%s", out)
	}
	use, top := filepath.Join(dir, "osdf_h.use"), filepath.Join(dir, "osdf_h.top")
	w.WaitFor(t, 10*time.Second, "osdf_h.use", func() bool { return exists(use) }, s.proc)

	// The .use holds a token of the IdP with the requested scope only.
	u := readJSONFile(t, use)
	at, _ := u["access_token"].(string)
	cl := jwtClaims(t, []byte(at))
	if cl["sub"] != "alice" || cl["iss"] != env.Stack.IdP.URL || cl["scope"] != "storage.read:/" {
		t.Errorf("exchanged token claims %v", cl)
	}
	if u["token_type"] != "Bearer" || u["expires_in"] != float64(accessTTL/time.Second) || len(u) != 3 {
		t.Errorf(".use = %v", u)
	}
	// The .top now holds the refresh token, the endpoint, the issuer and
	// the credd's scopes, not the subject token.
	tp := readJSONFile(t, top)
	if tp["refresh_token"] == nil || tp["access_token"] != nil || tp["scopes"] != "storage.read:/,offline_access" ||
		!strings.HasSuffix(tp["token_url"].(string), "/token") || tp["iss"] != env.Stack.IdP.URL {
		t.Errorf(".top keys %v", keysOf(tp))
	}

	// Refreshed half-way through its life with the refresh token.
	w.WaitFor(t, accessTTL, "a refreshed osdf_h.use", func() bool {
		v, err := os.ReadFile(use)
		return err == nil && !strings.Contains(string(v), at)
	}, s.proc)
	at2, _ := readJSONFile(t, use)["access_token"].(string)
	if cl2 := jwtClaims(t, []byte(at2)); cl2["sub"] != "alice" || cl2["scope"] != "storage.read:/" {
		t.Errorf("refreshed token claims %v", cl2)
	}

	// A revoked refresh token: logged, the credential kept as it is, not
	// retried until the user stores a new one.
	if err := env.Stack.IdP.Revoke(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	w.WaitFor(t, accessTTL, "the refused refresh in the log", func() bool {
		return len(s.logLines("invalid_grant")) > 0
	}, s.proc)
	if !exists(use) || !exists(top) {
		t.Error("a refused refresh removed the credential")
	}
	logText := string(readFile(t, s.log))
	if strings.Contains(logText, at) || strings.Contains(logText, at2) || strings.Contains(logText, tp["refresh_token"].(string)) ||
		strings.Contains(logText, env.Stack.Issuers[0].ClientSecret) {
		t.Error("a token or the client secret is in the credmon log")
	}
}

func TestPelicanRoutedByProviderList(t *testing.T) {
	// No mode (a condor_submit before 25.14): the service is routed to the
	// pelican mode by PELICAN_CREDMON_PROVIDER_NAMES. No refresh token is
	// asked for: the exchanged token is written and the subject token kept.
	s := pelicanSite(t, nil)
	w := s.watch()
	_, dir := pelicanSubmit(t, s, "", "osdf")
	use, top := filepath.Join(dir, "osdf.use"), filepath.Join(dir, "osdf.top")
	w.WaitFor(t, 10*time.Second, "osdf.use", func() bool { return exists(use) }, s.proc)
	if cl := jwtClaims(t, []byte(readJSONFile(t, use)["access_token"].(string))); cl["sub"] != "alice" {
		t.Errorf("claims %v", cl)
	}
	if tp := readJSONFile(t, top); tp["access_token"] == nil || tp["refresh_token"] != nil {
		t.Errorf(".top keys %v: want the subject token kept", keysOf(tp))
	}
	if len(s.logLines("gave no refresh token")) == 0 {
		t.Error("no warning about the missing refresh token")
	}
}

func TestPelicanBadInput(t *testing.T) {
	s := pelicanSite(t, map[string]string{"OSDF_PELICAN_TOKEN_URL": "", "OSDF_PELICAN_ISSUERS": "*"})
	w := s.watch()
	ud := s.userDir()
	os.Mkdir(ud, 0o700)
	// No token at all; and a subject token whose issuer is not https, so
	// that its discovery is refused and nothing is sent.
	writeAtomic(t, filepath.Join(ud, "osdf_none.top"), []byte(`{"scopes":"storage.read:/"}`))
	fake := "eyJhbGciOiJSUzI1NiJ9." + "eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjEifQ" + ".c2ln"
	writeAtomic(t, filepath.Join(ud, "osdf_http.top"), []byte(`{"access_token":"`+fake+`"}`))
	s.hup()
	w.WaitFor(t, 10*time.Second, "both refusals in the log", func() bool {
		return len(s.logLines("neither a refresh_token nor a subject token")) > 0 && len(s.logLines("not an https URL")) > 0
	}, s.proc)
	for _, n := range []string{"osdf_none.use", "osdf_http.use"} {
		if exists(filepath.Join(ud, n)) {
			t.Errorf("%s written for a bad .top", n)
		}
	}
	if strings.Contains(string(readFile(t, s.log)), fake) {
		t.Error("the subject token is in the log")
	}
}

func keysOf(m map[string]any) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}
