package credmon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/vaultcred/gettoken/internal/jwtdecode"
	"github.com/vaultcred/gettoken/internal/tokenresp"
)

// The knobs of the Pelican provider. The per-service ones are
// <P>_PELICAN_X, where P is the provider name.
const (
	KnobPelicanProviders     = "PELICAN_CREDMON_PROVIDER_NAMES"
	KnobPelicanCAFile        = "PELICAN_CREDMON_CA_FILE"
	KnobPelicanSkipVerify    = "PELICAN_CREDMON_TLS_SKIP_VERIFY"
	pelicanClientIDSuffix    = "_PELICAN_CLIENT_ID"
	pelicanSecretFileSuffix  = "_PELICAN_CLIENT_SECRET_FILE"
	pelicanTokenURLSuffix    = "_PELICAN_TOKEN_URL"
	pelicanIssuersSuffix     = "_PELICAN_ISSUERS"
	defaultPelicanLifetime   = 1200 * time.Second
	tokenExchangeGrant       = "urn:ietf:params:oauth:grant-type:token-exchange"
	accessTokenType          = "urn:ietf:params:oauth:token-type:access_token"
	pelicanDiscoveryCacheTTL = time.Hour
)

// PelicanConfig configures the Pelican provider of one service. Use
// PelicanConfigFromKnobs to fill it from HTCondor's configuration.
type PelicanConfig struct {
	// Provider is the provider (service) name.
	Provider string
	// ClientID is the access point's own client id at the issuer
	// (<P>_PELICAN_CLIENT_ID). Required.
	ClientID string
	// ClientSecretFile holds the client secret
	// (<P>_PELICAN_CLIENT_SECRET_FILE), re-read at every request; empty
	// means a public client (an empty client_secret is sent).
	ClientSecretFile string
	// TokenURL overrides the token endpoint (<P>_PELICAN_TOKEN_URL).
	TokenURL string
	// Issuers are the issuers whose discovered token endpoint may receive
	// the client's credentials (<P>_PELICAN_ISSUERS): "*" allows any
	// issuer (what HTCondor's credmon does). Without TokenURL and without
	// a matching issuer nothing is sent.
	Issuers []string
	// Lifetime is the expires_in written when the answer has none
	// (CREDMON_OAUTH_TOKEN_MINIMUM, default 1200 s).
	Lifetime time.Duration
	// CAFile, when set, is a PEM bundle trusted besides the system's
	// (PELICAN_CREDMON_CA_FILE).
	CAFile string
	// HTTPClient sends the requests; nil means a client built from CAFile.
	HTTPClient *http.Client
	// Timeout bounds each request (default defaultTokenEndpointTimeout).
	Timeout time.Duration
	// Log receives the provider's messages.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SkipVerifyIgnored records that PELICAN_CREDMON_TLS_SKIP_VERIFY asked
	// for no certificate verification, which is not honoured (a warning
	// is logged when the provider is made).
	SkipVerifyIgnored bool
}

// PelicanConfigFromKnobs reads the configuration of the Pelican service
// provider through lookup (case-insensitive, as HTCondor).
func PelicanConfigFromKnobs(provider string, lookup func(string) (string, bool)) (PelicanConfig, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	cfg := PelicanConfig{
		Provider:         provider,
		ClientID:         get(provider + pelicanClientIDSuffix),
		ClientSecretFile: get(provider + pelicanSecretFileSuffix),
		TokenURL:         get(provider + pelicanTokenURLSuffix),
		Issuers:          SplitList(get(provider + pelicanIssuersSuffix)),
		CAFile:           get(KnobPelicanCAFile),
		Lifetime:         defaultPelicanLifetime,
	}
	if v := get("CREDMON_OAUTH_TOKEN_MINIMUM"); v != "" {
		n, err := parseInt(v)
		if err != nil || n <= 0 {
			return cfg, fmt.Errorf("CREDMON_OAUTH_TOKEN_MINIMUM must be a positive number of seconds")
		}
		cfg.Lifetime = time.Duration(n) * time.Second
	}
	if skip, err := parseBool(get(KnobPelicanSkipVerify)); err == nil && skip {
		// Deliberately not honoured: the subject token and the client
		// secret would go to whoever answers.
		cfg.SkipVerifyIgnored = true
	}
	return cfg, nil
}

