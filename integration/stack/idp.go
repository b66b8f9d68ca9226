package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// Defaults applied by StartIdP to zero IdPConfig fields.
const (
	DefaultIdPAccessTokenTTL = 120 * time.Second
	DefaultIdPCredkeyClaim   = "wlcg.credkey"
	DefaultIdPAudience       = "https://wlcg.cern.ch/jwt/v1/any"
)

// DefaultIdPScopes are the resource (WLCG capability) scopes the IdP grants
// when IdPConfig.Scopes is empty. A client gets those it requests.
var DefaultIdPScopes = []string{
	"storage.read:/", "storage.create:/",
	"compute.read", "compute.modify", "compute.create", "compute.cancel",
}

// ErrIdPNotInstalled means node or the IdP's npm packages (npm ci in
// integration/idp) are missing on this machine.
var ErrIdPNotInstalled = errors.New("test IdP not installed")

// IdPConfig configures the test OpenID provider (integration/idp/idp.mjs).
type IdPConfig struct {
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	// Accounts that can log in (device approval, login page).
	Accounts []IdPAccount
	// Clients allowed at the token endpoint; at least one is required.
	Clients []IdPClient
	// AccessTokenTTL is the JWT access token lifetime (whole seconds, >= 1 s;
	// default 120 s). SetAccessTokenTTL changes it at run time.
	AccessTokenTTL time.Duration
	// RotateRefreshTokens makes every refresh return a new refresh token and
	// invalidate the old one (default off).
	RotateRefreshTokens bool
	// CredkeyClaim is the ID token claim holding the credkey
	// (default DefaultIdPCredkeyClaim).
	CredkeyClaim string
	// Scopes are the resource scopes the IdP knows (default DefaultIdPScopes).
	Scopes []string
	// DefaultAudience is the access tokens' aud (default DefaultIdPAudience).
	DefaultAudience string
}

// IdPAccount is a user of the test IdP: ID is the login name and the sub claim.
type IdPAccount struct {
	ID, Password, Email, Credkey string
}

// IdPClient is an OAuth client of the test IdP. It may authenticate with
// client_secret_basic or client_secret_post. Besides RedirectURIs, any
// redirect URI on http(s)://127.0.0.1 or http(s)://localhost is accepted.
type IdPClient struct {
	ID, Secret   string
	RedirectURIs []string
}

// IdP is a running test OpenID provider.
type IdP struct {
	// URL is the issuer, http://127.0.0.1:<port>.
	URL string
	// Proc is the node process.
	Proc *Proc
	// ConfigPath is the JSON configuration file given to idp.mjs.
	ConfigPath string
	// Config is the configuration it was started with, defaults filled in.
	Config IdPConfig

	http *http.Client
}

// IdPControlError is a non-2xx answer of a /test/ control route.
type IdPControlError struct {
	Route   string // e.g. "/test/approve"
	Status  int    // HTTP status: 404 unknown user code or account, 409 code already used, 400 bad input or expired code
	Message string // the IdP's error text (never contains tokens)
}

// Error implements error.
func (e *IdPControlError) Error() string {
	return fmt.Sprintf("idp %s: HTTP %d: %s", e.Route, e.Status, e.Message)
}

// DeviceAuthURL is the device authorization endpoint.
func (i *IdP) DeviceAuthURL() string { return i.URL + "/device/auth" }

// TokenURL is the token endpoint.
func (i *IdP) TokenURL() string { return i.URL + "/token" }

// IdPDir returns the absolute path of integration/idp: $GETTOKEN_IDP_DIR if
// set, else located relative to this source file.
func IdPDir() (string, error) {
	dir := os.Getenv("GETTOKEN_IDP_DIR")
	if dir == "" {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			return "", errors.New("idp dir: cannot locate source file; set GETTOKEN_IDP_DIR")
		}
		dir = filepath.Join(filepath.Dir(file), "..", "idp")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("idp dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(abs, "idp.mjs")); err != nil {
		return "", fmt.Errorf("idp dir %s: %w", abs, err)
	}
	return abs, nil
}

