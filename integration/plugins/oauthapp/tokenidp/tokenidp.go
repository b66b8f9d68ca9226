// Package tokenidp is a scriptable OpenID provider's token side, for
// testing the oauthapp substitute plugin, which holds users' refresh tokens
// and trades them for access tokens with no user in the loop. (Its sibling
// oidcauth/loginidp is the login side: device and authorization-code
// approval by a user.) It serves OIDC discovery, a JWKS with one ES256
// key, and a token endpoint serving the refresh_token, authorization_code
// and RFC 8693 token-exchange grants with strict refresh-token rotation.
//
// It records every token request (grant, form, client authentication style)
// so that tests can assert exactly what the plugin sent, and it can be told to
// fail or hang the next request of a grant. It listens on plain HTTP on
// 127.0.0.1, so a Vault server running the plugin on the same machine can
// reach it too.
package tokenidp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Client credentials the fake accepts.
const (
	ClientID     = "vault-oauth-client"
	ClientSecret = "vault-oauth-client-secret"
)

// Grant types served by the token endpoint.
const (
	GrantRefreshToken = "refresh_token"
	GrantAuthCode     = "authorization_code"
	GrantExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	// TokenTypeAccess is the RFC 8693 token type URI of an access token.
	TokenTypeAccess = "urn:ietf:params:oauth:token-type:access_token"
)

// IDTokenMode selects what the token endpoint returns as id_token on the
// refresh_token and authorization_code grants.
type IDTokenMode int

// ID token modes.
const (
	// IDTokenNone omits the id_token (the default).
	IDTokenNone IDTokenMode = iota
	// IDTokenValid returns a correctly signed id_token for the client.
	IDTokenValid
	// IDTokenWrongAudience returns a signed id_token for another audience.
	IDTokenWrongAudience
	// IDTokenWrongIssuer returns a signed id_token from another issuer.
	IDTokenWrongIssuer
	// IDTokenBadSignature returns an id_token signed with an unknown key.
	IDTokenBadSignature
)

// TokenRequest is one recorded request to the token endpoint.
type TokenRequest struct {
	// Grant is the grant_type form value.
	Grant string
	// Form is a copy of the POSTed form (client_secret removed).
	Form url.Values
	// Auth is how the client authenticated: "basic", "post" or "none".
	Auth string
	// ClientID is the client identifier the request carried.
	ClientID string
}

type scripted struct {
	status int
	body   string
}

type tokenInfo struct {
	subject string
	scope   string
}

// IdP is a running fake provider. All methods are safe for concurrent use.
type IdP struct {
	srv    *httptest.Server
	key    *ecdsa.PrivateKey
	other  *ecdsa.PrivateKey
	closed chan struct{}
	once   sync.Once

	mu           sync.Mutex
	accessTTL    time.Duration
	exchangeTTL  time.Duration
	authMethods  []string
	idTokenMode  IDTokenMode
	noRotate     bool
	refresh      map[string]string    // refresh token -> subject
	access       map[string]tokenInfo // access token -> info
	codes        map[string]string    // authorization code -> subject
	requests     []TokenRequest
	failNext     map[string][]scripted
	hang         map[string]*hanger
	extraSecrets map[string]bool
}

// New starts a fake provider on a loopback port. Close it when done.
func New() (*IdP, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tokenidp: generating signing key: %w", err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tokenidp: generating second key: %w", err)
	}
	i := &IdP{
		key:          key,
		other:        other,
		closed:       make(chan struct{}),
		accessTTL:    300 * time.Second,
		exchangeTTL:  600 * time.Second,
		authMethods:  []string{"client_secret_basic", "client_secret_post"},
		refresh:      map[string]string{},
		access:       map[string]tokenInfo{},
		codes:        map[string]string{},
		failNext:     map[string][]scripted{},
		hang:         map[string]*hanger{},
		extraSecrets: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.discovery)
	mux.HandleFunc("GET /jwks", i.jwks)
	mux.HandleFunc("POST /token", i.token)
	i.srv = httptest.NewServer(mux)
	return i, nil
}

// URL is the issuer URL (no trailing slash).
func (i *IdP) URL() string { return i.srv.URL }

// Close releases hanging requests and stops the server.
func (i *IdP) Close() {
	i.once.Do(func() {
		close(i.closed)
		i.srv.Close()
	})
}

// SetAccessTTL sets expires_in of access tokens issued by refresh and code grants.
func (i *IdP) SetAccessTTL(d time.Duration) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.accessTTL = d
}

// SetExchangeTTL sets expires_in of tokens issued by token exchange; zero
// omits expires_in.
func (i *IdP) SetExchangeTTL(d time.Duration) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.exchangeTTL = d
}

// SetAuthMethods sets token_endpoint_auth_methods_supported in discovery;
// no arguments omits the field.
func (i *IdP) SetAuthMethods(methods ...string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.authMethods = append([]string(nil), methods...)
}

