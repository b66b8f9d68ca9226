package oauthapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// RFC 8693 identifiers.
const (
	grantTokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	grantDeviceCode      = "urn:ietf:params:oauth:grant-type:device_code"
)

// maxTokenResponse bounds how much of a token endpoint answer is read.
const maxTokenResponse = 1 << 20

// errNoSuchProvider is returned for provider names other than "oidc".
var errNoSuchProvider = errors.New("no such provider")

// errNoSuchServer is returned when a credential names a missing server.
var errNoSuchServer = errors.New("server does not exist")

// userError is a provider rejection (or bad input) the caller can act on;
// the backend answers it with HTTP 400. Its message never contains a token.
type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

// transientError is a provider failure that may go away (transport error,
// timeout, HTTP 5xx). Its message never contains a token.
type transientError struct {
	msg string
	err error
}

func (e *transientError) Error() string { return e.msg }
func (e *transientError) Unwrap() error { return e.err }

// tokenSet is what a token endpoint issued.
type tokenSet struct {
	AccessToken  string
	TokenType    string
	RefreshToken string
	Expiry       time.Time
}

// provider is a discovered OIDC provider, bound to one client ID.
type provider struct {
	issuer   string
	tokenURL string
	style    oauth2.AuthStyle
	verifier *oidc.IDTokenVerifier
}

type cachedProvider struct {
	fingerprint string
	p           *provider
}

func (s *serverEntry) fingerprint() string {
	return s.Provider + "\x00" + s.ProviderOptions["issuer_url"] + "\x00" + s.ClientID
}

// secretsToTry lists the client secrets in order; a public client has one
// empty secret.
func (s *serverEntry) secretsToTry() []string {
	if len(s.ClientSecrets) == 0 {
		return []string{""}
	}
	return s.ClientSecrets
}

// discover builds a provider for srv, performing OIDC discovery.
func (b *backend) discover(ctx context.Context, srv *serverEntry) (*provider, error) {
	if srv.Provider != "oidc" {
		return nil, fmt.Errorf("provider %q: %w", srv.Provider, errNoSuchProvider)
	}
	issuer := srv.ProviderOptions["issuer_url"]
	if issuer == "" {
		return nil, &userError{msg: `provider "oidc" requires provider option "issuer_url"`}
	}
	ctx = oidc.ClientContext(ctx, b.client)
	op, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return nil, &userError{msg: fmt.Sprintf("oidc discovery for issuer %q failed: %v", issuer, err)}
	}
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := op.Claims(&meta); err != nil {
		return nil, &userError{msg: fmt.Sprintf("oidc discovery for issuer %q: bad document: %v", issuer, err)}
	}
	tokenURL := op.Endpoint().TokenURL
	if tokenURL == "" {
		return nil, &userError{msg: fmt.Sprintf("oidc discovery for issuer %q: no token_endpoint", issuer)}
	}
	style := oauth2.AuthStyleAutoDetect
	switch {
	case slices.Contains(meta.AuthMethods, "client_secret_basic"):
		style = oauth2.AuthStyleInHeader
	case len(meta.AuthMethods) > 0:
		style = oauth2.AuthStyleInParams
	}
	return &provider{
		issuer:   issuer,
		tokenURL: tokenURL,
		style:    style,
		verifier: op.Verifier(&oidc.Config{ClientID: srv.ClientID}),
	}, nil
}

// providerFor returns the (cached) provider of server name. A missing server
// yields errNoSuchServer; an unusable one a *userError.
func (b *backend) providerFor(ctx context.Context, srv *serverEntry, name string) (*provider, error) {
	fp := srv.fingerprint()
	b.provMu.Lock()
	c := b.providers[name]
	b.provMu.Unlock()
	if c != nil && c.fingerprint == fp {
		return c.p, nil
	}
	p, err := b.discover(ctx, srv)
	if err != nil {
		return nil, err
	}
	b.provMu.Lock()
	b.providers[name] = &cachedProvider{fingerprint: fp, p: p}
	b.provMu.Unlock()
	return p, nil
}

