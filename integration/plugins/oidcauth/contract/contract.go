// Package contract is the oidc/auth_url + oidc/poll contract of OpenBao's
// oidc auth plugin as htgettoken sees it (the device-flow requests and
// answers of OpenBao's plugin as htvault-config sets it up), as data: for each request the HTTP status, errors[0], the data
// keys with their JSON types and selected values, and the login result.
//
// The same table drives the substitute plugin (package oidcauth) in process
// and through a real Vault server. To run it through Vault: start a
// loginidp.Server, mount the plugin, write Config(idp) to <mount>/config and
// every Roles() entry to <mount>/role/<name>, then call Run (or RunCases
// with an adjusted copy of Cases) with a Target whose Write POSTs to
// /v1/<mount>/<path> and returns the HTTP status and decoded JSON body.
// Cases share the IdP and run in order; none depends on another's
// leftovers.
//
// Failure messages never show tokens: client tokens, accessors and oauth2_*
// metadata are redacted before a body is printed.
package contract

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vaultcred/gettoken/integration/plugins/oidcauth/loginidp"
)

// Target runs one write against the plugin.
type Target interface {
	// Write performs an update (HTTP POST/PUT) on a mount-relative path and
	// returns the HTTP status and the decoded JSON body (nil for 204).
	Write(t *testing.T, path string, body map[string]any) (int, map[string]any)
}

// AliasReporter is implemented by targets that can see the entity alias
// name of the last successful login (in process: logical.Auth.Alias.Name;
// through Vault: the identity entity's alias on the mount).
type AliasReporter interface {
	// LastAliasName returns the alias name of the last login, or "".
	LastAliasName(t *testing.T) string
}

const (
	// Redirect is the roles' allowed_redirect_uris and the redirect_uri
	// the auth_url steps send (ignored in device mode).
	Redirect = "https://vault.example:8200/v1/auth/oidc-default/oidc/callback"
	// Nonce is the client_nonce of every step ("$nonce" in bodies).
	Nonce = "n0nce-0123456789-abcdefghijklmnopqrstuvwxyzABC"
)

// Account is the user approving device codes.
var Account = loginidp.Account{
	Subject: "alice-sub",
	Claims:  map[string]any{"wlcg.credkey": "alice", "email": "alice@example.org"},
}

// Config is the mount config htvault-config writes, for idp. A TLS idp
// needs oidc_discovery_ca_pem added by the caller.
func Config(idp *loginidp.Server) map[string]any {
	return map[string]any{
		"oidc_discovery_url": idp.URL(),
		"oidc_client_id":     idp.ClientID(),
		"oidc_client_secret": idp.ClientSecret(),
		"default_role":       "default",
	}
}

