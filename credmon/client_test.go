package credmon

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func clientSecretFile(t *testing.T, secret string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func newClientProvider(t *testing.T, cfg ClientConfig) *ClientProvider {
	t.Helper()
	p, err := NewClientProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClientGrantFormAndUse(t *testing.T) {
	ts := newFakeTokenEndpoint(t, tokenReply(200, `{"access_token":"`+oaAccessToken+`","expires_in":900,"token_type":"Bearer"}`))
	mapfile := filepath.Join(t.TempDir(), "map")
	os.WriteFile(mapfile, []byte("* bob+1 g1,g2\n"), 0o600)
	p := newClientProvider(t, ClientConfig{
		Provider:         "osdf",
		ClientID:         "cid",
		ClientSecretFile: clientSecretFile(t, oaClientSecret),
		TokenURL:         ts.URL + "/token",
		Audience:         []string{"https://a1", "https://a2"},
		Version:          "wlcg",
		Scopes: ScopePolicy{
			AuthzTemplate: "storage.read:/user/{username}",
			GroupTemplate: "storage.read:/g/{groupname}",
			GroupMapfile:  mapfile,
		},
		HTTPClient: ts.Client(),
	})
	out, err := p.Refresh(context.Background(), Cred{Root: "/r", User: "bob+1", Name: "osdf"}, []byte("bob+1"))
	if err != nil {
		t.Fatal(err)
	}
	form, auth := ts.lastForm()
	want := url.Values{
		"grant_type":    {"client_credentials"},
		"scope":         {"storage.read:/user/bob+1 storage.read:/g/g1 storage.read:/g/g2 wlcg condor.user:bob%2B1"},
		"audience":      {"https://a1 https://a2"},
		"client_id":     {"cid"},
		"client_secret": {oaClientSecret},
	}
	if !reflect.DeepEqual(form, want) || auth != "" {
		t.Errorf("form\n got %v\nwant %v\nauth %q", form, want, auth)
	}
	wantUse := map[string]any{"access_token": oaAccessToken, "expires_in": json.Number("900")}
	if got := decodeJSONObject(t, out.Use); !reflect.DeepEqual(got, wantUse) || out.Top != nil {
		t.Errorf(".use %v top %q", got, out.Top)
	}
	written := time.Unix(1_700_000_000, 0)
	if got := p.NextRefresh(Cred{}, out.Use, written); !got.Equal(written.Add(450 * time.Second)) {
		t.Errorf("NextRefresh = %v", got)
	}
}

func TestClientHeaderAuthBareTokenAndDefaultLifetime(t *testing.T) {
	ts := newFakeTokenEndpoint(t, tokenReply(200, `{"access_token":"`+oaAccessToken+`"}`))
	var logs bytes.Buffer
	p := newClientProvider(t, ClientConfig{
		Provider: "p", ClientID: "c id", ClientSecretFile: clientSecretFile(t, oaClientSecret),
		TokenURL: ts.URL, BareToken: true, Lifetime: 300 * time.Second,
		AuthStyle: oauth2.AuthStyleInHeader, HTTPClient: ts.Client(),
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	out, err := p.Refresh(context.Background(), Cred{User: "u", Name: "p"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(out.Use) != oaAccessToken+"\n" {
		t.Errorf(".use %q", out.Use)
	}
	form, auth := ts.lastForm()
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("c+id:"+oaClientSecret))
	if form.Has("client_secret") || form.Has("client_id") || auth != wantAuth {
		t.Errorf("form %v auth %q", form, auth)
	}
	if form.Get("scope") != "condor.user:u" {
		t.Errorf("scope %q", form.Get("scope"))
	}
	if !strings.Contains(logs.String(), "did not say when the access token expires") {
		t.Errorf("no warning: %q", logs.String())
	}
	assertNoTestSecrets(t, "log", logs.String())
	written := time.Unix(1_700_000_000, 0)
	if got := p.NextRefresh(Cred{}, out.Use, written); !got.Equal(written.Add(150 * time.Second)) {
		t.Errorf("NextRefresh(bare opaque) = %v", got)
	}
}

func TestClientSecretReReadAndErrors(t *testing.T) {
	ts := newFakeTokenEndpoint(t, tokenReply(401, `{"error":"invalid_client","error_description":"secret `+oaClientSecret+` is wrong"}`))
	secret := clientSecretFile(t, "first-secret-value")
	p := newClientProvider(t, ClientConfig{Provider: "p", ClientID: "cid", ClientSecretFile: secret, TokenURL: ts.URL, HTTPClient: ts.Client()})
	os.WriteFile(secret, []byte(oaClientSecret), 0o600)
	_, err := p.Refresh(context.Background(), Cred{User: "u", Name: "p"}, nil)
	var te *TokenEndpointError
	if !errors.As(err, &te) || te.StatusCode != 401 || te.Code != "invalid_client" {
		t.Fatalf("err = %v", err)
	}
	if errors.Is(err, ErrInvalid) || errors.Is(err, ErrDelete) {
		t.Error("invalid_client must be retried")
	}
	assertNoTestSecrets(t, "error", err.Error())
	if form, _ := ts.lastForm(); form.Get("client_secret") != oaClientSecret {
		t.Error("the rewritten secret file was not re-read")
	}
	// An emptied secret file fails before any request.
	os.WriteFile(secret, []byte("  \n"), 0o600)
	n := ts.count()
	if _, err := p.Refresh(context.Background(), Cred{User: "u", Name: "p"}, nil); err == nil || ts.count() != n {
		t.Errorf("empty secret: err %v, requests %d -> %d", err, n, ts.count())
	}
}

func TestClientGroupRequirementSendsNothing(t *testing.T) {
	ts := newFakeTokenEndpoint(t, tokenReply(200, `{"access_token":"a"}`))
	mapfile := filepath.Join(t.TempDir(), "map")
	os.WriteFile(mapfile, []byte("* bob cms\n"), 0o600)
	p := newClientProvider(t, ClientConfig{Provider: "p", ClientID: "cid", ClientSecretFile: clientSecretFile(t, "s3cr3t-s3cr3t"),
		TokenURL: ts.URL, HTTPClient: ts.Client(), Scopes: ScopePolicy{GroupMapfile: mapfile, GroupRequirement: "atlas"}})
	_, err := p.Refresh(context.Background(), Cred{User: "bob", Name: "p"}, nil)
	var denied *GroupDeniedError
	if !errors.As(err, &denied) || ts.count() != 0 {
		t.Errorf("err %v, %d requests", err, ts.count())
	}
}

func TestClientTimeout(t *testing.T) {
	release := make(chan struct{})
	ts := newFakeTokenEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			// Answer nothing: an empty 200 sent as the client hangs up
			// could race its deadline.
			panic(http.ErrAbortHandler)
		case <-release:
		}
	})
	defer close(release)
	p := newClientProvider(t, ClientConfig{Provider: "p", ClientID: "cid", ClientSecretFile: clientSecretFile(t, oaClientSecret),
		TokenURL: ts.URL, HTTPClient: ts.Client(), Timeout: 200 * time.Millisecond})
	_, err := p.Refresh(context.Background(), Cred{User: "u", Name: "p"}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	assertNoTestSecrets(t, "error", err.Error())
}

// discoveryServer serves an issuer's metadata and its token endpoint.
type discoveryServer struct {
	*httptest.Server
	discoveries atomic.Int32
	mu          sync.Mutex
	metaStatus  int
}

func newDiscoveryServer(t *testing.T) *discoveryServer {
	d := &discoveryServer{metaStatus: 200}
	d.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/issuer/.well-known/openid-configuration":
			d.discoveries.Add(1)
			d.mu.Lock()
			status := d.metaStatus
			d.mu.Unlock()
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]string{"issuer": d.URL + "/issuer", "token_endpoint": d.URL + "/issuer/token"})
		case "/issuer/token":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"tok","expires_in":60}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(d.Close)
	return d
}

