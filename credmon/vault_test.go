package credmon

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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

const (
	testVaultToken  = "hvs.CAESIVAULTTOKENSECRET"
	testAccessToken = "eyJhbGciOiJub25lIn0.eyJleHAiOjE3OTUwMDAwMDB9.sig"
)

// fakeVault answers creds/sts reads and lookup-self as scripted and
// records the requests.
type fakeVault struct {
	*httptest.Server
	mu       sync.Mutex
	reqs     []*http.Request
	read     func(w http.ResponseWriter, r *http.Request)
	lookupOK bool
}

func newFakeVault(t *testing.T) *fakeVault {
	f := &fakeVault{}
	f.read = func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"data":{"access_token":%q,"type":"Bearer"}}`, testAccessToken)
	}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.reqs = append(f.reqs, r.Clone(context.Background()))
		f.mu.Unlock()
		if r.URL.Path == "/v1/auth/token/lookup-self" {
			if f.lookupOK && r.Header.Get("X-Vault-Token") == testVaultToken {
				fmt.Fprint(w, `{"data":{"ttl":100}}`)
				return
			}
			w.WriteHeader(403)
			fmt.Fprint(w, `{"errors":["permission denied"]}`)
			return
		}
		f.read(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeVault) provider(cfg VaultConfig) *Vault {
	cfg.HTTPClient = f.Client()
	return NewVault(cfg)
}

func writeTop(t *testing.T, root, user, name string, doc map[string]any) Cred {
	t.Helper()
	c := Cred{Root: root, User: user, Name: name}
	os.MkdirAll(c.DirPath(), 0o700)
	b, _ := json.Marshal(doc)
	if err := os.WriteFile(c.Top(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

func refresh(t *testing.T, v *Vault, c Cred) (Refreshed, error) {
	t.Helper()
	b, err := os.ReadFile(c.Top())
	if err != nil {
		t.Fatal(err)
	}
	r, err := v.Refresh(context.Background(), c, b)
	if err != nil && strings.Contains(err.Error(), testVaultToken) {
		t.Fatalf("vault token in error: %v", err)
	}
	return r, err
}

func TestVaultRefresh(t *testing.T) {
	f := newFakeVault(t)
	root := t.TempDir()
	base := f.URL + "/v1/secret/oauth/creds/dune/alice:default"
	sts := f.URL + "/v1/secret/oauth/sts/dune/alice:default"
	c := writeTop(t, root, "alice", "dune", map[string]any{"vault_token": testVaultToken, "vault_url": base})
	v := f.provider(VaultConfig{})
	r, err := refresh(t, v, c)
	if err != nil || string(r.Use) != testAccessToken+"\n" || r.Top != nil {
		t.Fatalf("refresh = %q, %v", r.Use, err)
	}
	req := f.reqs[0]
	if req.Header.Get("X-Vault-Token") != testVaultToken || req.URL.RawQuery != "minimum_seconds=2400" {
		t.Errorf("request %s ? %s", req.URL.Path, req.URL.RawQuery)
	}

	// Handles: the parent's vault token, scopes, and audience named as the
	// API wants it.
	h := writeTop(t, root, "alice", "dune_ro", map[string]any{"vault_url": sts, "scopes": "read:/a,read:/b", "audience": "https://x"})
	if _, err := refresh(t, v, h); err != nil {
		t.Fatal(err)
	}
	q := f.reqs[1].URL.Query()
	if f.reqs[1].Header.Get("X-Vault-Token") != testVaultToken || q.Get("scopes") != "read:/a,read:/b" || q.Get("audiences") != "https://x" || q.Has("audience") {
		t.Errorf("handle request %s ? %s", f.reqs[1].URL.Path, f.reqs[1].URL.RawQuery)
	}
	h2 := writeTop(t, root, "alice", "dune_old", map[string]any{"vault_url": base, "audience": "https://x"})
	refresh(t, v, h2)
	if q := f.reqs[2].URL.Query(); q.Get("audience") != "https://x" || q.Has("audiences") {
		t.Errorf("creds URL wants audience: %s", f.reqs[2].URL.RawQuery)
	}
}

func TestVaultRefreshErrors(t *testing.T) {
	f := newFakeVault(t)
	root := t.TempDir()
	good := f.URL + "/v1/secret/oauth/creds/dune/alice:default"
	cases := []struct {
		name    string
		doc     map[string]any
		raw     string
		want    error
		wantMsg string
	}{
		{"not JSON", nil, "{not json", ErrInvalid, "could not parse as JSON"},
		{"no vault_url", map[string]any{"vault_token": testVaultToken}, "", ErrInvalid, "vault_url missing"},
		{"http", map[string]any{"vault_token": testVaultToken, "vault_url": "http://v:8200/v1/x"}, "", ErrInvalid, "does not begin with https://"},
		{"wrong path", map[string]any{"vault_token": testVaultToken, "vault_url": "https://v:8200/v2/x"}, "", ErrInvalid, "only paths starting /v1"},
		{"no token no parent", map[string]any{"vault_url": good}, "", ErrInvalid, "vault_token missing from"},
	}
	v := f.provider(VaultConfig{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Cred{Root: root, User: "u", Name: "svc"}
			os.MkdirAll(c.DirPath(), 0o700)
			b := []byte(tc.raw)
			if tc.doc != nil {
				b, _ = json.Marshal(tc.doc)
			}
			os.WriteFile(c.Top(), b, 0o600)
			_, err := refresh(t, v, c)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %v, want %v containing %q", err, tc.want, tc.wantMsg)
			}
		})
	}
	if len(f.reqs) != 0 {
		t.Errorf("%d requests for invalid credentials", len(f.reqs))
	}
	// A handle whose parent is gone: delete it.
	h := writeTop(t, root, "bob", "dune_ro", map[string]any{"vault_url": good})
	if _, err := refresh(t, v, h); !errors.Is(err, ErrDelete) {
		t.Errorf("missing parent: %v, want ErrDelete", err)
	}
	// A parent without a token.
	writeTop(t, root, "bob", "dune", map[string]any{"vault_url": good})
	if _, err := refresh(t, v, h); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "and "+filepath.Join(root, "bob", "dune.top")) {
		t.Errorf("parent without token: %v", err)
	}
}

func TestVaultPermissionDeniedIsConfirmed(t *testing.T) {
	f := newFakeVault(t)
	f.read = func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(403)
		fmt.Fprint(w, `{"errors":["permission denied"]}`)
	}
	c := writeTop(t, t.TempDir(), "alice", "dune", map[string]any{"vault_token": testVaultToken, "vault_url": f.URL + "/v1/secret/oauth/creds/dune/alice:default"})
	v := f.provider(VaultConfig{})
	// The token itself is dead: delete.
	_, err := refresh(t, v, c)
	if !errors.Is(err, ErrDelete) || !strings.Contains(err.Error(), "Forbidden: permission denied") {
		t.Fatalf("dead token: %v", err)
	}
	if n := len(f.reqs); n != 2 || f.reqs[1].URL.Path != "/v1/auth/token/lookup-self" {
		t.Fatalf("want the read and a lookup-self, got %d requests", n)
	}
	// The token is fine, a policy denies the path: keep.
	f.lookupOK = true
	_, err = refresh(t, v, c)
	if err == nil || errors.Is(err, ErrDelete) || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "a policy denies the path") {
		t.Fatalf("policy denial: %v", err)
	}
}

func TestVaultTransientErrorsKeep(t *testing.T) {
	f := newFakeVault(t)
	c := writeTop(t, t.TempDir(), "alice", "dune", map[string]any{"vault_token": testVaultToken, "vault_url": f.URL + "/v1/secret/oauth/creds/dune/alice:default"})
	v := f.provider(VaultConfig{})
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"500", `{"errors":["boom"]}`, 500, "Internal Server Error: boom"},
		{"not JSON", `<html>`, 200, "could not parse json response"},
		{"no access token", `{"data":{}}`, 200, "access_token missing"},
		{"sealed", `{"errors":["Vault is sealed"]}`, 503, "Service Unavailable: Vault is sealed"},
	} {
		f.read = func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			fmt.Fprint(w, tc.body)
		}
		_, err := refresh(t, v, c)
		if err == nil || errors.Is(err, ErrDelete) || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// Vault down.
	f.Close()
	if _, err := refresh(t, v, c); err == nil || errors.Is(err, ErrDelete) {
		t.Errorf("vault down: %v", err)
	}
}

func jwtWithExp(exp int64) []byte {
	p := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"exp":%d,"sub":"alice"}`, exp)))
	return []byte("eyJhbGciOiJFUzI1NiJ9." + p + ".c2ln\n")
}

