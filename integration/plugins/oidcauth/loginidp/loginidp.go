// Package loginidp is a small scripted OpenID provider for the login side
// of OIDC, for tests of the substitute oidc auth plugin (package oidcauth):
// a user approves a device or authorization code, and the plugin gets an
// RS256 ID token over TLS. (Its sibling oauthapp/tokenidp is the other
// side: a token endpoint for refresh, code redemption and token exchange,
// with no user in the loop.) It serves discovery, JWKS,
// RFC 8628 device authorization, the token endpoint (device_code and
// authorization_code with PKCE S256), a code-flow authorization endpoint
// and userinfo, and records every request it receives.
//
// By default it behaves like a real provider: a device code stays
// authorization_pending until the test calls Approve or Deny, is single-use,
// and ID tokens are RS256-signed JWTs. Tests can override any answer of the
// device authorization or token endpoint by queueing scripted answers with
// QueueDevice and QueueToken, which are served first, in order.
//
// It is test infrastructure: it keeps everything in memory, records client
// secrets and tokens so tests can assert on them, and must never be used
// outside tests. It lives in a non-test package so that the integration tests
// (which run the plugin inside a real Vault server) can start the same IdP.
package loginidp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Answer is one scripted HTTP answer: a status code and a JSON object body.
type Answer struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// Body is marshalled as the JSON response body.
	Body map[string]any
}

// Account is the identity a device or authorization code is approved for.
type Account struct {
	// Subject is the `sub` claim.
	Subject string
	// Claims are extra ID token claims (for example "wlcg.credkey").
	Claims map[string]any
	// UserInfo, when non-nil, is what the userinfo endpoint answers
	// (a "sub" equal to Subject is added when missing).
	UserInfo map[string]any
}

// Request is one recorded request to the IdP.
type Request struct {
	// Method is the HTTP method.
	Method string
	// Path is the URL path (for example "/token").
	Path string
	// Form holds the POST form values or, for GET, the query values.
	Form url.Values
	// Authorization is the Authorization header, if any.
	Authorization string
}

// Options configure a Server. The zero value is usable.
type Options struct {
	// ClientID and ClientSecret are the only accepted client credentials
	// (client_secret_post); defaults "vault" / "vault-secret".
	ClientID, ClientSecret string
	// NoDevice omits device_authorization_endpoint from discovery.
	NoDevice bool
	// NoVerificationURIComplete omits verification_uri_complete from
	// device authorization answers.
	NoVerificationURIComplete bool
	// Interval is the device authorization `interval` (0 omits it).
	Interval int
	// ExpiresIn is the device code lifetime in seconds (default 600).
	ExpiresIn int
	// TLS starts an HTTPS server (its CA is returned by CAPEM).
	TLS bool
}

type deviceGrant struct {
	userCode string
	account  *Account
	denied   bool
	used     bool
	scope    string
}

type codeGrant struct {
	account     *Account
	redirectURI string
	challenge   string
	nonce       string
	used        bool
}

// Server is a running fake IdP. Create it with New and stop it with Close.
type Server struct {
	srv  *httptest.Server
	opts Options
	key  *rsa.PrivateKey
	sig  jose.Signer

	mu            sync.Mutex
	requests      []Request
	deviceQueue   []Answer
	tokenQueue    []Answer
	devices       map[string]*deviceGrant // by device code
	userCodes     map[string]string       // user code -> device code
	codes         map[string]*codeGrant
	accessTokens  map[string]*Account
	authorizeAcct *Account
	userinfoFail  bool
	seq           int
}

