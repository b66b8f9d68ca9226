package oidcauth

// The oidc/auth_url + oidc/poll contract of OpenBao's oidc plugin as
// htgettoken sees it (spec vault-server.md §1.5, §1.11), as data.
//
// Reuse through a real Vault: start a fakeidp.Server, mount the plugin,
// write contractConfig(idp) to <mount>/config and every contractRoles()
// entry to <mount>/role/<name>, then call runContract with a
// contractTarget whose write POSTs to /v1/<mount>/<path> and returns the
// HTTP status and decoded JSON body. Cases share the IdP and run in order;
// none depends on another's leftovers.

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vaultcred/gettoken/integration/plugins/oidcauth/fakeidp"
)

// contractTarget runs one write against the plugin.
type contractTarget interface {
	// write performs an update (HTTP POST/PUT) on a mount-relative path and
	// returns the HTTP status and the decoded JSON body (nil for 204).
	write(t *testing.T, path string, body map[string]any) (int, map[string]any)
}

// aliasReporter is implemented by targets that can see the entity alias
// name of the last login (in process: logical.Auth.Alias.Name).
type aliasReporter interface {
	lastAliasName() string
}

const (
	contractRedirect = "https://vault.example:8200/v1/auth/oidc-default/oidc/callback"
	contractNonce    = "n0nce-0123456789-abcdefghijklmnopqrstuvwxyzABC"
)

// contractAccount is the user approving device codes.
var contractAccount = fakeidp.Account{
	Subject: "alice-sub",
	Claims:  map[string]any{"wlcg.credkey": "alice", "email": "alice@example.org"},
}

// contractConfig is the mount config htvault-config writes.
func contractConfig(idp *fakeidp.Server) map[string]any {
	return map[string]any{
		"oidc_discovery_url": idp.URL(),
		"oidc_client_id":     idp.ClientID(),
		"oidc_client_secret": idp.ClientSecret(),
		"default_role":       "default",
	}
}

// contractRoles are htvault-config style roles (§1.4).
func contractRoles() map[string]map[string]any {
	base := func() map[string]any {
		return map[string]any{
			"role_type":               "oidc",
			"user_claim":              "wlcg.credkey",
			"groups_claim":            "",
			"oidc_scopes":             "profile,offline_access",
			"token_no_default_policy": true,
			"policies":                "oidc-default_default,tokenops",
			"callback_mode":           "device",
			"poll_interval":           3,
			"allowed_redirect_uris":   contractRedirect,
			"verbose_oidc_logging":    true,
			"claim_mappings":          map[string]any{"wlcg.credkey": "credkey"},
			"oauth2_metadata":         []any{"refresh_token"},
		}
	}
	def := base()
	noInterval := base()
	delete(noInterval, "poll_interval")
	return map[string]map[string]any{"default": def, "nointerval": noInterval}
}

// contractAuth is the expected login result.
type contractAuth struct {
	// metadata values; "*" means any non-empty string.
	metadata  map[string]string
	policies  []string
	renewable bool
	aliasName string
}

// contractStep is one request and what must come back.
type contractStep struct {
	// IdP scripting done before the request.
	deviceAnswers []fakeidp.Answer // queued on the device authorization endpoint
	tokenAnswers  []fakeidp.Answer // queued on the token endpoint
	approve       bool             // approve the latest device code for contractAccount
	deny          bool             // deny the latest device code

	path string         // "oidc/auth_url" or "oidc/poll"
	body map[string]any // "$state" is the state of this case's last auth_url; "$nonce" is contractNonce

	wantStatus int
	wantError  string // errors[0]; "" means no errors key
	// wantTypes maps data keys to JSON types: string, number, bool, object, array.
	wantTypes map[string]string
	// wantValues are exact data values ("$IDP" is the IdP URL).
	wantValues map[string]string
	// wantPrefix are data value prefixes ("$IDP" is the IdP URL).
	wantPrefix map[string]string
	wantAbsent []string // data keys that must be absent
	wantAuth   *contractAuth
	// checkIdP inspects what the IdP received (optional).
	checkIdP func(t *testing.T, idp *fakeidp.Server)
}

type contractCase struct {
	name  string
	steps []contractStep
}

