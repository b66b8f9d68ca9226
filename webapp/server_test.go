package webapp

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/vaultcred/gettoken/credmon"
)

// fakeAds stands in for the ClassAd reader: a key file's content is a
// name in this table (the reader itself is tested in internal/classad).
var fakeAds = map[string][]Ad{}

func fakeParse(data []byte) ([]Ad, error) {
	ads, ok := fakeAds[string(data)]
	if !ok {
		return nil, errors.New("syntax error")
	}
	return ads, nil
}

// provider is a fake OAuth provider: the authorization endpoint answers
// with a redirect carrying a code, the token endpoint with tokenAnswer.
type provider struct {
	srv *httptest.Server
	mu  sync.Mutex
	// last authorization request and token request forms
	auth, token url.Values
	codes       map[string]string // code -> code_challenge
	answer      func(w http.ResponseWriter)
}

func newProvider(t *testing.T) *provider {
	p := &provider{codes: map[string]string{}}
	p.answer = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token": "AT-1", "expires_in": 3600, "token_type": "bearer", "restricted_to": [], "refresh_token": "RT-1"}`)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.auth = r.URL.Query()
		code := fmt.Sprintf("code%d", len(p.codes))
		p.codes[code] = r.URL.Query().Get("code_challenge")
		p.mu.Unlock()
		q := url.Values{"code": {code}, "state": {r.URL.Query().Get("state")}}
		http.Redirect(w, r, r.URL.Query().Get("redirect_uri")+"?"+q.Encode(), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		p.mu.Lock()
		p.token = r.PostForm
		ch, ok := p.codes[r.PostForm.Get("code")]
		delete(p.codes, r.PostForm.Get("code"))
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != ch {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error": "invalid_grant", "error_description": "bad code or verifier"}`)
			return
		}
		p.answer(w)
	})
	p.srv = httptest.NewTLSServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

type fixture struct {
	t       *testing.T
	dir     string
	app     *Server
	srv     *httptest.Server
	prov    *provider
	client  *http.Client
	key     string
	store   *DirStore
	nowMu   sync.Mutex
	nowTime time.Time
}

const testKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func newFixture(t *testing.T, storeSecret bool) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), key: testKey, prov: newProvider(t)}
	os.Chmod(f.dir, 0o770)
	var err error
	if f.store, err = OpenDirStore(f.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	f.srv = httptest.NewUnstartedServer(nil)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	prefix := f.srv.URL + "/credmon"
	ads := []Ad{
		{"handle": "", "scopes": "", "audience": "", "clientid": "box-client", "provider": "box",
			"tokenurl": f.prov.srv.URL + "/token", "localuser": "alice@example.org", "returnurl": prefix + "/return/box",
			"clientsecret": "BOXSECRET", "authorizationurl": f.prov.srv.URL + "/authorize"},
		{"handle": "personal", "scopes": "read:/home/alice, write:/home/alice", "audience": "https://storage.example.org",
			"clientid": "mt-client", "provider": "mytokens", "tokenurl": f.prov.srv.URL + "/token", "localuser": "alice@example.org",
			"returnurl": prefix + "/return/mytokens", "clientsecret": "MTSECRET", "authorizationurl": f.prov.srv.URL + "/authorize"},
	}
	fakeAds["two"] = ads
	fakeAds["evil"] = []Ad{{"provider": "../../etc", "clientid": "x", "localuser": "alice",
		"tokenurl": "https://x/t", "returnurl": "https://x/r", "authorizationurl": "https://x/a"}}
	f.writeKey(f.key, "two")
	f.nowTime = time.Now()
	f.app, err = New(Config{Prefix: prefix, Store: f.store, ParseAds: fakeParse, StoreClientSecret: storeSecret,
		HTTPClient: f.prov.srv.Client(), Now: f.now})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Config.Handler = f.app
	jar, _ := cookiejar.New(nil)
	f.client = f.srv.Client()
	f.client.Jar = jar
	// Follow redirects between our two TLS test servers, which have
	// different certificates: trust both.
	tr := f.client.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs.AddCert(f.prov.srv.Certificate())
	f.client.Transport = tr
	return f
}