// idpFiles is the JSON configuration read by idp.mjs.
type idpFiles struct {
	Port                int          `json:"port"`
	Accounts            []idpAccount `json:"accounts"`
	Clients             []idpClient  `json:"clients"`
	AccessTokenTTL      int          `json:"access_token_ttl"`
	RotateRefreshTokens bool         `json:"rotate_refresh_tokens"`
	CredkeyClaim        string       `json:"credkey_claim"`
	Scopes              []string     `json:"scopes"`
	DefaultAudience     string       `json:"default_audience"`
}

type idpAccount struct {
	ID       string `json:"id"`
	Password string `json:"password"`
	Email    string `json:"email"`
	Credkey  string `json:"credkey"`
}

type idpClient struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	RedirectURIs []string `json:"redirect_uris"`
}

// withDefaults validates cfg and fills its zero fields.
func (cfg IdPConfig) withDefaults() (IdPConfig, error) {
	if len(cfg.Clients) == 0 {
		return cfg, errors.New("idp config: no clients")
	}
	for _, c := range cfg.Clients {
		if c.ID == "" || c.Secret == "" {
			return cfg, errors.New("idp config: a client has an empty id or secret")
		}
	}
	for _, a := range cfg.Accounts {
		if a.ID == "" || a.Password == "" {
			return cfg, errors.New("idp config: an account has an empty id or password")
		}
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return cfg, fmt.Errorf("idp config: port %d out of range", cfg.Port)
	}
	if cfg.AccessTokenTTL == 0 {
		cfg.AccessTokenTTL = DefaultIdPAccessTokenTTL
	}
	if _, err := ttlSeconds(cfg.AccessTokenTTL); err != nil {
		return cfg, fmt.Errorf("idp config: %w", err)
	}
	if cfg.CredkeyClaim == "" {
		cfg.CredkeyClaim = DefaultIdPCredkeyClaim
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = append([]string(nil), DefaultIdPScopes...)
	}
	if cfg.DefaultAudience == "" {
		cfg.DefaultAudience = DefaultIdPAudience
	}
	return cfg, nil
}

func ttlSeconds(d time.Duration) (int, error) {
	if d < time.Second || d%time.Second != 0 {
		return 0, fmt.Errorf("access token TTL %v is not a whole number of seconds >= 1", d)
	}
	return int(d / time.Second), nil
}

func (cfg IdPConfig) files() idpFiles {
	ttl, _ := ttlSeconds(cfg.AccessTokenTTL)
	f := idpFiles{
		Port: cfg.Port, AccessTokenTTL: ttl, RotateRefreshTokens: cfg.RotateRefreshTokens,
		CredkeyClaim: cfg.CredkeyClaim, Scopes: cfg.Scopes, DefaultAudience: cfg.DefaultAudience,
		Accounts: []idpAccount{}, Clients: []idpClient{},
	}
	for _, a := range cfg.Accounts {
		f.Accounts = append(f.Accounts, idpAccount{a.ID, a.Password, a.Email, a.Credkey})
	}
	for _, c := range cfg.Clients {
		f.Clients = append(f.Clients, idpClient{c.ID, c.Secret, c.RedirectURIs})
	}
	return f
}

// writeFileAtomic writes data to path with mode 0600 via a temp file and rename.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// StartIdP writes the IdP configuration into dir (created if needed), runs
// `node idp.mjs` with its log in <logDir>/idp.log, and waits until discovery
// answers. If ctx has no deadline, it waits at most 20 s. With Port 0 a free
// port is picked (and re-picked if another process took it first).
// It fails with ErrIdPNotInstalled when node or node_modules is missing.
func StartIdP(ctx context.Context, dir, logDir string, cfg IdPConfig) (*IdP, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	idpDir, err := IdPDir()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIdPNotInstalled, err)
	}
	if _, err := os.Stat(filepath.Join(idpDir, "node_modules", "oidc-provider")); err != nil {
		return nil, fmt.Errorf("%w: run npm ci in %s: %w", ErrIdPNotInstalled, idpDir, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIdPNotInstalled, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("idp: %w", err)
	}
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return nil, fmt.Errorf("idp: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
	}
	pickPort := cfg.Port == 0
	for attempt := 1; ; attempt++ {
		if pickPort {
			if cfg.Port, err = FreePort(); err != nil {
				return nil, fmt.Errorf("idp: free port: %w", err)
			}
		}
		i, err := startIdPOnce(ctx, node, idpDir, dir, logDir, cfg)
		if err == nil || !pickPort || attempt == 3 || ctx.Err() != nil || !errors.Is(err, errIdPExited) {
			return i, err
		}
	}
}

