package e2e

// The oauth secrets plugin's contract table (package oauthapp/contract) run
// through the real Vault server.

import (
	"context"
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultcred/gettoken/integration/plugins/oauthapp/contract"
	"github.com/vaultcred/gettoken/integration/plugins/oauthapp/tokenidp"
)

// oauthContractMount is where the test mounts its own oauth secrets engine
// (the stack's secret/oauth stays untouched).
const oauthContractMount = "secret/oauth-contract"

// TestOAuthContractThroughVault runs every case of the oauth secrets
// plugin's contract against a fresh mount of the plugin in the real Vault,
// through the TLS listener with the root token, talking to a fresh tokenidp
// provider. Through Vault 1.21.0 every answer (status, errors[0], exact data
// keys and JSON types, values, warnings) matches the in-process run, so
// the table runs unchanged; a difference found later is recorded here as an
// adjusted case with its reason.
func TestOAuthContractThroughVault(t *testing.T) {
	idp, err := tokenidp.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sys := st.Vault.Admin.Sys()
	if err := sys.MountWithContext(ctx, oauthContractMount, &vaultapi.MountInput{Type: "oauth"}); err != nil {
		t.Fatalf("mount %s: %v", oauthContractMount, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := sys.UnmountWithContext(ctx, oauthContractMount); err != nil {
			t.Errorf("unmount %s: %v", oauthContractMount, err)
		}
	})

	c := &contract.HTTP{
		Addr:  st.Vault.Addr,
		Token: st.Vault.RootToken,
		Mount: oauthContractMount,
		Client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: st.Certs.Pool, MinVersion: tls.VersionTLS12}}},
	}
	contract.Run(t, c, contract.NewEnv(idp))
}
