//go:build gettoken_front

package vaultcred

import "context"

// The gettoken front end build (build tag gettoken_front) links none of
// the Vault, Kerberos, ssh-agent and OIDC code: it answers --help,
// --version, option errors and a --reuse-bearer hit itself, and Get
// returns ErrHandOff for everything else. See cmd/gettoken.

// SSHAgent stands in for the ssh-agent interface of the full build, so
// that Deps has the same fields; the front end never dials an agent.
type SSHAgent interface{ Close() error }

// vaultAPI is empty: the front end makes no Vault request.
type vaultAPI struct{}

// remote hands the request over to the full program.
func (f *flow) remote(context.Context) error { return ErrHandOff }
