package oidcauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vaultcred/gettoken/integration/plugins/oidcauth/loginidp"
)

func TestConfigReadHidesSecret(t *testing.T) {
	e := newEnv(t, loginidp.Options{})
	e.configure()
	req, resp, err := e.handle(logical.ReadOperation, "config", nil)
	status, body := e.render(t, req, resp, err)
	if status != http.StatusOK {
		t.Fatalf("config read status %d: %v", status, body)
	}
	data := dataOf(body)
	if _, ok := data["oidc_client_secret"]; ok {
		t.Errorf("config read returned oidc_client_secret")
	}
	for k, want := range map[string]string{
		"oidc_discovery_url": e.idp.URL(), "oidc_client_id": e.idp.ClientID(),
		"default_role": "default", "oidc_discovery_ca_pem": "",
	} {
		if got, ok := data[k].(string); !ok || got != want {
			t.Errorf("config.%s = %#v, want %q", k, data[k], want)
		}
	}
	if strings.Contains(jsonString(t, body), e.idp.ClientSecret()) {
		t.Errorf("config read leaks the client secret: %v", body)
	}
}

// jsonString is v marshalled as JSON (map keys sorted).
func jsonString(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(raw)
}

func TestConfigReadUnset(t *testing.T) {
	e := newEnv(t, loginidp.Options{})
	req, resp, err := e.handle(logical.ReadOperation, "config", nil)
	if status, _ := e.render(t, req, resp, err); status != http.StatusNotFound {
		t.Errorf("config read before write: status %d, want 404", status)
	}
}

func TestConfigWrite(t *testing.T) {
	e := newEnv(t, loginidp.Options{})
	good := contractConfig(e.idp)
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name    string
		body    map[string]any
		status  int
		err     string
		warning string
	}{
		{"ok", good, http.StatusNoContent, "", ""},
		// Trimming leaves a trailing slash, which then no longer matches an
		// issuer without one (OpenBao behaves the same through go-oidc).
		{"well-known suffix trimmed", with("oidc_discovery_url", e.idp.URL()+"/.well-known/openid-configuration"),
			http.StatusBadRequest, "error checking oidc discovery URL", ""},
		{"no discovery url", with("oidc_discovery_url", nil), http.StatusBadRequest,
			"exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set", ""},
		{"secret without id", with("oidc_client_id", nil), http.StatusBadRequest,
			"both 'oidc_client_id' and 'oidc_client_secret' must be set for OIDC", ""},
		{"unreachable issuer", with("oidc_discovery_url", "http://127.0.0.1:1"), http.StatusBadRequest,
			"error checking oidc discovery URL", ""},
		{"issuer mismatch", with("oidc_discovery_url", e.idp.URL()+"/other"), http.StatusBadRequest,
			"error checking oidc discovery URL", ""},
		{"bad CA PEM", with("oidc_discovery_ca_pem", "not a pem"), http.StatusBadRequest,
			"error checking oidc discovery URL", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := e.write(t, "config", c.body)
			if status != c.status || firstError(body) != c.err {
				t.Fatalf("status %d errors[0] %q, want %d %q", status, firstError(body), c.status, c.err)
			}
			if c.warning != "" && !strings.Contains(jsonString(t, body["warnings"]), c.warning) {
				t.Errorf("warnings %v lack %q", body["warnings"], c.warning)
			}
		})
	}
	// failed writes leave the good configuration in place
	req, resp, err := e.handle(logical.ReadOperation, "config", nil)
	_, body := e.render(t, req, resp, err)
	if got := dataOf(body)["oidc_discovery_url"]; got != e.idp.URL() {
		t.Errorf("stored oidc_discovery_url = %v, want %q", got, e.idp.URL())
	}
	if strings.Contains(e.logs.String(), e.idp.ClientSecret()) {
		t.Errorf("client secret appears in the logs")
	}
}

func TestConfigCAPEM(t *testing.T) {
	e := newEnv(t, loginidp.Options{TLS: true})
	cfg := contractConfig(e.idp)
	if status, body := e.write(t, "config", cfg); status != http.StatusBadRequest {
		t.Fatalf("without CA: status %d (%v), want 400 (IdP cert is not trusted)", status, body)
	}
	cfg["oidc_discovery_ca_pem"] = e.idp.CAPEM()
	if status, body := e.write(t, "config", cfg); status != http.StatusNoContent {
		t.Fatalf("with CA: status %d: %v", status, body)
	}
	for name, r := range contractRoles() {
		e.mustWrite("role/"+name, r)
	}
	// the device flow uses the same trust
	status, body := e.write(t, "oidc/auth_url", map[string]any{"role": "default", "client_nonce": "n"})
	if status != http.StatusOK || !strings.HasPrefix(dataOf(body)["auth_url"].(string), "https://") {
		t.Fatalf("auth_url over TLS: %d %v", status, body)
	}
}

func TestProviderRediscoveredAfterRestart(t *testing.T) {
	e := newEnv(t, loginidp.Options{})
	e.configure()
	e.b.reset() // as after a plugin restart: storage kept, memory lost
	status, body := e.write(t, "oidc/auth_url", map[string]any{"role": "default", "client_nonce": "n"})
	if status != http.StatusOK || dataOf(body)["auth_url"] == "" {
		t.Fatalf("auth_url after reset: %d %v", status, body)
	}
	if n := len(e.idp.RequestsTo("/.well-known/openid-configuration")); n != 2 {
		t.Errorf("discovery requests = %d, want 2 (config write + lazy rediscovery)", n)
	}
}