// PelicanProvider exchanges the Pelican subject token that the storer's
// pelican mode stored as .top (RFC 8693 token exchange with the access
// point's own client credentials) for an access and a refresh token, and
// then keeps the .use fresh with the refresh-token grant (HTCondor's
// PelicanCredmon, kind "PELICAN").
//
// The .top is JSON: the credd's {"access_token": <subject token>,
// ["scopes": "a,b", "audience": ...]} before the first exchange, then
// {"refresh_token", "token_url", "iss", ["scopes", "audience"]}. The .use
// is {"access_token", "token_type", "expires_in"}.
//
// The token endpoint is <P>_PELICAN_TOKEN_URL when set; else the
// "token_endpoint" of <iss>/.well-known/openid-configuration (iss from the
// .top, or from the subject token's payload before the first exchange),
// cached per issuer for an hour, the last good value used when a later
// discovery fails; else the .top's "token_url". Differences from
// HTCondor's credmon, deliberate:
//   - The client secret is sent only to the configured token URL or to the
//     token endpoint of an issuer allowed by <P>_PELICAN_ISSUERS ("*" for
//     any, the original's behaviour), and never to an endpoint on another
//     host than its issuer's: the issuer and the .top's token_url come
//     from the user. A .top's token_url is used only when every issuer is
//     allowed.
//   - The scopes the credd stored ("scopes", a comma list) are sent with
//     the exchange as OAuth's "scope" and kept in the rewritten .top (the
//     original read "scope", so they were lost and the credd later saw a
//     mismatch).
//   - An exchange answered without a refresh token keeps the subject
//     token; once that has expired the credential is invalid (logged once,
//     not retried until the user stores a new one) instead of being
//     exchanged again and again.
//   - Error bodies are never logged (only the status and the RFC 6749
//     error code and shortened description, with secrets removed);
//     PELICAN_CREDMON_TLS_SKIP_VERIFY is ignored.
type PelicanProvider struct {
	cfg PelicanConfig
	log *slog.Logger
	now func() time.Time
	hc  *http.Client

	mu    sync.Mutex
	cache map[string]discovered // issuer → token endpoint
}

type discovered struct {
	endpoint   string
	validUntil time.Time
}

// NewPelicanProvider checks the configuration.
func NewPelicanProvider(cfg PelicanConfig) (*PelicanProvider, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTokenEndpointTimeout
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = defaultPelicanLifetime
	}
	if cfg.ClientID == "" {
		return nil, fmt.Errorf("pelican %s: %s must be set", cfg.Provider, cfg.Provider+pelicanClientIDSuffix)
	}
	if cfg.ClientSecretFile != "" {
		if _, err := readSecretFile(cfg.ClientSecretFile); err != nil {
			return nil, fmt.Errorf("pelican %s: %w", cfg.Provider, err)
		}
	}
	if cfg.TokenURL != "" {
		if _, err := checkTokenURL(cfg.TokenURL); err != nil {
			return nil, fmt.Errorf("pelican %s: %s: %w", cfg.Provider, cfg.Provider+pelicanTokenURLSuffix, err)
		}
	}
	p := &PelicanProvider{cfg: cfg, log: cfg.Log, now: cfg.Now, hc: cfg.HTTPClient, cache: map[string]discovered{}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if cfg.SkipVerifyIgnored {
		p.log.Warn("PELICAN_CREDMON_TLS_SKIP_VERIFY is ignored: the issuer's certificate is always verified; name a CA bundle in PELICAN_CREDMON_CA_FILE instead")
	}
	if p.hc == nil {
		hc, err := pelicanHTTPClient(cfg.CAFile, cfg.Timeout)
		if err != nil {
			return nil, fmt.Errorf("pelican %s: %w", cfg.Provider, err)
		}
		p.hc = hc
	}
	if p.hc.CheckRedirect == nil {
		// No redirects: a 307/308 would resend the client secret and the
		// tokens in the form body to wherever it points.
		c := *p.hc
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		p.hc = &c
	}
	return p, nil
}

