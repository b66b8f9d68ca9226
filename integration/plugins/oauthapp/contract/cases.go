package contract

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/vaultcred/gettoken/integration/plugins/oauthapp/tokenidp"
)

// Data key sets (key -> JSON type) of the plugin's answers.
var (
	credsKeys = map[string]string{
		"access_token": "string", "type": "string", "expire_time": "string", "server": "string",
	}
	stsKeys = map[string]string{
		"access_token": "string", "type": "string", "expire_time": "string",
	}
	serverKeys = map[string]string{
		"client_id": "string", "auth_url_params": "object", "provider": "string",
		"provider_version": "number", "provider_options": "object",
	}
	configKeys = map[string]string{
		"default_server":                             "string",
		"tune_provider_timeout_seconds":              "number",
		"tune_provider_timeout_expiry_leeway_factor": "number",
		"tune_refresh_check_interval_seconds":        "number",
		"tune_refresh_expiry_delta_factor":           "number",
		"tune_reap_check_interval_seconds":           "number",
		"tune_reap_dry_run":                          "bool",
		"tune_reap_non_refreshable_seconds":          "number",
		"tune_reap_revoked_seconds":                  "number",
		"tune_reap_transient_error_attempts":         "number",
		"tune_reap_transient_error_seconds":          "number",
		"tune_reap_server_deleted_seconds":           "number",
	}
)

// Credential paths used by the cases (issuer "default", role "default").
const (
	alice    = "creds/default/alice:default"
	robot    = "creds/default/robot/cron/host.example:default"
	bob      = "creds/default/bob:default"
	aliceSTS = "sts/default/alice:default"
)

func mint(varName, subject string) func(e *Env) {
	return func(e *Env) { e.Vars[varName] = e.IdP.MintRefreshToken(subject) }
}

// remember stores the provider's current request count of grant.
func remember(grant string) func(e *Env) {
	return func(e *Env) { e.Vars["count:"+grant] = strconv.Itoa(e.IdP.Count(grant)) }
}

// countGrew checks that the provider saw exactly delta more requests of grant.
func countGrew(grant string, delta int) func(e *Env, _ *Response) error {
	return func(e *Env, _ *Response) error {
		before, _ := strconv.Atoi(e.Vars["count:"+grant])
		if got := e.IdP.Count(grant) - before; got != delta {
			return fmt.Errorf("provider saw %d new %s requests, want %d", got, grant, delta)
		}
		return nil
	}
}

func all(fs ...func(e *Env)) func(e *Env) {
	return func(e *Env) {
		for _, f := range fs {
			f(e)
		}
	}
}

func checks(fs ...func(e *Env, r *Response) error) func(e *Env, r *Response) error {
	return func(e *Env, r *Response) error {
		for _, f := range fs {
			if err := f(e, r); err != nil {
				return err
			}
		}
		return nil
	}
}

// expireTimeOK checks expire_time is RFC 3339 with nanoseconds, UTC, future.
func expireTimeOK(_ *Env, r *Response) error {
	s, _ := r.Data["expire_time"].(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("expire_time %q: %w", s, err)
	}
	if !strings.HasSuffix(s, "Z") {
		return fmt.Errorf("expire_time %q is not UTC", s)
	}
	if !t.After(time.Now()) {
		return fmt.Errorf("expire_time %q is not in the future", s)
	}
	return nil
}

// subjectIs checks data.access_token is a live provider token of subject.
func subjectIs(subject string) func(e *Env, r *Response) error {
	return func(e *Env, r *Response) error {
		at, _ := r.Data["access_token"].(string)
		if got, ok := e.IdP.AccessTokenSubject(at); !ok || got != subject {
			return fmt.Errorf("access_token is not a live token of %s (got %q, known %v)", subject, got, ok)
		}
		return nil
	}
}

