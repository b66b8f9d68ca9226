package credmon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// defaultDiscoveryTTL is how long a discovered token endpoint is used
// before the issuer's metadata is fetched again (the original's
// CLIENT_CREDMON_TOKEN_ENDPOINT_LIFETIME default, 3600 s, to which up to a
// minute of jitter is added).
const defaultDiscoveryTTL = time.Hour

// ClientConfig configures the client-credentials provider. Use
// ClientConfigFromKnobs to fill it from HTCondor's configuration.
type ClientConfig struct {
	// Provider is the provider (service) name.
	Provider string
	// ClientID is the OAuth client id. Required.
	ClientID string
	// ClientSecretFile holds the client secret (white space trimmed),
	// re-read at every refresh. Required.
	ClientSecretFile string
	// TokenURL is the token endpoint. When empty it is discovered from
	// Issuer's /.well-known/openid-configuration ("token_endpoint").
	TokenURL string
	// Issuer is used for the discovery only.
	Issuer string
	// DiscoveryTTL is how long a discovered endpoint is kept (default
	// defaultDiscoveryTTL, plus up to a minute of jitter). When a later
	// discovery fails, the old endpoint is used.
	DiscoveryTTL time.Duration
	// Audience is sent as the "audience" parameter, space-separated.
	Audience []string
	// Version "wlcg" or "wlcg:1.0" adds the scope "wlcg".
	Version string
	// Lifetime is the expires_in assumed when the token endpoint sends
	// none (default 1200 s).
	Lifetime time.Duration
	// BareToken writes the bare token and a newline as the .use instead of
	// {"access_token": ..., "expires_in": ...}.
	BareToken bool
	// Scopes derive the requested scopes, to which "condor.user:<user>"
	// (the user name percent-encoded) is always added.
	Scopes ScopePolicy
	// AuthStyle is how the client id and secret are sent; the zero value
	// means oauth2.AuthStyleInParams (form fields client_id and
	// client_secret, as the original).
	AuthStyle oauth2.AuthStyle
	// HTTPClient sends the requests; nil means a default client.
	HTTPClient *http.Client
	// Timeout bounds each token request and each discovery (default
	// defaultTokenEndpointTimeout), within the context's deadline.
	Timeout time.Duration
	// Log receives the provider's messages.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ClientConfigFromKnobs reads the configuration of the client-credentials
// provider named provider; lookup is as for LocalConfigFromKnobs
// (case-insensitive). Each setting X is read from
// CLIENT_CREDMON_<provider>_X, else CLIENT_CREDMON_X (the original's
// knobs, with its defaults); CLIENT_ID, CLIENT_SECRET_FILE and TOKEN_URL
// are also read from <provider>_X between those two (the OAuth
// provider's spelling). Settings: CLIENT_ID, CLIENT_SECRET_FILE (both
// required), TOKEN_URL, ISSUER (for discovery, default
// https://$(FULL_HOSTNAME)), TOKEN_ENDPOINT_LIFETIME (3600),
// TOKEN_AUDIENCE, TOKEN_VERSION (scitoken:2.0), TOKEN_LIFETIME (1200),
// TOKEN_USE_JSON (true), AUTHZ_TEMPLATE (read:/user/{username}
// write:/user/{username}), AUTHZ_GROUP_TEMPLATE, AUTHZ_GROUP_MAPFILE,
// AUTHZ_GROUP_REQUIREMENT.
func ClientConfigFromKnobs(provider string, lookup func(string) (string, bool)) (ClientConfig, error) {
	lc, err := issuerKnobs("CLIENT_CREDMON", provider, lookup)
	if err != nil {
		return ClientConfig{}, err
	}
	k := knobReader{prefix: "CLIENT_CREDMON", provider: provider, lookup: lookup}
	three := func(x string) string {
		v, _ := k.get("CLIENT_CREDMON_"+provider+"_"+x, provider+"_"+x, "CLIENT_CREDMON_"+x)
		return v
	}
	cfg := ClientConfig{
		Provider:         provider,
		ClientID:         three("CLIENT_ID"),
		ClientSecretFile: three("CLIENT_SECRET_FILE"),
		TokenURL:         three("TOKEN_URL"),
		Issuer:           lc.Issuer,
		Audience:         lc.Audience,
		Version:          lc.Version,
		Lifetime:         lc.Lifetime,
		BareToken:        lc.BareToken,
		Scopes:           lc.Scopes,
	}
	if cfg.DiscoveryTTL, err = k.seconds("TOKEN_ENDPOINT_LIFETIME", defaultDiscoveryTTL); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// ClientProvider gets access tokens with the OAuth client-credentials
// grant (HTCondor's ClientCredmon, kind "CLIENT", for the names in
// CLIENT_CREDMON_PROVIDER_NAMES). The .top (written by the credd, holding
// the user name) is not read: scopes and audience come from the
// configuration only, since the client's credentials are the access
// point's, not the user's. The .use is {"access_token": ...,
// "expires_in": ...} or the bare token.
//
// The original is broken in HTCondor 25.x (it appends to a string, and
// then decodes a str) and never produced a token. Besides working, this
// one differs deliberately in that it sends the requested scopes in the
// standard "scope" parameter (the original used "scopes", which token
// endpoints ignore), uses the expires_in of the response (the original
// dropped it) and re-reads the secret file at every refresh.
type ClientProvider struct {
	cfg ClientConfig
	log *slog.Logger
	now func() time.Time
	hc  *http.Client

	mu         sync.Mutex
	discovered string
	validUntil time.Time
}

// NewClientProvider checks the configuration (client id, a readable
// non-empty secret file, an https token URL or issuer, the templates).
func NewClientProvider(cfg ClientConfig) (*ClientProvider, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTokenEndpointTimeout
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = DefaultTokenLifetime
	}
	if cfg.DiscoveryTTL <= 0 {
		cfg.DiscoveryTTL = defaultDiscoveryTTL
	}
	if cfg.AuthStyle == oauth2.AuthStyleAutoDetect {
		cfg.AuthStyle = oauth2.AuthStyleInParams
	}
	name := "CLIENT_CREDMON_" + cfg.Provider
	if cfg.ClientID == "" {
		return nil, fmt.Errorf("client credentials %s: %s_CLIENT_ID must be set", cfg.Provider, name)
	}
	if cfg.ClientSecretFile == "" {
		return nil, fmt.Errorf("client credentials %s: %s_CLIENT_SECRET_FILE must be set", cfg.Provider, name)
	}
	if _, err := readSecretFile(cfg.ClientSecretFile); err != nil {
		return nil, fmt.Errorf("client credentials %s: %w", cfg.Provider, err)
	}
	if cfg.TokenURL != "" {
		if _, err := checkTokenURL(cfg.TokenURL); err != nil {
			return nil, fmt.Errorf("client credentials %s: %w", cfg.Provider, err)
		}
	} else if u, err := url.Parse(cfg.Issuer); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client credentials %s: no %s_TOKEN_URL and the issuer is not an https URL", cfg.Provider, name)
	}
	if err := cfg.Scopes.check(); err != nil {
		return nil, fmt.Errorf("client credentials %s: %w", cfg.Provider, err)
	}
	p := &ClientProvider{cfg: cfg, log: cfg.Log, now: cfg.Now, hc: cfg.HTTPClient}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.hc == nil {
		p.hc = &http.Client{Timeout: cfg.Timeout}
	}
	if p.hc.CheckRedirect == nil {
		// No redirects: a 307/308 would resend the client secret in the
		// form body to wherever it points.
		c := *p.hc
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		p.hc = &c
	}
	return p, nil
}