func authURLStep(role string) contractStep {
	return contractStep{
		path:       "oidc/auth_url",
		body:       map[string]any{"role": role, "client_nonce": "$nonce", "redirect_uri": contractRedirect},
		wantStatus: 200,
		wantTypes:  map[string]string{"auth_url": "string", "state": "string", "poll_interval": "string"},
	}
}

func pollStep() contractStep {
	return contractStep{path: "oidc/poll", body: map[string]any{"state": "$state", "client_nonce": "$nonce"}}
}

func pollExpect(status int, errText string) contractStep {
	s := pollStep()
	s.wantStatus, s.wantError = status, errText
	return s
}

func lastForm(t *testing.T, idp *fakeidp.Server, path string) map[string]string {
	t.Helper()
	reqs := idp.RequestsTo(path)
	if len(reqs) == 0 {
		t.Fatalf("IdP saw no request to %s", path)
	}
	out := map[string]string{}
	for k, v := range reqs[len(reqs)-1].Form {
		out[k] = strings.Join(v, ",")
	}
	return out
}

var contractCases = []contractCase{
	{
		name: "auth_url device mode with verification_uri_complete",
		steps: []contractStep{func() contractStep {
			s := authURLStep("default")
			s.wantValues = map[string]string{"poll_interval": "3"}
			s.wantPrefix = map[string]string{"auth_url": "$IDP/device?user_code="}
			s.wantAbsent = []string{"user_code"}
			s.checkIdP = func(t *testing.T, idp *fakeidp.Server) {
				got := lastForm(t, idp, "/device/auth")
				want := map[string]string{"client_id": idp.ClientID(), "client_secret": idp.ClientSecret(),
					"scope": "openid profile offline_access"}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("device authorization form = %v, want %v", got, want)
				}
			}
			return s
		}()},
	},
	{
		name: "auth_url without verification_uri_complete returns verification_uri and user_code",
		steps: []contractStep{func() contractStep {
			s := authURLStep("default")
			s.deviceAnswers = []fakeidp.Answer{{Body: map[string]any{
				"device_code": "dc-scripted", "user_code": "WDJB-MJHT",
				"verification_uri": "$IDP/device", "expires_in": 600, "interval": 9}}}
			s.wantTypes["user_code"] = "string"
			s.wantValues = map[string]string{"auth_url": "$IDP/device", "user_code": "WDJB-MJHT", "poll_interval": "3"}
			return s
		}()},
	},
	{
		name: "poll_interval falls back to the IdP interval",
		steps: []contractStep{func() contractStep {
			s := authURLStep("nointerval")
			s.deviceAnswers = []fakeidp.Answer{{Body: map[string]any{
				"device_code": "dc-scripted-2", "user_code": "AAAA-BBBB", "verification_uri": "$IDP/device",
				"verification_uri_complete": "$IDP/device?user_code=AAAA-BBBB", "expires_in": 600, "interval": 7}}}
			s.wantValues = map[string]string{"poll_interval": "7", "auth_url": "$IDP/device?user_code=AAAA-BBBB"}
			return s
		}()},
	},
	{
		name: "poll_interval defaults to 5",
		steps: []contractStep{func() contractStep {
			s := authURLStep("nointerval")
			s.wantValues = map[string]string{"poll_interval": "5"}
			return s
		}()},
	},
	{
		name: "default_role is used when no role is given",
		steps: []contractStep{func() contractStep {
			s := authURLStep("")
			s.body = map[string]any{"client_nonce": "$nonce"}
			s.wantValues = map[string]string{"poll_interval": "3"}
			return s
		}()},
	},
	{
		name: "pending and slow_down keep the state",
		steps: []contractStep{
			authURLStep("default"),
			func() contractStep {
				s := pollExpect(400, "authorization_pending")
				s.checkIdP = func(t *testing.T, idp *fakeidp.Server) {
					got := lastForm(t, idp, "/token")
					if got["grant_type"] != "urn:ietf:params:oauth:grant-type:device_code" ||
						got["client_id"] != idp.ClientID() || got["client_secret"] != idp.ClientSecret() ||
						!strings.HasPrefix(got["device_code"], "dc-") {
						t.Errorf("token request form = %v", got)
					}
				}
				return s
			}(),
			func() contractStep {
				s := pollExpect(400, "slow_down")
				s.tokenAnswers = []fakeidp.Answer{{Status: 400, Body: map[string]any{"error": "slow_down"}}}
				return s
			}(),
			pollExpect(400, "authorization_pending"),
		},
	},
	{
		name: "denied device code fails and ends the state",
		steps: []contractStep{
			authURLStep("default"),
			func() contractStep {
				s := pollExpect(400, "authorization failed: access_denied")
				s.deny = true
				return s
			}(),
			pollExpect(400, "Vault login failed. Expired or missing OAuth state."),
		},
	},
	{
		name: "other IdP errors fail the login",
		steps: []contractStep{
			authURLStep("default"),
			func() contractStep {
				s := pollExpect(400, "authorization failed: expired_token")
				s.tokenAnswers = []fakeidp.Answer{{Status: 400, Body: map[string]any{"error": "expired_token"}}}
				return s
			}(),
		},
	},
	{
		name:  "unknown state",
		steps: []contractStep{{path: "oidc/poll", body: map[string]any{"state": "no-such-state", "client_nonce": "$nonce"}, wantStatus: 400, wantError: "Vault login failed. Expired or missing OAuth state."}},
	},
	{
		name: "wrong client_nonce fails and ends the state",
		steps: []contractStep{
			authURLStep("default"),
			{path: "oidc/poll", body: map[string]any{"state": "$state", "client_nonce": "not-the-nonce"}, wantStatus: 400, wantError: "invalid client_nonce"},
			pollExpect(400, "Vault login failed. Expired or missing OAuth state."),
		},
	},
	{
		name: "token answer without id_token",
		steps: []contractStep{
			authURLStep("default"),
			func() contractStep {
				s := pollExpect(400, "Token verification failed. No id_token found in response.")
				s.tokenAnswers = []fakeidp.Answer{{Body: map[string]any{"access_token": "at-x", "token_type": "Bearer", "refresh_token": "rt-x"}}}
				return s
			}(),
		},
	},
	{
		name: "successful device login, once",
		steps: []contractStep{
			authURLStep("default"),
			pollExpect(400, "authorization_pending"),
			func() contractStep {
				s := pollStep()
				s.approve = true
				s.wantStatus = 200
				s.wantAuth = &contractAuth{
					metadata:  map[string]string{"role": "default", "credkey": "alice", "oauth2_refresh_token": "*"},
					policies:  []string{"oidc-default_default", "tokenops"},
					renewable: true,
					aliasName: "alice",
				}
				return s
			}(),
			pollExpect(400, "Vault login failed. Expired or missing OAuth state."),
		},
	},
	{
		name:  "auth_url without client_nonce",
		steps: []contractStep{{path: "oidc/auth_url", body: map[string]any{"role": "default"}, wantStatus: 400, wantError: "missing client_nonce"}},
	},
	{
		name:  "auth_url with an unknown role",
		steps: []contractStep{{path: "oidc/auth_url", body: map[string]any{"role": "nosuch", "client_nonce": "$nonce"}, wantStatus: 400, wantError: `role "nosuch" could not be found`}},
	},
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func substitute(v any, vars map[string]string) any {
	switch x := v.(type) {
	case string:
		if r, ok := vars[x]; ok {
			return r
		}
		return strings.ReplaceAll(x, "$IDP", vars["$IDP"])
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = substitute(e, vars)
		}
		return out
	}
	return v
}

