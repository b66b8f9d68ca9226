// Command vault-plugin-auth-oidc serves gettoken's substitute oidc auth
// method (package oidcauth) as an external Vault plugin. Register it in the
// catalog as auth plugin `oidc` and enable it at auth/oidc-<issuer>.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/plugin"

	"github.com/vaultcred/gettoken/integration/plugins/oidcauth"
)

func main() {
	meta := &api.PluginAPIClientMeta{}
	flags := meta.FlagSet()
	if err := flags.Parse(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "vault-plugin-auth-oidc: %v\n", err)
		os.Exit(2)
	}
	err := plugin.ServeMultiplex(&plugin.ServeOpts{
		BackendFactoryFunc: oidcauth.Factory,
		TLSProviderFunc:    api.VaultPluginTLSProvider(meta.GetTLSConfig()),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "vault-plugin-auth-oidc: %v\n", err)
		os.Exit(1)
	}
}