// Kind implements Provider.
func (p *ClientProvider) Kind() string { return "CLIENT" }

// RequestScopes are the scopes requested for user: the ScopePolicy's,
// "wlcg" for a WLCG version, and "condor.user:<user>" with the user name
// percent-encoded as Python's urllib.parse.quote does.
func (p *ClientProvider) RequestScopes(user string) ([]string, error) {
	scopes, err := p.cfg.Scopes.Scopes(user)
	if err != nil {
		return nil, err
	}
	if v := p.cfg.Version; v == "wlcg" || v == "wlcg:1.0" {
		scopes = append(scopes, "wlcg")
	}
	return append(scopes, "condor.user:"+pythonQuote(user)), nil
}

// Refresh implements Provider: one client-credentials grant.
func (p *ClientProvider) Refresh(ctx context.Context, c Cred, top []byte) (Refreshed, error) {
	scopes, err := p.RequestScopes(c.User)
	if err != nil {
		return Refreshed{}, fmt.Errorf("CLIENT %s: %w", c.Key(), err)
	}
	secret, err := readSecretFile(p.cfg.ClientSecretFile)
	if err != nil {
		return Refreshed{}, fmt.Errorf("CLIENT %s: %w", c.Key(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	endpoint, err := p.tokenEndpoint(ctx)
	if err != nil {
		return Refreshed{}, fmt.Errorf("CLIENT %s: %w", c.Key(), err)
	}
	cc := &clientcredentials.Config{
		ClientID:     p.cfg.ClientID,
		ClientSecret: secret,
		TokenURL:     endpoint,
		Scopes:       scopes,
		AuthStyle:    p.cfg.AuthStyle,
	}
	if len(p.cfg.Audience) > 0 {
		cc.EndpointParams = url.Values{"audience": {strings.Join(p.cfg.Audience, " ")}}
	}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, p.hc))
	if err != nil {
		return Refreshed{}, fmt.Errorf("CLIENT %s: requesting a token: %w", c.Key(), tokenEndpointErr(ctx, "CLIENT", endpoint, err, secret))
	}
	life := tokenLifetime(tok)
	if life <= 0 {
		life = p.cfg.Lifetime
		p.log.Warn("the token endpoint did not say when the access token expires; assuming the configured lifetime",
			"cred", c.Key(), "lifetime", life)
	}
	use, err := formatIssuedUse(tok.AccessToken, life, p.cfg.BareToken)
	if err != nil {
		return Refreshed{}, err
	}
	return Refreshed{Use: use}, nil
}

// tokenLifetime is the expires_in of a token response (x/oauth2's
// client-credentials source keeps it only in the raw response).
func tokenLifetime(tok *oauth2.Token) time.Duration {
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		return secondsDuration(v)
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return secondsDuration(f)
		}
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			return secondsDuration(f)
		}
	}
	return secondsDuration(float64(tok.ExpiresIn))
}

