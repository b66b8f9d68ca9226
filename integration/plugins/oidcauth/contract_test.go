package oidcauth

// The contract table itself lives in package contract so that the e2e tests
// run the same cases through a real Vault server; this file runs it in
// process and gives the other tests short names for its fixtures.

import (
	"testing"

	"github.com/vaultcred/gettoken/integration/plugins/oidcauth/contract"
	"github.com/vaultcred/gettoken/integration/plugins/oidcauth/loginidp"
)

const (
	contractRedirect = contract.Redirect
	contractNonce    = contract.Nonce
)

// contractAccount is the user approving device codes.
var contractAccount = contract.Account

// contractConfig is the mount config htvault-config writes.
func contractConfig(idp *loginidp.Server) map[string]any { return contract.Config(idp) }

// contractRoles are htvault-config style roles.
func contractRoles() map[string]map[string]any { return contract.Roles() }

func lastForm(t *testing.T, idp *loginidp.Server, path string) map[string]string {
	t.Helper()
	return contract.LastForm(t, idp, path)
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func TestContract(t *testing.T) {
	e := newEnv(t, loginidp.Options{})
	e.configure()
	contract.Run(t, e, e.idp)
}