func (b *backend) forgetProvider(name string) {
	b.provMu.Lock()
	delete(b.providers, name)
	b.provMu.Unlock()
}

// redact removes every secret value from msg.
func redact(msg string, secrets ...string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return msg
}

// classify turns a golang.org/x/oauth2 error into a userError (HTTP 4xx
// from the provider) or a transientError (5xx, transport, timeout).
func classify(prefix string, err error, secrets ...string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status, code := 0, ""
		if re.Response != nil {
			status, code = re.Response.StatusCode, re.Response.Status
		}
		msg := "oauth2: cannot fetch token: " + code
		if re.ErrorCode != "" {
			msg = oauthErrorText(re.ErrorCode, re.ErrorDescription, re.ErrorURI)
		}
		msg = redact(prefix+": "+msg, secrets...)
		if status >= 400 && status < 500 {
			return &userError{msg: msg}
		}
		return &transientError{msg: msg, err: err}
	}
	return &transientError{msg: redact(prefix+": "+err.Error(), secrets...), err: err}
}

// oauthErrorText formats an RFC 6749 error the way golang.org/x/oauth2 does.
func oauthErrorText(code, desc, uri string) string {
	s := fmt.Sprintf("oauth2: %q", code)
	if desc != "" {
		s += fmt.Sprintf(" %q", desc)
	}
	if uri != "" {
		s += fmt.Sprintf(" %q", uri)
	}
	return s
}

func isInvalidClient(err error) bool {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return false
	}
	return re.ErrorCode == "invalid_client" || (re.Response != nil && re.Response.StatusCode == http.StatusUnauthorized)
}

func (b *backend) oauthConfig(srv *serverEntry, p *provider, secret, redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     srv.ClientID,
		ClientSecret: secret,
		Endpoint:     oauth2.Endpoint{TokenURL: p.tokenURL, AuthStyle: p.style},
		RedirectURL:  redirect,
	}
}

// refresh redeems a refresh token (refresh_token grant).
func (b *backend) refresh(ctx context.Context, srv *serverEntry, p *provider, rt string) (*tokenSet, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, b.client)
	secrets := srv.secretsToTry()
	for i, secret := range secrets {
		tok, err := b.oauthConfig(srv, p, secret, "").TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
		if err != nil {
			if isInvalidClient(err) && i < len(secrets)-1 {
				continue
			}
			return nil, classify("refresh failed", err, append([]string{rt}, secrets...)...)
		}
		return b.finish(ctx, "refresh failed", p, tok)
	}
	return nil, &userError{msg: "refresh failed: no client secret to try"}
}

// redeemCode exchanges an authorization code (authorization_code grant).
func (b *backend) redeemCode(ctx context.Context, srv *serverEntry, p *provider, code, redirect string) (*tokenSet, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, b.client)
	secrets := srv.secretsToTry()
	for i, secret := range secrets {
		tok, err := b.oauthConfig(srv, p, secret, redirect).Exchange(ctx, code)
		if err != nil {
			if isInvalidClient(err) && i < len(secrets)-1 {
				continue
			}
			return nil, classify("exchange failed", err, append([]string{code}, secrets...)...)
		}
		return b.finish(ctx, "exchange failed", p, tok)
	}
	return nil, &userError{msg: "exchange failed: no client secret to try"}
}

// finish verifies an id_token if the provider sent one and converts tok.
func (b *backend) finish(ctx context.Context, prefix string, p *provider, tok *oauth2.Token) (*tokenSet, error) {
	if raw, ok := tok.Extra("id_token").(string); ok && raw != "" {
		if _, err := p.verifier.Verify(ctx, raw); err != nil {
			return nil, &userError{msg: redact(prefix+": id_token verification failed: "+err.Error(),
				raw, tok.AccessToken, tok.RefreshToken)}
		}
	}
	return &tokenSet{
		AccessToken:  tok.AccessToken,
		TokenType:    tok.Type(),
		RefreshToken: tok.RefreshToken,
		Expiry:       tok.Expiry,
	}, nil
}

