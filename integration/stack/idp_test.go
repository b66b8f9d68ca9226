package stack

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
)

const (
	idpTestClient   = "vault"
	idpTestSecret   = "vault-secret-0123456789"
	grantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
	grantExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAT     = "urn:ietf:params:oauth:token-type:access_token"
)

var idpTestScopes = []string{"openid", "email", "offline_access", "storage.read:/", "storage.create:/", "compute.read"}

// requireIdP skips the test when node or the IdP's npm packages are missing,
// unless CI=true, where that is a failure.
func requireIdP(t *testing.T) {
	t.Helper()
	dir, err := IdPDir()
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "oidc-provider"))
	}
	if err == nil {
		_, err = exec.LookPath("node")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("test IdP not installed (CI=true): %v", err)
		}
		t.Skipf("test IdP not installed (run npm ci in integration/idp): %v", err)
	}
}

// startTestIdP starts an IdP with alice, bob and the vault client (unless
// cfg names its own) and stops it when the test ends.
func startTestIdP(t *testing.T, cfg IdPConfig) *IdP {
	t.Helper()
	requireIdP(t)
	if cfg.Accounts == nil {
		cfg.Accounts = []IdPAccount{
			{ID: "alice", Password: "alice-pw", Email: "alice@example.org", Credkey: "alice-ck"},
			{ID: "bob", Password: "bob-pw", Email: "bob@example.org", Credkey: "bob-ck"},
		}
	}
	if cfg.Clients == nil {
		cfg.Clients = []IdPClient{{ID: idpTestClient, Secret: idpTestSecret}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	start := time.Now()
	idp, err := StartIdP(ctx, filepath.Join(dir, "state"), dir, cfg)
	if err != nil {
		t.Fatalf("StartIdP: %v", err)
	}
	t.Logf("IdP ready in %v at %s", time.Since(start).Round(time.Millisecond), idp.URL)
	t.Cleanup(func() {
		_ = idp.Stop()
		if t.Failed() {
			t.Logf("idp log tail:\n%s", idp.Proc.Tail(4000))
		}
	})
	return idp
}

func idpOAuth(idp *IdP, style oauth2.AuthStyle) *oauth2.Config {
	return &oauth2.Config{
		ClientID: idpTestClient, ClientSecret: idpTestSecret, Scopes: idpTestScopes,
		Endpoint: oauth2.Endpoint{AuthURL: idp.URL + "/auth", DeviceAuthURL: idp.DeviceAuthURL(), TokenURL: idp.TokenURL(), AuthStyle: style},
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// deviceAuth starts a device authorization (x/oauth2 sends no secret there itself).
func deviceAuth(t *testing.T, ctx context.Context, c *oauth2.Config) *oauth2.DeviceAuthResponse {
	t.Helper()
	da, err := c.DeviceAuth(ctx, oauth2.SetAuthURLParam("client_secret", c.ClientSecret))
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	if da.DeviceCode == "" || da.UserCode == "" || !strings.Contains(da.VerificationURIComplete, "user_code=") {
		t.Fatalf("device authorization response incomplete: %+v", da)
	}
	da.Interval = 1 // the IdP sends none, and x/oauth2 would wait 5 s per poll
	return da
}

// pollOnce makes one device_code token request through x/oauth2.
func pollOnce(ctx context.Context, c *oauth2.Config, da *oauth2.DeviceAuthResponse) (*oauth2.Token, error) {
	return c.Exchange(ctx, "", oauth2.SetAuthURLParam("grant_type", grantDeviceCode), oauth2.SetAuthURLParam("device_code", da.DeviceCode))
}

// loginAs runs a device flow approved through the control route.
func loginAs(t *testing.T, ctx context.Context, idp *IdP, c *oauth2.Config, account string) *oauth2.Token {
	t.Helper()
	da := deviceAuth(t, ctx, c)
	if err := idp.Approve(ctx, da.UserCode, account); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	tok, err := pollOnce(ctx, c, da)
	if err != nil {
		t.Fatalf("device token: %v", err)
	}
	return tok
}

func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// atClaims verifies a JWT access token against the IdP's JWKS and returns its claims.
func atClaims(t *testing.T, ctx context.Context, idp *IdP, raw string) map[string]any {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, idp.URL+"/jwks", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("jwks: %v", err)
	}
	defer resp.Body.Close()
	var keys jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&keys); err != nil {
		t.Fatalf("jwks: %v", err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("access token is not a JWS: %v", err)
	}
	if typ := tok.Headers[0].ExtraHeaders["typ"]; typ != "at+jwt" {
		t.Errorf("access token typ = %v, want at+jwt", typ)
	}
	ks := keys.Key(tok.Headers[0].KeyID)
	if len(ks) != 1 {
		t.Fatalf("no JWKS key for kid %q", tok.Headers[0].KeyID)
	}
	var std jwt.Claims
	claims := map[string]any{}
	if err := tok.Claims(ks[0].Key, &std, &claims); err != nil {
		t.Fatalf("access token signature: %v", err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: idp.URL, Time: time.Now()}, 0); err != nil {
		t.Errorf("access token claims: %v", err)
	}
	return claims
}

func scopeSet(v any) []string {
	s, _ := v.(string)
	f := strings.Fields(s)
	slices.Sort(f)
	return f
}

func num(v any) int64 { f, _ := v.(float64); return int64(f) }

// TestIdPDeviceFlowRefreshRevoke: device flow with x/oauth2 (all auth
// styles), ID token via go-oidc, JWT access token via go-jose, userinfo,
// refresh, and invalid_grant after Revoke.
func TestIdPDeviceFlowRefreshRevoke(t *testing.T) {
	idp := startTestIdP(t, IdPConfig{})
	ctx := testCtx(t)
	auto := idpOAuth(idp, oauth2.AuthStyleAutoDetect)

	da := deviceAuth(t, ctx, auto)
	if _, err := pollOnce(ctx, auto, da); oauthErrorCode(err) != "authorization_pending" {
		t.Fatalf("poll before approval: got %v, want authorization_pending", err)
	}
	approved := make(chan error, 1)
	go func() {
		approved <- idp.Approve(ctx, strings.ToLower(strings.ReplaceAll(da.UserCode, "-", "")), "alice")
	}()
	tok, err := auto.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatalf("DeviceAccessToken: %v", err)
	}
	if err := <-approved; err != nil {
		t.Fatalf("Approve (lower case, no dash): %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}

	prov, err := oidc.NewProvider(ctx, idp.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := prov.Verifier(&oidc.Config{ClientID: idpTestClient}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	var idc struct {
		Email   string `json:"email"`
		Credkey string `json:"wlcg.credkey"`
	}
	if err := idt.Claims(&idc); err != nil || idt.Subject != "alice" || idc.Email != "alice@example.org" || idc.Credkey != "alice-ck" {
		t.Errorf("ID token sub=%q claims=%+v err=%v", idt.Subject, idc, err)
	}

	c := atClaims(t, ctx, idp, tok.AccessToken)
	if c["sub"] != "alice" || c["aud"] != DefaultIdPAudience || c["wlcg.ver"] != "1.0" || c["jti"] == "" {
		t.Errorf("access token claims: %v", c)
	}
	if got, want := scopeSet(c["scope"]), []string{"compute.read", "storage.create:/", "storage.read:/"}; !slices.Equal(got, want) {
		t.Errorf("access token scope %v, want %v", got, want)
	}
	if d := num(c["exp"]) - num(c["iat"]); d != 120 {
		t.Errorf("default TTL: exp-iat = %d, want 120", d)
	}

	ui, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var uic map[string]any
	if err := ui.Claims(&uic); err != nil || ui.Subject != "alice" || uic["wlcg.credkey"] != "alice-ck" {
		t.Errorf("userinfo %v %v", uic, err)
	}

	bobTok := loginAs(t, ctx, idp, idpOAuth(idp, oauth2.AuthStyleInHeader), "bob")
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleAutoDetect, oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		nt, err := idpOAuth(idp, style).TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh (auth style %d): %v", style, err)
		}
		if nt.AccessToken == tok.AccessToken || atClaims(t, ctx, idp, nt.AccessToken)["sub"] != "alice" {
			t.Errorf("refresh (auth style %d) gave no new access token for alice", style)
		}
		if nt.RefreshToken != tok.RefreshToken {
			t.Errorf("refresh token rotated although rotation is off")
		}
	}
	wrong := idpOAuth(idp, oauth2.AuthStyleInParams)
	wrong.ClientSecret = "wrong"
	if _, err := wrong.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_client" {
		t.Errorf("wrong client secret: got %v, want invalid_client", err)
	}

	if err := idp.Revoke(ctx, "alice"); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := auto.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh after Revoke: got %v, want invalid_grant", err)
	}
	if _, err := auto.TokenSource(ctx, &oauth2.Token{RefreshToken: bobTok.RefreshToken}).Token(); err != nil {
		t.Errorf("bob's refresh after revoking alice: %v", err)
	}
	var ce *IdPControlError
	if err := idp.Revoke(ctx, "nobody"); !errors.As(err, &ce) || ce.Status != http.StatusNotFound {
		t.Errorf("Revoke(nobody) = %v, want a 404 IdPControlError", err)
	}
}

// TestIdPDenyAndControlErrors: access_denied after Deny; control route errors.
func TestIdPDenyAndControlErrors(t *testing.T) {
	idp := startTestIdP(t, IdPConfig{})
	ctx := testCtx(t)
	c := idpOAuth(idp, oauth2.AuthStyleInParams)
	da := deviceAuth(t, ctx, c)
	var ce *IdPControlError
	if err := idp.Approve(ctx, "BCDF-GHJK", "alice"); !errors.As(err, &ce) || ce.Status != http.StatusNotFound {
		t.Errorf("Approve(unknown code) = %v, want 404", err)
	}
	if err := idp.Approve(ctx, da.UserCode, "mallory"); !errors.As(err, &ce) || ce.Status != http.StatusNotFound {
		t.Errorf("Approve(unknown account) = %v, want 404", err)
	}
	if err := idp.Deny(ctx, da.UserCode); err != nil {
		t.Fatalf("Deny: %v", err)
	}
	if err := idp.Approve(ctx, da.UserCode, "alice"); !errors.As(err, &ce) || ce.Status != http.StatusConflict {
		t.Errorf("Approve after Deny = %v, want 409", err)
	}
	if _, err := c.DeviceAccessToken(ctx, da); oauthErrorCode(err) != "access_denied" {
		t.Errorf("poll after Deny: got %v, want access_denied", err)
	}
	// Refresh tokens come without offline_access; a device code is single
	// use (oidc-provider also revokes the grant on reuse).
	c2 := idpOAuth(idp, oauth2.AuthStyleInParams)
	c2.Scopes = []string{"openid", "storage.read:/"}
	da2 := deviceAuth(t, ctx, c2)
	if err := idp.Approve(ctx, da2.UserCode, "bob"); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	tok, err := pollOnce(ctx, c2, da2)
	if err != nil {
		t.Fatalf("device token: %v", err)
	}
	if tok.RefreshToken == "" || atClaims(t, ctx, idp, tok.AccessToken)["scope"] != "storage.read:/" {
		t.Errorf("without offline_access: refresh token %t, scope %v", tok.RefreshToken != "", atClaims(t, ctx, idp, tok.AccessToken)["scope"])
	}
	if _, err := pollOnce(ctx, c2, da2); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("reusing a device code: got %v, want invalid_grant", err)
	}
	if err := idp.SetAccessTokenTTL(ctx, 1500*time.Millisecond); err == nil {
		t.Error("SetAccessTokenTTL(1.5s) accepted a fractional TTL")
	}
}

// TestIdPShortTTLAndRotation: SetAccessTokenTTL and refresh-token rotation.
func TestIdPShortTTLAndRotation(t *testing.T) {
	idp := startTestIdP(t, IdPConfig{RotateRefreshTokens: true, AccessTokenTTL: 60 * time.Second})
	ctx := testCtx(t)
	c := idpOAuth(idp, oauth2.AuthStyleAutoDetect)
	if d := claimsTTL(t, ctx, idp, loginAs(t, ctx, idp, c, "alice").AccessToken); d != 60 {
		t.Errorf("configured TTL: exp-iat = %d, want 60", d)
	}
	if err := idp.SetAccessTokenTTL(ctx, 5*time.Second); err != nil {
		t.Fatalf("SetAccessTokenTTL: %v", err)
	}
	tok := loginAs(t, ctx, idp, c, "alice")
	if d := claimsTTL(t, ctx, idp, tok.AccessToken); d != 5 {
		t.Errorf("after SetAccessTokenTTL(5s): exp-iat = %d, want 5", d)
	}
	if left := time.Until(tok.Expiry); left > 5*time.Second || left < 3*time.Second {
		t.Errorf("expires_in gives %v left, want about 5s", left)
	}
	nt, err := c.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if d := claimsTTL(t, ctx, idp, nt.AccessToken); d != 5 {
		t.Errorf("refreshed token: exp-iat = %d, want 5", d)
	}
	if nt.RefreshToken == "" || nt.RefreshToken == tok.RefreshToken {
		t.Fatal("rotation on, but the refresh token did not change")
	}
	if _, err := c.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("reusing a rotated refresh token: got %v, want invalid_grant", err)
	}

	// An expired access token is no longer accepted as a subject token.
	if err := idp.SetAccessTokenTTL(ctx, time.Second); err != nil {
		t.Fatalf("SetAccessTokenTTL: %v", err)
	}
	short := loginAs(t, ctx, idp, c, "bob")
	exp := time.Unix(num(atClaims(t, ctx, idp, short.AccessToken)["exp"]), 0)
	select { // wait for the wall clock to pass exp (not synchronisation)
	case <-time.After(time.Until(exp) + 1100*time.Millisecond):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	st, body := exchangeRaw(t, ctx, idp, short.AccessToken, "", nil, true)
	if st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("exchange of an expired token: %d %v, want 400 invalid_grant", st, body)
	}
}

