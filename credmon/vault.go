package credmon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vaultcred/gettoken/internal/jwtdecode"
	"github.com/vaultcred/gettoken/internal/vaulterr"
	"github.com/vaultcred/gettoken/vaultcred"
)

// VaultConfig configures the Vault provider.
type VaultConfig struct {
	// Minimum is CREDMON_OAUTH_TOKEN_MINIMUM: the least lifetime, in
	// seconds, an access token must have when Vault hands it out (sent as
	// minimum_seconds). Default 2400.
	Minimum time.Duration
	// Refresh is CREDMON_OAUTH_TOKEN_REFRESH when defined (0 otherwise):
	// the oldest a .use may get before it is refreshed.
	Refresh time.Duration
	// CAFile and CADir are AUTH_SSL_CLIENT_CAFILE and AUTH_SSL_CLIENT_CADIR
	// (blank = unset; the directory defaults to
	// /etc/grid-security/certificates).
	CAFile, CADir string
	// HTTPClient, when set, replaces the client built from the CA settings
	// (tests).
	HTTPClient *http.Client
	// Concurrency sizes the keep-alive connection pool per Vault host.
	Concurrency int
	// Log receives the provider's messages (prefixed "VAULT: ").
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Vault serves .top files written by condor_vault_storer: it reads the
// access token from the vault_url in the .top with the vault token in it
// (or in the parent service's .top, for a handle), as HTCondor's VaultCredmon.
//
// Differences from HTCondor's VaultCredmon, all deliberate:
//   - Any explicit or default https port is accepted (the original allows
//     only a literal ":8200"); the scheme must still be https and the path
//     must start with /v1.
//   - "permission denied" is confirmed with auth/token/lookup-self before
//     the credential is deleted: Vault answers 403 both for a dead token
//     and for a policy that does not allow the path (hashicorp/vault#2159),
//     and only the former must delete a user's credential.
//   - Connections are kept alive per Vault host and shared by the daemon's
//     concurrent refreshes; names are re-resolved every 5 minutes.
//   - The refresh time follows the access token's real expiry (see
//     NextRefresh) instead of the .use file's age alone.
type Vault struct {
	cfg VaultConfig
	hc  *http.Client
	log *slog.Logger
	now func() time.Time
}

// NewVault returns the Vault provider.
func NewVault(cfg VaultConfig) *Vault {
	if cfg.Minimum <= 0 {
		cfg.Minimum = 2400 * time.Second
	}
	if cfg.CADir == "" {
		cfg.CADir = vaultcred.GridCertDir
	}
	v := &Vault{cfg: cfg, hc: cfg.HTTPClient, log: cfg.Log, now: cfg.Now}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.hc == nil {
		v.hc = vaultcred.NewHTTPClient(vaultcred.HTTPClientConfig{
			TLS:                 vaultcred.TLSConfig{CAFile: cfg.CAFile, CAPath: cfg.CADir},
			Logf:                func(f string, a ...any) { v.log.Info("Vault client", "message", fmt.Sprintf(f, a...)) },
			ResolveTTL:          5 * time.Minute,
			MaxIdleConnsPerHost: max(cfg.Concurrency, 2),
		})
	}
	return v
}

// Kind implements Provider.
func (v *Vault) Kind() string { return "VAULT" }

type vaultTop struct {
	VaultToken *string `json:"vault_token"`
	VaultURL   *string `json:"vault_url"`
	Scopes     *string `json:"scopes"`
	Audience   *string `json:"audience"`
}

func parseTop(path string, b []byte) (vaultTop, error) {
	var t vaultTop
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("%w: the file at %s is invalid; could not parse as JSON: %s", ErrInvalid, path, jsonErrorText(err))
	}
	return t, nil
}

