package oauthapp

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vaultcred/gettoken/integration/plugins/oauthapp/contract"
	"github.com/vaultcred/gettoken/integration/plugins/oauthapp/tokenidp"
)

type fixture struct {
	t   *testing.T
	idp *tokenidp.IdP
	b   *backend
	s   logical.Storage
	c   *contract.Backend
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	idp, err := tokenidp.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	f := &fixture{t: t, idp: idp, s: &logical.InmemStorage{}}
	f.b = f.newBackend()
	f.c = &contract.Backend{B: f.b, Storage: f.s}
	return f
}

// newBackend creates a backend as Vault would (a fresh plugin process).
func (f *fixture) newBackend() *backend {
	f.t.Helper()
	lb, err := Factory(context.Background(), logical.TestBackendConfig())
	if err != nil {
		f.t.Fatal(err)
	}
	return lb.(*backend)
}

func (f *fixture) do(op contract.Op, path string, params map[string]any) *contract.Response {
	f.t.Helper()
	r := contract.Request{Op: op, Path: path}
	if op == contract.Write {
		r.Body = params
	} else if params != nil {
		r.Query = map[string]string{}
		for k, v := range params {
			r.Query[k] = v.(string)
		}
	}
	resp, err := f.c.Do(context.Background(), r)
	if err != nil {
		f.t.Fatalf("%s %s: %v", op, path, err)
	}
	return resp
}

func (f *fixture) want(r *contract.Response, status int, errPrefix string) {
	f.t.Helper()
	if r.Status != status {
		f.t.Fatalf("status %d, want %d (errors %q)", r.Status, status, r.Errors)
	}
	if errPrefix != "" && (len(r.Errors) == 0 || !strings.HasPrefix(r.Errors[0], errPrefix)) {
		f.t.Fatalf("errors %q, want first starting with %q", r.Errors, errPrefix)
	}
}

func (f *fixture) writeServer(extra map[string]any) {
	f.t.Helper()
	body := map[string]any{
		"provider": "oidc", "provider_options": "issuer_url=" + f.idp.URL(),
		"client_id": tokenidp.ClientID, "client_secret": tokenidp.ClientSecret,
	}
	for k, v := range extra {
		body[k] = v
	}
	f.want(f.do(contract.Write, "servers/default", body), 204, "")
}

func (f *fixture) writeCred(path, subject string) string {
	f.t.Helper()
	rt := f.idp.MintRefreshToken(subject)
	f.want(f.do(contract.Write, path, map[string]any{"server": "default", "refresh_token": rt}), 204, "")
	return rt
}

func TestContractInProcess(t *testing.T) {
	f := newFixture(t)
	contract.Run(t, f.c, contract.NewEnv(f.idp))
}

func TestConcurrentReadsRefreshOnce(t *testing.T) {
	f := newFixture(t)
	f.writeServer(nil)
	f.writeCred("creds/default/alice:default", "alice")
	f.idp.SetAccessTTL(time.Hour)
	before := f.idp.Count(tokenidp.GrantRefreshToken)

	const n = 40
	tokens := make([]string, n)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := f.c.Do(context.Background(), contract.Request{Op: contract.Read,
				Path: "creds/default/alice:default", Query: map[string]string{"minimum_seconds": "600"}})
			if err != nil {
				t.Error(err)
				return
			}
			statuses[i] = r.Status
			tokens[i], _ = r.Data["access_token"].(string)
		}()
	}
	wg.Wait()
	for i := range n {
		if statuses[i] != 200 || tokens[i] != tokens[0] || tokens[0] == "" {
			t.Fatalf("read %d: status %d token equal=%v", i, statuses[i], tokens[i] == tokens[0])
		}
	}
	if got := f.idp.Count(tokenidp.GrantRefreshToken) - before; got != 1 {
		t.Fatalf("%d refreshes for %d concurrent reads, want 1", got, n)
	}
	if f.b.locks.size() != 0 {
		t.Fatalf("%d credential locks left behind", f.b.locks.size())
	}
}

// A credential whose refresh hangs at the provider must not block work on
// other credentials.
func TestLocksArePerCredential(t *testing.T) {
	f := newFixture(t)
	f.writeServer(nil)
	f.writeCred("creds/default/alice:default", "alice")
	f.writeCred("creds/default/bob:default", "bob")
	entered, release := f.idp.Hang(tokenidp.GrantRefreshToken)
	defer release()

	done := make(chan *contract.Response, 1)
	go func() {
		r, _ := f.c.Do(context.Background(), contract.Request{Op: contract.Read,
			Path: "creds/default/alice:default", Query: map[string]string{"minimum_seconds": "7200"}})
		done <- r
	}()
	// Wait until alice's refresh is at the provider (and holds her lock).
	select {
	case <-entered:
	case <-done:
		t.Fatal("alice's read finished although the provider hangs")
	case <-time.After(30 * time.Second):
		t.Fatal("alice's refresh never reached the provider")
	}
	f.want(f.do(contract.Read, "creds/default/bob:default", map[string]any{"minimum_seconds": "60"}), 200, "")
	f.want(f.do(contract.Delete, "creds/default/bob:default", nil), 204, "")
	select {
	case <-done:
		t.Fatal("alice's read finished before the provider answered")
	default:
	}
	release()
	r := <-done
	if r == nil || r.Status != 400 || r.Errors[0] != "token expired" {
		t.Fatalf("alice's read after release: %+v", r)
	}
}

