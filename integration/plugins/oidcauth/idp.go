package oidcauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
)

// maxIdPBody bounds how much of an IdP answer is read.
const maxIdPBody = 1 << 20

// IdPStatusError is returned when the IdP answers with an unexpected HTTP
// status. It carries the OAuth error code when the body had one, never the
// body itself (it may echo credentials).
type IdPStatusError struct {
	// Endpoint names the IdP endpoint ("device authorization", "token", …).
	Endpoint string
	// Status is the HTTP status line.
	Status string
	// Code is the OAuth "error" field of the answer, if any.
	Code string
}

// Error implements error.
func (e *IdPStatusError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s endpoint answered %s (%s)", e.Endpoint, e.Status, e.Code)
	}
	return fmt.Sprintf("%s endpoint answered %s", e.Endpoint, e.Status)
}

// ErrNoDeviceEndpoint is returned when discovery lists no
// device_authorization_endpoint but a device-mode login is attempted.
var ErrNoDeviceEndpoint = errors.New("no device auth endpoint url discovered")

// endpoints are the discovered IdP endpoints this plugin uses.
type endpoints struct {
	Issuer        string `json:"issuer"`
	AuthURL       string `json:"authorization_endpoint"`
	TokenURL      string `json:"token_endpoint"`
	DeviceAuthURL string `json:"device_authorization_endpoint"`
	UserInfoURL   string `json:"userinfo_endpoint"`
}

// idpClient talks to one discovered IdP with the configured trust.
type idpClient struct {
	cfg      oidcConfig
	http     *http.Client
	provider *oidc.Provider
	ep       endpoints
}

func newHTTPClient(caPEM string) (*http.Client, error) {
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("unexpected default transport type")
	}
	tr := base.Clone()
	if caPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(caPEM)) {
			return nil, errors.New("could not parse 'oidc_discovery_ca_pem' contents")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: idpTimeout}, nil
}

// discover fetches the IdP's discovery document (checking that its issuer
// is the configured URL) and returns a client for it.
func discover(ctx context.Context, cfg *oidcConfig) (*idpClient, error) {
	hc, err := newHTTPClient(cfg.OIDCDiscoveryCAPEM)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, idpTimeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, hc), cfg.OIDCDiscoveryURL)
	if err != nil {
		return nil, fmt.Errorf("discovery at %s: %w", cfg.OIDCDiscoveryURL, err)
	}
	c := &idpClient{cfg: *cfg, http: hc, provider: p}
	if err := p.Claims(&c.ep); err != nil {
		return nil, fmt.Errorf("decoding discovery document: %w", err)
	}
	return c, nil
}

// postForm POSTs form to endpoint and returns the body of a 200 answer (or
// of a 400 answer when accept400, as OAuth token errors come with 400).
func (c *idpClient) postForm(ctx context.Context, name, endpoint string, form url.Values, accept400 bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, idpTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("building %s request: %w", name, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return c.do(req, name, accept400)
}

func (c *idpClient) do(req *http.Request, name string, accept400 bool) ([]byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("contacting %s endpoint: %w", name, redactURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIdPBody))
	if err != nil {
		return nil, fmt.Errorf("reading %s answer: %w", name, err)
	}
	if resp.StatusCode == http.StatusOK || (accept400 && resp.StatusCode == http.StatusBadRequest) {
		return body, nil
	}
	e := &IdPStatusError{Endpoint: name, Status: resp.Status}
	var oe struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &oe) == nil {
		e.Code = oe.Error
	}
	return nil, e
}

