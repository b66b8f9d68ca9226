package credmon

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vaultcred/gettoken/internal/testcert"
)

// TestVaultTLSChecksDialledIP checks the Vault provider's own HTTP client
// (the one built from the CA settings): a .top whose vault_url names an IP
// address reaches a server only when that server's certificate carries
// that IP. A certificate from a trusted CA for another name or another IP
// is refused before the vault token is sent.
func TestVaultTLSChecksDialledIP(t *testing.T) {
	cases := []struct {
		name  string
		hosts []string
		ok    bool
	}{
		{"DNS name only", []string{"vault.example.org"}, false},
		{"another IP", []string{"127.0.0.2"}, false},
		{"right IP", []string{"127.0.0.1"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var seen atomic.Int32
			s := testcert.NewServer(t, tc.hosts...)
			srv := s.StartTLS(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen.Add(1)
				fmt.Fprintf(w, `{"data":{"access_token":%q}}`, testAccessToken)
			}))
			dir := t.TempDir()
			ca := filepath.Join(dir, "ca.pem")
			if err := os.WriteFile(ca, s.CAPEM, 0o644); err != nil {
				t.Fatal(err)
			}
			v := NewVault(VaultConfig{CAFile: ca, CADir: filepath.Join(dir, "no-capath")})
			c := Cred{Root: filepath.Join(dir, "creds"), User: "alice", Name: "dune"}
			top := fmt.Sprintf(`{"vault_token":%q,"vault_url":%q}`, testVaultToken, srv.URL+"/v1/secret/oauth/creds/dune/alice:default")
			r, err := v.Refresh(context.Background(), c, []byte(top))
			if tc.ok {
				if err != nil || string(r.Use) != testAccessToken+"\n" {
					t.Fatalf("refresh = %q, %v", r.Use, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("refresh from a server with a certificate for %v: err %v, want a certificate error", tc.hosts, err)
			}
			if strings.Contains(err.Error(), testVaultToken) {
				t.Errorf("vault token in error: %v", err)
			}
			if n := seen.Load(); n != 0 {
				t.Errorf("the server received %d requests", n)
			}
		})
	}
}