// Roles are htvault-config style roles: "default" and
// "nointerval" (no poll_interval). Each call returns fresh maps.
func Roles() map[string]map[string]any {
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
			"allowed_redirect_uris":   Redirect,
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

// Auth is the expected login result.
type Auth struct {
	// Metadata are token metadata values; "*" means any non-empty string.
	Metadata map[string]string
	// Policies are the token's policies, in any order.
	Policies []string
	// Renewable is the expected auth.renewable.
	Renewable bool
	// AliasName is checked when the target is an AliasReporter.
	AliasName string
}

// Step is one request and what must come back.
type Step struct {
	// DeviceAnswers are queued on the IdP's device authorization endpoint
	// before the request ("$IDP" in string values is the IdP URL).
	DeviceAnswers []loginidp.Answer
	// TokenAnswers are queued on the IdP's token endpoint.
	TokenAnswers []loginidp.Answer
	// Approve approves the latest device code for Account first.
	Approve bool
	// Deny denies the latest device code first.
	Deny bool

	// Path is "oidc/auth_url" or "oidc/poll".
	Path string
	// Body is the request; "$state" is the state of this case's last
	// auth_url, "$nonce" is Nonce, a "role" of "" is dropped.
	Body map[string]any

	// WantStatus is the HTTP status.
	WantStatus int
	// WantError is errors[0]; "" means no errors key.
	WantError string
	// WantTypes maps the data keys to their JSON types: string, number,
	// bool, object, array. It is the exact key set (nil: no data); a
	// string must be non-empty.
	WantTypes map[string]string
	// WantValues are exact data values ("$IDP" is the IdP URL).
	WantValues map[string]string
	// WantPrefix are data value prefixes ("$IDP" is the IdP URL).
	WantPrefix map[string]string
	// WantAbsent are data keys that must be absent.
	WantAbsent []string
	// WantAuth is the login result; nil means no auth in the answer.
	WantAuth *Auth
	// CheckIdP inspects what the IdP received (optional).
	CheckIdP func(t *testing.T, idp *loginidp.Server)
}

// Case is a named sequence of steps.
type Case struct {
	Name  string
	Steps []Step
}

// AuthURLStep is a successful device-mode auth_url for role.
func AuthURLStep(role string) Step {
	return Step{
		Path:       "oidc/auth_url",
		Body:       map[string]any{"role": role, "client_nonce": "$nonce", "redirect_uri": Redirect},
		WantStatus: 200,
		WantTypes:  map[string]string{"auth_url": "string", "state": "string", "poll_interval": "string"},
	}
}

// PollStep is a poll of the case's last state (expectations unset).
func PollStep() Step {
	return Step{Path: "oidc/poll", Body: map[string]any{"state": "$state", "client_nonce": "$nonce"}}
}

// PollExpect is a poll answered with status and errors[0] = errText.
func PollExpect(status int, errText string) Step {
	s := PollStep()
	s.WantStatus, s.WantError = status, errText
	return s
}

// LastForm returns the form of the IdP's latest request to path, values
// joined with ",". It fails the test when there was none.
func LastForm(t *testing.T, idp *loginidp.Server, path string) map[string]string {
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

// Error strings of the contract.
const (
	// ErrExpiredState answers a poll of an unknown or finished state.
	ErrExpiredState = "Vault login failed. Expired or missing OAuth state."
	// ErrIdPUnavailable is errors[0] of a poll whose token request got a
	// 503 temporarily_unavailable (HTTP 500; Vault 1.21 passes a login
	// path's error text through unchanged).
	ErrIdPUnavailable = "error polling for device authorization: token endpoint answered 503 Service Unavailable (temporarily_unavailable)"
)

// Cases returns the contract, in order. Each call returns a fresh copy
// that the caller may adjust.
func Cases() []Case {
	return []Case{
		{
			Name: "auth_url device mode with verification_uri_complete",
			Steps: []Step{func() Step {
				s := AuthURLStep("default")
				s.WantValues = map[string]string{"poll_interval": "3"}
				s.WantPrefix = map[string]string{"auth_url": "$IDP/device?user_code="}
				s.WantAbsent = []string{"user_code"}
				s.CheckIdP = func(t *testing.T, idp *loginidp.Server) {
					got := LastForm(t, idp, "/device/auth")
					want := map[string]string{"client_id": idp.ClientID(), "client_secret": idp.ClientSecret(),
						"scope": "openid profile offline_access"}
					if !reflect.DeepEqual(got, want) {
						// the form holds the client secret: name the keys only
						t.Errorf("device authorization form: scope %q client_id %q, keys %v; want scope %q, the client's id and secret",
							got["scope"], got["client_id"], sortedKeys(got), want["scope"])
					}
				}
				return s
			}()},
		},
		{
			Name: "auth_url without verification_uri_complete returns verification_uri and user_code",
			Steps: []Step{func() Step {
				s := AuthURLStep("default")
				s.DeviceAnswers = []loginidp.Answer{{Body: map[string]any{
					"device_code": "dc-scripted", "user_code": "WDJB-MJHT",
					"verification_uri": "$IDP/device", "expires_in": 600, "interval": 9}}}
				s.WantTypes["user_code"] = "string"
				s.WantValues = map[string]string{"auth_url": "$IDP/device", "user_code": "WDJB-MJHT", "poll_interval": "3"}
				return s
			}()},
		},
		{
			Name: "poll_interval falls back to the IdP interval",
			Steps: []Step{func() Step {
				s := AuthURLStep("nointerval")
				s.DeviceAnswers = []loginidp.Answer{{Body: map[string]any{
					"device_code": "dc-scripted-2", "user_code": "AAAA-BBBB", "verification_uri": "$IDP/device",
					"verification_uri_complete": "$IDP/device?user_code=AAAA-BBBB", "expires_in": 600, "interval": 7}}}
				s.WantValues = map[string]string{"poll_interval": "7", "auth_url": "$IDP/device?user_code=AAAA-BBBB"}
				return s
			}()},
		},
		{
			Name: "poll_interval defaults to 5",
			Steps: []Step{func() Step {
				s := AuthURLStep("nointerval")
				s.WantValues = map[string]string{"poll_interval": "5"}
				return s
			}()},
		},
		{
			Name: "default_role is used when no role is given",
			Steps: []Step{func() Step {
				s := AuthURLStep("")
				s.Body = map[string]any{"client_nonce": "$nonce"}
				s.WantValues = map[string]string{"poll_interval": "3"}
				return s
			}()},
		},
		{
			Name: "pending and slow_down keep the state",
			Steps: []Step{
				AuthURLStep("default"),
				func() Step {
					s := PollExpect(400, "authorization_pending")
					s.CheckIdP = func(t *testing.T, idp *loginidp.Server) {
						got := LastForm(t, idp, "/token")
						if got["grant_type"] != "urn:ietf:params:oauth:grant-type:device_code" ||
							got["client_id"] != idp.ClientID() || got["client_secret"] != idp.ClientSecret() ||
							!strings.HasPrefix(got["device_code"], "dc-") {
							t.Errorf("token request form is not a device_code grant of the client (keys %v)", sortedKeys(got))
						}
					}
					return s
				}(),
				func() Step {
					s := PollExpect(400, "slow_down")
					s.TokenAnswers = []loginidp.Answer{{Status: 400, Body: map[string]any{"error": "slow_down"}}}
					return s
				}(),
				PollExpect(400, "authorization_pending"),
			},
		},
		{
			Name: "denied device code fails and ends the state",
			Steps: []Step{
				AuthURLStep("default"),
				func() Step {
					s := PollExpect(400, "authorization failed: access_denied")
					s.Deny = true
					return s
				}(),
				PollExpect(400, ErrExpiredState),
			},
		},
		{
			Name: "other IdP errors fail the login",
			Steps: []Step{
				AuthURLStep("default"),
				func() Step {
					s := PollExpect(400, "authorization failed: expired_token")
					s.TokenAnswers = []loginidp.Answer{{Status: 400, Body: map[string]any{"error": "expired_token"}}}
					return s
				}(),
			},
		},
		{
			Name: "IdP failure is a 500 naming the endpoint and ends the state",
			Steps: []Step{
				AuthURLStep("default"),
				func() Step {
					s := PollExpect(500, ErrIdPUnavailable)
					s.TokenAnswers = []loginidp.Answer{{Status: 503, Body: map[string]any{"error": "temporarily_unavailable"}}}
					return s
				}(),
				PollExpect(400, ErrExpiredState),
			},
		},
		{
			Name:  "unknown state",
			Steps: []Step{{Path: "oidc/poll", Body: map[string]any{"state": "no-such-state", "client_nonce": "$nonce"}, WantStatus: 400, WantError: ErrExpiredState}},
		},
		{
			Name: "wrong client_nonce fails and ends the state",
			Steps: []Step{
				AuthURLStep("default"),
				{Path: "oidc/poll", Body: map[string]any{"state": "$state", "client_nonce": "not-the-nonce"}, WantStatus: 400, WantError: "invalid client_nonce"},
				PollExpect(400, ErrExpiredState),
			},
		},
		{
			Name: "token answer without id_token",
			Steps: []Step{
				AuthURLStep("default"),
				func() Step {
					s := PollExpect(400, "Token verification failed. No id_token found in response.")
					s.TokenAnswers = []loginidp.Answer{{Body: map[string]any{"access_token": "at-x", "token_type": "Bearer", "refresh_token": "rt-x"}}}
					return s
				}(),
			},
		},
		{
			Name: "successful device login, once",
			Steps: []Step{
				AuthURLStep("default"),
				PollExpect(400, "authorization_pending"),
				func() Step {
					s := PollStep()
					s.Approve = true
					s.WantStatus = 200
					s.WantAuth = &Auth{
						Metadata:  map[string]string{"role": "default", "credkey": "alice", "oauth2_refresh_token": "*"},
						Policies:  []string{"oidc-default_default", "tokenops"},
						Renewable: true,
						AliasName: "alice",
					}
					return s
				}(),
				PollExpect(400, ErrExpiredState),
			},
		},
		{
			Name:  "auth_url without client_nonce",
			Steps: []Step{{Path: "oidc/auth_url", Body: map[string]any{"role": "default"}, WantStatus: 400, WantError: "missing client_nonce"}},
		},
		{
			Name:  "auth_url with an unknown role",
			Steps: []Step{{Path: "oidc/auth_url", Body: map[string]any{"role": "nosuch", "client_nonce": "$nonce"}, WantStatus: 400, WantError: `role "nosuch" could not be found`}},
		},
	}
}

// JSONType names the JSON type of a decoded value: string, number, bool,
// object, array or null.
func JSONType(v any) string {
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

// FirstError returns errors[0] of a decoded body, or "".
func FirstError(body map[string]any) string {
	errs, _ := body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	s, _ := errs[0].(string)
	return s
}

// DataOf returns the data object of a decoded body, or nil.
func DataOf(body map[string]any) map[string]any {
	d, _ := body["data"].(map[string]any)
	return d
}

// Redact returns a copy of a decoded body fit for a log line: the auth
// client token and accessor and every oauth2_* metadata value are
// replaced.
func Redact(body map[string]any) map[string]any {
	if body == nil {
		return nil
	}
	out := make(map[string]any, len(body))
	for k, v := range body {
		out[k] = v
	}
	auth, ok := body["auth"].(map[string]any)
	if !ok {
		return out
	}
	ra := make(map[string]any, len(auth))
	for k, v := range auth {
		switch k {
		case "client_token", "accessor":
			ra[k] = "<redacted>"
		case "metadata":
			meta, _ := v.(map[string]any)
			rm := make(map[string]any, len(meta))
			for mk, mv := range meta {
				if strings.HasPrefix(mk, "oauth2_") {
					mv = "<redacted>"
				}
				rm[mk] = mv
			}
			ra[k] = rm
		default:
			ra[k] = v
		}
	}
	out["auth"] = ra
	return out
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

// Run runs every case of Cases against target, using idp for scripting.
func Run(t *testing.T, target Target, idp *loginidp.Server) {
	t.Helper()
	RunCases(t, target, idp, Cases())
}

// RunCases runs cases in order against target, one subtest each.
func RunCases(t *testing.T, target Target, idp *loginidp.Server, cases []Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			vars := map[string]string{"$nonce": Nonce, "$IDP": idp.URL(), "$state": ""}
			for i, s := range c.Steps {
				for _, a := range s.DeviceAnswers {
					idp.QueueDevice(loginidp.Answer{Status: a.Status, Body: substitute(a.Body, vars).(map[string]any)})
				}
				for _, a := range s.TokenAnswers {
					idp.QueueToken(loginidp.Answer{Status: a.Status, Body: substitute(a.Body, vars).(map[string]any)})
				}
				if s.Approve && !idp.Approve("", Account) {
					t.Fatalf("step %d: no device code to approve", i)
				}
				if s.Deny && !idp.Deny("") {
					t.Fatalf("step %d: no device code to deny", i)
				}
				body, _ := substitute(s.Body, vars).(map[string]any)
				if role, ok := body["role"]; ok && role == "" {
					delete(body, "role")
				}
				status, resp := target.Write(t, s.Path, body)
				checkStep(t, i, s, status, resp, vars, target)
				if s.Path == "oidc/auth_url" {
					if st, ok := DataOf(resp)["state"].(string); ok {
						vars["$state"] = st
					}
				}
				if s.CheckIdP != nil {
					s.CheckIdP(t, idp)
				}
			}
		})
	}
}

func checkStep(t *testing.T, i int, s Step, status int, resp map[string]any, vars map[string]string, target Target) {
	t.Helper()
	if status != s.WantStatus {
		t.Fatalf("step %d %s: status %d, want %d (body %v)", i, s.Path, status, s.WantStatus, Redact(resp))
	}
	if got := FirstError(resp); got != s.WantError {
		t.Fatalf("step %d %s: errors[0] = %q, want %q", i, s.Path, got, s.WantError)
	}
	data := DataOf(resp)
	for k := range data {
		if _, ok := s.WantTypes[k]; !ok {
			t.Errorf("step %d: unexpected data key %q", i, k)
		}
	}
	for k, typ := range s.WantTypes {
		v, ok := data[k]
		if !ok {
			t.Errorf("step %d: data.%s missing (data keys %v)", i, k, sortedKeys(data))
			continue
		}
		if got := JSONType(v); got != typ {
			t.Errorf("step %d: data.%s is %s, want %s", i, k, got, typ)
		}
		if typ == "string" && v == "" {
			t.Errorf("step %d: data.%s is empty", i, k)
		}
	}
	for k, want := range s.WantValues {
		want = strings.ReplaceAll(want, "$IDP", vars["$IDP"])
		if got, _ := data[k].(string); got != want {
			t.Errorf("step %d: data.%s = %q, want %q", i, k, got, want)
		}
	}
	for k, want := range s.WantPrefix {
		want = strings.ReplaceAll(want, "$IDP", vars["$IDP"])
		if got, _ := data[k].(string); !strings.HasPrefix(got, want) {
			t.Errorf("step %d: data.%s = %q, want prefix %q", i, k, got, want)
		}
	}
	for _, k := range s.WantAbsent {
		if _, ok := data[k]; ok {
			t.Errorf("step %d: data.%s present, want absent", i, k)
		}
	}
	if s.WantAuth == nil {
		if a, ok := resp["auth"]; ok && a != nil {
			t.Errorf("step %d: unexpected auth in response", i)
		}
		return
	}
	checkAuth(t, i, s.WantAuth, resp, target)
}

func checkAuth(t *testing.T, i int, want *Auth, resp map[string]any, target Target) {
	t.Helper()
	auth, _ := resp["auth"].(map[string]any)
	if auth == nil {
		t.Fatalf("step %d: no auth in response %v", i, Redact(resp))
	}
	if tok, _ := auth["client_token"].(string); tok == "" {
		t.Errorf("step %d: auth.client_token empty", i)
	}
	meta, _ := auth["metadata"].(map[string]any)
	for k, w := range want.Metadata {
		got, _ := meta[k].(string)
		switch {
		case w == "*" && got == "":
			t.Errorf("step %d: auth.metadata.%s is empty", i, k)
		case w != "*" && got != w:
			t.Errorf("step %d: auth.metadata.%s = %q, want %q", i, k, got, w)
		}
	}
	var pols []string
	for _, p := range asSlice(auth["policies"]) {
		if s, ok := p.(string); ok {
			pols = append(pols, s)
		}
	}
	slices.Sort(pols)
	wp := slices.Clone(want.Policies)
	slices.Sort(wp)
	if !slices.Equal(pols, wp) {
		t.Errorf("step %d: auth.policies = %v, want %v", i, pols, wp)
	}
	if r, _ := auth["renewable"].(bool); r != want.Renewable {
		t.Errorf("step %d: auth.renewable = %v, want %v", i, r, want.Renewable)
	}
	if ld := JSONType(auth["lease_duration"]); ld != "number" {
		t.Errorf("step %d: auth.lease_duration is %s, want number", i, ld)
	}
	if ar, ok := target.(AliasReporter); ok && want.AliasName != "" {
		if got := ar.LastAliasName(t); got != want.AliasName {
			t.Errorf("step %d: alias name = %q, want %q", i, got, want.AliasName)
		}
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