func TestClientDiscoveryCacheAndStaleFallback(t *testing.T) {
	d := newDiscoveryServer(t)
	now := time.Unix(1_700_000_000, 0)
	var clock sync.Mutex
	p := newClientProvider(t, ClientConfig{Provider: "p", ClientID: "cid", ClientSecretFile: clientSecretFile(t, oaClientSecret),
		Issuer: d.URL + "/issuer/", DiscoveryTTL: time.Hour, HTTPClient: d.Client(),
		Now: func() time.Time { clock.Lock(); defer clock.Unlock(); return now }})
	refresh := func() error {
		_, err := p.Refresh(context.Background(), Cred{User: "u", Name: "p"}, nil)
		return err
	}
	if err := refresh(); err != nil {
		t.Fatal(err)
	}
	if err := refresh(); err != nil {
		t.Fatal(err)
	}
	if n := d.discoveries.Load(); n != 1 {
		t.Errorf("%d discoveries within the TTL, want 1", n)
	}
	clock.Lock()
	now = now.Add(2 * time.Hour)
	clock.Unlock()
	d.mu.Lock()
	d.metaStatus = 503
	d.mu.Unlock()
	if err := refresh(); err != nil {
		t.Fatalf("stale endpoint not used: %v", err)
	}
	if n := d.discoveries.Load(); n != 2 {
		t.Errorf("%d discoveries after the TTL, want 2", n)
	}
}

func TestClientDiscoveryFailure(t *testing.T) {
	d := newDiscoveryServer(t)
	d.mu.Lock()
	d.metaStatus = 404
	d.mu.Unlock()
	p := newClientProvider(t, ClientConfig{Provider: "p", ClientID: "cid", ClientSecretFile: clientSecretFile(t, oaClientSecret),
		Issuer: d.URL + "/issuer", HTTPClient: d.Client()})
	_, err := p.Refresh(context.Background(), Cred{User: "u", Name: "p"}, nil)
	var de *DiscoveryError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "404") {
		t.Errorf("err = %v", err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Error("a discovery failure must be retried")
	}
}

