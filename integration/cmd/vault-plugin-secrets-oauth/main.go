// Command vault-plugin-secrets-oauth is the project's stand-in for the
// oauthapp secrets plugin. Register it in Vault's plugin catalog as the
// secrets plugin "oauth" and mount it at secret/oauth; see package
// github.com/vaultcred/gettoken/integration/plugins/oauthapp.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/vault/sdk/plugin"

	"github.com/vaultcred/gettoken/integration/plugins/oauthapp"
)

func main() {
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{BackendFactoryFunc: oauthapp.Factory}); err != nil {
		fmt.Fprintf(os.Stderr, "vault-plugin-secrets-oauth: %v\n", err)
		os.Exit(1)
	}
}