// New starts a fake IdP on a loopback port.
func New(opts Options) (*Server, error) {
	if opts.ClientID == "" {
		opts.ClientID = "vault"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "vault-secret"
	}
	if opts.ExpiresIn == 0 {
		opts.ExpiresIn = 600
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("loginidp: generating key: %w", err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		return nil, fmt.Errorf("loginidp: creating signer: %w", err)
	}
	s := &Server{
		opts:         opts,
		key:          key,
		sig:          sig,
		devices:      map[string]*deviceGrant{},
		userCodes:    map[string]string{},
		codes:        map[string]*codeGrant{},
		accessTokens: map[string]*Account{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", s.discovery)
	mux.HandleFunc("/jwks", s.jwks)
	mux.HandleFunc("/device/auth", s.deviceAuth)
	mux.HandleFunc("/token", s.token)
	mux.HandleFunc("/authorize", s.authorize)
	mux.HandleFunc("/userinfo", s.userinfo)
	s.srv = httptest.NewUnstartedServer(mux)
	// handshake failures are expected in negative tests; keep them quiet
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if opts.TLS {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// URL is the issuer URL (no trailing slash).
func (s *Server) URL() string { return s.srv.URL }

// Client returns an HTTP client that trusts the server (useful with TLS).
func (s *Server) Client() *http.Client { return s.srv.Client() }

// ClientID returns the accepted client id.
func (s *Server) ClientID() string { return s.opts.ClientID }

// ClientSecret returns the accepted client secret.
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// CAPEM returns the PEM of the server's certificate when started with TLS,
// else "".
func (s *Server) CAPEM() string {
	if s.srv.Certificate() == nil {
		return ""
	}
	return string(pemEncode(s.srv.Certificate().Raw))
}

// QueueDevice queues scripted answers for the device authorization endpoint.
func (s *Server) QueueDevice(a ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deviceQueue = append(s.deviceQueue, a...)
}

// QueueToken queues scripted answers for the token endpoint.
func (s *Server) QueueToken(a ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenQueue = append(s.tokenQueue, a...)
}

// SetAuthorizeAccount makes the authorization endpoint approve every code
// flow request for acct (nil makes it answer access_denied).
func (s *Server) SetAuthorizeAccount(acct *Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authorizeAcct = acct
}

// FailUserInfo makes the userinfo endpoint answer 500 when fail is true.
func (s *Server) FailUserInfo(fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userinfoFail = fail
}

// Approve approves the device authorization with the given user code, or
// the most recent one when userCode is "". It reports whether one was found.
func (s *Server) Approve(userCode string, acct Account) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.findDevice(userCode)
	if g == nil {
		return false
	}
	g.account = &acct
	return true
}

// Deny denies the device authorization with the given user code (or the
// most recent one when ""); polling then answers access_denied.
func (s *Server) Deny(userCode string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.findDevice(userCode)
	if g == nil {
		return false
	}
	g.denied = true
	return true
}

func (s *Server) findDevice(userCode string) *deviceGrant {
	if userCode == "" {
		var last *deviceGrant
		best := -1
		for dc, g := range s.devices {
			var n int
			if _, err := fmt.Sscanf(dc, "dc-%d", &n); err == nil && n > best {
				best, last = n, g
			}
		}
		return last
	}
	if dc, ok := s.userCodes[userCode]; ok {
		return s.devices[dc]
	}
	return nil
}

// Requests returns a copy of the recorded requests.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// RequestsTo returns the recorded requests whose path is path.
func (s *Server) RequestsTo(path string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) record(r *http.Request) url.Values {
	_ = r.ParseForm()
	form := url.Values{}
	if r.Method == http.MethodPost {
		for k, v := range r.PostForm {
			form[k] = v
		}
	} else {
		for k, v := range r.Form {
			form[k] = v
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Form: form,
		Authorization: r.Header.Get("Authorization")})
	s.mu.Unlock()
	return form
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func oauthError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]any{"error": code})
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	s.record(r)
	u := s.srv.URL
	d := map[string]any{
		"issuer":                                u,
		"authorization_endpoint":                u + "/authorize",
		"token_endpoint":                        u + "/token",
		"jwks_uri":                              u + "/jwks",
		"userinfo_endpoint":                     u + "/userinfo",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256"},
		"grant_types_supported": []string{"authorization_code", "refresh_token",
			"urn:ietf:params:oauth:grant-type:device_code"},
	}
	if !s.opts.NoDevice {
		d["device_authorization_endpoint"] = u + "/device/auth"
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	s.record(r)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &s.key.PublicKey, KeyID: "k1",
		Algorithm: string(jose.RS256), Use: "sig"}}}
	writeJSON(w, http.StatusOK, set)
}

func (s *Server) clientOK(form url.Values) bool {
	return form.Get("client_id") == s.opts.ClientID && form.Get("client_secret") == s.opts.ClientSecret
}