func (f *fixture) now() time.Time {
	f.nowMu.Lock()
	defer f.nowMu.Unlock()
	return f.nowTime
}

func (f *fixture) writeKey(key, content string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, key), []byte(content), 0o640); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) get(path string) (int, string) {
	f.t.Helper()
	resp, err := f.client.Get(f.srv.URL + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login presses the Log in button of label on the index page.
func (f *fixture) login(label string) (int, string) {
	f.t.Helper()
	_, page := f.get("/credmon/")
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		f.t.Fatalf("no login form on the index page:\n%s", page)
	}
	resp, err := f.client.PostForm(f.srv.URL+"/credmon/login/"+url.PathEscape(label), url.Values{"csrf": {m[1]}})
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f *fixture) userFile(name string) string {
	b, err := os.ReadFile(filepath.Join(f.dir, "alice", name))
	if err != nil {
		return ""
	}
	return string(b)
}

func TestFullFlowWritesTheFilesExactly(t *testing.T) {
	f := newFixture(t, true)
	if code, page := f.get("/credmon/key/" + f.key); code != 200 || !strings.Contains(page, "mytokens") || !strings.Contains(page, "read:/home/alice") {
		t.Fatalf("key page: %d\n%s", code, page)
	}
	if code, page := f.login("box"); code != 200 {
		t.Fatalf("box login: %d\n%s", code, page)
	}
	a := f.prov.auth
	if a.Get("response_type") != "code" || a.Get("client_id") != "box-client" || a.Get("redirect_uri") != f.srv.URL+"/credmon/return/box" ||
		a.Get("code_challenge_method") != "S256" || a.Get("code_challenge") == "" || len(a.Get("state")) < 32 || a.Has("resource") || a.Get("scope") != "" {
		t.Errorf("authorization request %v", a)
	}
	tk := f.prov.token
	if tk.Get("grant_type") != "authorization_code" || tk.Get("client_secret") != "BOXSECRET" || tk.Get("client_id") != "box-client" || tk.Get("code_verifier") == "" {
		t.Errorf("token request %v", tk)
	}
	if !exists(filepath.Join(f.dir, f.key)) {
		t.Fatal("the key file went after the first of two providers")
	}
	if code, page := f.login("mytokens personal"); code != 200 || !strings.Contains(page, "All done") {
		t.Fatalf("mytokens login: %d\n%s", code, page)
	}
	a = f.prov.auth
	if a.Get("scope") != "read:/home/alice write:/home/alice" || a.Get("resource") != "https://storage.example.org" {
		t.Errorf("authorization request %v", a)
	}
	if f.prov.token.Get("resource") != "https://storage.example.org" {
		t.Errorf("token request %v", f.prov.token)
	}
	if exists(filepath.Join(f.dir, f.key)) {
		t.Error("the key file is still there after every provider")
	}
	now := f.now().Unix()
	want := map[string]string{
		"box.use":                fmt.Sprintf(`{"access_token": "AT-1", "expires_in": 3600, "token_type": "bearer", "restricted_to": [], "expires_at": %d}`, now+3600),
		"box.top":                `{"refresh_token": "RT-1"}`,
		"box.meta":               `{"client_id": "box-client", "client_secret": "BOXSECRET", "token_url": "` + f.prov.srv.URL + `/token", "use_refresh_token": true}`,
		"mytokens_personal.top":  `{"refresh_token": "RT-1", "scopes": "read:/home/alice, write:/home/alice", "audience": "https://storage.example.org"}`,
		"mytokens_personal.meta": `{"client_id": "mt-client", "client_secret": "MTSECRET", "token_url": "` + f.prov.srv.URL + `/token", "use_refresh_token": true}`,
	}
	for name, w := range want {
		if got := f.userFile(name); got != w {
			t.Errorf("%s:\n got %s\nwant %s", name, got, w)
		}
		st, err := os.Lstat(filepath.Join(f.dir, "alice", name))
		if err == nil && st.Mode().Perm() != 0o400 {
			t.Errorf("%s mode %v", name, st.Mode())
		}
	}
	if st, err := os.Stat(filepath.Join(f.dir, "alice")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("user directory: %v %v", st.Mode(), err)
	}
	left, _ := filepath.Glob(filepath.Join(f.dir, "alice", ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestClientSecretLeftOutOfMeta(t *testing.T) {
	f := newFixture(t, false)
	f.get("/credmon/key/" + f.key)
	f.login("box")
	if got := f.userFile("box.meta"); got != `{"client_id": "box-client", "token_url": "`+f.prov.srv.URL+`/token", "use_refresh_token": true}` {
		t.Errorf("box.meta %s", got)
	}
}

func TestNoRefreshToken(t *testing.T) {
	f := newFixture(t, true)
	f.prov.answer = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"AT-2","token_type":"Bearer"}`)
	}
	f.get("/credmon/key/" + f.key)
	f.login("box")
	if got := f.userFile("box.top"); got != `{"refresh_token": ""}` {
		t.Errorf("box.top %s", got)
	}
	if got := f.userFile("box.use"); got != `{"access_token": "AT-2", "token_type": "Bearer"}` {
		t.Errorf("box.use %s", got)
	}
	if got := f.userFile("box.meta"); !strings.HasSuffix(got, `"use_refresh_token": false}`) {
		t.Errorf("box.meta %s", got)
	}
}

func TestKeyErrors(t *testing.T) {
	f := newFixture(t, true)
	os.Mkdir(filepath.Join(f.dir, strings.Repeat("a", 64)), 0o700)
	os.WriteFile(filepath.Join(f.dir, "CREDMON_COMPLETE"), nil, 0o600)
	os.Symlink(filepath.Join(f.dir, f.key), filepath.Join(f.dir, strings.Repeat("b", 64)))
	f.writeKey(strings.Repeat("c", 64), "evil")
	f.writeKey(strings.Repeat("d", 64), "not an ad")
	os.WriteFile(filepath.Join(f.dir, strings.Repeat("e", 64)), []byte("two"), 0o644)
	for _, c := range []struct {
		key  string
		want int
	}{
		{strings.Repeat("0", 63), 400},
		{strings.Repeat("0", 65), 400},
		{strings.ToUpper(f.key), 400},
		{"CREDMON_COMPLETE", 400},
		{"alice", 400},
		{strings.Repeat("9", 64), 404},
		{strings.Repeat("a", 64), 500}, // a directory
		{strings.Repeat("b", 64), 500}, // a symbolic link
		{strings.Repeat("c", 64), 400}, // path-traversal provider name
		{strings.Repeat("d", 64), 400}, // not ClassAds
		{strings.Repeat("e", 64), 500}, // readable by everyone
	} {
		code, page := f.get("/credmon/key/" + c.key)
		if code != c.want || !strings.Contains(page, `id="error"`) {
			t.Errorf("key %.10s...: %d, want %d\n%s", c.key, code, c.want, page)
		}
	}
	if ents, _ := os.ReadDir(f.dir); len(ents) != 8 {
		t.Errorf("the credential directory changed: %d entries", len(ents))
	}
	if code, _ := f.get("/credmon/login/box"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET login: %d", code)
	}
	if code, _ := f.get("/credmon/nothing"); code != 404 {
		t.Errorf("unknown page: %d", code)
	}
}

func TestExpiredKey(t *testing.T) {
	f := newFixture(t, true)
	f.nowMu.Lock()
	f.nowTime = f.nowTime.Add(DefaultKeyLifetime + time.Minute)
	f.nowMu.Unlock()
	if code, page := f.get("/credmon/key/" + f.key); code != 404 || !strings.Contains(page, "expired") {
		t.Errorf("expired key: %d\n%s", code, page)
	}
	if exists(filepath.Join(f.dir, f.key)) {
		t.Error("the expired key file is still there")
	}
}

func TestStaleKeySweep(t *testing.T) {
	f := newFixture(t, true)
	os.Mkdir(filepath.Join(f.dir, strings.Repeat("a", 64)), 0o700)
	f.writeKey(strings.ToUpper(strings.Repeat("f", 64)), "two")
	f.nowMu.Lock()
	f.nowTime = f.nowTime.Add(DefaultKeyLifetime + time.Minute)
	f.nowMu.Unlock()
	f.app.Sweep()
	if exists(filepath.Join(f.dir, f.key)) || !exists(filepath.Join(f.dir, strings.Repeat("a", 64))) || !exists(filepath.Join(f.dir, strings.Repeat("F", 64))) {
		t.Error("the sweep removed the wrong entries")
	}
}

// noRedirect returns the first answer instead of following it.
func (f *fixture) noRedirect() func() {
	f.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return func() { f.client.CheckRedirect = nil }
}

func TestReturnErrors(t *testing.T) {
	f := newFixture(t, true)
	f.get("/credmon/key/" + f.key)
	// Start a login but stop at the provider's redirect back.
	restore := f.noRedirect()
	_, page := f.get("/credmon/")
	csrf := csrfRE.FindStringSubmatch(page)[1]
	resp, err := f.client.PostForm(f.srv.URL+"/credmon/login/box", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authURL := resp.Header.Get("Location")
	resp, err = f.client.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back := resp.Header.Get("Location")
	restore()
	u, _ := url.Parse(back)
	code := u.Query().Get("code")
	state := u.Query().Get("state")

	if c, _ := f.get("/credmon/return/box?code=" + code); c != 400 {
		t.Errorf("missing state: %d", c)
	}
	if c, _ := f.get("/credmon/return/box?code=" + code + "&state=forged"); c != 400 {
		t.Errorf("forged state: %d", c)
	}
	// A bad CSRF token.
	resp, _ = f.client.PostForm(f.srv.URL+"/credmon/login/box", url.Values{"csrf": {"x"}})
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("forged login form: %d", resp.StatusCode)
	}
	// Another browser (no session).
	other := &http.Client{Transport: f.client.Transport}
	r2, _ := other.Get(back)
	r2.Body.Close()
	if r2.StatusCode != 400 {
		t.Errorf("other browser: %d", r2.StatusCode)
	}
	// The real answer works once; its replay is refused.
	if c, p := f.get(u.RequestURI() + ""); c != 200 || !strings.Contains(p, "done") {
		t.Errorf("return: %d\n%s", c, p)
	}
	if c, _ := f.get(u.RequestURI()); c != 400 {
		t.Errorf("replayed state: %d", c)
	}
	_ = state
}

func TestProviderErrorsWriteNothing(t *testing.T) {
	for _, c := range []struct {
		name   string
		answer func(w http.ResponseWriter)
		want   int
	}{
		{"garbage", func(w http.ResponseWriter) { io.WriteString(w, "<html>hello</html>") }, 502},
		{"500", func(w http.ResponseWriter) { w.WriteHeader(500); io.WriteString(w, "AT-SECRET-BODY") }, 502},
		{"no access token", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"token_type":"bearer","refresh_token":"RT-X"}`)
		}, 502},
		{"bad expires_in", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"AT-X","expires_in":-5}`)
		}, 502},
		{"huge", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"`+strings.Repeat("A", 2<<20)+`"}`)
		}, 502},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, true)
			f.prov.answer = c.answer
			f.get("/credmon/key/" + f.key)
			code, page := f.login("box")
			if code != c.want || !strings.Contains(page, `id="error"`) || strings.Contains(page, "AT-SECRET") || strings.Contains(page, "BOXSECRET") {
				t.Errorf("%d\n%s", code, page)
			}
			if exists(filepath.Join(f.dir, "alice", "box.top")) || exists(filepath.Join(f.dir, "alice", "box.use")) {
				t.Error("files written")
			}
			if _, p := f.get("/credmon/"); !strings.Contains(p, "failed") {
				t.Errorf("index page does not show the failure:\n%s", p)
			}
		})
	}
}