// SetIDTokenMode selects the id_token returned by refresh and code grants.
func (i *IdP) SetIDTokenMode(m IDTokenMode) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.idTokenMode = m
}

// SetRotateRefreshTokens turns strict rotation (the default) on or off.
func (i *IdP) SetRotateRefreshTokens(on bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.noRotate = !on
}

// AcceptSecret makes the token endpoint accept an additional client secret.
func (i *IdP) AcceptSecret(secret string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.extraSecrets[secret] = true
}

// MintRefreshToken issues a refresh token for subject, as a login would.
func (i *IdP) MintRefreshToken(subject string) string {
	i.mu.Lock()
	defer i.mu.Unlock()
	rt := "rt-" + randHex()
	i.refresh[rt] = subject
	return rt
}

// MintCode issues a one-time authorization code for subject.
func (i *IdP) MintCode(subject string) string {
	i.mu.Lock()
	defer i.mu.Unlock()
	c := "code-" + randHex()
	i.codes[c] = subject
	return c
}

// RevokeSubject revokes every refresh token of subject.
func (i *IdP) RevokeSubject(subject string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for rt, s := range i.refresh {
		if s == subject {
			delete(i.refresh, rt)
		}
	}
}

// AccessTokenSubject reports the subject of a live access token (issued by
// any grant) and whether it is known.
func (i *IdP) AccessTokenSubject(tok string) (string, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	info, ok := i.access[tok]
	return info.subject, ok
}

// FailNext makes the next request of grant answer status with a JSON error
// body {"error": code, "error_description": desc}; an empty code sends a
// plain-text body instead.
func (i *IdP) FailNext(grant string, status int, code, desc string) {
	body := "upstream trouble"
	if code != "" {
		b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
		body = string(b)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.failNext[grant] = append(i.failNext[grant], scripted{status: status, body: body})
}

// Hang makes every request of grant block until release is called, the
// client gives up, or the fake is closed. entered receives a value each time
// a request of grant starts waiting (it is buffered; values are dropped when
// nobody reads them).
func (i *IdP) Hang(grant string) (entered <-chan struct{}, release func()) {
	h := &hanger{release: make(chan struct{}), entered: make(chan struct{}, 64)}
	i.mu.Lock()
	i.hang[grant] = h
	i.mu.Unlock()
	var once sync.Once
	return h.entered, func() {
		once.Do(func() {
			i.mu.Lock()
			if i.hang[grant] == h {
				delete(i.hang, grant)
			}
			i.mu.Unlock()
			close(h.release)
		})
	}
}

type hanger struct {
	release chan struct{}
	entered chan struct{}
}

// Requests returns a copy of every recorded token request, oldest first.
func (i *IdP) Requests() []TokenRequest {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]TokenRequest(nil), i.requests...)
}

// Count returns how many token requests of grant were received.
func (i *IdP) Count(grant string) int {
	n := 0
	for _, r := range i.Requests() {
		if r.Grant == grant {
			n++
		}
	}
	return n
}

// Last returns the latest recorded request of grant, if any.
func (i *IdP) Last(grant string) (TokenRequest, bool) {
	reqs := i.Requests()
	for k := len(reqs) - 1; k >= 0; k-- {
		if reqs[k].Grant == grant {
			return reqs[k], true
		}
	}
	return TokenRequest{}, false
}

func (i *IdP) discovery(w http.ResponseWriter, _ *http.Request) {
	i.mu.Lock()
	methods := append([]string(nil), i.authMethods...)
	i.mu.Unlock()
	doc := map[string]any{
		"issuer":                                i.URL(),
		"authorization_endpoint":                i.URL() + "/auth",
		"token_endpoint":                        i.URL() + "/token",
		"jwks_uri":                              i.URL() + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"grant_types_supported":                 []string{GrantAuthCode, GrantRefreshToken, GrantExchange},
	}
	if len(methods) > 0 {
		doc["token_endpoint_auth_methods_supported"] = methods
	}
	writeJSON(w, http.StatusOK, doc)
}