var errIdPExited = errors.New("idp exited during start")

func startIdPOnce(ctx context.Context, node, idpDir, dir, logDir string, cfg IdPConfig) (*IdP, error) {
	data, err := json.MarshalIndent(cfg.files(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("idp config: %w", err)
	}
	cfgPath := filepath.Join(dir, "idp-config.json")
	if err := writeFileAtomic(cfgPath, data); err != nil {
		return nil, fmt.Errorf("idp config: %w", err)
	}
	p, err := StartProc(logDir, "idp", nil, idpDir, node, "idp.mjs", cfgPath)
	if err != nil {
		return nil, err
	}
	i := &IdP{
		URL: fmt.Sprintf("http://127.0.0.1:%d", cfg.Port), Proc: p, ConfigPath: cfgPath, Config: cfg,
		http: &http.Client{Timeout: 10 * time.Second},
	}
	err = p.WaitFor(ctx, "OIDC discovery", i.discoveryReady)
	if err != nil {
		_ = p.Stop(2 * time.Second)
		if p.Exited() && ctx.Err() == nil {
			return nil, fmt.Errorf("%w: %w", errIdPExited, err)
		}
		return nil, err
	}
	return i, nil
}

// discoveryReady succeeds once discovery answers with our issuer.
func (i *IdP) discoveryReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, i.URL+"/.well-known/openid-configuration", nil)
	if err != nil {
		return err
	}
	resp, err := i.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("discovery: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	if doc.Issuer != i.URL {
		return fmt.Errorf("discovery: issuer %q, want %q", doc.Issuer, i.URL)
	}
	return nil
}

// control POSTs body as JSON to a /test/ route; a non-2xx answer is an *IdPControlError.
func (i *IdP) control(ctx context.Context, route string, body any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("idp %s: %w", route, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, i.URL+route, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("idp %s: %w", route, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := i.http.Do(req)
	if err != nil {
		return fmt.Errorf("idp %s: %w", route, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Error == "" {
		e.Error = "unexpected answer"
	}
	return &IdPControlError{Route: route, Status: resp.StatusCode, Message: e.Error}
}

// Approve approves the pending device code with this user code (dash and
// case do not matter) for account, as a login plus consent at the device
// page would: the next poll gets tokens with the requested scopes.
func (i *IdP) Approve(ctx context.Context, userCode, account string) error {
	return i.control(ctx, "/test/approve", map[string]string{"user_code": userCode, "account": account})
}

// Deny denies the pending device code: the next poll gets access_denied.
func (i *IdP) Deny(ctx context.Context, userCode string) error {
	return i.control(ctx, "/test/deny", map[string]string{"user_code": userCode})
}

// Revoke revokes every grant and refresh token of account: the next refresh
// gets invalid_grant. Access tokens already issued stay valid until they expire.
func (i *IdP) Revoke(ctx context.Context, account string) error {
	return i.control(ctx, "/test/revoke", map[string]string{"account": account})
}

// SetAccessTokenTTL sets the lifetime of access tokens issued from now on
// (whole seconds, >= 1 s).
func (i *IdP) SetAccessTokenTTL(ctx context.Context, d time.Duration) error {
	secs, err := ttlSeconds(d)
	if err != nil {
		return fmt.Errorf("idp /test/ttl: %w", err)
	}
	return i.control(ctx, "/test/ttl", map[string]int{"access_token_ttl": secs})
}

// Stop terminates the IdP (SIGTERM, then SIGKILL after 3 s).
func (i *IdP) Stop() error {
	if i == nil {
		return nil
	}
	return i.Proc.Stop(3 * time.Second)
}