func TestProviderTimeout(t *testing.T) {
	f := newFixture(t)
	f.want(f.do(contract.Write, "config", map[string]any{"tune_provider_timeout_seconds": 1}), 204, "")
	f.writeServer(nil)
	_, release := f.idp.Hang(tokenidp.GrantRefreshToken)
	defer release()
	rt := f.idp.MintRefreshToken("alice")
	start := time.Now()
	r := f.do(contract.Write, "creds/default/alice:default", map[string]any{"server": "default", "refresh_token": rt})
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("write took %v despite a 1 s provider timeout", took)
	}
	f.want(r, 500, "refresh failed")
	if !strings.Contains(r.Errors[0], "deadline exceeded") || strings.Contains(r.Errors[0], rt) {
		t.Fatalf("error %q: want a deadline error without the token", r.Errors[0])
	}
}

func TestAuthStyleFromDiscovery(t *testing.T) {
	for _, tc := range []struct {
		name    string
		methods []string
		want    string
	}{
		{"basic listed", []string{"client_secret_post", "client_secret_basic"}, "basic"},
		{"post only", []string{"client_secret_post"}, "post"},
		{"nothing listed", nil, "basic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.idp.SetAuthMethods(tc.methods...)
			f.writeServer(nil)
			f.writeCred("creds/default/alice:default", "alice")
			f.want(f.do(contract.Read, "sts/default/alice:default", map[string]any{"scopes": "a"}), 200, "")
			for _, g := range []string{tokenidp.GrantRefreshToken, tokenidp.GrantExchange} {
				req, ok := f.idp.Last(g)
				if !ok || req.Auth != tc.want {
					t.Errorf("%s: auth %q, want %q", g, req.Auth, tc.want)
				}
				if tc.want == "post" && req.Form.Get("client_id") != tokenidp.ClientID {
					t.Errorf("%s: client_id %q in form", g, req.Form.Get("client_id"))
				}
			}
		})
	}
}

func TestIDTokenVerification(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode tokenidp.IDTokenMode
		err  string
	}{
		{"valid", tokenidp.IDTokenValid, ""},
		{"wrong audience", tokenidp.IDTokenWrongAudience, "refresh failed: id_token verification failed"},
		{"wrong issuer", tokenidp.IDTokenWrongIssuer, "refresh failed: id_token verification failed"},
		{"bad signature", tokenidp.IDTokenBadSignature, "refresh failed: id_token verification failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.writeServer(nil)
			f.idp.SetIDTokenMode(tc.mode)
			rt := f.idp.MintRefreshToken("alice")
			r := f.do(contract.Write, "creds/default/alice:default", map[string]any{"server": "default", "refresh_token": rt})
			if tc.err == "" {
				f.want(r, 204, "")
				return
			}
			f.want(r, 400, tc.err)
			if strings.Contains(r.Errors[0], rt) || strings.Contains(r.Errors[0], "eyJ") {
				t.Fatalf("error leaks a token: %q", r.Errors[0])
			}
		})
	}
}

func TestClientSecretsFallback(t *testing.T) {
	f := newFixture(t)
	f.writeServer(map[string]any{"client_secret": "old-secret", "client_secrets": []any{"older", tokenidp.ClientSecret}})
	before := f.idp.Count(tokenidp.GrantRefreshToken)
	f.writeCred("creds/default/alice:default", "alice")
	if got := f.idp.Count(tokenidp.GrantRefreshToken) - before; got != 3 {
		t.Fatalf("%d refresh attempts, want 3 (two rejected secrets, then the right one)", got)
	}
	r := f.do(contract.Read, "servers/default", nil)
	raw, _ := json.Marshal(r)
	for _, s := range []string{"old-secret", "older", tokenidp.ClientSecret} {
		if strings.Contains(string(raw), s) {
			t.Fatalf("server read shows secret %q", s)
		}
	}
}