// NextRefresh implements Provider: half-way through the token's life
// (from its iat and exp when it is a JWT, else from expires_in after
// written, else the configured lifetime for a bare opaque token).
func (p *ClientProvider) NextRefresh(c Cred, use []byte, written time.Time) time.Time {
	return issuedNextRefresh(use, written, p.cfg.Lifetime)
}

// tokenEndpoint returns TokenURL or the discovered endpoint.
func (p *ClientProvider) tokenEndpoint(ctx context.Context) (string, error) {
	if p.cfg.TokenURL != "" {
		return p.cfg.TokenURL, nil
	}
	p.mu.Lock()
	cached, fresh := p.discovered, p.now().Before(p.validUntil)
	p.mu.Unlock()
	if cached != "" && fresh {
		return cached, nil
	}
	ep, err := p.discover(ctx)
	if err != nil {
		if cached != "" {
			p.log.Warn("OIDC discovery failed; using the token endpoint found before", "issuer", p.cfg.Issuer, "error", err)
			return cached, nil
		}
		return "", err
	}
	jitter := time.Duration(rand.Int64N(int64(time.Minute)))
	p.mu.Lock()
	p.discovered, p.validUntil = ep, p.now().Add(p.cfg.DiscoveryTTL+jitter)
	p.mu.Unlock()
	if ep != cached {
		p.log.Info("resolved the token endpoint", "issuer", p.cfg.Issuer, "token_endpoint", ep)
	}
	return ep, nil
}

// DiscoveryError reports a failed OIDC metadata discovery.
type DiscoveryError struct {
	// Issuer is the issuer asked.
	Issuer string
	// Reason says what went wrong.
	Reason string
	// Err is the cause, if any.
	Err error
}

// Error describes the failure.
func (e *DiscoveryError) Error() string {
	msg := "OIDC metadata discovery at " + e.Issuer + ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *DiscoveryError) Unwrap() error { return e.Err }

// discover fetches <issuer>/.well-known/openid-configuration.
func (p *ClientProvider) discover(ctx context.Context) (string, error) {
	iss := strings.TrimRight(p.cfg.Issuer, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, iss+"/.well-known/openid-configuration", nil)
	if err != nil {
		return "", &DiscoveryError{Issuer: iss, Reason: "bad URL", Err: err}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return "", &DiscoveryError{Issuer: iss, Reason: "request failed", Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", &DiscoveryError{Issuer: iss, Reason: fmt.Sprintf("HTTP status %d", resp.StatusCode)}
	}
	var meta struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxTokenResponse)).Decode(&meta); err != nil {
		return "", &DiscoveryError{Issuer: iss, Reason: "response is not JSON", Err: err}
	}
	if meta.TokenEndpoint == "" {
		return "", &DiscoveryError{Issuer: iss, Reason: "response lacks token_endpoint"}
	}
	if _, err := checkTokenURL(meta.TokenEndpoint); err != nil {
		return "", &DiscoveryError{Issuer: iss, Reason: "token_endpoint is not an absolute https URL"}
	}
	return meta.TokenEndpoint, nil
}

// pythonQuote percent-encodes s as Python's urllib.parse.quote(s): ASCII
// letters, digits, "_.-~" and "/" are kept.
func pythonQuote(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_.-~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}
