package oidcauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vaultcred/gettoken/integration/plugins/oidcauth/loginidp"
)

const directRedirect = "http://127.0.0.1:8200/v1/auth/oidc-default/oidc/callback"

// directEnv is an env with a direct-mode role "direct".
func directEnv(t *testing.T, confirm bool) *testEnv {
	t.Helper()
	e := newEnv(t, loginidp.Options{})
	e.configure()
	r := contractRoles()["default"]
	r["callback_mode"] = "direct"
	r["allowed_redirect_uris"] = directRedirect
	r["oidc_disable_confirmation"] = !confirm
	e.mustWrite("role/direct", r)
	return e
}

// startDirect calls auth_url and returns the data.
func (e *testEnv) startDirect(t *testing.T) map[string]any {
	t.Helper()
	// loopback redirect URIs match whatever the port (RFC 8252)
	status, body := e.write(t, "oidc/auth_url", map[string]any{"role": "direct", "client_nonce": contractNonce,
		"redirect_uri": "http://127.0.0.1:18200/v1/auth/oidc-default/oidc/callback"})
	if status != http.StatusOK {
		t.Fatalf("auth_url: %d %v", status, body)
	}
	return dataOf(body)
}

// browse follows the auth_url at the IdP and returns the redirect's query.
func (e *testEnv) browse(t *testing.T, authURL string) url.Values {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(authURL)
	if err != nil {
		t.Fatalf("GET auth_url: %v", err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorize answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}

// callback performs the browser's GET on oidc/callback.
func (e *testEnv) callback(t *testing.T, q map[string]any) (int, string) {
	t.Helper()
	_, resp, err := e.handle(logical.ReadOperation, "oidc/callback", q)
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	if resp == nil {
		t.Fatal("callback: nil response")
	}
	if resp.IsError() {
		return http.StatusBadRequest, resp.Error().Error()
	}
	status, _ := resp.Data[logical.HTTPStatusCode].(int)
	raw, _ := resp.Data[logical.HTTPRawBody].([]byte)
	if ct, _ := resp.Data[logical.HTTPContentType].(string); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("callback content type %q", ct)
	}
	return status, string(raw)
}

func (e *testEnv) pollState(t *testing.T, state string) (int, map[string]any) {
	t.Helper()
	return e.write(t, "oidc/poll", map[string]any{"state": state, "client_nonce": contractNonce})
}

func TestDirectModeLogin(t *testing.T) {
	e := directEnv(t, false)
	data := e.startDirect(t)
	state, _ := data["state"].(string)
	if state == "" || data["poll_interval"] != "3" {
		t.Fatalf("auth_url data %v", data)
	}
	if _, ok := data["user_code"]; ok {
		t.Error("direct mode returned user_code")
	}
	u, err := url.Parse(data["auth_url"].(string))
	if err != nil || !strings.HasPrefix(data["auth_url"].(string), e.idp.URL()+"/authorize?") {
		t.Fatalf("auth_url %v", data["auth_url"])
	}
	q := u.Query()
	for k, want := range map[string]string{
		"response_type": "code", "client_id": e.idp.ClientID(), "state": state,
		"redirect_uri":          "http://127.0.0.1:18200/v1/auth/oidc-default/oidc/callback",
		"scope":                 "openid profile offline_access",
		"code_challenge_method": "S256",
	} {
		if q.Get(k) != want {
			t.Errorf("auth_url %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if q.Get("nonce") == "" || len(q.Get("code_challenge")) != 43 {
		t.Errorf("auth_url nonce %q code_challenge %q", q.Get("nonce"), q.Get("code_challenge"))
	}
	if q.Get("client_secret") != "" {
		t.Error("auth_url carries the client secret")
	}

	if status, body := e.pollState(t, state); status != 400 || firstError(body) != "authorization_pending" {
		t.Fatalf("poll before callback: %d %v", status, body)
	}

	e.idp.SetAuthorizeAccount(&contractAccount)
	back := e.browse(t, data["auth_url"].(string))
	if back.Get("state") != state || back.Get("code") == "" {
		t.Fatalf("IdP redirect query %v", back)
	}
	status, page := e.callback(t, map[string]any{"state": back.Get("state"), "code": back.Get("code")})
	if status != http.StatusOK || !strings.Contains(page, "Succeeded") {
		t.Fatalf("callback: %d %s", status, page)
	}
	form := lastForm(t, e.idp, "/token")
	if form["grant_type"] != "authorization_code" || pkceChallenge(form["code_verifier"]) != q.Get("code_challenge") ||
		form["redirect_uri"] != q.Get("redirect_uri") || form["client_secret"] != e.idp.ClientSecret() {
		t.Errorf("code exchange form %v", form)
	}

	// a replayed callback is refused
	if status, msg := e.callback(t, map[string]any{"state": state, "code": back.Get("code")}); status != 400 || msg != errExpiredState {
		t.Errorf("replayed callback: %d %q", status, msg)
	}

	status, body := e.pollState(t, state)
	if status != http.StatusOK {
		t.Fatalf("poll after callback: %d %v", status, body)
	}
	auth, _ := body["auth"].(map[string]any)
	meta, _ := auth["metadata"].(map[string]any)
	if meta["credkey"] != "alice" || meta["role"] != "direct" || meta["oauth2_refresh_token"] == "" || e.lastAliasName() != "alice" {
		t.Errorf("direct login auth %v alias %q", auth, e.lastAliasName())
	}
	if status, body := e.pollState(t, state); status != 400 || firstError(body) != errExpiredState {
		t.Errorf("second poll: %d %v", status, body)
	}
}

func TestDirectModeAuthURLErrors(t *testing.T) {
	e := directEnv(t, false)
	status, body := e.write(t, "oidc/auth_url", map[string]any{"role": "direct", "client_nonce": "n",
		"redirect_uri": "https://evil.example/v1/auth/oidc-default/oidc/callback"})
	if d := dataOf(body); status != 200 || d["auth_url"] != "" || d["state"] != nil {
		t.Errorf("disallowed redirect_uri: %d %v, want 200 with empty auth_url", status, body)
	}
	status, body = e.write(t, "oidc/auth_url", map[string]any{"role": "direct", "client_nonce": "n"})
	if status != 400 || firstError(body) != "missing redirect_uri" {
		t.Errorf("missing redirect_uri: %d %v", status, body)
	}
}

func TestDirectModeConfirmation(t *testing.T) {
	e := directEnv(t, true)
	data := e.startDirect(t)
	e.idp.SetAuthorizeAccount(&contractAccount)
	back := e.browse(t, data["auth_url"].(string))
	tokenCalls := len(e.idp.RequestsTo("/token"))
	status, page := e.callback(t, map[string]any{"state": back.Get("state"), "code": back.Get("code")})
	if status != http.StatusOK || !strings.Contains(page, `name="confirmation" value="yes"`) ||
		!strings.Contains(page, `action="callback"`) {
		t.Fatalf("confirmation page: %d %s", status, page)
	}
	if len(e.idp.RequestsTo("/token")) != tokenCalls {
		t.Error("code redeemed before confirmation")
	}
	status, page = e.callback(t, map[string]any{"state": back.Get("state"), "code": back.Get("code"), "confirmation": "yes"})
	if status != http.StatusOK || !strings.Contains(page, "Succeeded") {
		t.Fatalf("confirmed callback: %d %s", status, page)
	}
	if status, body := e.pollState(t, data["state"].(string)); status != 200 {
		t.Errorf("poll: %d %v", status, body)
	}
}

func TestDirectModeFailures(t *testing.T) {
	t.Run("IdP error keeps the state pending", func(t *testing.T) {
		e := directEnv(t, false)
		data := e.startDirect(t)
		e.idp.SetAuthorizeAccount(nil)
		back := e.browse(t, data["auth_url"].(string))
		status, page := e.callback(t, map[string]any{"state": back.Get("state"), "error": back.Get("error")})
		if status != 400 || !strings.Contains(page, "Vault login failed. access_denied") {
			t.Fatalf("callback: %d %s", status, page)
		}
		if status, body := e.pollState(t, data["state"].(string)); status != 400 || firstError(body) != "authorization_pending" {
			t.Errorf("poll: %d %v", status, body)
		}
	})
	t.Run("ID token nonce mismatch", func(t *testing.T) {
		e := directEnv(t, false)
		data := e.startDirect(t)
		e.idp.SetAuthorizeAccount(&contractAccount)
		back := e.browse(t, data["auth_url"].(string))
		idt, err := e.idp.IDToken(contractAccount, "some-other-nonce")
		if err != nil {
			t.Fatal(err)
		}
		e.idp.QueueToken(loginidp.Answer{Body: map[string]any{"access_token": "at", "token_type": "Bearer", "id_token": idt}})
		status, page := e.callback(t, map[string]any{"state": back.Get("state"), "code": back.Get("code")})
		if status != 400 || !strings.Contains(page, "invalid ID token nonce.") {
			t.Fatalf("callback: %d %s", status, page)
		}
	})
	t.Run("unsigned ID token", func(t *testing.T) {
		e := directEnv(t, false)
		data := e.startDirect(t)
		e.idp.SetAuthorizeAccount(&contractAccount)
		back := e.browse(t, data["auth_url"].(string))
		e.idp.QueueToken(loginidp.Answer{Body: map[string]any{"access_token": "at", "token_type": "Bearer",
			"id_token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}})
		status, page := e.callback(t, map[string]any{"state": back.Get("state"), "code": back.Get("code")})
		if status != 400 || !strings.Contains(page, "Error exchanging oidc code:") {
			t.Fatalf("callback: %d %s", status, page)
		}
	})
	t.Run("callback for a device-mode state", func(t *testing.T) {
		e := directEnv(t, false)
		_, body := e.write(t, "oidc/auth_url", map[string]any{"role": "default", "client_nonce": "n"})
		status, msg := e.callback(t, map[string]any{"state": dataOf(body)["state"], "code": "c"})
		if status != 400 || msg != errExpiredState {
			t.Errorf("callback: %d %q", status, msg)
		}
	})
}

// startDevice runs auth_url for role and returns the state.
func (e *testEnv) startDevice(t *testing.T, role string) string {
	t.Helper()
	status, body := e.write(t, "oidc/auth_url", map[string]any{"role": role, "client_nonce": contractNonce})
	st, _ := dataOf(body)["state"].(string)
	if status != http.StatusOK || st == "" {
		t.Fatalf("auth_url: %d %v", status, body)
	}
	return st
}

func TestStateExpiry(t *testing.T) {
	e := newEnv(t, loginidp.Options{ExpiresIn: 60})
	e.configure()
	st := e.startDevice(t, "default")
	e.clock.advance(59 * time.Second)
	if status, body := e.pollState(t, st); status != 400 || firstError(body) != "authorization_pending" {
		t.Fatalf("poll before expiry: %d %v", status, body)
	}
	e.clock.advance(time.Second)
	e.idp.Approve("", contractAccount)
	if status, body := e.pollState(t, st); status != 400 || firstError(body) != errExpiredState {
		t.Fatalf("poll after expires_in: %d %v", status, body)
	}

	// no expires_in: 10 minutes
	e.idp.QueueDevice(loginidp.Answer{Body: map[string]any{"device_code": "dc-x", "user_code": "U",
		"verification_uri": e.idp.URL() + "/device"}})
	st = e.startDevice(t, "default")
	e.clock.advance(10*time.Minute - time.Second)
	if e.b.states.get(st) == nil {
		t.Fatal("state gone before 10 minutes")
	}
	e.clock.advance(time.Second)
	if status, body := e.pollState(t, st); status != 400 || firstError(body) != errExpiredState {
		t.Fatalf("poll after 10 minutes: %d %v", status, body)
	}
}

func TestStateTableLimit(t *testing.T) {
	tbl := newStateTable(time.Now, 2)
	for i := 0; i < 2; i++ {
		if err := tbl.add(&authState{expires: time.Now().Add(time.Hour)}); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	if err := tbl.add(&authState{expires: time.Now().Add(time.Hour)}); !errors.Is(err, errTooManyStates) {
		t.Fatalf("third add: %v, want errTooManyStates", err)
	}
	e := newEnv(t, loginidp.Options{})
	e.configure()
	e.b.states = newStateTable(e.clock.now, 0)
	status, body := e.write(t, "oidc/auth_url", map[string]any{"role": "default", "client_nonce": "n"})
	if d := dataOf(body); status != 200 || d["auth_url"] != "" || d["state"] != nil {
		t.Errorf("auth_url with a full table: %d %v", status, body)
	}
}

func TestConcurrentPollsYieldOneLogin(t *testing.T) {
	e := newEnv(t, loginidp.Options{})
	e.configure()
	st := e.startDevice(t, "default")
	e.idp.Approve("", contractAccount)
	const n = 4
	var wg sync.WaitGroup
	results := make(chan *logical.Response, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, resp, err := e.handle(logical.UpdateOperation, "oidc/poll", map[string]any{"state": st, "client_nonce": contractNonce})
			if err != nil {
				resp = logical.ErrorResponse(err.Error())
			}
			results <- resp
		}()
	}
	wg.Wait()
	close(results)
	logins, expired := 0, 0
	for r := range results {
		switch {
		case r != nil && r.Auth != nil:
			logins++
		case r != nil && r.IsError() && r.Error().Error() == errExpiredState:
			expired++
		default:
			t.Errorf("unexpected poll result %+v", r)
		}
	}
	if logins != 1 || expired != n-1 {
		t.Errorf("logins %d expired %d, want 1 and %d", logins, expired, n-1)
	}
	if got := len(e.idp.RequestsTo("/token")); got != 1 {
		t.Errorf("token endpoint called %d times, want 1", got)
	}
}

func TestLoginClaims(t *testing.T) {
	t.Run("userinfo overrides and adds claims", func(t *testing.T) {
		e := newEnv(t, loginidp.Options{})
		e.configure()
		st := e.startDevice(t, "default")
		acct := contractAccount
		acct.UserInfo = map[string]any{"wlcg.credkey": "alice-ui"}
		e.idp.Approve("", acct)
		status, body := e.pollState(t, st)
		meta, _ := body["auth"].(map[string]any)["metadata"].(map[string]any)
		if status != 200 || meta["credkey"] != "alice-ui" || e.lastAliasName() != "alice-ui" {
			t.Errorf("login: %d %v alias %q", status, body, e.lastAliasName())
		}
	})
	t.Run("userinfo failure is not fatal", func(t *testing.T) {
		e := newEnv(t, loginidp.Options{})
		e.configure()
		st := e.startDevice(t, "default")
		e.idp.FailUserInfo(true)
		e.idp.Approve("", contractAccount)
		if status, body := e.pollState(t, st); status != 200 {
			t.Errorf("login: %d %v", status, body)
		}
		if !strings.Contains(e.logs.String(), "error reading /userinfo endpoint") {
			t.Error("userinfo failure not logged")
		}
	})
	t.Run("missing user claim", func(t *testing.T) {
		e := newEnv(t, loginidp.Options{})
		e.configure()
		st := e.startDevice(t, "default")
		e.idp.Approve("", loginidp.Account{Subject: "bob"})
		status, body := e.pollState(t, st)
		if status != 400 || firstError(body) != `Vault login failed. claim "wlcg.credkey" not found in token` {
			t.Errorf("login: %d %v", status, body)
		}
	})
	t.Run("groups and JSON pointer mappings", func(t *testing.T) {
		e := newEnv(t, loginidp.Options{})
		e.configure()
		r := contractRoles()["default"]
		r["groups_claim"] = "groups"
		r["claim_mappings"] = map[string]any{"/org/name": "org", "wlcg.credkey": "credkey"}
		e.mustWrite("role/grp", r)
		st := e.startDevice(t, "grp")
		acct := contractAccount
		acct.Claims = map[string]any{"wlcg.credkey": "alice", "groups": []any{"g1", "g2"}, "org": map[string]any{"name": "fnal"}}
		e.idp.Approve("", acct)
		_, resp, err := e.handle(logical.UpdateOperation, "oidc/poll", map[string]any{"state": st, "client_nonce": contractNonce})
		if err != nil || resp == nil || resp.Auth == nil {
			t.Fatalf("poll: %v %v", resp, err)
		}
		a := resp.Auth
		if len(a.GroupAliases) != 2 || a.GroupAliases[0].Name != "g1" || a.Alias.Metadata["org"] != "fnal" ||
			a.Metadata["org"] != "fnal" || a.InternalData["role"] != "grp" || !a.Renewable || a.DisplayName != "alice" {
			t.Errorf("auth %+v alias %+v", a, a.Alias)
		}
	})
}

func TestNoTokensInLogsOrErrors(t *testing.T) {
	e := newEnv(t, loginidp.Options{})
	e.configure()
	r := contractRoles()["default"]
	r["oauth2_metadata"] = "access_token,id_token,refresh_token"
	e.mustWrite("role/all", r)
	st := e.startDevice(t, "all")
	e.idp.Approve("", contractAccount)
	_, resp, err := e.handle(logical.UpdateOperation, "oidc/poll", map[string]any{"state": st, "client_nonce": contractNonce})
	if err != nil || resp == nil || resp.Auth == nil {
		t.Fatalf("poll: %v %v", resp, err)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "wlcg.credkey") {
		t.Errorf("verbose_oidc_logging did not log claim names: %s", logs)
	}
	secrets := []string{e.idp.ClientSecret(), "alice@example.org"}
	for _, k := range []string{"oauth2_access_token", "oauth2_id_token", "oauth2_refresh_token"} {
		v := resp.Auth.Metadata[k]
		if v == "" {
			t.Fatalf("metadata %s empty", k)
		}
		secrets = append(secrets, v)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain a secret or claim value %q", s)
		}
	}

	// an IdP error echoing the secret does not leak it into the error
	st = e.startDevice(t, "default")
	e.idp.QueueToken(loginidp.Answer{Status: 401, Body: map[string]any{"error": "invalid_client",
		"error_description": "bad secret " + e.idp.ClientSecret()}})
	status, body := e.pollState(t, st)
	msg := firstError(body)
	if status != 500 || !strings.Contains(msg, "invalid_client") || strings.Contains(msg, e.idp.ClientSecret()) {
		t.Errorf("IdP 401: %d %q", status, msg)
	}
}

func TestIdPStatusErrorIsTyped(t *testing.T) {
	e := newEnv(t, loginidp.Options{})
	e.configure()
	cfg, err := e.b.config(context.Background(), e.storage)
	if err != nil || cfg == nil {
		t.Fatalf("config: %v", err)
	}
	idp, err := e.b.provider(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.idp.QueueToken(loginidp.Answer{Status: 503, Body: map[string]any{"error": "temporarily_unavailable"}})
	_, err = idp.pollDevice(context.Background(), "dc")
	var se *IdPStatusError
	if !errors.As(err, &se) || se.Code != "temporarily_unavailable" || !strings.HasPrefix(se.Status, "503") {
		t.Fatalf("error %v, want *IdPStatusError 503 temporarily_unavailable", err)
	}
}

func TestRenew(t *testing.T) {
	e := newEnv(t, loginidp.Options{})
	e.configure()
	e.mustWrite("role/default", map[string]any{"token_ttl": 3600, "token_max_ttl": 7200})
	renew := func() (*logical.Response, error) {
		req := &logical.Request{Operation: logical.RenewOperation, Path: "login", Storage: e.storage,
			Auth: &logical.Auth{InternalData: map[string]any{"role": "default"}}}
		return e.b.HandleRequest(context.Background(), req)
	}
	resp, err := renew()
	if err != nil || resp == nil || resp.Auth.TTL != time.Hour || resp.Auth.MaxTTL != 2*time.Hour {
		t.Fatalf("renew: %+v %v", resp, err)
	}
	if _, _, err := e.handle(logical.DeleteOperation, "role/default", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := renew(); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("renew after role delete: %v", err)
	}
}

func TestUnverifiedClaimsRejectsGarbage(t *testing.T) {
	for _, raw := range []string{"", "a.b", "a.!!!.c", "a." + "bm90IGpzb24" + ".c"} {
		if _, err := unverifiedClaims(raw); err == nil {
			t.Errorf("unverifiedClaims(%q) succeeded", raw)
		}
	}
	e := newEnv(t, loginidp.Options{})
	e.configure()
	st := e.startDevice(t, "default")
	e.idp.QueueToken(loginidp.Answer{Body: map[string]any{"access_token": "at", "id_token": "garbage"}})
	if status, _ := e.pollState(t, st); status != 500 {
		t.Errorf("malformed id_token: status %d, want 500", status)
	}
}

func TestValidRedirect(t *testing.T) {
	allowed := []string{"https://vault.example:8200/v1/auth/oidc-x/oidc/callback", "http://localhost:8250/oidc/callback"}
	cases := map[string]bool{
		"https://vault.example:8200/v1/auth/oidc-x/oidc/callback": true,
		"https://vault.example:8201/v1/auth/oidc-x/oidc/callback": false,
		"http://localhost:9999/oidc/callback":                     true,
		"http://localhost:9999/other":                             false,
		"::not a url":                                             false,
	}
	for uri, want := range cases {
		if got := validRedirect(uri, allowed); got != want {
			t.Errorf("validRedirect(%q) = %v, want %v", uri, got, want)
		}
	}
}