// pelicanHTTPClient trusts the system's CAs and caFile's.
func pelicanHTTPClient(caFile string, timeout time.Duration) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", KnobPelicanCAFile, err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s %s holds no PEM certificate", KnobPelicanCAFile, caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// Kind implements Provider.
func (p *PelicanProvider) Kind() string { return "PELICAN" }

// pelicanTop is the decoded .top.
type pelicanTop struct {
	raw          map[string]json.RawMessage
	refresh      string
	subject      string
	iss          string
	tokenURL     string
	scopes       string // as stored: the credd's comma list
	audience     string
	subjectIsJWT bool
}

func (t *pelicanTop) str(key string) string {
	var s string
	if raw, ok := t.raw[key]; ok {
		_ = json.Unmarshal(raw, &s)
	}
	return s
}

func parsePelicanTop(c Cred, top []byte) (*pelicanTop, error) {
	t := &pelicanTop{}
	if err := json.Unmarshal(top, &t.raw); err != nil || t.raw == nil {
		return nil, fmt.Errorf("%w: %s could not be parsed as a JSON object", ErrInvalid, c.Top())
	}
	t.refresh = t.str("refresh_token")
	t.subject = t.str("access_token")
	if t.subject == "" {
		t.subject = t.str("subject_token")
	}
	if t.refresh == "" && t.subject == "" {
		return nil, fmt.Errorf("%w: %s holds neither a refresh_token nor a subject token (access_token)", ErrInvalid, c.Top())
	}
	t.iss = t.str("iss")
	t.tokenURL = t.str("token_url")
	t.scopes = t.str("scopes")
	if t.scopes == "" {
		t.scopes = t.str("scope")
	}
	t.audience = t.str("audience")
	if t.subject != "" {
		if payload, err := jwtdecode.Segment(t.subject, jwtdecode.Payload); err == nil {
			var claims struct {
				Iss string `json:"iss"`
			}
			if json.Unmarshal(payload, &claims) == nil {
				t.subjectIsJWT = true
				if t.iss == "" && t.refresh == "" {
					t.iss = claims.Iss
				}
			}
		}
	}
	return t, nil
}

// scopeList splits the stored scopes (commas and/or blanks).
func scopeList(s string) []string { return SplitList(s) }