// runContract runs every case against target, using idp for scripting.
func runContract(t *testing.T, target contractTarget, idp *fakeidp.Server) {
	for _, c := range contractCases {
		t.Run(c.name, func(t *testing.T) {
			vars := map[string]string{"$nonce": contractNonce, "$IDP": idp.URL(), "$state": ""}
			for i, s := range c.steps {
				for _, a := range s.deviceAnswers {
					idp.QueueDevice(fakeidp.Answer{Status: a.Status, Body: substitute(a.Body, vars).(map[string]any)})
				}
				for _, a := range s.tokenAnswers {
					idp.QueueToken(fakeidp.Answer{Status: a.Status, Body: substitute(a.Body, vars).(map[string]any)})
				}
				if s.approve && !idp.Approve("", contractAccount) {
					t.Fatalf("step %d: no device code to approve", i)
				}
				if s.deny && !idp.Deny("") {
					t.Fatalf("step %d: no device code to deny", i)
				}
				body := substitute(s.body, vars).(map[string]any)
				if role, ok := body["role"]; ok && role == "" {
					delete(body, "role")
				}
				status, resp := target.write(t, s.path, body)
				checkStep(t, i, s, status, resp, vars, target)
				if s.path == "oidc/auth_url" {
					if st, ok := dataOf(resp)["state"].(string); ok {
						vars["$state"] = st
					}
				}
				if s.checkIdP != nil {
					s.checkIdP(t, idp)
				}
			}
		})
	}
}

