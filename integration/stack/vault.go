package stack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// Vault is a running Vault server, initialised with one key share and
// unsealed, with the project's plugins in its plugin directory.
type Vault struct {
	// Addr is the TLS listener clients use: https://localhost:<port>.
	Addr string
	// Port is the TLS listener's port.
	Port int
	// AdminAddr is the plaintext loopback listener htvault-config's
	// config.sh talks to: http://127.0.0.1:<port>.
	AdminAddr string
	// RootToken is the root token from operator init.
	RootToken string
	// UnsealKey is the single unseal key.
	UnsealKey string
	// Admin is an API client on the admin listener with the root token.
	Admin *vaultapi.Client
	Proc  *Proc
	// AuditLog is the file audit device's log (set by Start).
	AuditLog string

	dir, logDir, bin, config string
}

// VaultBinary returns the path of the Vault server binary: $GETTOKEN_VAULT_BIN,
// else the cached build that integration/scripts/build-vault.sh reports.
func VaultBinary() (string, error) {
	if p := os.Getenv("GETTOKEN_VAULT_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("GETTOKEN_VAULT_BIN: %w", err)
		}
		return p, nil
	}
	script := filepath.Join(ModuleDir(), "scripts", "build-vault.sh")
	out, err := exec.Command(script, "--check").Output()
	if err != nil {
		return "", fmt.Errorf("no Vault binary built: run %s (or make prereqs): %w", script, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// ModuleDir is the directory of the integration module.
func ModuleDir() string {
	if d := os.Getenv("GETTOKEN_INTEGRATION_DIR"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Plugin is an external Vault plugin binary for the catalog.
type Plugin struct {
	Type    string // "auth" or "secret"
	Name    string // catalog name, e.g. "oidc", "oauth"
	Command string // file name in the plugin directory
	Path    string // where the binary was built
}

// BuildPlugins builds the project's substitute plugins into dir.
func BuildPlugins(ctx context.Context, dir string) ([]Plugin, error) {
	plugins := []Plugin{
		{Type: "auth", Name: "oidc", Command: "vault-plugin-auth-oidc"},
		{Type: "secret", Name: "oauth", Command: "vault-plugin-secrets-oauth"},
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for i, p := range plugins {
		out := filepath.Join(dir, p.Command)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/"+p.Command)
		cmd.Dir = ModuleDir()
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build plugin %s: %w\n%s", p.Command, err, b)
		}
		plugins[i].Path = out
	}
	return plugins, nil
}

// StartVault writes an htvault-config-like server configuration into dir,
// starts the server, initialises it with one key share and unseals it.
// tlsPort 0 picks a free port. The plugins are copied into the plugin
// directory and registered in the catalog with their sha256.
func StartVault(ctx context.Context, dir, logDir string, certs *Certs, tlsPort int, plugins []Plugin) (*Vault, error) {
	bin, err := VaultBinary()
	if err != nil {
		return nil, err
	}
	pluginDir := filepath.Join(dir, "plugins")
	for _, d := range []string{filepath.Join(dir, "data"), pluginDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	adminPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	if tlsPort == 0 {
		if tlsPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	v := &Vault{
		Addr:      fmt.Sprintf("https://localhost:%d", tlsPort),
		Port:      tlsPort,
		AdminAddr: fmt.Sprintf("http://127.0.0.1:%d", adminPort),
		dir:       dir, logDir: logDir, bin: bin,
		config: filepath.Join(dir, "vault.hcl"),
	}
	hcl := fmt.Sprintf(`# Like htvault-config's vault.common.template + vault.single.template.
storage "file" {
  path = "%[1]s/data"
}
listener "tcp" {
  address     = "127.0.0.1:%[2]d"
  tls_disable = true
}
listener "tcp" {
  address       = "127.0.0.1:%[3]d"
  tls_cert_file = "%[4]s"
  tls_key_file  = "%[5]s"
}
plugin_directory  = "%[6]s"
api_addr          = "http://127.0.0.1:%[2]d"
disable_mlock     = true
ui                = false
default_lease_ttl = "672h"
max_lease_ttl     = "672h"
`, dir, adminPort, tlsPort, certs.CertFile, certs.KeyFile, pluginDir)
	if err := os.WriteFile(v.config, []byte(hcl), 0o600); err != nil {
		return nil, err
	}
	for _, p := range plugins {
		if err := copyFile(p.Path, filepath.Join(pluginDir, p.Command), 0o700); err != nil {
			return nil, err
		}
	}
	if err := v.start(ctx); err != nil {
		return nil, err
	}
	if v.Admin, err = adminClient(v.AdminAddr, nil); err != nil {
		return nil, err
	}
	init, err := v.Admin.Sys().InitWithContext(ctx, &vaultapi.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		return nil, fmt.Errorf("vault operator init: %w", err)
	}
	v.RootToken, v.UnsealKey = init.RootToken, init.Keys[0]
	v.Admin.SetToken(v.RootToken)
	if err := v.unseal(ctx); err != nil {
		return nil, err
	}
	for _, p := range plugins {
		sum, err := fileSHA256(p.Path)
		if err != nil {
			return nil, err
		}
		if err := v.Admin.Sys().RegisterPluginWithContext(ctx, &vaultapi.RegisterPluginInput{
			Name: p.Name, Type: mustPluginType(p.Type), Command: p.Command, SHA256: sum,
		}); err != nil {
			return nil, fmt.Errorf("register plugin %s: %w", p.Name, err)
		}
	}
	return v, nil
}

func (v *Vault) start(ctx context.Context) error {
	var err error
	v.Proc, err = StartProc(v.logDir, "vault", []string{"VAULT_LOG_LEVEL=info"}, v.dir, v.bin, "server", "-config="+v.config)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: time.Second}
	return v.Proc.WaitFor(ctx, "its admin listener", func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", v.AdminAddr+"/v1/sys/seal-status", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("seal-status: %s", resp.Status)
		}
		return nil
	})
}

func (v *Vault) unseal(ctx context.Context) error {
	st, err := v.Admin.Sys().UnsealWithContext(ctx, v.UnsealKey)
	if err != nil {
		return fmt.Errorf("vault unseal: %w", err)
	}
	if st.Sealed {
		return fmt.Errorf("vault still sealed after unseal")
	}
	// Wait until the core is active (unseal returns before the mount table
	// is fully set up on a fresh server).
	return v.Proc.WaitFor(ctx, "active", func(ctx context.Context) error {
		h, err := v.Admin.Sys().HealthWithContext(ctx)
		if err != nil {
			return err
		}
		if !h.Initialized || h.Sealed || h.Standby {
			return fmt.Errorf("health: %+v", h)
		}
		return nil
	})
}

// Stop stops the server (its data stays in dir).
func (v *Vault) Stop() error { return v.Proc.Stop(5 * time.Second) }

// Restart starts a stopped server again on the same ports and data, and
// unseals it. It is how tests bring Vault back after an outage.
func (v *Vault) Restart(ctx context.Context) error {
	if !v.Proc.Exited() {
		return fmt.Errorf("vault is still running")
	}
	if err := v.start(ctx); err != nil {
		return err
	}
	return v.unseal(ctx)
}

// adminClient is a client of a node's plaintext admin listener, with no
// token and no retries of vault/api's own; wrap, when set, wraps its
// transport.
func adminClient(addr string, wrap func(http.RoundTripper) http.RoundTripper) (*vaultapi.Client, error) {
	cfg := vaultapi.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	if wrap != nil {
		cfg.HttpClient.Transport = wrap(cfg.HttpClient.Transport)
	}
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.ClearToken()
	return c, nil
}

// Client returns an API client for the TLS listener that trusts certs' CA,
// with token set (which may be empty).
func (v *Vault) Client(certs *Certs, token string) (*vaultapi.Client, error) {
	cfg := vaultapi.DefaultConfig()
	cfg.Address = v.Addr
	cfg.MaxRetries = 0
	cfg.HttpClient.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: certs.Pool, MinVersion: tls.VersionTLS12}
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	if token == "" {
		c.ClearToken()
	} else {
		c.SetToken(token)
	}
	return c, nil
}

func mustPluginType(t string) vaultapi.PluginType {
	pt, err := vaultapi.ParsePluginType(t)
	if err != nil {
		panic(err) // only called with the two constants above
	}
	return pt
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// AuditEntry is one request recorded by the audit device.
type AuditEntry struct {
	Operation string // "read", "update", "delete", ...
	Path      string // e.g. "secret/oauth/creds/default/alice:default"
	Mount     string
}

// Requests returns the requests in the audit log, in order. Vault logs a
// request and its response; only the requests are returned.
func (v *Vault) Requests() ([]AuditEntry, error) {
	b, err := os.ReadFile(v.AuditLog)
	if err != nil {
		return nil, err
	}
	var out []AuditEntry
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e struct {
			Type    string `json:"type"`
			Request struct {
				Operation  string `json:"operation"`
				Path       string `json:"path"`
				MountPoint string `json:"mount_point"`
			} `json:"request"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		if e.Type == "request" {
			out = append(out, AuditEntry{e.Request.Operation, e.Request.Path, e.Request.MountPoint})
		}
	}
	return out, nil
}