// Refresh implements Provider.
func (v *Vault) Refresh(ctx context.Context, c Cred, top []byte) (Refreshed, error) {
	t, err := parseTop(c.Top(), top)
	if err != nil {
		return Refreshed{}, err
	}
	token, err := v.vaultToken(c, t)
	if err != nil {
		return Refreshed{}, err
	}
	u, err := checkVaultURL(t.VaultURL, c.Top())
	if err != nil {
		return Refreshed{}, err
	}
	q := url.Values{"minimum_seconds": {fmt.Sprint(int64(v.cfg.Minimum / time.Second))}}
	if t.Scopes != nil {
		q.Set("scopes", *t.Scopes)
	}
	if t.Audience != nil {
		// The old creds API called it audience, the sts API audiences.
		if strings.Contains(u.Path, "/creds/") {
			q.Set("audience", *t.Audience)
		} else {
			q.Set("audiences", *t.Audience)
		}
	}
	u.RawQuery = q.Encode()
	status, body, err := v.get(ctx, u.String(), token)
	if err != nil {
		return Refreshed{}, fmt.Errorf("read from %s failed: %w", redactQuery(u), err)
	}
	if status != http.StatusOK {
		v.debugBody(u, status, body)
		msg := vaultErrorText(status, body)
		if strings.Contains(msg, "permission denied") {
			return Refreshed{}, v.confirmDenied(ctx, u, token, msg)
		}
		return Refreshed{}, fmt.Errorf("read from %s failed: %s", redactQuery(u), msg)
	}
	var doc struct {
		Data struct {
			AccessToken string `json:"access_token"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return Refreshed{}, fmt.Errorf("could not parse json response from %s: %v", redactQuery(u), err)
	}
	if doc.Data.AccessToken == "" {
		return Refreshed{}, fmt.Errorf("access_token missing in read from %s", redactQuery(u))
	}
	return Refreshed{Use: []byte(doc.Data.AccessToken + "\n")}, nil
}

// vaultToken is the .top's vault_token, or, for a handle without one, the
// parent service's (the name up to the last "_").
func (v *Vault) vaultToken(c Cred, t vaultTop) (string, error) {
	if t.VaultToken != nil && *t.VaultToken != "" {
		return *t.VaultToken, nil
	}
	i := strings.LastIndexByte(c.Name, '_')
	if i <= 0 {
		return "", fmt.Errorf("%w: vault_token missing from %s", ErrInvalid, c.Top())
	}
	parent := Cred{Root: c.Root, User: c.User, Name: c.Name[:i]}
	dir, done, err := c.OpenDir()
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", c.DirPath(), err)
	}
	defer done()
	// The same rules as for every .top (owned by root or the daemon).
	b, _, err := readAt(dir, parent.Name+".top", false)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w: parent %s not available", ErrDelete, parent.Top())
		}
		return "", fmt.Errorf("parent %s: %w", parent.Top(), err)
	}
	pt, err := parseTop(parent.Top(), b)
	if err != nil {
		return "", err
	}
	if pt.VaultToken == nil || *pt.VaultToken == "" {
		return "", fmt.Errorf("%w: vault_token missing from %s and %s", ErrInvalid, c.Top(), parent.Top())
	}
	return *pt.VaultToken, nil
}

func checkVaultURL(p *string, top string) (*url.URL, error) {
	if p == nil || *p == "" {
		return nil, fmt.Errorf("%w: vault_url missing from %s", ErrInvalid, top)
	}
	raw := *p
	if !strings.HasPrefix(raw, "https://") {
		return nil, fmt.Errorf("%w: vault_url in %s does not begin with https://", ErrInvalid, top)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%w: bad url in %s", ErrInvalid, top)
	}
	if !strings.HasPrefix(u.Path, "/v1/") {
		return nil, fmt.Errorf("%w: bad url: %s; only paths starting /v1 are allowed", ErrInvalid, redactQuery(u))
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// redactQuery prints a URL without its query (which never holds a token,
// but keeps log lines short and stable).
func redactQuery(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	return c.String()
}

func (v *Vault) get(ctx context.Context, u, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Vault-Token", token)
	resp, err := v.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the caller's message
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// maxRemoteText is the most of a server's error text that reaches the
// log at the default level.
const maxRemoteText = 200

// vaultErrorText is the original's message, read by the project's one
// Vault error parser (internal/vaulterr): the reason phrase and the
// entries of Vault's "errors" array, e.g. "Forbidden: permission denied",
// shortened to maxRemoteText characters with control characters removed.
// Any other body is not put in the message: the vault_url comes from a
// user's file and may name any server, and the log is read by the
// administrators (the provider logs such a body at debug level only).
func vaultErrorText(status int, body []byte) string {
	e := vaulterr.FromResponse(status, body)
	msg := e.Reason() + ":"
	if len(e.Errors) > 0 {
		// Vault's multi-error texts ("1 error occurred:\n\t* permission
		// denied\n\n") are folded onto one line.
		return msg + " " + shorten(strings.Join(strings.Fields(e.Detail()), " "), maxRemoteText)
	}
	return msg
}

// debugBody logs a Vault error response that vaultErrorText left out.
func (v *Vault) debugBody(u *url.URL, status int, body []byte) {
	if b := bytes.TrimSpace(body); len(b) > 0 && !json.Valid(b) {
		v.log.Debug("Vault's error response is not JSON", "url", redactQuery(u), "status", status, "body", shorten(string(b), maxRemoteText))
	}
}

// confirmDenied decides what a "permission denied" means: when the token
// itself is dead (lookup-self is denied too) the credential must go;
// otherwise a policy refused the path and the credential is kept.
func (v *Vault) confirmDenied(ctx context.Context, u *url.URL, token, msg string) error {
	lu := *u
	lu.Path, lu.RawQuery = "/v1/auth/token/lookup-self", ""
	status, body, err := v.get(ctx, lu.String(), token)
	switch {
	case err != nil:
		return fmt.Errorf("read from %s failed: %s (and lookup-self could not confirm it: %v); keeping the credential", redactQuery(u), msg, err)
	case status == http.StatusForbidden || status == http.StatusUnauthorized:
		return fmt.Errorf("%w: read from %s failed: %s, and the vault token is no longer valid", ErrDelete, redactQuery(u), msg)
	case status == http.StatusOK:
		return fmt.Errorf("read from %s failed: %s, but the vault token is valid: a policy denies the path; keeping the credential", redactQuery(u), msg)
	default:
		return fmt.Errorf("read from %s failed: %s (lookup-self: %s); keeping the credential", redactQuery(u), msg, vaultErrorText(status, body))
	}
}

// NextRefresh implements Provider. With the default knobs a token is
// refreshed when it has less than MINIMUM-REFRESH (1200 s) left, read from
// the JWT's exp; CREDMON_OAUTH_TOKEN_REFRESH, when defined, is also the
// oldest a .use may get (the original's only rule). Tokens that are not
// JWTs are refreshed REFRESH (default MINIMUM/2) after they were written.
// Never sooner than a minute after the write (unless REFRESH is shorter),
// so an IdP that issues short tokens cannot make the daemon spin.
func (v *Vault) NextRefresh(c Cred, use []byte, written time.Time) time.Time {
	r := v.cfg.Refresh
	explicit := r > 0
	if !explicit {
		r = v.cfg.Minimum / 2
	}
	floor := written.Add(min(time.Minute, r))
	exp, ok := jwtdecode.Expiry(string(use))
	if !ok {
		return maxTime(written.Add(r), floor)
	}
	due := exp.Add(-(v.cfg.Minimum - r))
	if explicit && written.Add(r).Before(due) {
		due = written.Add(r)
	}
	return maxTime(due, floor)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// jsonErrorText describes a JSON decoding error without quoting the
// document: Go's syntax errors quote the offending character, and these
// documents hold tokens.
func jsonErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	return "not a JSON object"
}