// exchangeRequest is one RFC 8693 request.
type exchangeRequest struct {
	subject                      string
	scopes, audiences, resources []string
}

// exchange performs an RFC 8693 token exchange of an access token. Every
// failure is a *userError or *transientError whose text has no token.
func (b *backend) exchange(ctx context.Context, srv *serverEntry, p *provider, x exchangeRequest) (*tokenSet, error) {
	form := url.Values{}
	form.Set("grant_type", grantTokenExchange)
	form.Set("subject_token", x.subject)
	form.Set("subject_token_type", tokenTypeAccessToken)
	form.Set("requested_token_type", tokenTypeAccessToken)
	if len(x.scopes) > 0 {
		form.Set("scope", strings.Join(x.scopes, " "))
	}
	for _, a := range x.audiences {
		form.Add("audience", a)
	}
	for _, r := range x.resources {
		form.Add("resource", r)
	}
	secrets := srv.secretsToTry()
	hide := append([]string{x.subject}, secrets...)
	for i, secret := range secrets {
		ts, retry, err := b.exchangeOnce(ctx, srv, p, form, secret, hide)
		if err != nil && retry && i < len(secrets)-1 {
			continue
		}
		return ts, err
	}
	return nil, &userError{msg: "exchange failed: no client secret to try"}
}

func (b *backend) exchangeOnce(ctx context.Context, srv *serverEntry, p *provider, form url.Values, secret string, hide []string) (ts *tokenSet, retry bool, err error) {
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	basic := p.style == oauth2.AuthStyleInHeader || (p.style == oauth2.AuthStyleAutoDetect && secret != "")
	if !basic {
		f.Set("client_id", srv.ClientID)
		if secret != "" {
			f.Set("client_secret", secret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.tokenURL, strings.NewReader(f.Encode()))
	if err != nil {
		return nil, false, &userError{msg: "exchange failed: bad token endpoint: " + redact(err.Error(), hide...)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		req.SetBasicAuth(url.QueryEscape(srv.ClientID), url.QueryEscape(secret))
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, false, &transientError{msg: redact("exchange failed: "+err.Error(), hide...), err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return nil, false, &transientError{msg: redact("exchange failed: reading response: "+err.Error(), hide...), err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Code string `json:"error"`
			Desc string `json:"error_description"`
			URI  string `json:"error_uri"`
		}
		_ = json.Unmarshal(body, &e)
		msg := "oauth2: cannot fetch token: " + resp.Status
		if e.Code != "" {
			msg = oauthErrorText(e.Code, e.Desc, e.URI)
		}
		retry = e.Code == "invalid_client" || resp.StatusCode == http.StatusUnauthorized
		return nil, retry, &userError{msg: redact("exchange failed: "+msg, hide...)}
	}
	var r struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    any    `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, false, &userError{msg: "exchange failed: token endpoint answer is not JSON"}
	}
	if r.AccessToken == "" {
		return nil, false, &userError{msg: "exchange failed: token endpoint answer has no access_token"}
	}
	ts = &tokenSet{AccessToken: r.AccessToken, TokenType: tokenTypeOf(r.TokenType), RefreshToken: r.RefreshToken}
	if secs := expiresIn(r.ExpiresIn); secs > 0 {
		ts.Expiry = b.now().Add(time.Duration(secs) * time.Second).UTC()
	}
	return ts, false, nil
}

// expiresIn reads expires_in sent as a JSON number or a numeric string.
func expiresIn(v any) int64 {
	switch x := v.(type) {
	case float64:
		if x > 0 && x < 1e12 {
			return int64(x)
		}
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err == nil && n > 0 && n < 1e12 {
			return n
		}
	}
	return 0
}
