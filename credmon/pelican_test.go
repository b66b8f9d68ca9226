package credmon

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakePelicanIssuer is an issuer with discovery and a token endpoint that
// records the forms it was sent.
type fakePelicanIssuer struct {
	srv *httptest.Server
	mu  sync.Mutex
	// forms received at /token.
	forms []url.Values
	// discoveries counts discovery requests.
	discoveries int
	// tokenEndpoint overrides the discovered endpoint.
	tokenEndpoint string
	// failDiscovery makes discovery answer 500.
	failDiscovery bool
	// answer is the token endpoint's JSON answer (status 200) or, with
	// status, its error answer.
	answer map[string]any
	status int
}

func newFakePelicanIssuer(t *testing.T) *fakePelicanIssuer {
	f := &fakePelicanIssuer{answer: map[string]any{"access_token": "at-1", "token_type": "bearer", "expires_in": 600, "refresh_token": "rt-1"}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			f.discoveries++
			if f.failDiscovery {
				http.Error(w, "down", http.StatusInternalServerError)
				return
			}
			ep := f.tokenEndpoint
			if ep == "" {
				ep = f.srv.URL + "/token"
			}
			json.NewEncoder(w).Encode(map[string]string{"issuer": f.srv.URL, "token_endpoint": ep})
		case "/token":
			r.ParseForm()
			f.forms = append(f.forms, r.PostForm)
			w.Header().Set("Content-Type", "application/json")
			if f.status != 0 {
				w.WriteHeader(f.status)
			}
			json.NewEncoder(w).Encode(f.answer)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePelicanIssuer) lastForm(t *testing.T) url.Values {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.forms) == 0 {
		t.Fatal("the token endpoint was not called")
	}
	return f.forms[len(f.forms)-1]
}