func TestProviderErrorNeverEchoesToken(t *testing.T) {
	f := newFixture(t)
	f.writeServer(nil)
	rt := f.idp.MintRefreshToken("alice")
	f.idp.FailNext(tokenidp.GrantRefreshToken, 400, "invalid_grant", "token "+rt+" is not valid")
	r := f.do(contract.Write, "creds/default/alice:default", map[string]any{"server": "default", "refresh_token": rt})
	f.want(r, 400, `refresh failed: oauth2: "invalid_grant"`)
	if strings.Contains(r.Errors[0], rt) || !strings.Contains(r.Errors[0], "[redacted]") {
		t.Fatalf("error %q: want the token redacted", r.Errors[0])
	}

	rt = f.writeCred("creds/default/alice:default", "alice")
	at := f.do(contract.Read, "creds/default/alice:default", nil).Data["access_token"].(string)
	f.idp.FailNext(tokenidp.GrantExchange, 400, "invalid_request", "subject "+at+" rejected")
	r = f.do(contract.Read, "sts/default/alice:default", map[string]any{"scopes": "x"})
	f.want(r, 400, "exchange failed: ")
	if strings.Contains(r.Errors[0], at) || strings.Contains(r.Errors[0], rt) {
		t.Fatalf("error %q leaks a token", r.Errors[0])
	}
}

func TestAuthorizationCodeAndGrantTypes(t *testing.T) {
	f := newFixture(t)
	f.writeServer(nil)
	code := f.idp.MintCode("carol")
	f.want(f.do(contract.Write, "creds/default/carol:default", map[string]any{
		"server": "default", "code": code, "redirect_url": "https://app.example/cb"}), 204, "")
	req, _ := f.idp.Last(tokenidp.GrantAuthCode)
	if req.Form.Get("code") != code || req.Form.Get("redirect_uri") != "https://app.example/cb" {
		t.Fatalf("code exchange form %v", req.Form)
	}
	r := f.do(contract.Read, "creds/default/carol:default", nil)
	f.want(r, 200, "")
	if sub, ok := f.idp.AccessTokenSubject(r.Data["access_token"].(string)); !ok || sub != "carol" {
		t.Fatalf("token subject %q", sub)
	}
	f.want(f.do(contract.Write, "creds/default/carol:default", map[string]any{
		"server": "default", "code": code}), 400, `exchange failed: oauth2: "invalid_grant"`)
	f.want(f.do(contract.Write, "creds/default/carol:default", map[string]any{
		"server": "default", "grant_type": grantDeviceCode}), 400, "grant type")
	f.want(f.do(contract.Write, "creds/default/carol:default", map[string]any{
		"server": "default", "grant_type": "password"}), 400, "unknown grant_type")
	f.want(f.do(contract.Write, "creds/default/carol:default", map[string]any{
		"server": "default", "refresh_token": "rt-1", "code": "c"}), 400, "cannot use code with refresh_token grant type")
	f.want(f.do(contract.Write, "creds/default/carol:default", map[string]any{
		"server": "default", "grant_type": "authorization_code", "refresh_token": "rt-1", "code": "c"}),
		400, "cannot use refresh_token with authorization_code grant type")
}