func TestVaultNextRefresh(t *testing.T) {
	w := time.Unix(1_000_000, 0)
	c := Cred{}
	hour := int64(3600)
	cases := []struct {
		name    string
		cfg     VaultConfig
		use     []byte
		wantSec int64 // after w
	}{
		{"1 h JWT, defaults: when 1200 s are left", VaultConfig{}, jwtWithExp(w.Unix() + hour), hour - 1200},
		{"opaque token: the original's 1200 s", VaultConfig{}, []byte("opaque\n"), 1200},
		{"explicit REFRESH caps the age", VaultConfig{Refresh: 300 * time.Second}, jwtWithExp(w.Unix() + hour), 300},
		{"explicit short REFRESH (tests)", VaultConfig{Refresh: 5 * time.Second}, jwtWithExp(w.Unix() + hour), 5},
		{"short token: not before a minute", VaultConfig{}, jwtWithExp(w.Unix() + 600), 60},
		{"long token waits for its expiry", VaultConfig{}, jwtWithExp(w.Unix() + 24*hour), 24*hour - 1200},
		{"MINIMUM 600: refresh at 300 s left", VaultConfig{Minimum: 600 * time.Second}, jwtWithExp(w.Unix() + hour), hour - 300},
	}
	for _, tc := range cases {
		got := NewVault(tc.cfg).NextRefresh(c, tc.use, w)
		if d := int64(got.Sub(w) / time.Second); d != tc.wantSec {
			t.Errorf("%s: due after %d s, want %d", tc.name, d, tc.wantSec)
		}
	}
}

func TestVaultURLRedaction(t *testing.T) {
	u, _ := url.Parse("https://v:8200/v1/a?minimum_seconds=1")
	if redactQuery(u) != "https://v:8200/v1/a" {
		t.Error(redactQuery(u))
	}
}

func TestTopSyntaxErrorQuotesNothing(t *testing.T) {
	c := Cred{Root: t.TempDir(), User: "u", Name: "svc"}
	os.MkdirAll(c.DirPath(), 0o700)
	os.WriteFile(c.Top(), []byte(`{%hvs.secret`), 0o600)
	_, err := refresh(t, NewVault(VaultConfig{}), c)
	if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "%") || !strings.Contains(err.Error(), "syntax error at byte 2") {
		t.Fatalf("got %v: want a syntax error that quotes nothing of the file", err)
	}
}