func TestAccessDenied(t *testing.T) {
	f := newFixture(t, true)
	f.get("/credmon/key/" + f.key)
	restore := f.noRedirect()
	_, page := f.get("/credmon/")
	csrf := csrfRE.FindStringSubmatch(page)[1]
	resp, _ := f.client.PostForm(f.srv.URL+"/credmon/login/box", url.Values{"csrf": {csrf}})
	resp.Body.Close()
	restore()
	au, _ := url.Parse(resp.Header.Get("Location"))
	code, page := f.get("/credmon/return/box?error=access_denied&state=" + au.Query().Get("state"))
	if code != 403 || !strings.Contains(page, "access_denied") {
		t.Errorf("%d\n%s", code, page)
	}
}

func TestDiscovery(t *testing.T) {
	f := newFixture(t, true)
	if code, _ := f.get("/credmon/.well-known/jwks-uri"); code != 404 {
		t.Errorf("jwks without a key: %d", code)
	}
}

func TestCookieFlags(t *testing.T) {
	f := newFixture(t, true)
	restore := f.noRedirect()
	defer restore()
	resp, err := f.client.Get(f.srv.URL + "/credmon/key/" + f.key)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c := resp.Header.Get("Set-Cookie")
	for _, w := range []string{"Secure", "HttpOnly", "SameSite=Lax", "Path=/credmon/"} {
		if !strings.Contains(c, w) {
			t.Errorf("cookie %q lacks %s", c, w)
		}
	}
	if strings.Contains(c, f.key) {
		t.Error("the key is in the cookie")
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Error("no Referrer-Policy")
	}
}