// fakeJWT is an unsigned JWT with the given claims (the provider reads the
// payload without verifying it).
func fakeJWT(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"ES256","typ":"JWT"}`)) + "." + enc(b) + ".c2ln"
}

func newTestPelican(t *testing.T, f *fakePelicanIssuer, mod func(*PelicanConfig)) *PelicanProvider {
	t.Helper()
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("the-client-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := PelicanConfig{Provider: "osdf", ClientID: "ap-client", ClientSecretFile: secret,
		Issuers: []string{f.srv.URL}, HTTPClient: f.srv.Client()}
	if mod != nil {
		mod(&cfg)
	}
	p, err := NewPelicanProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPelicanExchangeThenRefresh(t *testing.T) {
	f := newFakePelicanIssuer(t)
	p := newTestPelican(t, f, nil)
	c := Cred{Root: "/r", User: "alice", Name: "osdf"}
	subject := fakeJWT(map[string]any{"iss": f.srv.URL, "exp": time.Now().Add(time.Hour).Unix()})
	top, _ := json.Marshal(map[string]string{"access_token": subject, "scopes": "storage.read:/a,storage.modify:/b", "audience": "https://origin"})

	out, err := p.Refresh(context.Background(), c, top)
	if err != nil {
		t.Fatal(err)
	}
	form := f.lastForm(t)
	want := map[string]string{
		"grant_type": tokenExchangeGrant, "subject_token": subject, "subject_token_type": accessTokenType,
		"client_id": "ap-client", "client_secret": "the-client-secret",
		"scope": "storage.read:/a storage.modify:/b", "audience": "https://origin",
	}
	for k, v := range want {
		if got := form.Get(k); got != v {
			t.Errorf("exchange form %s = %q, want %q", k, got, v)
		}
	}
	var use map[string]any
	if err := json.Unmarshal(out.Use, &use); err != nil {
		t.Fatal(err)
	}
	if use["access_token"] != "at-1" || use["token_type"] != "bearer" || use["expires_in"] != float64(600) || len(use) != 3 {
		t.Errorf(".use = %s", out.Use)
	}
	var nt map[string]string
	if err := json.Unmarshal(out.Top, &nt); err != nil {
		t.Fatal(err)
	}
	wantTop := map[string]string{"refresh_token": "rt-1", "token_url": f.srv.URL + "/token", "iss": f.srv.URL,
		"scopes": "storage.read:/a,storage.modify:/b", "audience": "https://origin"}
	if len(nt) != len(wantTop) {
		t.Errorf(".top = %s", out.Top)
	}
	for k, v := range wantTop {
		if nt[k] != v {
			t.Errorf(".top %s = %q, want %q", k, nt[k], v)
		}
	}

	// The rewritten .top is refreshed with the refresh-token grant; the
	// discovery is cached.
	f.answer = map[string]any{"access_token": "at-2", "expires_in": 900, "refresh_token": "rt-1"}
	out2, err := p.Refresh(context.Background(), c, out.Top)
	if err != nil {
		t.Fatal(err)
	}
	form = f.lastForm(t)
	if form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != "rt-1" || form.Get("client_id") != "ap-client" {
		t.Errorf("refresh form = %v", form)
	}
	if out2.Top != nil {
		t.Errorf("an unrotated refresh token rewrote the .top: %s", out2.Top)
	}
	if !strings.Contains(string(out2.Use), `"token_type":"Bearer"`) || !strings.Contains(string(out2.Use), `"expires_in":900`) {
		t.Errorf(".use = %s", out2.Use)
	}
	if f.discoveries != 1 {
		t.Errorf("%d discoveries, want 1 (cached)", f.discoveries)
	}
}

func TestPelicanRefusals(t *testing.T) {
	f := newFakePelicanIssuer(t)
	c := Cred{Root: "/r", User: "alice", Name: "osdf_h1"}
	live := func(iss string) []byte {
		b, _ := json.Marshal(map[string]string{"access_token": fakeJWT(map[string]any{"iss": iss, "exp": time.Now().Add(time.Hour).Unix()})})
		return b
	}
	cases := []struct {
		name string
		mod  func(*PelicanConfig)
		prep func()
		top  []byte
		want string
	}{
		{name: "not JSON", top: []byte("{"), want: "could not be parsed"},
		{name: "no token", top: []byte(`{"scopes":"a"}`), want: "neither a refresh_token nor a subject token"},
		{name: "issuer not allowed", top: live("https://evil.example"), want: "not allowed by osdf_PELICAN_ISSUERS"},
		{name: "no issuer at all", top: []byte(`{"access_token":"opaque"}`), want: "no token endpoint"},
		{name: "token endpoint on another host", prep: func() { f.tokenEndpoint = "https://localhost:1/token" },
			top: live(f.srv.URL), want: "not on the issuer's host"},
		{name: "discovery fails", prep: func() { f.failDiscovery = true }, top: live(f.srv.URL), want: "HTTP status 500"},
		{name: "expired subject without refresh token", top: func() []byte {
			b, _ := json.Marshal(map[string]string{"access_token": fakeJWT(map[string]any{"iss": f.srv.URL, "exp": time.Now().Add(-time.Minute).Unix()})})
			return b
		}(), want: "expired"},
		{name: "exchange rejected", prep: func() {
			f.status, f.answer = http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": "subject token the-client-secret is revoked"}
		}, top: live(f.srv.URL), want: `"invalid_grant"`},
		{name: "answer without access token", prep: func() { f.answer = map[string]any{"token_type": "bearer"} }, top: live(f.srv.URL), want: "access_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.mu.Lock()
			f.tokenEndpoint, f.failDiscovery, f.status = "", false, 0
			f.answer = map[string]any{"access_token": "at-1", "expires_in": 600}
			f.mu.Unlock()
			if tc.prep != nil {
				tc.prep()
			}
			p := newTestPelican(t, f, tc.mod)
			n := len(f.forms)
			_, err := p.Refresh(context.Background(), c, tc.top)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "the-client-secret") {
				t.Errorf("the error shows the client secret: %v", err)
			}
			if strings.Contains(tc.name, "not allowed") || strings.Contains(tc.name, "another host") || strings.Contains(tc.name, "discovery") {
				if len(f.forms) != n {
					t.Errorf("the token endpoint was called")
				}
			}
		})
	}
}

func TestPelicanEndpointChoice(t *testing.T) {
	f := newFakePelicanIssuer(t)
	c := Cred{Root: "/r", User: "alice", Name: "osdf"}
	top, _ := json.Marshal(map[string]string{"refresh_token": "rt-0", "iss": "https://elsewhere.example", "token_url": f.srv.URL + "/token"})
	// The override knob wins over the .top's issuer and token_url.
	p := newTestPelican(t, f, func(c *PelicanConfig) { c.TokenURL = f.srv.URL + "/token"; c.Issuers = nil })
	if _, err := p.Refresh(context.Background(), c, top); err != nil {
		t.Fatal(err)
	}
	if f.discoveries != 0 {
		t.Errorf("discovered with an override")
	}
	// The .top's token_url only with "*", and only on its issuer's host.
	p = newTestPelican(t, f, func(c *PelicanConfig) { c.Issuers = nil })
	top2, _ := json.Marshal(map[string]string{"refresh_token": "rt-0", "token_url": f.srv.URL + "/token"})
	if _, err := p.Refresh(context.Background(), c, top2); err == nil || !errors.Is(err, ErrInvalid) {
		t.Errorf("a .top token_url was used without %q: %v", "*", err)
	}
	p = newTestPelican(t, f, func(c *PelicanConfig) { c.Issuers = []string{"*"} })
	if _, err := p.Refresh(context.Background(), c, top2); err != nil {
		t.Errorf("with *: %v", err)
	}
	// Discovery failure after a success: the cached endpoint is reused.
	now := time.Now()
	p = newTestPelican(t, f, func(c *PelicanConfig) { c.Now = func() time.Time { return now } })
	top3, _ := json.Marshal(map[string]string{"refresh_token": "rt-0", "iss": f.srv.URL})
	if _, err := p.Refresh(context.Background(), c, top3); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.failDiscovery = true
	f.mu.Unlock()
	now = now.Add(2 * time.Hour)
	if _, err := p.Refresh(context.Background(), c, top3); err != nil {
		t.Errorf("the last good endpoint was not reused: %v", err)
	}
}

func TestPelicanNextRefresh(t *testing.T) {
	p := &PelicanProvider{}
	w := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		use  string
		want time.Time
	}{
		{`{"access_token":"a","expires_in":600}`, w.Add(300 * time.Second)},
		{`{"access_token":"a","expires_in":"600"}`, w.Add(300 * time.Second)},
		{`{"access_token":"a"}`, w},
		{`{"access_token":"a","expires_in":0}`, w},
		{`not json`, w},
		{`{"access_token":"a","expires_in":1e300}`, w.Add(time.Duration(1<<63 - 1))},
	} {
		if got := p.NextRefresh(Cred{}, []byte(tc.use), w); !got.Equal(tc.want) {
			t.Errorf("NextRefresh(%s) = %v, want %v", tc.use, got, tc.want)
		}
	}
}

func TestPelicanConfigFromKnobs(t *testing.T) {
	knobs := map[string]string{
		"OSDF_PELICAN_CLIENT_ID": "id", "OSDF_PELICAN_CLIENT_SECRET_FILE": "/s", "OSDF_PELICAN_TOKEN_URL": "https://t/x",
		"OSDF_PELICAN_ISSUERS": "https://a, https://b", "PELICAN_CREDMON_CA_FILE": "/ca", "CREDMON_OAUTH_TOKEN_MINIMUM": "300",
		"PELICAN_CREDMON_TLS_SKIP_VERIFY": "true",
	}
	lookup := func(n string) (string, bool) { v, ok := knobs[strings.ToUpper(n)]; return v, ok }
	cfg, err := PelicanConfigFromKnobs("osdf", lookup)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientID != "id" || cfg.ClientSecretFile != "/s" || cfg.TokenURL != "https://t/x" || cfg.CAFile != "/ca" ||
		cfg.Lifetime != 300*time.Second || len(cfg.Issuers) != 2 || !cfg.SkipVerifyIgnored {
		t.Errorf("config = %+v", cfg)
	}
	knobs["CREDMON_OAUTH_TOKEN_MINIMUM"] = "soon"
	if _, err := PelicanConfigFromKnobs("osdf", lookup); err == nil {
		t.Error("a bad CREDMON_OAUTH_TOKEN_MINIMUM was accepted")
	}
	if _, err := NewPelicanProvider(PelicanConfig{Provider: "osdf"}); err == nil || !strings.Contains(err.Error(), "osdf_PELICAN_CLIENT_ID") {
		t.Errorf("no client id: %v", err)
	}
}

func TestClassifyPelican(t *testing.T) {
	c := classifierFor(t, "PELICAN_CREDMON_PROVIDER_NAMES", "osdf, pel")
	for name, want := range map[string]Class{"osdf": ClassPelican, "osdf_h1": ClassPelican, "pel": ClassPelican, "dune": ClassVault} {
		if d := c.Classify(name, func(string) bool { return false }); d.Class != want {
			t.Errorf("Classify(%s) = %v, want %v", name, d.Class, want)
		}
	}
}