// redactURLError strips the URL (which could carry a query with secrets)
// from a *url.Error, keeping the operation and cause.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// deviceAuthorization is the RFC 8628 device authorization answer.
type deviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	// Some providers (Google) spell these with "url".
	VerificationURL         string `json:"verification_url"`
	VerificationURLComplete string `json:"verification_url_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// startDevice asks the IdP for a device code with the given scopes
// (client credentials in the form body, as OpenBao sends them).
func (c *idpClient) startDevice(ctx context.Context, scopes []string) (*deviceAuthorization, error) {
	if c.ep.DeviceAuthURL == "" {
		return nil, ErrNoDeviceEndpoint
	}
	form := url.Values{
		"client_id":     {c.cfg.OIDCClientID},
		"client_secret": {c.cfg.OIDCClientSecret},
		"scope":         {strings.Join(scopes, " ")},
	}
	body, err := c.postForm(ctx, "device authorization", c.ep.DeviceAuthURL, form, false)
	if err != nil {
		return nil, err
	}
	var da deviceAuthorization
	if err := json.Unmarshal(body, &da); err != nil {
		return nil, fmt.Errorf("decoding device authorization answer: %w", err)
	}
	if da.DeviceCode == "" {
		return nil, errors.New("device authorization answer has no device_code")
	}
	return &da, nil
}

// tokenAnswer is a token endpoint answer: either Error or the tokens.
type tokenAnswer struct {
	Error        string
	AccessToken  string
	RefreshToken string
	// IDToken is the raw id_token; HasIDToken is false when it was absent
	// or not a string.
	IDToken    string
	HasIDToken bool
}

func parseTokenAnswer(body []byte) (*tokenAnswer, error) {
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("decoding token endpoint answer: %w", err)
	}
	ta := &tokenAnswer{}
	if v, ok := raw["error"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return nil, errors.New("token endpoint answer has a non-string error")
		}
		ta.Error = s
	}
	ta.AccessToken, _ = raw["access_token"].(string)
	ta.RefreshToken, _ = raw["refresh_token"].(string)
	ta.IDToken, ta.HasIDToken = raw["id_token"].(string)
	return ta, nil
}

// pollDevice redeems a device code once.
func (c *idpClient) pollDevice(ctx context.Context, deviceCode string) (*tokenAnswer, error) {
	form := url.Values{
		"client_id":     {c.cfg.OIDCClientID},
		"client_secret": {c.cfg.OIDCClientSecret},
		"device_code":   {deviceCode},
		"grant_type":    {"urn:ietf:params:oauth:grant-type:device_code"},
	}
	body, err := c.postForm(ctx, "token", c.ep.TokenURL, form, true)
	if err != nil {
		return nil, err
	}
	return parseTokenAnswer(body)
}

// exchangeCode redeems an authorization code (with its PKCE verifier).
func (c *idpClient) exchangeCode(ctx context.Context, code, redirectURI, verifier string) (*tokenAnswer, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {verifier},
		"client_id":     {c.cfg.OIDCClientID},
		"client_secret": {c.cfg.OIDCClientSecret},
	}
	body, err := c.postForm(ctx, "token", c.ep.TokenURL, form, true)
	if err != nil {
		return nil, err
	}
	ta, err := parseTokenAnswer(body)
	if err != nil {
		return nil, err
	}
	if ta.Error != "" {
		return nil, fmt.Errorf("token endpoint error: %s", ta.Error)
	}
	return ta, nil
}

// verifyIDToken checks signature, issuer, audience and expiry of a code
// flow ID token and returns its claims and nonce.
func (c *idpClient) verifyIDToken(ctx context.Context, raw string) (map[string]any, string, error) {
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, c.http), idpTimeout)
	defer cancel()
	tok, err := c.provider.Verifier(&oidc.Config{ClientID: c.cfg.OIDCClientID}).Verify(ctx, raw)
	if err != nil {
		return nil, "", fmt.Errorf("verifying id_token: %w", err)
	}
	claims := map[string]any{}
	if err := tok.Claims(&claims); err != nil {
		return nil, "", fmt.Errorf("decoding id_token claims: %w", err)
	}
	return claims, tok.Nonce, nil
}

// userInfo fetches the userinfo claims with the access token. It fails when
// the answer's sub differs from sub.
func (c *idpClient) userInfo(ctx context.Context, accessToken, sub string) (map[string]any, error) {
	if c.ep.UserInfoURL == "" {
		return nil, errors.New("user info endpoint is not supported by this provider")
	}
	ctx, cancel := context.WithTimeout(ctx, idpTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.ep.UserInfoURL, nil)
	if err != nil {
		return nil, fmt.Errorf("building userinfo request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	body, err := c.do(req, "userinfo", false)
	if err != nil {
		return nil, err
	}
	claims := map[string]any{}
	if err := json.Unmarshal(body, &claims); err != nil {
		return nil, fmt.Errorf("decoding userinfo answer: %w", err)
	}
	if got, _ := claims["sub"].(string); got != sub {
		return nil, errors.New("userinfo sub claim does not match the id_token sub")
	}
	return claims, nil
}

// unverifiedClaims decodes the payload of a compact JWT without checking
// its signature (the device flow ID token comes straight from the token
// endpoint over TLS, as in OpenBao).
func unverifiedClaims(raw string) (map[string]any, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errors.New("malformed id_token: expected 3 parts")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("malformed id_token payload: %w", err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("malformed id_token claims: %w", err)
	}
	return claims, nil
}