func TestMaximumExpiryAndProviderOptions(t *testing.T) {
	f := newFixture(t)
	f.writeServer(nil)
	rt := f.idp.MintRefreshToken("alice")
	f.want(f.do(contract.Write, "creds/default/alice:default", map[string]any{
		"server": "default", "refresh_token": rt, "maximum_expiry_seconds": "2m",
		"provider_options": map[string]any{"nonce": "n1"}}), 204, "")
	r := f.do(contract.Read, "creds/default/alice:default", nil)
	f.want(r, 200, "")
	exp, err := time.Parse(time.RFC3339Nano, r.Data["expire_time"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(exp); left > 121*time.Second || left < 60*time.Second {
		t.Fatalf("expiry in %v, want about 120 s (IdP gives 300 s)", left)
	}
	if r.Data["maximum_expiry_seconds"] != float64(120) {
		t.Fatalf("maximum_expiry_seconds = %v", r.Data["maximum_expiry_seconds"])
	}
	if po, _ := r.Data["provider_options"].(map[string]any); po["nonce"] != "n1" {
		t.Fatalf("provider_options = %v", r.Data["provider_options"])
	}
	// 2 minutes cannot cover 5 minutes even after a refresh.
	f.want(f.do(contract.Read, "creds/default/alice:default", map[string]any{"minimum_seconds": "300"}), 400, "token expired")
}

func TestServerConfigurationProblemAfterRestart(t *testing.T) {
	f := newFixture(t)
	f.writeServer(nil)
	f.writeCred("creds/default/alice:default", "alice")
	// A new plugin process has no cached discovery; the provider is gone.
	f.b = f.newBackend()
	f.c.B = f.b
	f.idp.Close()
	f.want(f.do(contract.Read, "creds/default/alice:default", map[string]any{"minimum_seconds": "60"}), 200, "")
	f.want(f.do(contract.Read, "creds/default/alice:default", map[string]any{"minimum_seconds": "7200"}),
		400, `server "default" has configuration problems: oidc discovery for issuer`)
	f.want(f.do(contract.Read, "sts/default/alice:default", map[string]any{"scopes": "a"}),
		400, `server "default" has configuration problems: `)
}

func TestSTSWithoutExpiryIsNotCached(t *testing.T) {
	f := newFixture(t)
	f.writeServer(nil)
	f.writeCred("creds/default/alice:default", "alice")
	f.idp.SetExchangeTTL(0)
	r1 := f.do(contract.Read, "sts/default/alice:default", map[string]any{"scopes": "a"})
	r2 := f.do(contract.Read, "sts/default/alice:default", map[string]any{"scopes": "a"})
	f.want(r1, 200, "")
	f.want(r2, 200, "")
	if _, ok := r1.Data["expire_time"]; ok {
		t.Fatal("expire_time present for a token without expiry")
	}
	if r1.Data["access_token"] == r2.Data["access_token"] {
		t.Fatal("a token without expiry was cached")
	}
}

func TestSTSRefreshesExpiringSubject(t *testing.T) {
	f := newFixture(t)
	f.writeServer(nil)
	f.writeCred("creds/default/alice:default", "alice") // access token lives 300 s
	f.idp.SetAccessTTL(time.Hour)
	before := f.idp.Count(tokenidp.GrantRefreshToken)
	f.want(f.do(contract.Read, "sts/default/alice:default", map[string]any{"scopes": "a", "minimum_seconds": "400"}), 200, "")
	if got := f.idp.Count(tokenidp.GrantRefreshToken) - before; got != 1 {
		t.Fatalf("%d subject refreshes, want 1", got)
	}
	req, _ := f.idp.Last(tokenidp.GrantExchange)
	cur := f.do(contract.Read, "creds/default/alice:default", nil).Data["access_token"]
	if req.Form.Get("subject_token") != cur {
		t.Fatal("exchange did not use the refreshed subject token")
	}
}

func TestBadInputNeverPanics(t *testing.T) {
	f := newFixture(t)
	f.writeServer(nil)
	f.writeCred("creds/default/alice:default", "alice")
	reqs := []contract.Request{
		{Op: contract.Read, Path: "creds/default/alice:default", Query: map[string]string{"minimum_seconds": "-5"}},
		{Op: contract.Read, Path: "creds/default/alice:default", Query: map[string]string{"minimum_seconds": "99999999999999999999"}},
		{Op: contract.Read, Path: "creds/::", Query: nil},
		{Op: contract.Read, Path: "creds/a:/b"},
		{Op: contract.Read, Path: "sts/default/alice:default", Query: map[string]string{"scopes": ",,,", "audiences": ""}},
		{Op: contract.Write, Path: "creds/x", Body: map[string]any{"refresh_token": map[string]any{"a": 1}, "server": "default"}},
		{Op: contract.Write, Path: "creds/x", Body: map[string]any{"refresh_token": 42, "server": []any{"a"}}},
		{Op: contract.Write, Path: "creds/x", Body: map[string]any{"refresh_token": "r", "server": "default", "maximum_expiry_seconds": "-3"}},
		{Op: contract.Write, Path: "servers/s", Body: map[string]any{"client_id": "c", "provider": "oidc", "provider_options": "noequals"}},
		{Op: contract.Write, Path: "servers/s", Body: map[string]any{"client_id": "c", "provider": "oidc", "provider_options": "issuer_url=::bad"}},
		{Op: contract.Write, Path: "servers/s", Body: map[string]any{"client_id": "c", "provider": "oidc"}},
		{Op: contract.Write, Path: "config", Body: map[string]any{"tune_provider_timeout_seconds": "forever"}},
		{Op: contract.Write, Path: "config", Body: map[string]any{"tune_reap_transient_error_attempts": -1}},
		{Op: contract.Delete, Path: "creds/never-existed"},
		{Op: contract.List, Path: "servers"},
	}
	for _, r := range reqs {
		resp, err := f.c.Do(context.Background(), r)
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		switch resp.Status {
		case http.StatusOK, http.StatusNoContent, http.StatusBadRequest, http.StatusNotFound:
		default:
			t.Errorf("%s %s: status %d %q", r.Op, r.Path, resp.Status, resp.Errors)
		}
	}
}

func TestWindow(t *testing.T) {
	for in, want := range map[int]time.Duration{
		-5: 10 * time.Second, 0: 10 * time.Second, 9: 10 * time.Second, 60: time.Minute,
		1 << 62: 100 * 365 * 24 * time.Hour,
	} {
		if got := window(in); got != want {
			t.Errorf("window(%d) = %v, want %v", in, got, want)
		}
	}
}