func (s *Server) deviceAuth(w http.ResponseWriter, r *http.Request) {
	form := s.record(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.deviceQueue) > 0 {
		a := s.deviceQueue[0]
		s.deviceQueue = s.deviceQueue[1:]
		writeJSON(w, a.Status, a.Body)
		return
	}
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request")
		return
	}
	if !s.clientOK(form) {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	s.seq++
	dc := fmt.Sprintf("dc-%d", s.seq)
	uc := fmt.Sprintf("UC-%04d", s.seq)
	s.devices[dc] = &deviceGrant{userCode: uc, scope: form.Get("scope")}
	s.userCodes[uc] = dc
	body := map[string]any{
		"device_code":      dc,
		"user_code":        uc,
		"verification_uri": s.srv.URL + "/device",
		"expires_in":       s.opts.ExpiresIn,
	}
	if !s.opts.NoVerificationURIComplete {
		body["verification_uri_complete"] = s.srv.URL + "/device?user_code=" + uc
	}
	if s.opts.Interval > 0 {
		body["interval"] = s.opts.Interval
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	form := s.record(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tokenQueue) > 0 {
		a := s.tokenQueue[0]
		s.tokenQueue = s.tokenQueue[1:]
		writeJSON(w, a.Status, a.Body)
		return
	}
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request")
		return
	}
	if !s.clientOK(form) {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	switch form.Get("grant_type") {
	case "urn:ietf:params:oauth:grant-type:device_code":
		g := s.devices[form.Get("device_code")]
		switch {
		case g == nil || g.used:
			oauthError(w, http.StatusBadRequest, "invalid_grant")
		case g.denied:
			g.used = true
			oauthError(w, http.StatusBadRequest, "access_denied")
		case g.account == nil:
			oauthError(w, http.StatusBadRequest, "authorization_pending")
		default:
			g.used = true
			s.issue(w, g.account, "")
		}
	case "authorization_code":
		g := s.codes[form.Get("code")]
		if g == nil || g.used || g.redirectURI != form.Get("redirect_uri") {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		sum := sha256.Sum256([]byte(form.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		g.used = true
		s.issue(w, g.account, g.nonce)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
	}
}

// issue writes a token response; s.mu is held.
func (s *Server) issue(w http.ResponseWriter, acct *Account, nonce string) {
	s.seq++
	at := fmt.Sprintf("at-%d", s.seq)
	rt := fmt.Sprintf("rt-%d", s.seq)
	s.accessTokens[at] = acct
	idt, err := s.IDToken(*acct, nonce)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  at,
		"token_type":    "Bearer",
		"expires_in":    120,
		"refresh_token": rt,
		"id_token":      idt,
		"scope":         "openid",
	})
}

// IDToken returns a signed ID token for acct (audience = client id), with
// the nonce claim when nonce is non-empty. Tests use it to script token
// endpoint answers.
func (s *Server) IDToken(acct Account, nonce string) (string, error) {
	now := time.Now()
	claims := map[string]any{}
	for k, v := range acct.Claims {
		claims[k] = v
	}
	claims["iss"] = s.srv.URL
	claims["sub"] = acct.Subject
	claims["aud"] = s.opts.ClientID
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(5 * time.Minute).Unix()
	if nonce != "" {
		claims["nonce"] = nonce
	}
	raw, err := jwt.Signed(s.sig).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("loginidp: signing id token: %w", err)
	}
	return raw, nil
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := s.record(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Scheme == "" || q.Get("client_id") != s.opts.ClientID ||
		q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	rq := redirect.Query()
	rq.Set("state", q.Get("state"))
	if s.authorizeAcct == nil {
		rq.Set("error", "access_denied")
	} else {
		s.seq++
		code := fmt.Sprintf("code-%d", s.seq)
		s.codes[code] = &codeGrant{account: s.authorizeAcct, redirectURI: q.Get("redirect_uri"),
			challenge: q.Get("code_challenge"), nonce: q.Get("nonce")}
		rq.Set("code", code)
	}
	redirect.RawQuery = rq.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	s.record(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.userinfoFail {
		oauthError(w, http.StatusInternalServerError, "server_error")
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	acct := s.accessTokens[tok]
	if !ok || acct == nil {
		oauthError(w, http.StatusUnauthorized, "invalid_token")
		return
	}
	out := map[string]any{"sub": acct.Subject}
	for k, v := range acct.UserInfo {
		out[k] = v
	}
	writeJSON(w, http.StatusOK, out)
}

func pemEncode(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
