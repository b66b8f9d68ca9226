// Package cli runs the gettoken commands, built from the main module, as a
// user would (see package harness) against the real stack.
package cli

import (
	"os"
	"testing"

	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

var env *harness.Env

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, "cli", &env, stack.Options{PollInterval: 1}, nil, "gettoken", "htdecodetoken", "htdestroytoken"))
}

type user struct{ *harness.User }

func newUser(t *testing.T) *user { return &user{env.NewUser(t)} }

// gettoken runs gettoken with no terminal (OIDC off, as in a batch job).
func (u *user) gettoken(stdin string, args ...string) harness.Result {
	u.T.Helper()
	return u.Exec("gettoken", stdin, args...)
}

// oidc runs gettoken on a terminal and answers the login at the IdP as
// account (deny when "").
func (u *user) oidc(account string, args ...string) harness.Result {
	u.T.Helper()
	return u.OIDC(account, true, "gettoken", append([]string{"--web-open-command="}, args...)...)
}

// login does a first OIDC login for account and checks it worked.
func (u *user) login(account string, args ...string) harness.Result {
	u.T.Helper()
	r := u.oidc(account, args...)
	if r.Code != 0 {
		u.T.Fatalf("OIDC login failed:\n%v", r)
	}
	return r
}

func requests(t *testing.T, f func()) []stack.AuditEntry { return env.Requests(t, f) }

func revoke(t *testing.T, token string) { env.Revoke(t, token) }