// Refresh implements Provider: the refresh-token grant when the .top has
// a refresh token, else the token exchange of its subject token.
func (p *PelicanProvider) Refresh(ctx context.Context, c Cred, top []byte) (Refreshed, error) {
	t, err := parsePelicanTop(c, top)
	if err != nil {
		return Refreshed{}, err
	}
	if t.refresh == "" && t.subjectIsJWT {
		if exp, ok := jwtdecode.Expiry(t.subject); ok && !exp.After(p.now()) {
			return Refreshed{}, fmt.Errorf("%w: PELICAN %s: the subject token expired at %s and the issuer gave no refresh token; the user must store a new one (condor_submit after condor_store_cred delete-oauth -s %s)",
				ErrInvalid, c.Key(), exp.UTC().Format(time.RFC3339), c.Name)
		}
	}
	secret := ""
	if p.cfg.ClientSecretFile != "" {
		if secret, err = readSecretFile(p.cfg.ClientSecretFile); err != nil {
			return Refreshed{}, fmt.Errorf("PELICAN %s: %w", c.Key(), err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	endpoint, err := p.tokenEndpoint(ctx, t)
	if err != nil {
		return Refreshed{}, fmt.Errorf("PELICAN %s: %w", c.Key(), err)
	}
	hctx := context.WithValue(ctx, oauth2.HTTPClient, p.hc)
	var tok *oauth2.Token
	if t.refresh != "" {
		conf := &oauth2.Config{
			ClientID:     p.cfg.ClientID,
			ClientSecret: secret,
			Endpoint:     oauth2.Endpoint{TokenURL: endpoint, AuthStyle: oauth2.AuthStyleInParams},
		}
		tok, err = conf.TokenSource(hctx, &oauth2.Token{RefreshToken: t.refresh}).Token()
		if err != nil {
			err = tokenEndpointErr(hctx, "PELICAN", endpoint, err, t.refresh, secret)
			return Refreshed{}, fmt.Errorf("PELICAN %s: refreshing the access token: %w", c.Key(), err)
		}
	} else {
		// Token exchange is a plain form POST; x/oauth2's client-credentials
		// source sends it when its grant_type is overridden.
		params := url.Values{
			"grant_type":         {tokenExchangeGrant},
			"subject_token":      {t.subject},
			"subject_token_type": {accessTokenType},
		}
		if t.audience != "" {
			params.Set("audience", t.audience)
		}
		conf := &clientcredentials.Config{
			ClientID:       p.cfg.ClientID,
			ClientSecret:   secret,
			TokenURL:       endpoint,
			Scopes:         scopeList(t.scopes),
			EndpointParams: params,
			AuthStyle:      oauth2.AuthStyleInParams,
		}
		tok, err = conf.Token(hctx)
		if err != nil {
			err = tokenEndpointErr(hctx, "PELICAN", endpoint, err, t.subject, secret)
			return Refreshed{}, fmt.Errorf("PELICAN %s: exchanging the subject token: %w", c.Key(), err)
		}
	}
	if tok.AccessToken == "" {
		return Refreshed{}, fmt.Errorf("PELICAN %s: the token endpoint %s answered without an access_token", c.Key(), endpoint)
	}
	out := Refreshed{}
	if tok.RefreshToken != "" && tok.RefreshToken != t.refresh {
		nt := map[string]string{"refresh_token": tok.RefreshToken, "token_url": endpoint}
		if t.iss != "" {
			nt["iss"] = t.iss
		}
		// Keep the credd's own keys, so that its comparison of a later
		// request with the stored credential still matches.
		if s := t.str("scopes"); s != "" {
			nt["scopes"] = s
		}
		if s := t.str("scope"); s != "" {
			nt["scope"] = s
		}
		if t.audience != "" {
			nt["audience"] = t.audience
		}
		if out.Top, err = json.Marshal(nt); err != nil {
			return Refreshed{}, fmt.Errorf("PELICAN %s: encoding the .top: %w", c.Key(), err)
		}
	} else if t.refresh == "" {
		p.log.Warn("the token exchange gave no refresh token; the subject token is kept and exchanged again until it expires",
			"cred", c.Key(), "token_endpoint", endpoint)
	}
	life := tokenLifetime(tok)
	if life <= 0 {
		life = p.cfg.Lifetime
	}
	typ := tok.TokenType
	if typ == "" {
		typ = "Bearer"
	}
	if out.Use, err = json.Marshal(struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}{tok.AccessToken, typ, int64(life / time.Second)}); err != nil {
		return Refreshed{}, fmt.Errorf("PELICAN %s: encoding the .use: %w", c.Key(), err)
	}
	return out, nil
}

// NextRefresh implements Provider: half-way through expires_in after the
// .use was written; at once for a .use that is not JSON or lacks a
// positive expires_in.
func (p *PelicanProvider) NextRefresh(c Cred, use []byte, written time.Time) time.Time {
	var u map[string]json.RawMessage
	if json.Unmarshal(use, &u) != nil || u == nil {
		return written
	}
	s, ok := numberField(u["expires_in"])
	if !ok || s <= 0 {
		return written
	}
	return written.Add(saturatingSeconds(s / 2))
}

// saturatingSeconds converts seconds to a Duration without overflow.
func saturatingSeconds(s float64) time.Duration {
	const maxSeconds = float64(1<<63-1) / float64(time.Second)
	if s >= maxSeconds {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(s * float64(time.Second))
}

// issuerAllowed reports whether iss may receive the client's credentials.
func (p *PelicanProvider) issuerAllowed(iss string) bool {
	return slices.Contains(p.cfg.Issuers, "*") || slices.Contains(p.cfg.Issuers, strings.TrimRight(iss, "/")) ||
		slices.Contains(p.cfg.Issuers, iss)
}

// tokenEndpoint chooses the token endpoint for t (see PelicanProvider).
func (p *PelicanProvider) tokenEndpoint(ctx context.Context, t *pelicanTop) (string, error) {
	if p.cfg.TokenURL != "" {
		return p.cfg.TokenURL, nil
	}
	if t.iss != "" {
		if !p.issuerAllowed(t.iss) {
			return "", fmt.Errorf("%w: the issuer %s is not allowed by %s (and %s is not set): the client secret is sent only to an issuer the configuration names",
				ErrInvalid, tokenresp.Shorten(t.iss, 200), p.cfg.Provider+pelicanIssuersSuffix, p.cfg.Provider+pelicanTokenURLSuffix)
		}
		ep, err := p.discoverCached(ctx, t.iss)
		if err == nil {
			return ep, nil
		}
		if t.tokenURL == "" || !slices.Contains(p.cfg.Issuers, "*") {
			return "", err
		}
		p.log.Warn("OIDC discovery failed; using the token URL of the .top", "issuer", t.iss, "error", err)
	}
	if t.tokenURL != "" && slices.Contains(p.cfg.Issuers, "*") {
		u, err := checkTokenURL(t.tokenURL)
		if err != nil {
			return "", err
		}
		if t.iss != "" && !sameHost(u, t.iss) {
			return "", fmt.Errorf("%w: the .top's token URL %s is not on its issuer's host", ErrInvalid, tokenresp.RedactURL(u))
		}
		return t.tokenURL, nil
	}
	return "", fmt.Errorf("%w: no token endpoint: set %s, or %s to the subject token's issuer", ErrInvalid,
		p.cfg.Provider+pelicanTokenURLSuffix, p.cfg.Provider+pelicanIssuersSuffix)
}

// sameHost reports whether u is on the host of the issuer URL iss.
func sameHost(u *url.URL, iss string) bool {
	iu, err := url.Parse(iss)
	return err == nil && strings.EqualFold(iu.Hostname(), u.Hostname())
}

// discoverCached returns the token endpoint of iss, from the cache while
// fresh; when discovery fails the last good value is used.
func (p *PelicanProvider) discoverCached(ctx context.Context, iss string) (string, error) {
	p.mu.Lock()
	d, ok := p.cache[iss]
	p.mu.Unlock()
	if ok && p.now().Before(d.validUntil) {
		return d.endpoint, nil
	}
	ep, err := p.discover(ctx, iss)
	if err != nil {
		if ok {
			p.log.Warn("OIDC discovery failed; using the token endpoint found before", "issuer", iss, "error", err)
			return d.endpoint, nil
		}
		return "", err
	}
	p.mu.Lock()
	p.cache[iss] = discovered{endpoint: ep, validUntil: p.now().Add(pelicanDiscoveryCacheTTL)}
	p.mu.Unlock()
	if !ok || d.endpoint != ep {
		p.log.Info("resolved the token endpoint", "issuer", iss, "token_endpoint", ep)
	}
	return ep, nil
}

// discover fetches <iss>/.well-known/openid-configuration; the token
// endpoint must be an https URL on the issuer's host.
func (p *PelicanProvider) discover(ctx context.Context, iss string) (string, error) {
	base := strings.TrimRight(iss, "/")
	iu, err := url.Parse(base)
	if err != nil || iu.Scheme != "https" || iu.Host == "" {
		return "", &DiscoveryError{Issuer: tokenresp.Shorten(iss, 200), Reason: "the issuer is not an https URL"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/.well-known/openid-configuration", nil)
	if err != nil {
		return "", &DiscoveryError{Issuer: base, Reason: "bad URL", Err: err}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return "", &DiscoveryError{Issuer: base, Reason: "request failed", Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", &DiscoveryError{Issuer: base, Reason: fmt.Sprintf("HTTP status %d", resp.StatusCode)}
	}
	var meta struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxTokenResponse)).Decode(&meta); err != nil {
		return "", &DiscoveryError{Issuer: base, Reason: "response is not JSON"}
	}
	if meta.TokenEndpoint == "" {
		return "", &DiscoveryError{Issuer: base, Reason: "response lacks token_endpoint"}
	}
	u, err := checkTokenURL(meta.TokenEndpoint)
	if err != nil {
		return "", &DiscoveryError{Issuer: base, Reason: "token_endpoint is not an absolute https URL"}
	}
	if !sameHost(u, base) {
		return "", &DiscoveryError{Issuer: base, Reason: fmt.Sprintf("token_endpoint %s is not on the issuer's host", tokenresp.RedactURL(u)),
			Err: ErrInvalid}
	}
	return meta.TokenEndpoint, nil
}
