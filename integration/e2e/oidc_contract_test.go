package e2e

// The oidc auth plugin's contract table (package oidcauth/contract) run
// through the real Vault server, plus the real-IdP cases the table cannot
// script: a denied device login and a direct-mode (callback) login driven
// through the IdP's login and consent pages.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultcred/gettoken/integration/plugins/oidcauth/contract"
	"github.com/vaultcred/gettoken/integration/plugins/oidcauth/loginidp"
	"github.com/vaultcred/gettoken/integration/stack"
)

// vaultOIDC is a contract.Target: the plugin mounted at auth/<mount> of the
// shared stack's Vault, reached through its TLS listener without a token
// (oidc/auth_url and oidc/poll are unauthenticated paths).
type vaultOIDC struct {
	mount    string
	accessor string
	hc       *http.Client

	mu        sync.Mutex
	lastToken string // client token of the last login; never logged
}

func tlsHTTPClient(jar http.CookieJar) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Jar:     jar,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: st.Certs.Pool, MinVersion: tls.VersionTLS12}},
	}
}

// Write implements contract.Target: POST /v1/auth/<mount>/<path>.
func (v *vaultOIDC) Write(t *testing.T, path string, body map[string]any) (int, map[string]any) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatalf("encoding body: %v", err)
	}
	ctx := ctxT(t, 30*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		st.Vault.Addr+"/v1/auth/"+v.mount+"/"+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("POST %s: reading answer: %v", path, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return resp.StatusCode, nil
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("POST %s: HTTP %d, answer is not JSON: %v", path, resp.StatusCode, err)
	}
	if auth, ok := out["auth"].(map[string]any); ok {
		tok, _ := auth["client_token"].(string)
		v.mu.Lock()
		v.lastToken = tok
		v.mu.Unlock()
	}
	return resp.StatusCode, out
}

// LastAliasName implements contract.AliasReporter: the name of the entity
// alias on this mount of the last login's token, looked up as root.
func (v *vaultOIDC) LastAliasName(t *testing.T) string {
	t.Helper()
	v.mu.Lock()
	tok := v.lastToken
	v.mu.Unlock()
	if tok == "" {
		return ""
	}
	ctx := ctxT(t, 30*time.Second)
	sec, err := st.Vault.Admin.Logical().WriteWithContext(ctx, "auth/token/lookup", map[string]any{"token": tok})
	if err != nil || sec == nil {
		t.Fatalf("token lookup: %v", err)
	}
	id, _ := sec.Data["entity_id"].(string)
	if id == "" {
		t.Fatal("login token has no entity")
	}
	ent, err := st.Vault.Admin.Logical().ReadWithContext(ctx, "identity/entity/id/"+id)
	if err != nil || ent == nil {
		t.Fatalf("entity read: %v", err)
	}
	aliases, _ := ent.Data["aliases"].([]any)
	for _, a := range aliases {
		m, _ := a.(map[string]any)
		if m["mount_accessor"] == v.accessor {
			name, _ := m["name"].(string)
			return name
		}
	}
	return ""
}

// mountOIDC enables the oidc plugin at auth/<mount>, writes cfg and roles,
// and disables the mount (revoking its tokens) when the test ends.
func mountOIDC(t *testing.T, mount string, cfg map[string]any, roles map[string]map[string]any) *vaultOIDC {
	t.Helper()
	ctx := ctxT(t, time.Minute)
	admin := st.Vault.Admin
	if err := admin.Sys().EnableAuthWithOptionsWithContext(ctx, mount, &vaultapi.EnableAuthOptions{Type: "oidc"}); err != nil {
		t.Fatalf("enable auth %s: %v", mount, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := admin.Sys().DisableAuthWithContext(ctx, mount); err != nil {
			t.Errorf("disable auth %s: %v", mount, err)
		}
	})
	if _, err := admin.Logical().WriteWithContext(ctx, "auth/"+mount+"/config", cfg); err != nil {
		t.Fatalf("%s config: %v", mount, err)
	}
	for name, r := range roles {
		if _, err := admin.Logical().WriteWithContext(ctx, "auth/"+mount+"/role/"+name, r); err != nil {
			t.Fatalf("%s role %s: %v", mount, name, err)
		}
	}
	auths, err := admin.Sys().ListAuthWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := auths[mount+"/"]
	if !ok {
		t.Fatalf("auth mount %s not listed", mount)
	}
	return &vaultOIDC{mount: mount, accessor: m.Accessor, hc: tlsHTTPClient(nil)}
}