func (i *IdP) jwks(w http.ResponseWriter, _ *http.Request) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &i.key.PublicKey, KeyID: "k1", Algorithm: string(jose.ES256), Use: "sig",
	}}}
	writeJSON(w, http.StatusOK, set)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (i *IdP) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "unparsable form")
		return
	}
	form := url.Values{}
	for k, v := range r.PostForm {
		if k != "client_secret" {
			form[k] = append([]string(nil), v...)
		}
	}
	grant := r.PostForm.Get("grant_type")
	auth, clientID, secret := "none", r.PostForm.Get("client_id"), ""
	if u, p, ok := r.BasicAuth(); ok {
		auth = "basic"
		clientID, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	} else if r.PostForm.Has("client_secret") {
		auth = "post"
		secret = r.PostForm.Get("client_secret")
	}

	i.mu.Lock()
	i.requests = append(i.requests, TokenRequest{Grant: grant, Form: form, Auth: auth, ClientID: clientID})
	hang := i.hang[grant]
	var fail *scripted
	if q := i.failNext[grant]; len(q) > 0 {
		fail = &q[0]
		i.failNext[grant] = q[1:]
	}
	secretOK := secret == ClientSecret || i.extraSecrets[secret]
	i.mu.Unlock()

	if hang != nil {
		select {
		case hang.entered <- struct{}{}:
		default:
		}
		select {
		case <-hang.release:
		case <-r.Context().Done():
			return
		case <-i.closed:
			return
		}
	}
	if fail != nil {
		if strings.HasPrefix(fail.body, "{") {
			w.Header().Set("Content-Type", "application/json")
		} else {
			w.Header().Set("Content-Type", "text/plain")
		}
		w.WriteHeader(fail.status)
		_, _ = w.Write([]byte(fail.body))
		return
	}
	if clientID != ClientID || !secretOK {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	switch grant {
	case GrantRefreshToken:
		i.grantRefresh(w, r.PostForm.Get("refresh_token"))
	case GrantAuthCode:
		i.grantCode(w, r.PostForm.Get("code"))
	case GrantExchange:
		i.grantExchange(w, r.PostForm)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant type not served")
	}
}

func (i *IdP) grantRefresh(w http.ResponseWriter, rt string) {
	i.mu.Lock()
	subject, ok := i.refresh[rt]
	if !ok {
		i.mu.Unlock()
		oauthError(w, http.StatusBadRequest, "invalid_grant", "grant request is invalid")
		return
	}
	newRT := ""
	if !i.noRotate {
		delete(i.refresh, rt)
		newRT = "rt-" + randHex()
		i.refresh[newRT] = subject
	}
	i.mu.Unlock()
	i.issue(w, subject, newRT)
}

func (i *IdP) grantCode(w http.ResponseWriter, code string) {
	i.mu.Lock()
	subject, ok := i.codes[code]
	delete(i.codes, code)
	rt := ""
	if ok {
		rt = "rt-" + randHex()
		i.refresh[rt] = subject
	}
	i.mu.Unlock()
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown code")
		return
	}
	i.issue(w, subject, rt)
}

func (i *IdP) issue(w http.ResponseWriter, subject, rt string) {
	at := "at-" + randHex()
	i.mu.Lock()
	i.access[at] = tokenInfo{subject: subject, scope: "openid offline_access"}
	ttl, mode := i.accessTTL, i.idTokenMode
	i.mu.Unlock()
	resp := map[string]any{
		"access_token": at,
		"token_type":   "Bearer",
		"expires_in":   int(ttl / time.Second),
		"scope":        "openid offline_access",
	}
	if rt != "" {
		resp["refresh_token"] = rt
	}
	if mode != IDTokenNone {
		idt, err := i.idToken(subject, mode)
		if err != nil {
			oauthError(w, http.StatusInternalServerError, "server_error", "signing failed")
			return
		}
		resp["id_token"] = idt
	}
	writeJSON(w, http.StatusOK, resp)
}

func (i *IdP) idToken(subject string, mode IDTokenMode) (string, error) {
	iss, aud, key := i.URL(), ClientID, i.key
	switch mode {
	case IDTokenWrongAudience:
		aud = "someone-else"
	case IDTokenWrongIssuer:
		iss = "https://issuer.invalid"
	case IDTokenBadSignature:
		key = i.other
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("tokenidp: signer: %w", err)
	}
	now := time.Now()
	payload, err := json.Marshal(map[string]any{
		"iss": iss, "sub": subject, "aud": aud,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	if err != nil {
		return "", fmt.Errorf("tokenidp: claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("tokenidp: sign: %w", err)
	}
	return jws.CompactSerialize()
}

func (i *IdP) grantExchange(w http.ResponseWriter, form url.Values) {
	if form.Get("subject_token_type") != TokenTypeAccess {
		oauthError(w, http.StatusBadRequest, "invalid_request", "unsupported subject_token_type")
		return
	}
	if rt := form.Get("requested_token_type"); rt != "" && rt != TokenTypeAccess {
		oauthError(w, http.StatusBadRequest, "invalid_request", "unsupported requested_token_type")
		return
	}
	i.mu.Lock()
	info, ok := i.access[form.Get("subject_token")]
	ttl := i.exchangeTTL
	i.mu.Unlock()
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "subject token is not active")
		return
	}
	xt := "xt-" + randHex()
	scope := form.Get("scope")
	i.mu.Lock()
	i.access[xt] = tokenInfo{subject: info.subject, scope: scope}
	i.mu.Unlock()
	resp := map[string]any{
		"access_token":      xt,
		"issued_token_type": TokenTypeAccess,
		"token_type":        "Bearer",
	}
	if ttl > 0 {
		resp["expires_in"] = int(ttl / time.Second)
	}
	if scope != "" {
		resp["scope"] = scope
	}
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