func TestClientConfigFromKnobs(t *testing.T) {
	secret := clientSecretFile(t, "s")
	cfg, err := ClientConfigFromKnobs("osdf", knobMap(map[string]string{
		"CLIENT_CREDMON_CLIENT_ID":                "generic",
		"OSDF_CLIENT_ID":                          "oauth-style",
		"CLIENT_CREDMON_OSDF_CLIENT_ID":           "specific",
		"CLIENT_CREDMON_CLIENT_SECRET_FILE":       secret,
		"OSDF_TOKEN_URL":                          "https://idp/token",
		"CLIENT_CREDMON_TOKEN_AUDIENCE":           "a b",
		"CLIENT_CREDMON_OSDF_TOKEN_LIFETIME":      "60",
		"CLIENT_CREDMON_TOKEN_USE_JSON":           "no",
		"CLIENT_CREDMON_TOKEN_ENDPOINT_LIFETIME":  "120",
		"CLIENT_CREDMON_OSDF_AUTHZ_TEMPLATE":      "compute.read",
		"LOCAL_CREDMON_AUTHZ_TEMPLATE":            "not-for-client",
		"CLIENT_CREDMON_AUTHZ_GROUP_REQUIREMENT":  "",
		"CLIENT_CREDMON_OSDF_AUTHZ_GROUP_MAPFILE": "/m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := ClientConfig{
		Provider: "osdf", ClientID: "specific", ClientSecretFile: secret, TokenURL: "https://idp/token",
		Audience: []string{"a", "b"}, Version: "scitoken:2.0", Lifetime: time.Minute, BareToken: true,
		DiscoveryTTL: 2 * time.Minute, Scopes: ScopePolicy{AuthzTemplate: "compute.read", GroupMapfile: "/m"},
	}
	cfg.Issuer = ""
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config\n got %+v\nwant %+v", cfg, want)
	}
	if _, err := NewClientProvider(cfg); err != nil {
		t.Errorf("NewClientProvider: %v", err)
	}

	cfg, _ = ClientConfigFromKnobs("osdf", knobMap(map[string]string{"OSDF_CLIENT_ID": "oauth-style", "CLIENT_CREDMON_CLIENT_ID": "generic"}))
	if cfg.ClientID != "oauth-style" {
		t.Errorf("ClientID %q, want the <PROVIDER>_CLIENT_ID", cfg.ClientID)
	}
}

func TestClientConfigErrors(t *testing.T) {
	secret := clientSecretFile(t, "s")
	empty := clientSecretFile(t, "")
	for name, cfg := range map[string]ClientConfig{
		"no client id":      {ClientSecretFile: secret, TokenURL: "https://idp/t"},
		"no secret file":    {ClientID: "c", TokenURL: "https://idp/t"},
		"missing secret":    {ClientID: "c", ClientSecretFile: filepath.Join(t.TempDir(), "x"), TokenURL: "https://idp/t"},
		"empty secret":      {ClientID: "c", ClientSecretFile: empty, TokenURL: "https://idp/t"},
		"http token url":    {ClientID: "c", ClientSecretFile: secret, TokenURL: "http://idp/t"},
		"no url, no issuer": {ClientID: "c", ClientSecretFile: secret},
		"http issuer":       {ClientID: "c", ClientSecretFile: secret, Issuer: "http://idp"},
		"bad template":      {ClientID: "c", ClientSecretFile: secret, TokenURL: "https://idp/t", Scopes: ScopePolicy{AuthzTemplate: "{x}"}},
	} {
		if _, err := NewClientProvider(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ClientConfigFromKnobs("p", knobMap(map[string]string{"CLIENT_CREDMON_TOKEN_ENDPOINT_LIFETIME": "x"})); err == nil {
		t.Error("bad TOKEN_ENDPOINT_LIFETIME accepted")
	}
}

func TestPythonQuote(t *testing.T) {
	for in, want := range map[string]string{
		"bob":         "bob",
		"a.b-c_d~e/f": "a.b-c_d~e/f",
		"a+b=c":       "a%2Bb%3Dc",
		"a b@c:d":     "a%20b%40c%3Ad",
		"é":           "%C3%A9",
	} {
		if got := pythonQuote(in); got != want {
			t.Errorf("pythonQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestClientDoesNotFollowRedirects: a redirect from the token endpoint
// must not carry the client secret anywhere else.
func TestClientDoesNotFollowRedirects(t *testing.T) {
	elsewhere := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the token request was re-sent to the redirect target")
	}))
	defer elsewhere.Close()
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/token", http.StatusTemporaryRedirect)
	}))
	defer ts.Close()
	p := newClientProvider(t, ClientConfig{
		Provider: "osdf", ClientID: "cid", ClientSecretFile: clientSecretFile(t, oaClientSecret),
		TokenURL: ts.URL + "/token", HTTPClient: ts.Client(),
	})
	if _, err := p.Refresh(context.Background(), Cred{Root: "/r", User: "bob", Name: "osdf"}, []byte("bob")); err == nil {
		t.Fatal("a redirect answer was taken for a token")
	} else if strings.Contains(err.Error(), oaClientSecret) {
		t.Error("the secret is in the error")
	}
}