func TestNoDeviceEndpoint(t *testing.T) {
	e := newEnv(t, loginidp.Options{NoDevice: true})
	e.configure()
	status, body := e.write(t, "oidc/auth_url", map[string]any{"role": "default", "client_nonce": "n"})
	if status != http.StatusInternalServerError || !strings.Contains(firstError(body), ErrNoDeviceEndpoint.Error()) {
		t.Fatalf("got %d %v, want 500 with %q", status, body, ErrNoDeviceEndpoint)
	}
}

func TestRoleValidation(t *testing.T) {
	e := newEnv(t, loginidp.Options{})
	e.configure()
	base := contractRoles()["default"]
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	cases := []struct {
		name    string
		body    map[string]any
		status  int
		err     string
		warning string
	}{
		{"htvault-config role", with(), http.StatusOK, "", "verbose_oidc_logging"},
		{"direct mode", with("callback_mode", "direct", "oidc_disable_confirmation", true), http.StatusOK, "", ""},
		{"jwt role type", with("role_type", "jwt"), http.StatusBadRequest, "invalid 'role_type': jwt", ""},
		{"client callback mode", with("callback_mode", "client"), http.StatusBadRequest, "invalid 'callback_mode': client", ""},
		{"no user claim", with("user_claim", nil), http.StatusBadRequest, "a user claim must be defined on the role", ""},
		{"no redirect uris", with("allowed_redirect_uris", nil), http.StatusBadRequest,
			"'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified.", ""},
		{"bad oauth2_metadata", with("oauth2_metadata", "refresh_token,cookie"), http.StatusBadRequest,
			"Unrecognized oauth2 metadata name cookie", ""},
		{"reserved mapping target", with("claim_mappings", map[string]any{"sub": "role"}), http.StatusBadRequest,
			`metadata key "role" is reserved and may not be a mapping destination`, ""},
		{"duplicate mapping target", with("claim_mappings", map[string]any{"sub": "x", "email": "x"}), http.StatusBadRequest,
			`multiple keys are mapped to metadata key "x"`, ""},
		{"ttl above max", with("token_ttl", 100, "token_max_ttl", 10), http.StatusBadRequest,
			"'token_ttl' cannot be greater than 'token_max_ttl'", ""},
		{"negative poll interval", with("poll_interval", -1), http.StatusBadRequest, "'poll_interval' cannot be negative", ""},
		{"ignored bound fields warn", with("bound_audiences", "x", "bound_claims", map[string]any{"a": "b"}), http.StatusOK, "",
			"accepts but does not enforce: [bound_audiences bound_claims]"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := e.write(t, fmt.Sprintf("role/r%d", i), c.body)
			if c.status == http.StatusOK && status == http.StatusNoContent && c.warning == "" {
				status = http.StatusOK
			}
			if status != c.status || firstError(body) != c.err {
				t.Fatalf("status %d errors[0] %q, want %d %q", status, firstError(body), c.status, c.err)
			}
			if c.warning != "" && !strings.Contains(jsonString(t, body["warnings"]), c.warning) {
				t.Errorf("warnings %v lack %q", body["warnings"], c.warning)
			}
		})
	}
}

func TestRoleReadListDelete(t *testing.T) {
	e := newEnv(t, loginidp.Options{})
	e.configure()
	req, resp, err := e.handle(logical.ReadOperation, "role/default", nil)
	status, body := e.render(t, req, resp, err)
	if status != http.StatusOK {
		t.Fatalf("role read: %d %v", status, body)
	}
	d := dataOf(body)
	checks := map[string]any{
		"role_type": "oidc", "user_claim": "wlcg.credkey", "callback_mode": "device",
		"poll_interval": float64(3), "verbose_oidc_logging": true, "token_no_default_policy": true,
		"oidc_scopes":           []any{"profile", "offline_access"},
		"token_policies":        []any{"oidc-default_default", "tokenops"},
		"policies":              []any{"oidc-default_default", "tokenops"},
		"claim_mappings":        map[string]any{"wlcg.credkey": "credkey"},
		"oauth2_metadata":       []any{"refresh_token"},
		"allowed_redirect_uris": []any{contractRedirect},
	}
	for k, want := range checks {
		if got := d[k]; jsonString(t, got) != jsonString(t, want) {
			t.Errorf("role.%s = %v, want %v", k, got, want)
		}
	}
	if _, ok := d["poll_interval"]; !ok {
		t.Error("poll_interval missing")
	}
	req, resp, err = e.handle(logical.ReadOperation, "role/nointerval", nil)
	_, body = e.render(t, req, resp, err)
	if _, ok := dataOf(body)["poll_interval"]; ok {
		t.Error("poll_interval present for a role without one (OpenBao omits it)")
	}

	// update merges: changing one field keeps the others
	e.mustWrite("role/default", map[string]any{"poll_interval": 4})
	r, err := e.b.role(context.Background(), e.storage, "default")
	if err != nil || r == nil || r.PollInterval != 4 || r.UserClaim != "wlcg.credkey" || r.CallbackMode != "device" {
		t.Fatalf("after partial update role = %+v, %v", r, err)
	}

	req, resp, err = e.handle(logical.ListOperation, "role/", nil)
	_, body = e.render(t, req, resp, err)
	var keys []string
	for _, k := range asSlice(dataOf(body)["keys"]) {
		keys = append(keys, k.(string))
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"default", "nointerval"}) {
		t.Errorf("role list = %v", keys)
	}
	if _, resp, err := e.handle(logical.DeleteOperation, "role/nointerval", nil); err != nil || resp != nil {
		t.Fatalf("delete: %v %v", resp, err)
	}
	req, resp, err = e.handle(logical.ReadOperation, "role/nointerval", nil)
	if status, _ := e.render(t, req, resp, err); status != http.StatusNotFound {
		t.Errorf("deleted role read status %d, want 404", status)
	}
}
