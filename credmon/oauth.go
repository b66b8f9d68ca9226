package credmon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/vaultcred/gettoken/internal/tokenresp"
)

// defaultTokenEndpointTimeout bounds one request to a token endpoint when
// the configuration does not say.
const defaultTokenEndpointTimeout = 30 * time.Second

// maxTokenResponse is the most of a token endpoint's response that is read.
const maxTokenResponse = 1 << 20

// oauthNever is NextRefresh's answer for a credential that must never be
// refreshed (use_refresh_token false).
var oauthNever = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// TokenEndpointError is a refusal from an OAuth token endpoint: an HTTP
// status outside 2xx or an RFC 6749 error code. Its message carries the
// status, the error code and a shortened error description, never the
// response body, a token or a secret. It matches ErrInvalid when the code
// is "invalid_grant" (the refresh token is dead: retried only when the
// .top changes).
type TokenEndpointError struct {
	// Kind is the provider kind ("OAUTH" or "CLIENT").
	Kind string
	// URL is the token endpoint, without query or fragment.
	URL string
	// StatusCode is the HTTP status (0 if unknown).
	StatusCode int
	// Code is the RFC 6749 "error" parameter, if any.
	Code string
	// Description is the "error_description", shortened and with any
	// secret the request carried removed.
	Description string
}

