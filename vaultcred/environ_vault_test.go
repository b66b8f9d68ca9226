package vaultcred

import (
	"os"
	"testing"
)

// strayVaultEnv are VAULT_* variables a user's profile may hold for the
// vault command line tool, every one invalid or wrong for the request at
// hand. htgettoken reads none of them, and neither may gettoken.
var strayVaultEnv = map[string]string{
	"VAULT_ADDR":            "https://wrong.invalid:8200",
	"VAULT_AGENT_ADDR":      "https://agent.invalid:8100",
	"VAULT_CACERT":          "/nonexistent/ca.pem",
	"VAULT_CAPATH":          "/nonexistent/certs",
	"VAULT_CLIENT_CERT":     "/nonexistent/cert.pem",
	"VAULT_CLIENT_KEY":      "/nonexistent/key.pem",
	"VAULT_MAX_RETRIES":     "many",
	"VAULT_CLIENT_TIMEOUT":  "soon",
	"VAULT_RATE_LIMIT":      "fast",
	"VAULT_SKIP_VERIFY":     "perhaps",
	"VAULT_TLS_SERVER_NAME": "wrong.example",
	"VAULT_SRV_LOOKUP":      "yes please",
	"VAULT_HEADERS":         "{not json",
	"VAULT_TOKEN":           "hvs.FROMENVIRONMENT",
	"VAULT_NAMESPACE":       "envns",
	"VAULT_WRAP_TTL":        "5m",
	"VAULT_HTTP_PROXY":      "http://127.0.0.1:1",
	"VAULT_PROXY_ADDR":      "http://127.0.0.1:1",
}

// TestStrayVaultEnvironmentIgnored runs a second run (stored vault token,
// one read) with every VAULT_* variable set to something that would break
// or redirect vault/api's own configuration: the run must succeed, send
// the stored token only, and leave the environment as it was.
func TestStrayVaultEnvironmentIgnored(t *testing.T) {
	for k, v := range strayVaultEnv {
		t.Setenv(k, v)
	}
	h := newHarness(t)
	h.haveStored(tokExch)
	h.fv.on("GET", pCreds, bearerAnswer(bearerPlain))
	res, err, log := h.run(h.opts(nil))
	if err != nil {
		t.Fatalf("run with stray VAULT_* variables: %v\n%s", err, log)
	}
	if res.BearerToken != bearerPlain {
		t.Errorf("bearer token %q", res.BearerToken)
	}
	wantKeys(t, h.fv, "GET "+pCreds)
	r := h.fv.requests()[0]
	if r.Token() != tokExch {
		t.Errorf("X-Vault-Token is not the stored token")
	}
	if ns := r.Header.Get("X-Vault-Namespace"); ns != "" {
		t.Errorf("X-Vault-Namespace %q sent", ns)
	}
	if w := r.Header.Get("X-Vault-Wrap-TTL"); w != "" {
		t.Errorf("X-Vault-Wrap-TTL %q sent", w)
	}
	for k, v := range strayVaultEnv {
		if got, ok := os.LookupEnv(k); !ok || got != v {
			t.Errorf("after the run %s = %q (set %v), want %q", k, got, ok, v)
		}
	}
}