func checkStep(t *testing.T, i int, s contractStep, status int, resp map[string]any, vars map[string]string, target contractTarget) {
	t.Helper()
	if status != s.wantStatus {
		t.Fatalf("step %d %s: status %d, want %d (body %v)", i, s.path, status, s.wantStatus, resp)
	}
	if got := firstError(resp); got != s.wantError {
		t.Fatalf("step %d %s: errors[0] = %q, want %q", i, s.path, got, s.wantError)
	}
	data := dataOf(resp)
	for k, typ := range s.wantTypes {
		v, ok := data[k]
		if !ok {
			t.Errorf("step %d: data.%s missing (data %v)", i, k, data)
			continue
		}
		if got := jsonType(v); got != typ {
			t.Errorf("step %d: data.%s is %s, want %s", i, k, got, typ)
		}
		if typ == "string" && v == "" {
			t.Errorf("step %d: data.%s is empty", i, k)
		}
	}
	for k, want := range s.wantValues {
		want = strings.ReplaceAll(want, "$IDP", vars["$IDP"])
		if got, _ := data[k].(string); got != want {
			t.Errorf("step %d: data.%s = %q, want %q", i, k, got, want)
		}
	}
	for k, want := range s.wantPrefix {
		want = strings.ReplaceAll(want, "$IDP", vars["$IDP"])
		if got, _ := data[k].(string); !strings.HasPrefix(got, want) {
			t.Errorf("step %d: data.%s = %q, want prefix %q", i, k, got, want)
		}
	}
	for _, k := range s.wantAbsent {
		if _, ok := data[k]; ok {
			t.Errorf("step %d: data.%s present, want absent", i, k)
		}
	}
	if s.wantAuth == nil {
		if _, ok := resp["auth"]; ok && resp["auth"] != nil {
			t.Errorf("step %d: unexpected auth in response", i)
		}
		return
	}
	auth, _ := resp["auth"].(map[string]any)
	if auth == nil {
		t.Fatalf("step %d: no auth in response %v", i, resp)
	}
	if tok, _ := auth["client_token"].(string); tok == "" {
		t.Errorf("step %d: auth.client_token empty", i)
	}
	meta, _ := auth["metadata"].(map[string]any)
	for k, want := range s.wantAuth.metadata {
		got, _ := meta[k].(string)
		if (want == "*" && got == "") || (want != "*" && got != want) {
			t.Errorf("step %d: auth.metadata.%s = %q, want %q", i, k, got, want)
		}
	}
	var pols []string
	for _, p := range asSlice(auth["policies"]) {
		if s, ok := p.(string); ok {
			pols = append(pols, s)
		}
	}
	slices.Sort(pols)
	want := slices.Clone(s.wantAuth.policies)
	slices.Sort(want)
	if !slices.Equal(pols, want) {
		t.Errorf("step %d: auth.policies = %v, want %v", i, pols, want)
	}
	if r, _ := auth["renewable"].(bool); r != s.wantAuth.renewable {
		t.Errorf("step %d: auth.renewable = %v, want %v", i, r, s.wantAuth.renewable)
	}
	if ld := jsonType(auth["lease_duration"]); ld != "number" {
		t.Errorf("step %d: auth.lease_duration is %s, want number", i, ld)
	}
	if ar, ok := target.(aliasReporter); ok && s.wantAuth.aliasName != "" {
		if got := ar.lastAliasName(); got != s.wantAuth.aliasName {
			t.Errorf("step %d: alias name = %q, want %q", i, got, s.wantAuth.aliasName)
		}
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func TestContract(t *testing.T) {
	e := newEnv(t, fakeidp.Options{})
	e.configure()
	runContract(t, e, e.idp)
}