// Error describes the refusal in one line.
func (e *TokenEndpointError) Error() string {
	msg := fmt.Sprintf("token endpoint %s", e.URL)
	if e.StatusCode != 0 {
		msg += fmt.Sprintf(" answered HTTP %d", e.StatusCode)
	}
	if e.Code != "" {
		msg += " " + strconv.Quote(e.Code)
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// Unwrap returns ErrInvalid for invalid_grant.
func (e *TokenEndpointError) Unwrap() error {
	if e.Code == "invalid_grant" {
		return ErrInvalid
	}
	return nil
}

// OAuthConfig configures the OAuth refresh-token provider.
type OAuthConfig struct {
	// Lookup returns an HTCondor knob's value and whether it is defined,
	// matching names case-insensitively as HTCondor does. It is used for <PROVIDER>_CLIENT_ID, <PROVIDER>_CLIENT_SECRET_FILE
	// and <PROVIDER>_TOKEN_URL when the .meta lacks those fields. nil: no
	// knobs.
	// The lookup is bounded by ctx, the refresh's own.
	Lookup func(ctx context.Context, name string) (string, bool)
	// Peek is Lookup without asking HTCondor: only values already known.
	// NextRefresh, which runs on the daemon's own goroutine, uses it, so
	// that no condor_config_val run ever stalls the daemon. nil: no knobs
	// in NextRefresh.
	Peek func(name string) (string, bool)
	// HTTPClient sends the token requests; nil means a client with the
	// system's CAs and no proxy settings beyond the environment's.
	HTTPClient *http.Client
	// Timeout bounds each refresh (default defaultTokenEndpointTimeout),
	// within the context's own deadline.
	Timeout time.Duration
	// AuthStyle is how the client id and secret are sent; the zero value
	// (oauth2.AuthStyleAutoDetect) means oauth2.AuthStyleInParams, what
	// the original (requests-oauthlib) does.
	AuthStyle oauth2.AuthStyle
	// FallbackLifetime is assumed for a .use without expires_in whose
	// access token is not a JWT with exp (default 10 minutes).
	FallbackLifetime time.Duration
	// Log receives the provider's messages.
	Log *slog.Logger
}

// OAuthProvider refreshes OAuth access tokens with the refresh tokens the
// OAuth credmon web application stored (HTCondor's OAuthCredmon, kind
// "OAUTH").
//
// The .top is JSON {"refresh_token": ..., ["scopes": ..., "audience":
// ...]}; the .meta is JSON with client_id, client_secret, token_url and
// use_refresh_token. Client id, secret and token URL come from the .meta;
// a field the .meta lacks (or a missing .meta) is taken from the knobs
// <NAME>_CLIENT_ID, <NAME>_CLIENT_SECRET_FILE (a file holding the secret)
// and <NAME>_TOKEN_URL, where NAME is the credential's name and then, for
// a name with a handle, the part before the first "_". The .use is the
// token endpoint's response without refresh_token; a rotated refresh
// token is written back into the .top, keeping its other fields.
//
// Differences from the original, deliberate:
//   - A response without a refresh token keeps the old one (the original
//     failed the refresh).
//   - invalid_grant returns an error matching ErrInvalid: the credential
//     is kept (never deleted, as in the original) but not retried until
//     its .top changes.
//   - The .top's scopes and audience are kept but not sent, as in the
//     original; the box.com factor is chosen by the token URL's host
//     (https and a host ending in .box.com).
//   - The token URL must be https (requests-oauthlib refuses http too).
type OAuthProvider struct {
	cfg OAuthConfig
	log *slog.Logger
}

// NewOAuthProvider returns the OAuth provider.
func NewOAuthProvider(cfg OAuthConfig) *OAuthProvider {
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTokenEndpointTimeout
	}
	if cfg.FallbackLifetime <= 0 {
		cfg.FallbackLifetime = 10 * time.Minute
	}
	if cfg.AuthStyle == oauth2.AuthStyleAutoDetect {
		cfg.AuthStyle = oauth2.AuthStyleInParams
	}
	p := &OAuthProvider{cfg: cfg, log: cfg.Log}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p
}

// Kind implements Provider.
func (p *OAuthProvider) Kind() string { return "OAUTH" }

// oauthMeta is the .meta file.
type oauthMeta struct {
	ClientID        string `json:"client_id"`
	ClientSecret    string `json:"client_secret"`
	TokenURL        string `json:"token_url"`
	UseRefreshToken *bool  `json:"use_refresh_token"`
}

// readOAuthMeta reads c's .meta through c's directory handle, with the
// rules of every .top (no symlink, regular file, so never a FIFO, owned
// by root or the daemon, at most MaxFileSize); a missing file is an empty
// meta. A file those rules refuse is ErrInvalid.
func readOAuthMeta(c Cred) (oauthMeta, bool, error) {
	var m oauthMeta
	dir, done, err := c.OpenDir()
	if err != nil {
		return m, false, fmt.Errorf("opening %s: %w", c.DirPath(), err)
	}
	defer done()
	b, _, err := readAt(dir, c.Name+".meta", false)
	if errors.Is(err, fs.ErrNotExist) {
		return m, false, nil
	}
	var bad *BadFileError
	if errors.As(err, &bad) {
		return m, false, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err != nil {
		return m, false, fmt.Errorf("reading %s: %w", c.Meta(), err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, true, fmt.Errorf("%w: the metadata file at %s is invalid; could not parse as JSON: %s", ErrInvalid, c.Meta(), jsonErrorText(err))
	}
	return m, true, nil
}

// oauthKnobNames are the knob prefixes for c: its name, then the part
// before the first "_".
func oauthKnobNames(c Cred) []string {
	names := []string{c.Name}
	if i := strings.IndexByte(c.Name, '_'); i > 0 {
		names = append(names, c.Name[:i])
	}
	return names
}

// knob returns <NAME>_<x> for the first of c's names that defines it.
func (p *OAuthProvider) knob(ctx context.Context, c Cred, x string) string {
	if p.cfg.Lookup == nil {
		return ""
	}
	return p.knobWith(func(n string) (string, bool) { return p.cfg.Lookup(ctx, n) }, c, x)
}

// peek is knob with only the values known already (see OAuthConfig.Peek).
func (p *OAuthProvider) peek(c Cred, x string) string {
	if p.cfg.Peek == nil {
		return ""
	}
	return p.knobWith(p.cfg.Peek, c, x)
}

func (p *OAuthProvider) knobWith(lookup func(string) (string, bool), c Cred, x string) string {
	k := knobReader{lookup: lookup}
	for _, n := range oauthKnobNames(c) {
		if v, ok := k.get(n + "_" + x); ok {
			return v
		}
	}
	return ""
}

// endpoint resolves the client id, secret and token URL of c. The site's
// secret (<NAME>_CLIENT_SECRET_FILE) is only ever sent to the site's
// token URL (<NAME>_TOKEN_URL): a .meta, which others than root can
// write, that names another token_url must bring its own client_secret.
func (p *OAuthProvider) endpoint(ctx context.Context, c Cred) (oauthMeta, error) {
	m, _, err := readOAuthMeta(c)
	if err != nil {
		return m, err
	}
	if m.ClientID == "" {
		m.ClientID = p.knob(ctx, c, "CLIENT_ID")
	}
	confURL := p.knob(ctx, c, "TOKEN_URL")
	metaURL := m.TokenURL != ""
	if !metaURL {
		m.TokenURL = confURL
	}
	if m.ClientSecret == "" {
		if f := p.knob(ctx, c, "CLIENT_SECRET_FILE"); f != "" {
			if metaURL && !sameURL(m.TokenURL, confURL) {
				return m, fmt.Errorf("%w: %s names a token_url but no client_secret, and the configured %s_CLIENT_SECRET_FILE is only sent to %s_TOKEN_URL",
					ErrInvalid, c.Meta(), strings.ToUpper(oauthKnobNames(c)[0]), strings.ToUpper(oauthKnobNames(c)[0]))
			}
			s, err := readSecretFile(f)
			if err != nil {
				return m, err
			}
			m.ClientSecret = s
		}
	}
	if m.ClientID == "" {
		return m, fmt.Errorf("%w: no client_id in %s and no %s_CLIENT_ID", ErrInvalid, c.Meta(), oauthKnobNames(c)[0])
	}
	if m.TokenURL == "" {
		return m, fmt.Errorf("%w: no token_url in %s and no %s_TOKEN_URL", ErrInvalid, c.Meta(), oauthKnobNames(c)[0])
	}
	if _, err := checkTokenURL(m.TokenURL); err != nil {
		return m, err
	}
	return m, nil
}

// sameURL reports whether a and b name the same endpoint (scheme and host
// compared case-insensitively, the rest exactly).
func sameURL(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil || a == "" || b == "" {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host) &&
		ua.Path == ub.Path && ua.RawQuery == ub.RawQuery && ua.User == nil && ub.User == nil
}

// readSecretFile reads a client secret file (white space trimmed).
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the client secret file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("the client secret file %s is empty", path)
	}
	return s, nil
}

// checkTokenURL accepts an absolute https URL.
func checkTokenURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: the token URL is not a URL", ErrInvalid)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%w: the token URL %s is not an absolute https URL", ErrInvalid, tokenresp.RedactURL(u))
	}
	return u, nil
}

