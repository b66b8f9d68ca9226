package e2e

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/vaultcred/gettoken/integration/stack"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func anonClient(t *testing.T) *vaultapi.Client {
	t.Helper()
	c, err := st.Vault.Client(st.Certs, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// login holds the result of one device-flow login per (issuer, role, user),
// shared by the tests that need a stored refresh token.
type login struct {
	token, credkey, refresh string
}

var (
	loginsMu sync.Mutex
	logins   = map[string]*login{}
)

// deviceLogin logs account in through issuer/role's device flow, approving
// the user code at the IdP's test route, and stores the refresh token in
// Vault as htgettoken does. It is done once per key.
func deviceLogin(t *testing.T, issuer, role string, account stack.Account) *login {
	t.Helper()
	key := issuer + "/" + role + "/" + account.Name
	loginsMu.Lock()
	defer loginsMu.Unlock()
	if l := logins[key]; l != nil {
		return l
	}
	ctx := ctxT(t, time.Minute)
	c := anonClient(t)
	d, err := stack.StartDeviceLogin(ctx, c, issuer, role)
	if err != nil {
		t.Fatal(err)
	}
	if d.UserCode == "" || !strings.HasPrefix(d.AuthURL, st.IdP.URL) {
		t.Fatalf("auth_url %q user code %q: not the IdP's device page", d.AuthURL, d.UserCode)
	}
	// Before approval the plugin reports authorization_pending.
	var pe *stack.PollError
	if _, err := d.Poll(ctx); !errors.As(err, &pe) || pe.Message != "authorization_pending" || pe.Status != 400 {
		t.Fatalf("poll before approval: %v, want 400 authorization_pending", err)
	}
	if err := st.IdP.Approve(ctx, d.UserCode, account.Name); err != nil {
		t.Fatal(err)
	}
	sec, err := d.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l := &login{
		token:   sec.Auth.ClientToken,
		credkey: sec.Auth.Metadata["credkey"],
		refresh: sec.Auth.Metadata["oauth2_refresh_token"],
	}
	if l.token == "" || l.credkey != account.Name || l.refresh == "" {
		t.Fatalf("login metadata: token set %v, credkey %q, refresh token set %v", l.token != "", l.credkey, l.refresh != "")
	}
	if sec.Auth.LeaseDuration != 672*3600 || !sec.Auth.Renewable {
		t.Errorf("login lease %d renewable %v, want 2419200 true", sec.Auth.LeaseDuration, sec.Auth.Renewable)
	}
	uc := anonClient(t)
	uc.SetToken(l.token)
	path := "secret/oauth/creds/" + issuer + "/" + l.credkey + ":" + role
	if _, err := uc.Logical().WriteWithContext(ctx, path, map[string]any{"server": issuer, "refresh_token": l.refresh}); err != nil {
		t.Fatalf("store refresh token: %v", err)
	}
	logins[key] = l
	return l
}

// claims verifies a JWT access token against the IdP (discovery, JWKS
// signature, issuer, expiry) and returns its claims.
func claims(t *testing.T, tok string) map[string]any {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	p, err := oidc.NewProvider(ctx, st.IdP.URL)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := p.VerifierContext(ctx, &oidc.Config{SkipClientIDCheck: true}).Verify(ctx, tok)
	if err != nil {
		t.Fatalf("access token does not verify against the IdP: %v", err)
	}
	var m map[string]any
	if err := idt.Claims(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func readToken(t *testing.T, c *vaultapi.Client, path string, q map[string][]string) string {
	t.Helper()
	sec, err := c.Logical().ReadWithDataWithContext(ctxT(t, 30*time.Second), path, q)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if sec == nil {
		t.Fatalf("read %s: no secret", path)
	}
	tok, _ := sec.Data["access_token"].(string)
	if tok == "" {
		t.Fatalf("read %s: no access_token in %v", path, sec.Data)
	}
	return tok
}

func TestDeviceLoginCredsAndSTS(t *testing.T) {
	l := deviceLogin(t, "default", "default", stack.Alice)
	c := anonClient(t)
	c.SetToken(l.token)

	tok := readToken(t, c, "secret/oauth/creds/default/alice:default", map[string][]string{"minimum_seconds": {"60"}})
	cl := claims(t, tok)
	if cl["sub"] != "alice" || cl["iss"] != st.IdP.URL {
		t.Errorf("creds token sub %v iss %v", cl["sub"], cl["iss"])
	}
	scope, _ := cl["scope"].(string)
	if !strings.Contains(scope, "storage.create:/") || !strings.Contains(scope, "compute.read") {
		t.Errorf("creds token scope %q lacks the default role's scopes", scope)
	}

	sts := readToken(t, c, "secret/oauth/sts/default/alice:default", map[string][]string{
		"scopes": {"storage.read:/"}, "audiences": {"https://storage.example.org"}, "minimum_seconds": {"60"},
	})
	scl := claims(t, sts)
	if scl["scope"] != "storage.read:/" {
		t.Errorf("sts scope %v, want storage.read:/", scl["scope"])
	}
	if scl["aud"] != "https://storage.example.org" {
		t.Errorf("sts aud %v, want https://storage.example.org", scl["aud"])
	}
	if scl["sub"] != "alice" {
		t.Errorf("sts sub %v", scl["sub"])
	}

	// The oidc policy only lets alice at her own credentials.
	_, err := c.Logical().ReadWithContext(ctxT(t, 10*time.Second), "secret/oauth/creds/default/bob:default")
	assertStatus(t, err, http.StatusForbidden)
}

func assertStatus(t *testing.T, err error, want int) {
	t.Helper()
	var re *vaultapi.ResponseError
	if !errors.As(err, &re) || re.StatusCode != want {
		t.Fatalf("got %v, want HTTP %d", err, want)
	}
}

// negotiate makes a SPNEGO Authorization header from a real kinit ccache
// with gokrb5 (what the client will do), for spn.
func negotiate(t *testing.T, user, spn string) string {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	cc := filepath.Join(t.TempDir(), "ccache")
	if err := st.KDC.Kinit(ctx, user, "FILE:"+cc, time.Hour); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(st.KDC.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	ccache, err := credentials.LoadCCache(cc)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.NewFromCCache(ccache, cfg, client.DisablePAFXFAST(true))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "https://localhost/", nil)
	if err := spnego.SetSPNEGOHeader(cl, req, spn); err != nil {
		t.Fatal(err)
	}
	return req.Header.Get("Authorization")
}

func kerberosLogin(t *testing.T, mount, header string) (*vaultapi.Secret, error) {
	c := anonClient(t)
	r := c.NewRequest("POST", "/v1/auth/"+mount+"/login")
	r.Headers.Set("Authorization", header)
	// htgettoken sends an empty form body to force a POST.
	r.BodyBytes = []byte("{}")
	resp, err := c.RawRequestWithContext(ctxT(t, 30*time.Second), r)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	return vaultapi.ParseSecret(resp.Body)
}

func TestKerberosLogin(t *testing.T) {
	// alice's refresh token must be in Vault for the read to succeed.
	deviceLogin(t, "default", "default", stack.Alice)
	sec, err := kerberosLogin(t, "kerberos-default_default", negotiate(t, "alice", stack.ServicePrincipal))
	if err != nil {
		t.Fatal(err)
	}
	if sec.Auth == nil || sec.Auth.ClientToken == "" {
		t.Fatal("kerberos login: no token")
	}
	if got := sec.Auth.Metadata["user"]; got != "alice" {
		t.Errorf("metadata user %q", got)
	}
	if sec.Auth.Renewable || sec.Auth.LeaseDuration != 672*3600 {
		t.Errorf("kerberos token renewable %v lease %d, want false 2419200", sec.Auth.Renewable, sec.Auth.LeaseDuration)
	}
	c := anonClient(t)
	c.SetToken(sec.Auth.ClientToken)
	tok := readToken(t, c, "secret/oauth/creds/default/alice:default", map[string][]string{"minimum_seconds": {"60"}})
	if claims(t, tok)["sub"] != "alice" {
		t.Error("kerberos read gave a token for someone else")
	}
	_, err = c.Logical().ReadWithContext(ctxT(t, 10*time.Second), "secret/oauth/creds/default/bob:default")
	assertStatus(t, err, http.StatusForbidden)
	// Kerberos tokens cannot store refresh tokens (no update capability).
	_, err = c.Logical().WriteWithContext(ctxT(t, 10*time.Second), "secret/oauth/creds/default/alice:default",
		map[string]any{"server": "default", "refresh_token": "x"})
	assertStatus(t, err, http.StatusForbidden)
}

func TestKerberosLoginWithoutPACFix(t *testing.T) {
	c := anonClient(t)
	r := c.NewRequest("POST", "/v1/auth/"+stack.NoPACMount+"/login")
	r.Headers.Set("Authorization", negotiate(t, "alice", stack.NoPACServicePrincipal))
	r.BodyBytes = []byte("{}")
	resp, err := c.RawRequestWithContext(ctxT(t, 30*time.Second), r)
	if resp == nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login with an MIT PAC: HTTP %d, want 401", resp.StatusCode)
	}
	// Vault answers only "Unauthorised."; the reason, gokrb5 rejecting MIT's
	// PAC, is in the server log (the client must explain it, issue 3).
	sec, _ := vaultapi.ParseSecret(resp.Body)
	if sec == nil || len(sec.Warnings) == 0 || !strings.Contains(sec.Warnings[0], "Unauthorised") {
		t.Errorf("401 body: %+v", sec)
	}
	const reason = "PAC Info Buffers does not contain a KerbValidationInfo"
	if log := st.Vault.Proc.Tail(1 << 20); !strings.Contains(log, reason) {
		t.Errorf("vault log does not name the PAC problem (%q)", reason)
	}
}