// vaultContractCases is the contract table with the answers Vault itself
// changes. Through Vault 1.21.0 there are none: the status, errors[0], the
// exact data key set with its JSON types, the login result and the entity
// alias all match the in-process run, including the 500 of an IdP failure
// (Vault passes the error text of a login path through; it does not
// replace it with "internal error"). A difference found later is recorded
// here, on the step it changes, with its reason.
func vaultContractCases() []contract.Case {
	return contract.Cases()
}

// TestOIDCContractThroughVault runs the contract table against the plugin
// loaded by the real Vault, at auth/oidc-contract, talking to a loginidp
// over TLS (oidc_discovery_ca_pem).
func TestOIDCContractThroughVault(t *testing.T) {
	idp, err := loginidp.New(loginidp.Options{TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	cfg := contract.Config(idp)
	cfg["oidc_discovery_ca_pem"] = idp.CAPEM()
	target := mountOIDC(t, "oidc-contract", cfg, contract.Roles())
	contract.RunCases(t, target, idp, vaultContractCases())

	if log := st.Vault.Proc.Tail(1 << 20); strings.Contains(log, idp.ClientSecret()) {
		t.Error("vault log contains the IdP client secret")
	}
}

// TestOIDCDeviceDeniedAtRealIdP: a device code denied at the real IdP fails
// the poll with access_denied and ends the state.
func TestOIDCDeviceDeniedAtRealIdP(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	d, err := stack.StartDeviceLogin(ctx, anonClient(t), "default", "default")
	if err != nil {
		t.Fatal(err)
	}
	var pe *stack.PollError
	if _, err := d.Poll(ctx); !errors.As(err, &pe) || pe.Status != 400 || pe.Message != "authorization_pending" {
		t.Fatalf("poll before denial: %v, want 400 authorization_pending", err)
	}
	if err := st.IdP.Deny(ctx, d.UserCode); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Poll(ctx); !errors.As(err, &pe) || pe.Status != 400 || pe.Message != "authorization failed: access_denied" {
		t.Fatalf("poll after denial: %v, want 400 authorization failed: access_denied", err)
	}
	if _, err := d.Poll(ctx); !errors.As(err, &pe) || pe.Status != 400 || pe.Message != contract.ErrExpiredState {
		t.Fatalf("poll after failure: %v, want 400 %q", err, contract.ErrExpiredState)
	}
}

// directMount mounts auth/oidc-direct against the real IdP (the default
// issuer's client) with a direct-mode role "direct" that asks the browser
// for confirmation.
func directMount(t *testing.T) (*vaultOIDC, string) {
	t.Helper()
	iss := st.Issuers[0]
	const mount = "oidc-direct"
	callback := st.Vault.Addr + "/v1/auth/" + mount + "/oidc/callback"
	v := mountOIDC(t, mount, map[string]any{
		"oidc_discovery_url": iss.URL,
		"oidc_client_id":     iss.ClientID,
		"oidc_client_secret": iss.ClientSecret,
		"default_role":       "direct",
	}, map[string]map[string]any{"direct": {
		"role_type":               "oidc",
		"user_claim":              iss.CredClaim,
		"oidc_scopes":             strings.Join(stack.DefaultRoleScopes, ","),
		"token_no_default_policy": true,
		"policies":                "oidc-default_default,tokenops",
		"callback_mode":           "direct",
		"poll_interval":           1,
		"allowed_redirect_uris":   callback,
		"claim_mappings":          map[string]any{iss.CredClaim: "credkey"},
		"oauth2_metadata":         []any{"refresh_token"},
	}})
	return v, callback
}

// htmlForm is the first matching form of a page.
type htmlForm struct {
	method, action string
	fields         url.Values
}

var (
	formRE  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRE = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attrRE  = regexp.MustCompile(`(?is)\b(method|action|name|value|type)="([^"]*)"`)
)

func attrs(s string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRE.FindAllStringSubmatch(s, -1) {
		out[strings.ToLower(m[1])] = html.UnescapeString(m[2])
	}
	return out
}

// findForm returns the first form of page whose action ends with suffix.
func findForm(page, suffix string) (htmlForm, bool) {
	for _, m := range formRE.FindAllStringSubmatch(page, -1) {
		a := attrs(m[1])
		if !strings.HasSuffix(a["action"], suffix) {
			continue
		}
		f := htmlForm{method: strings.ToUpper(a["method"]), action: a["action"], fields: url.Values{}}
		if f.method == "" {
			f.method = http.MethodGet
		}
		for _, in := range inputRE.FindAllStringSubmatch(m[2], -1) {
			ia := attrs(in[1])
			if ia["name"] != "" {
				f.fields.Set(ia["name"], ia["value"])
			}
		}
		return f, true
	}
	return htmlForm{}, false
}

// browser is a cookie-keeping user agent that trusts the stack's CA.
type browser struct {
	t  *testing.T
	hc *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, hc: tlsHTTPClient(jar)}
}

// do performs a request, following redirects, and returns the final
// response's URL, status and body.
func (b *browser) do(ctx context.Context, method, target string, form url.Values) (*url.URL, int, string) {
	b.t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	} else if form != nil {
		u, err := url.Parse(target)
		if err != nil {
			b.t.Fatal(err)
		}
		u.RawQuery = form.Encode()
		target = u.String()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		// the URL may carry a code or state: report the path only
		b.t.Fatalf("%s %s: request failed", method, req.URL.Path)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.Request.URL, resp.StatusCode, string(raw)
}

// submit submits f, which was on the page at base.
func (b *browser) submit(ctx context.Context, base *url.URL, f htmlForm, extra url.Values) (*url.URL, int, string) {
	b.t.Helper()
	act, err := base.Parse(f.action)
	if err != nil {
		b.t.Fatal(err)
	}
	vals := url.Values{}
	for k, v := range f.fields {
		vals[k] = v
	}
	for k, v := range extra {
		vals[k] = v
	}
	return b.do(ctx, f.method, act.String(), vals)
}

// loginAtIdP follows authURL through the IdP's login page (as account) and
// consent page (Allow when allow, else Deny) until the IdP sends the
// browser back to callback; it returns that page (Vault's answer).
func (b *browser) loginAtIdP(ctx context.Context, authURL, callback string, account stack.Account, allow bool) (*url.URL, int, string) {
	b.t.Helper()
	u, status, page := b.do(ctx, http.MethodGet, authURL, nil)
	for range 6 {
		if strings.HasPrefix(u.String(), callback) {
			return u, status, page
		}
		if f, ok := findForm(page, "/login"); ok {
			u, status, page = b.submit(ctx, u, f, url.Values{"login": {account.Name}, "password": {account.Password}})
			continue
		}
		choice := "/abort"
		if allow {
			choice = "/confirm"
		}
		if f, ok := findForm(page, choice); ok {
			u, status, page = b.submit(ctx, u, f, nil)
			continue
		}
		b.t.Fatalf("IdP page %s (HTTP %d) has neither a login nor a consent form", u.Path, status)
	}
	b.t.Fatalf("the IdP did not send the browser back to Vault (last page %s)", u.Path)
	return nil, 0, ""
}

// TestOIDCDirectModeThroughVaultAndRealIdP: a direct-mode login through
// Vault and the real IdP: auth_url is the IdP's authorization URL, the
// browser logs in and consents, Vault's oidc/callback asks for
// confirmation, then answers the success page, and oidc/poll hands out the
// login once. A second login whose consent is denied ends at the failure
// page and never completes.
func TestOIDCDirectModeThroughVaultAndRealIdP(t *testing.T) {
	v, callback := directMount(t)
	ctx := ctxT(t, 2*time.Minute)
	const nonce = "direct-nonce-0123456789abcdef"

	start := func() (authURL, state string) {
		t.Helper()
		status, body := v.Write(t, "oidc/auth_url", map[string]any{"role": "direct", "client_nonce": nonce, "redirect_uri": callback})
		d := contract.DataOf(body)
		authURL, _ = d["auth_url"].(string)
		state, _ = d["state"].(string)
		if status != http.StatusOK || state == "" || d["poll_interval"] != "1" || !strings.HasPrefix(authURL, st.IdP.URL+"/") {
			t.Fatalf("auth_url: HTTP %d, auth_url at the IdP %v, state set %v, poll_interval %v",
				status, strings.HasPrefix(authURL, st.IdP.URL+"/"), state != "", d["poll_interval"])
		}
		if _, ok := d["user_code"]; ok {
			t.Error("direct mode auth_url returned a user_code")
		}
		q, err := url.Parse(authURL)
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]string{"response_type": "code", "redirect_uri": callback,
			"state": state, "code_challenge_method": "S256", "client_id": st.Issuers[0].ClientID} {
			if got := q.Query().Get(k); got != want {
				t.Errorf("auth_url %s = %q, want %q", k, got, want)
			}
		}
		return authURL, state
	}
	poll := func(state string) (int, map[string]any) {
		t.Helper()
		return v.Write(t, "oidc/poll", map[string]any{"state": state, "client_nonce": nonce})
	}
	wantPending := func(state, when string) {
		t.Helper()
		if status, body := poll(state); status != http.StatusBadRequest || contract.FirstError(body) != "authorization_pending" {
			t.Fatalf("poll %s: HTTP %d errors[0] %q, want 400 authorization_pending", when, status, contract.FirstError(body))
		}
	}

	authURL, state := start()
	wantPending(state, "before the browser came back")
	b := newBrowser(t)
	u, status, page := b.loginAtIdP(ctx, authURL, callback, stack.Alice, true)
	if u.Query().Get("state") != state || u.Query().Get("code") == "" {
		t.Fatal("the IdP came back to the callback without this login's state or without a code")
	}
	f, ok := findForm(page, "callback")
	if status != http.StatusOK || !ok || f.fields.Get("confirmation") != "yes" || f.fields.Get("state") != state {
		t.Fatalf("callback without confirmation: HTTP %d, confirmation form found %v", status, ok)
	}
	wantPending(state, "before confirmation")
	_, status, page = b.submit(ctx, u, f, nil)
	if status != http.StatusOK || !strings.Contains(page, "Vault Authentication Succeeded") {
		t.Fatalf("confirmed callback: HTTP %d, success page %v", status, strings.Contains(page, "Succeeded"))
	}
	// The same confirmed callback again is refused: the login is parked.
	if _, status, _ := b.submit(ctx, u, f, nil); status != http.StatusBadRequest {
		t.Errorf("replayed callback: HTTP %d, want 400", status)
	}

	status, body := poll(state)
	if status != http.StatusOK {
		t.Fatalf("poll after the callback: HTTP %d errors %v", status, body["errors"])
	}
	auth, _ := body["auth"].(map[string]any)
	meta, _ := auth["metadata"].(map[string]any)
	if meta["credkey"] != "alice" || meta["role"] != "direct" {
		t.Errorf("direct login metadata credkey %v role %v", meta["credkey"], meta["role"])
	}
	rt, _ := meta["oauth2_refresh_token"].(string)
	if rt == "" {
		t.Error("direct login has no oauth2_refresh_token metadata")
	}
	if name := v.LastAliasName(t); name != "alice" {
		t.Errorf("entity alias %q, want alice", name)
	}
	// The refresh token is a real one: the oauth secrets engine redeems it
	// (stored as root: the oidc policies name the oidc-default mount's
	// aliases, not this extra mount's).
	if _, err := st.Vault.Admin.Logical().WriteWithContext(ctx, "secret/oauth/creds/default/alice-direct:direct",
		map[string]any{"server": "default", "refresh_token": rt}); err != nil {
		t.Errorf("the oauth engine does not accept the direct login's refresh token: %v", err)
	}
	if _, err := st.Vault.Admin.Logical().DeleteWithContext(ctx, "secret/oauth/creds/default/alice-direct:direct"); err != nil {
		t.Errorf("cleanup of the stored credential: %v", err)
	}
	if status, body := poll(state); status != http.StatusBadRequest || contract.FirstError(body) != contract.ErrExpiredState {
		t.Errorf("second poll: HTTP %d errors[0] %q", status, contract.FirstError(body))
	}

	// Consent denied: the callback carries error=access_denied; after
	// confirmation Vault shows the failure page and the login never
	// completes (as in OpenBao, the state stays pending until it expires).
	authURL, state = start()
	b = newBrowser(t)
	u, status, page = b.loginAtIdP(ctx, authURL, callback, stack.Alice, false)
	if u.Query().Get("error") != "access_denied" {
		t.Fatalf("denied consent came back with error %q", u.Query().Get("error"))
	}
	f, ok = findForm(page, "callback")
	if status != http.StatusOK || !ok || f.fields.Get("error") != "access_denied" {
		t.Fatalf("denied callback: HTTP %d, confirmation form found %v", status, ok)
	}
	_, status, page = b.submit(ctx, u, f, nil)
	if status != http.StatusBadRequest || !strings.Contains(page, "Vault login failed. access_denied") {
		t.Fatalf("denied, confirmed callback: HTTP %d, failure page %v", status, strings.Contains(page, "access_denied"))
	}
	wantPending(state, "after a denied consent")
}