func claimsTTL(t *testing.T, ctx context.Context, idp *IdP, at string) int64 {
	c := atClaims(t, ctx, idp, at)
	return num(c["exp"]) - num(c["iat"])
}

// exchangeRaw posts a token-exchange request (client_secret_basic or _post).
func exchangeRaw(t *testing.T, ctx context.Context, idp *IdP, subject, scope string, audiences []string, basic bool) (int, map[string]any) {
	t.Helper()
	f := url.Values{"grant_type": {grantExchange}, "subject_token": {subject}, "subject_token_type": {tokenTypeAT},
		"requested_token_type": {tokenTypeAT}, "code": {""}}
	if scope != "" {
		f.Set("scope", scope)
	}
	f["audience"] = audiences
	if !basic {
		f.Set("client_id", idpTestClient)
		f.Set("client_secret", idpTestSecret)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, idp.TokenURL(), strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(idpTestClient, idpTestSecret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("token exchange: %v", err)
	}
	defer resp.Body.Close()
	body := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token exchange answer: %v", err)
	}
	return resp.StatusCode, body
}

// TestIdPTokenExchange: RFC 8693 down-scoping and audiences; broader scope
// and garbage subject tokens are rejected.
func TestIdPTokenExchange(t *testing.T) {
	idp := startTestIdP(t, IdPConfig{})
	ctx := testCtx(t)
	c := idpOAuth(idp, oauth2.AuthStyleAutoDetect)
	tok := loginAs(t, ctx, idp, c, "alice")

	// As the oauthapp plugin does it: x/oauth2 Exchange (sends an empty code=).
	ex, err := c.Exchange(ctx, "",
		oauth2.SetAuthURLParam("grant_type", grantExchange),
		oauth2.SetAuthURLParam("subject_token", tok.AccessToken),
		oauth2.SetAuthURLParam("subject_token_type", tokenTypeAT),
		oauth2.SetAuthURLParam("requested_token_type", tokenTypeAT),
		oauth2.SetAuthURLParam("scope", "storage.read:/"),
		oauth2.SetAuthURLParam("audience", "https://storage.example.org"))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if ex.Extra("issued_token_type") != tokenTypeAT || ex.TokenType != "Bearer" || ex.Extra("scope") != "storage.read:/" {
		t.Errorf("exchange response: type=%v issued=%v scope=%v", ex.TokenType, ex.Extra("issued_token_type"), ex.Extra("scope"))
	}
	cl := atClaims(t, ctx, idp, ex.AccessToken)
	if cl["sub"] != "alice" || cl["aud"] != "https://storage.example.org" || cl["scope"] != "storage.read:/" || cl["wlcg.ver"] != "1.0" {
		t.Errorf("exchanged token claims: %v", cl)
	}

	for _, basic := range []bool{true, false} {
		st, body := exchangeRaw(t, ctx, idp, tok.AccessToken, "compute.read storage.read:/", []string{"https://a.example", "https://b.example"}, basic)
		if st != http.StatusOK {
			t.Fatalf("exchange with two audiences (basic=%v): %d %v", basic, st, body)
		}
		at, _ := body["access_token"].(string)
		cl := atClaims(t, ctx, idp, at)
		aud, _ := cl["aud"].([]any)
		if len(aud) != 2 || aud[0] != "https://a.example" || aud[1] != "https://b.example" ||
			!slices.Equal(scopeSet(cl["scope"]), []string{"compute.read", "storage.read:/"}) {
			t.Errorf("two audiences (basic=%v): aud=%v scope=%v", basic, cl["aud"], cl["scope"])
		}
	}

	st, body := exchangeRaw(t, ctx, idp, ex.AccessToken, "storage.read:/ storage.create:/", nil, true)
	if st != http.StatusBadRequest || body["error"] != "invalid_scope" {
		t.Errorf("broader scope than the subject token: %d %v, want invalid_scope", st, body)
	}
	st, body = exchangeRaw(t, ctx, idp, "not-a-token", "storage.read:/", nil, false)
	if st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("garbage subject token: %d %v, want invalid_grant", st, body)
	}
	// A token signed by someone else (here: the ID token, wrong typ) is rejected too.
	st, body = exchangeRaw(t, ctx, idp, tok.Extra("id_token").(string), "", nil, true)
	if st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("ID token as subject token: %d %v, want invalid_grant", st, body)
	}
}