// oauthTop is the .top of an OAuth credential.
type oauthTop map[string]json.RawMessage

// parseOAuthTop decodes the .top and returns its refresh token.
func parseOAuthTop(c Cred, top []byte) (oauthTop, string, error) {
	var t oauthTop
	if err := json.Unmarshal(top, &t); err != nil || t == nil {
		return nil, "", fmt.Errorf("%w: the refresh token file %s is invalid; could not parse as a JSON object", ErrInvalid, c.Top())
	}
	var rt string
	if raw, ok := t["refresh_token"]; !ok || json.Unmarshal(raw, &rt) != nil || rt == "" {
		return nil, "", fmt.Errorf("%w: the refresh token file %s has no refresh_token string", ErrInvalid, c.Top())
	}
	return t, rt, nil
}

// Refresh implements Provider: the refresh-token grant at the token URL.
func (p *OAuthProvider) Refresh(ctx context.Context, c Cred, top []byte) (Refreshed, error) {
	t, rt, err := parseOAuthTop(c, top)
	if err != nil {
		return Refreshed{}, err
	}
	m, err := p.endpoint(ctx, c)
	if err != nil {
		return Refreshed{}, fmt.Errorf("OAUTH %s: %w", c.Key(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	capt := tokenresp.New(p.cfg.HTTPClient)
	ctx = context.WithValue(ctx, oauth2.HTTPClient, capt.Client())
	conf := &oauth2.Config{
		ClientID:     m.ClientID,
		ClientSecret: m.ClientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: m.TokenURL, AuthStyle: p.cfg.AuthStyle},
	}
	tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	if err != nil {
		err = tokenEndpointErr(ctx, "OAUTH", m.TokenURL, err, rt, m.ClientSecret)
		if errors.Is(err, ErrInvalid) {
			p.log.Warn("the token endpoint rejected the refresh token; keeping the credential until its .top changes",
				"cred", c.Key(), "error", err)
		}
		return Refreshed{}, fmt.Errorf("OAUTH %s: refreshing the access token: %w", c.Key(), err)
	}
	body := capturedBody(capt)
	if body == nil {
		body = map[string]any{"access_token": tok.AccessToken, "token_type": tok.TokenType}
		if tok.ExpiresIn > 0 {
			body["expires_in"] = tok.ExpiresIn
		}
	}
	delete(body, "refresh_token")
	use, err := json.Marshal(body)
	if err != nil {
		return Refreshed{}, fmt.Errorf("OAUTH %s: encoding the .use: %w", c.Key(), err)
	}
	out := Refreshed{Use: use}
	if tok.RefreshToken != "" && tok.RefreshToken != rt {
		raw, err := json.Marshal(tok.RefreshToken)
		if err != nil {
			return Refreshed{}, fmt.Errorf("OAUTH %s: encoding the .top: %w", c.Key(), err)
		}
		t["refresh_token"] = raw
		if out.Top, err = json.Marshal(t); err != nil {
			return Refreshed{}, fmt.Errorf("OAUTH %s: encoding the .top: %w", c.Key(), err)
		}
		p.log.Info("the token endpoint rotated the refresh token", "cred", c.Key())
	}
	return out, nil
}

// NextRefresh implements Provider: written + expires_in * f, f = 0.95 for
// a box.com token URL and 0.5 otherwise (as HTCondor's OAuth credmon); never when the
// .meta says "use_refresh_token": false; at once (written) for a .use
// that is not JSON. Without expires_in, the access token's exp is used
// if it is a JWT, else FallbackLifetime. Never sooner than a minute after
// written unless the token lives less than that.
func (p *OAuthProvider) NextRefresh(c Cred, use []byte, written time.Time) time.Time {
	var u map[string]json.RawMessage
	if json.Unmarshal(use, &u) != nil || u == nil {
		return written
	}
	m, _, err := readOAuthMeta(c)
	if err == nil && m.UseRefreshToken != nil && !*m.UseRefreshToken {
		return oauthNever
	}
	tokenURL := m.TokenURL
	if tokenURL == "" {
		tokenURL = p.peek(c, "TOKEN_URL")
	}
	f := 0.5
	if isBoxTokenURL(tokenURL) {
		f = 0.95
	}
	var life time.Duration
	if s, ok := numberField(u["expires_in"]); ok && s > 0 {
		life = secondsDuration(s)
	} else {
		var at string
		_ = json.Unmarshal(u["access_token"], &at)
		if exp, ok := tokenExp(at); ok && exp.After(written) {
			life = exp.Sub(written)
		} else {
			life = p.cfg.FallbackLifetime
		}
	}
	d := time.Duration(float64(life) * f)
	return written.Add(max(d, min(time.Minute, life)))
}

// maxLifetime caps a token lifetime read from a response: any larger
// expires_in (1e10 s, say) means "practically never expires", and must
// not overflow a time.Duration into a negative value (which would make
// the daemon refresh every minute).
const maxLifetime = 100 * 365 * 24 * time.Hour

// secondsDuration converts a number of seconds from a token response to a
// duration, capped at maxLifetime (and 0 for what is not positive).
func secondsDuration(s float64) time.Duration {
	switch {
	case !(s > 0): // also NaN
		return 0
	case s >= maxLifetime.Seconds():
		return maxLifetime
	}
	return time.Duration(s * float64(time.Second))
}

// numberField reads a JSON number or a string holding one.
func numberField(raw json.RawMessage) (float64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		f, err := n.Float64()
		return f, err == nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		return f, err == nil
	}
	return 0, false
}

// isBoxTokenURL reports an https URL on a box.com host, where the
// original refreshes at 95% of the lifetime.
func isBoxTokenURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" {
		return false
	}
	return strings.HasSuffix(strings.ToLower(u.Hostname()), ".box.com")
}