func TestPythonJSON(t *testing.T) {
	got, err := pyObject([]member{{"a", json.RawMessage(`{"x":[1,2.50,true,null]}`)}, {"é", str("caf\u00e9 \U0001F600 \x7f\n\"\\")}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a": {"x": [1, 2.50, true, null]}, "\u00e9": "caf\u00e9 \ud83d\ude00 ` + "\x7f" + `\n\"\\"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func TestDiscoveryWithKey(t *testing.T) {
	f := newFixture(t, true)
	key, err := credmon.GenerateSigningKey(credmon.KeyEC)
	if err != nil {
		t.Fatal(err)
	}
	app, err := New(Config{Prefix: f.srv.URL + "/credmon", Store: f.store, ParseAds: fakeParse,
		Issuer: "https://ap.example.org", PublicKey: key.Public(), KeyID: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Config.Handler = app
	code, body := f.get("/credmon/.well-known/openid-configuration")
	var d map[string]string
	if code != 200 || json.Unmarshal([]byte(body), &d) != nil || d["issuer"] != "https://ap.example.org" || d["jwks_uri"] != f.srv.URL+"/credmon/.well-known/jwks-uri" {
		t.Errorf("discovery: %d %s", code, body)
	}
	code, body = f.get("/credmon/.well-known/jwks-uri")
	var set jose.JSONWebKeySet
	if code != 200 || json.Unmarshal([]byte(body), &set) != nil || len(set.Keys) != 1 || set.Keys[0].KeyID != "k1" || set.Keys[0].Algorithm != "ES256" {
		t.Errorf("jwks: %d %s", code, body)
	}
}

func TestRootPrefix(t *testing.T) {
	f := newFixture(t, true)
	app, err := New(Config{Prefix: "https://ap.example.org", Store: f.store, ParseAds: fakeParse})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/": 200, "/key/" + strings.Repeat("9", 64): 404, "/key/x": 400, "/nothing": 404, "/login/box": 405} {
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
	}
	if _, err := BasePath("https://ap.example.org/credmon/?x=1"); err == nil {
		t.Error("a prefix with a query was accepted")
	}
}