var (
	formRE  = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
)

// submitForm posts the first form of page (plus extra fields), as a browser would.
func submitForm(t *testing.T, ctx context.Context, hc *http.Client, base *url.URL, page string, extra url.Values) (*http.Response, string) {
	t.Helper()
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form in page:\n%s", page)
	}
	action, err := base.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	f := url.Values{}
	for _, in := range inputRE.FindAllStringSubmatch(m[2], -1) {
		f.Set(in[1], html.UnescapeString(in[2]))
	}
	for k, v := range extra {
		f[k] = v
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return doPage(t, hc, req)
}

func doPage(t *testing.T, hc *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestIdPBrowserDeviceLogin drives the real device pages, login (wrong then
// right password) and consent with a cookie jar.
func TestIdPBrowserDeviceLogin(t *testing.T) {
	idp := startTestIdP(t, IdPConfig{})
	ctx := testCtx(t)
	c := idpOAuth(idp, oauth2.AuthStyleInParams)
	da := deviceAuth(t, ctx, c)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, da.VerificationURIComplete, nil)
	resp, page := doPage(t, hc, req)                                 // auto-submitting form with the code
	resp, page = submitForm(t, ctx, hc, resp.Request.URL, page, nil) // confirm page
	if !strings.Contains(page, da.UserCode) {
		t.Fatalf("confirm page does not show the user code:\n%s", page)
	}
	resp, page = submitForm(t, ctx, hc, resp.Request.URL, page, nil) // -> login page
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
		t.Fatalf("expected the login page, got %d:\n%s", resp.StatusCode, page)
	}
	if err := idp.Approve(ctx, da.UserCode, "bob"); err == nil {
		t.Error("Approve succeeded for a code already being verified in the browser")
	}
	loginURL := resp.Request.URL
	resp, page = submitForm(t, ctx, hc, loginURL, page, url.Values{"login": {"bob"}, "password": {"alice-pw"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "Invalid username or password") {
		t.Fatalf("wrong password: got %d:\n%s", resp.StatusCode, page)
	}
	if _, err := pollOnce(ctx, c, da); oauthErrorCode(err) != "authorization_pending" {
		t.Fatalf("poll after a failed login: got %v, want authorization_pending", err)
	}
	resp, page = submitForm(t, ctx, hc, loginURL, page, url.Values{"login": {"bob"}, "password": {"bob-pw"}})
	if !strings.Contains(page, "Allow") || !strings.Contains(page, "storage.read:/") {
		t.Fatalf("expected the consent page, got %d:\n%s", resp.StatusCode, page)
	}
	resp, page = submitForm(t, ctx, hc, resp.Request.URL, page, nil) // Allow
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Sign-in successful") {
		t.Fatalf("expected the success page, got %d:\n%s", resp.StatusCode, page)
	}
	tok, err := pollOnce(ctx, c, da)
	if err != nil {
		t.Fatalf("token after browser login: %v", err)
	}
	if cl := atClaims(t, ctx, idp, tok.AccessToken); cl["sub"] != "bob" || !slices.Contains(scopeSet(cl["scope"]), "storage.read:/") {
		t.Errorf("browser login token claims: %v", cl)
	}
	if tok.RefreshToken == "" {
		t.Error("no refresh token after browser login")
	}
}

// TestIdPConfig checks defaults and validation without starting node.
func TestIdPConfig(t *testing.T) {
	cfg, err := IdPConfig{Clients: []IdPClient{{ID: "c", Secret: "s"}}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AccessTokenTTL != 120*time.Second || cfg.CredkeyClaim != "wlcg.credkey" ||
		cfg.DefaultAudience != "https://wlcg.cern.ch/jwt/v1/any" || !slices.Equal(cfg.Scopes, DefaultIdPScopes) {
		t.Errorf("defaults: %+v", cfg)
	}
	f := cfg.files()
	if f.AccessTokenTTL != 120 || f.Clients[0].ClientID != "c" || f.Accounts == nil {
		t.Errorf("files: %+v", f)
	}
	for name, bad := range map[string]IdPConfig{
		"no clients":   {},
		"empty secret": {Clients: []IdPClient{{ID: "c"}}},
		"short TTL":    {Clients: []IdPClient{{ID: "c", Secret: "s"}}, AccessTokenTTL: 500 * time.Millisecond},
		"bad port":     {Clients: []IdPClient{{ID: "c", Secret: "s"}}, Port: 70000},
		"no password":  {Clients: []IdPClient{{ID: "c", Secret: "s"}}, Accounts: []IdPAccount{{ID: "a"}}},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := StartIdP(context.Background(), t.TempDir(), t.TempDir(), bad); err == nil {
			t.Errorf("%s: StartIdP accepted", name)
		}
	}

	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "idp.mjs"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GETTOKEN_IDP_DIR", empty)
	if d, err := IdPDir(); err != nil || d != empty {
		t.Errorf("IdPDir with override = %q, %v", d, err)
	}
	_, err = StartIdP(context.Background(), t.TempDir(), t.TempDir(), IdPConfig{Clients: []IdPClient{{ID: "c", Secret: "s"}}})
	if !errors.Is(err, ErrIdPNotInstalled) {
		t.Errorf("StartIdP without node_modules = %v, want ErrIdPNotInstalled", err)
	}
}

// TestIdPAuthCodeFlow: the code flow with PKCE (Vault's direct mode) through
// the login and consent pages, to a loopback redirect URI not in the config.
func TestIdPAuthCodeFlow(t *testing.T) {
	idp := startTestIdP(t, IdPConfig{})
	ctx := testCtx(t)
	c := idpOAuth(idp, oauth2.AuthStyleAutoDetect)
	c.RedirectURL = "http://127.0.0.1:9/v1/auth/oidc-default/oidc/callback"
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host == "127.0.0.1:9" {
			return http.ErrUseLastResponse // the "Vault callback": stop here
		}
		return nil
	}}
	verifier := oauth2.GenerateVerifier()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
		c.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n0nce")), nil)
	resp, page := doPage(t, hc, req)
	if !strings.Contains(page, `name="password"`) {
		t.Fatalf("expected the login page, got %d:\n%s", resp.StatusCode, page)
	}
	resp, page = submitForm(t, ctx, hc, resp.Request.URL, page, url.Values{"login": {"alice"}, "password": {"alice-pw"}})
	resp, _ = submitForm(t, ctx, hc, resp.Request.URL, page, nil) // consent: Allow
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Host != "127.0.0.1:9" || loc.Query().Get("state") != "st4te" {
		t.Fatalf("expected a redirect to the callback, got %d %v", resp.StatusCode, loc)
	}
	tok, err := c.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	prov, err := oidc.NewProvider(ctx, idp.URL)
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := prov.Verifier(&oidc.Config{ClientID: idpTestClient}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if idt.Subject != "alice" || idt.Nonce != "n0nce" || tok.RefreshToken == "" {
		t.Errorf("code flow tokens: sub=%q nonce=%q refresh token=%t", idt.Subject, idt.Nonce, tok.RefreshToken != "")
	}
}