// tokenEndpointErr turns an error of x/oauth2 into one that is safe to
// log: a *TokenEndpointError for a refusal (the library's own message
// carries the response body), other errors with every secret removed.
// When ctx ran out first, the error matches ctx's error whatever the
// transport made of the hang-up (a half-read or empty answer).
func tokenEndpointErr(ctx context.Context, kind, tokenURL string, err error, secrets ...string) error {
	shown := tokenURL
	if u, perr := url.Parse(tokenURL); perr == nil {
		shown = tokenresp.RedactURL(u)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		e := &TokenEndpointError{Kind: kind, URL: shown, Code: tokenresp.Shorten(tokenresp.Scrub(re.ErrorCode, secrets...), 64),
			Description: tokenresp.Shorten(tokenresp.Scrub(re.ErrorDescription, secrets...), 200)}
		if re.Response != nil {
			e.StatusCode = re.Response.StatusCode
		}
		return e
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	msg := err.Error()
	if clean := tokenresp.Scrub(msg, secrets...); clean != msg {
		return &scrubbedError{msg: clean, err: err}
	}
	return err
}

// scrubbedError is an error whose message had a secret removed; it still
// matches its cause (context.DeadlineExceeded, ...).
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// capturedBody returns the captured response as a JSON object (a
// form-encoded response is converted, expires_in to a number), or nil.
func capturedBody(c *tokenresp.Capture) map[string]any {
	data, ctype := c.Body()
	if data == nil {
		return nil
	}
	if strings.HasPrefix(ctype, "application/x-www-form-urlencoded") || strings.HasPrefix(ctype, "text/plain") {
		vals, err := url.ParseQuery(string(data))
		if err != nil {
			return nil
		}
		out := make(map[string]any, len(vals))
		for k := range vals {
			out[k] = vals.Get(k)
		}
		if n, err := strconv.ParseInt(vals.Get("expires_in"), 10, 64); err == nil {
			out["expires_in"] = n
		}
		return out
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out map[string]any
	if dec.Decode(&out) != nil {
		return nil
	}
	return out
}