// lastForm checks fields of the provider's latest request of grant; a nil
// want means the field must be absent.
func lastForm(grant string, want map[string][]string, auth string) func(e *Env, r *Response) error {
	return func(e *Env, _ *Response) error {
		req, ok := e.IdP.Last(grant)
		if !ok {
			return fmt.Errorf("provider saw no %s request", grant)
		}
		if auth != "" && req.Auth != auth {
			return fmt.Errorf("client authentication %q, want %q", req.Auth, auth)
		}
		if req.ClientID != tokenidp.ClientID {
			return fmt.Errorf("client_id %q, want %q", req.ClientID, tokenidp.ClientID)
		}
		for k, raw := range want {
			var v []string
			for _, s := range raw {
				v = append(v, e.Expand(s))
			}
			if got := req.Form[k]; !reflect.DeepEqual(got, v) && (len(got) != 0 || len(v) != 0) {
				return fmt.Errorf("form %s = %q, want %q", k, got, v)
			}
		}
		return nil
	}
}

// exchangeSubjectIs checks the latest exchange used a live token of subject.
func exchangeSubjectIs(subject string) func(e *Env, _ *Response) error {
	return func(e *Env, _ *Response) error {
		req, ok := e.IdP.Last(tokenidp.GrantExchange)
		if !ok {
			return fmt.Errorf("provider saw no exchange")
		}
		if got, ok := e.IdP.AccessTokenSubject(req.Form.Get("subject_token")); !ok || got != subject {
			return fmt.Errorf("subject_token is not a live token of %s", subject)
		}
		return nil
	}
}

// refreshUsedRotated checks the latest refresh grant did not send the
// refresh token stored originally in variable name (it must have been
// rotated by an earlier refresh and the new one stored).
func refreshUsedRotated(name string) func(e *Env, _ *Response) error {
	return func(e *Env, _ *Response) error {
		req, ok := e.IdP.Last(tokenidp.GrantRefreshToken)
		if !ok {
			return fmt.Errorf("provider saw no refresh")
		}
		if rt := req.Form.Get("refresh_token"); rt == "" || rt == e.Vars[name] {
			return fmt.Errorf("refresh sent the original refresh token, not the rotated one")
		}
		return nil
	}
}

// Cases is the contract, in order. It expects a freshly mounted plugin and
// a fresh tokenidp provider (defaults: access tokens 300 s, exchanged 600 s).
func Cases() []Case {
	exch := tokenidp.GrantExchange
	refr := tokenidp.GrantRefreshToken
	stsQuery := map[string]string{
		"scopes":          "read:/store,write:/store/alice",
		"audiences":       "https://a.example,https://b.example",
		"minimum_seconds": "60",
	}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for a, b := range m {
			out[a] = b
		}
		out[k] = v
		return out
	}
	return []Case{
		// config
		{Name: "config read before any write", Req: Request{Op: Read, Path: "config"}, Status: 404},
		{Name: "config write", Req: Request{Op: Write, Path: "config", Body: map[string]any{
			"default_server": "legacy", "tune_refresh_check_interval_seconds": 0}}, Status: 204},
		{Name: "config read", Req: Request{Op: Read, Path: "config"}, Status: 200, Keys: configKeys,
			Values: map[string]any{"default_server": "legacy", "tune_refresh_check_interval_seconds": 0,
				"tune_provider_timeout_seconds": 30, "tune_reap_dry_run": false}},
		{Name: "config write replaces the whole config", Req: Request{Op: Write, Path: "config",
			Body: map[string]any{"default_server": "default"}}, Status: 204},
		{Name: "config read after replace", Req: Request{Op: Read, Path: "config"}, Status: 200, Keys: configKeys,
			Values: map[string]any{"default_server": "default", "tune_refresh_check_interval_seconds": 60}},
		{Name: "config write rejects a bad tuning factor", Req: Request{Op: Write, Path: "config",
			Body: map[string]any{"tune_refresh_expiry_delta_factor": 0.5}},
			Status: 400, Err: "refresh expiry delta factor must be at least 1.0"},

		// servers
		{Name: "server write without client_id", Req: Request{Op: Write, Path: "servers/default", Body: map[string]any{
			"provider": "oidc", "provider_options": "issuer_url=${issuer}"}},
			Status: 400, Err: "missing client ID"},
		{Name: "server write with unknown provider", Req: Request{Op: Write, Path: "servers/default", Body: map[string]any{
			"provider": "github", "client_id": "${client_id}", "client_secret": "${client_secret}"}},
			Status: 400, Err: `provider "github" does not exist`, Absent: []string{"client_secret"}},
		{Name: "server write with failing discovery", Req: Request{Op: Write, Path: "servers/default", Body: map[string]any{
			"provider": "oidc", "provider_options": "issuer_url=${issuer}/broken",
			"client_id": "${client_id}", "client_secret": "${client_secret}"}},
			Status: 400, Err: `oidc discovery for issuer "${issuer}/broken" failed`, Absent: []string{"client_secret"}},
		{Name: "server write", Req: Request{Op: Write, Path: "servers/default", Body: map[string]any{
			"provider": "oidc", "provider_options": "issuer_url=${issuer}",
			"client_id": "${client_id}", "client_secret": "${client_secret}"}}, Status: 204},
		{Name: "server read hides the secret", Req: Request{Op: Read, Path: "servers/default"}, Status: 200,
			Keys: serverKeys, Absent: []string{"client_secret"},
			Values: map[string]any{"client_id": "${client_id}", "provider": "oidc",
				"provider_options": map[string]any{"issuer_url": "${issuer}"}}},
		{Name: "servers list", Req: Request{Op: List, Path: "servers/"}, Status: 200,
			Keys: map[string]string{"keys": "array"}, Values: map[string]any{"keys": []any{"default"}}},
		{Name: "server read missing", Req: Request{Op: Read, Path: "servers/nope"}, Status: 404},

		// creds write
		{Name: "creds write with unknown server", Before: mint("rt_alice", "alice"),
			Req:    Request{Op: Write, Path: alice, Body: map[string]any{"server": "nope", "refresh_token": "${rt_alice}"}},
			Status: 400, Err: `server "nope" does not exist`, Absent: []string{"rt_alice"}},
		{Name: "creds write with a bad refresh token",
			Before: func(e *Env) { e.Vars["rt_bad"] = "rt-never-issued-0123456789" },
			Req:    Request{Op: Write, Path: alice, Body: map[string]any{"server": "default", "refresh_token": "${rt_bad}"}},
			Status: 400, Err: `refresh failed: oauth2: "invalid_grant"`, Absent: []string{"rt_bad"}},
		{Name: "creds read after failed write is missing", Req: Request{Op: Read, Path: alice}, Status: 404},
		{Name: "creds write redeems the refresh token",
			Req:    Request{Op: Write, Path: alice, Body: map[string]any{"server": "default", "refresh_token": "${rt_alice}"}},
			Status: 204,
			Check: lastForm(refr, map[string][]string{
				"grant_type": {"refresh_token"}, "refresh_token": {"${rt_alice}"}}, "basic")},
		{Name: "creds write without refresh_token or code",
			Req:    Request{Op: Write, Path: alice, Body: map[string]any{"server": "default"}},
			Status: 400, Err: "missing code"},

		// creds read
		{Name: "creds read", Req: Request{Op: Read, Path: alice, Query: map[string]string{"minimum_seconds": "60"}},
			Status: 200, Keys: credsKeys, Values: map[string]any{"type": "Bearer", "server": "default"},
			Save: "at1", Absent: []string{"rt_alice", "client_secret"},
			Check: checks(expireTimeOK, subjectIs("alice"))},
		{Name: "creds read is cached", Before: remember(refr),
			Req:    Request{Op: Read, Path: alice, Query: map[string]string{"minimum_seconds": "60"}},
			Status: 200, Keys: credsKeys, Same: "at1", Check: countGrew(refr, 0)},
		{Name: "creds read warns about an unknown parameter",
			Req: Request{Op: Read, Path: alice, Query: map[string]string{
				"minimum_seconds": "60", "scopes": "read:/x", "audience": "https://x.example"}},
			Status: 200, Keys: credsKeys, Same: "at1",
			Warning: "Endpoint ignored these unrecognized parameters: [audience]"},
		{Name: "creds read refreshes inside minimum_seconds",
			Before: all(func(e *Env) { e.IdP.SetAccessTTL(time.Hour) }, remember(refr)),
			Req:    Request{Op: Read, Path: alice, Query: map[string]string{"minimum_seconds": "600"}},
			Status: 200, Keys: credsKeys, Differs: "at1", Save: "at2",
			Check: checks(countGrew(refr, 1), subjectIs("alice"), expireTimeOK)},
		{Name: "creds read longer than the provider's lifetime refreshes with the rotated token",
			Before: remember(refr),
			Req:    Request{Op: Read, Path: alice, Query: map[string]string{"minimum_seconds": "7200"}},
			Status: 400, Err: "token expired",
			Check: checks(countGrew(refr, 1), refreshUsedRotated("rt_alice"))},
		{Name: "creds read with a duration minimum_seconds",
			Req:    Request{Op: Read, Path: alice, Query: map[string]string{"minimum_seconds": "5m"}},
			Status: 200, Keys: credsKeys, Differs: "at2", Save: "at3"},
		{Name: "creds read with a bad minimum_seconds",
			Req:    Request{Op: Read, Path: alice, Query: map[string]string{"minimum_seconds": "soon"}},
			Status: 400, Err: "Field validation failed"},
		{Name: "creds write with slashes in the credkey", Before: mint("rt_robot", "robot"),
			Req:    Request{Op: Write, Path: robot, Body: map[string]any{"server": "default", "refresh_token": "${rt_robot}"}},
			Status: 204},
		{Name: "creds read with slashes in the credkey", Req: Request{Op: Read, Path: robot},
			Status: 200, Keys: credsKeys, Values: map[string]any{"server": "default"}, Check: subjectIs("robot")},
		{Name: "creds read missing", Req: Request{Op: Read, Path: "creds/default/nobody:default"}, Status: 404},

		// sts
		{Name: "sts read exchanges with the requested scopes and audiences", Before: remember(exch),
			Req: Request{Op: Read, Path: aliceSTS, Query: stsQuery}, Status: 200, Keys: stsKeys,
			Values: map[string]any{"type": "Bearer"}, Save: "xt1", Absent: []string{"at3"},
			Check: checks(countGrew(exch, 1), expireTimeOK, exchangeSubjectIs("alice"), lastForm(exch, map[string][]string{
				"grant_type":           {tokenidp.GrantExchange},
				"subject_token":        {"${at3}"},
				"subject_token_type":   {tokenidp.TokenTypeAccess},
				"requested_token_type": {tokenidp.TokenTypeAccess},
				"scope":                {"read:/store write:/store/alice"},
				"audience":             {"https://a.example", "https://b.example"},
				"resource":             nil,
			}, "basic"))},
		{Name: "sts read is cached per request", Before: remember(exch),
			Req: Request{Op: Read, Path: aliceSTS, Query: stsQuery}, Status: 200, Keys: stsKeys,
			Same: "xt1", Check: countGrew(exch, 0)},
		{Name: "sts read with other scopes exchanges again", Before: remember(exch),
			Req:    Request{Op: Read, Path: aliceSTS, Query: map[string]string{"scopes": "read:/store"}},
			Status: 200, Keys: stsKeys, Differs: "xt1", Save: "xt2",
			Check: checks(countGrew(exch, 1), lastForm(exch, map[string][]string{
				"scope": {"read:/store"}, "audience": nil}, ""))},
		{Name: "sts read exchanges again when the cached token expires within minimum_seconds", Before: remember(exch),
			Req:    Request{Op: Read, Path: aliceSTS, Query: with(stsQuery, "minimum_seconds", "900")},
			Status: 200, Keys: stsKeys, Differs: "xt1", Save: "xt3", Check: countGrew(exch, 1)},
		{Name: "sts read keeps exchanging while tokens are too short", Before: remember(exch),
			Req:    Request{Op: Read, Path: aliceSTS, Query: with(stsQuery, "minimum_seconds", "900")},
			Status: 200, Keys: stsKeys, Differs: "xt3", Check: countGrew(exch, 1)},
		{Name: "sts read forwards resources",
			Req: Request{Op: Read, Path: aliceSTS, Query: map[string]string{
				"resources": "https://r1.example,https://r2.example"}},
			Status: 200, Keys: stsKeys,
			Check: lastForm(exch, map[string][]string{
				"resource": {"https://r1.example", "https://r2.example"}, "scope": nil, "audience": nil}, "")},
		{Name: "sts read reports a provider error",
			Before: func(e *Env) { e.IdP.FailNext(exch, 400, "invalid_target", "audience not allowed") },
			Req:    Request{Op: Read, Path: aliceSTS, Query: map[string]string{"audiences": "https://c.example"}},
			Status: 400, Err: `exchange failed: oauth2: "invalid_target" "audience not allowed"`,
			Absent: []string{"at3", "xt1", "xt3"}},
		{Name: "sts read missing", Req: Request{Op: Read, Path: "sts/default/nobody:default"}, Status: 404},

		// refresh failures on read
		{Name: "creds read after the refresh token was revoked",
			Before: func(e *Env) { e.IdP.RevokeSubject("alice") },
			Req:    Request{Op: Read, Path: alice, Query: map[string]string{"minimum_seconds": "7200"}},
			Status: 400, Err: `refresh failed: oauth2: "invalid_grant"`},
		{Name: "creds read still serves a valid token with a warning",
			Req:    Request{Op: Read, Path: alice, Query: map[string]string{"minimum_seconds": "60"}},
			Status: 200, Keys: credsKeys, Warning: "token will expire: refresh failed"},
		{Name: "creds read after a transient provider failure",
			Before: func(e *Env) { e.IdP.FailNext(refr, 503, "", "") },
			Req:    Request{Op: Read, Path: robot, Query: map[string]string{"minimum_seconds": "7200"}},
			Status: 400, Err: "token expired"},
		{Name: "creds read reports the transient failure as a warning",
			Req:    Request{Op: Read, Path: robot, Query: map[string]string{"minimum_seconds": "60"}},
			Status: 200, Keys: credsKeys, Warning: "1 attempt(s) to refresh this token failed"},

		// delete
		{Name: "creds delete", Req: Request{Op: Delete, Path: alice}, Status: 204},
		{Name: "creds read after delete", Req: Request{Op: Read, Path: alice}, Status: 404},
		{Name: "sts read after delete", Req: Request{Op: Read, Path: aliceSTS, Query: stsQuery}, Status: 404},

		// default server, server removal
		{Name: "creds write uses default_server", Before: mint("rt_bob", "bob"),
			Req: Request{Op: Write, Path: bob, Body: map[string]any{"refresh_token": "${rt_bob}"}}, Status: 204},
		{Name: "creds read names the default server", Req: Request{Op: Read, Path: bob},
			Status: 200, Keys: credsKeys, Values: map[string]any{"server": "default"}},
		{Name: "server delete", Req: Request{Op: Delete, Path: "servers/default"}, Status: 204},
		{Name: "server read after delete", Req: Request{Op: Read, Path: "servers/default"}, Status: 404},
		{Name: "creds refresh without its server",
			Req:    Request{Op: Read, Path: bob, Query: map[string]string{"minimum_seconds": "7200"}},
			Status: 400, Err: `server "default" does not exist`},
		{Name: "config delete", Req: Request{Op: Delete, Path: "config"}, Status: 204},
		{Name: "config read after delete", Req: Request{Op: Read, Path: "config"}, Status: 404},
		{Name: "creds write without server and without default",
			Req:    Request{Op: Write, Path: "creds/default/carol:default", Body: map[string]any{"refresh_token": "rt-x"}},
			Status: 400, Err: "missing server"},
	}
}
