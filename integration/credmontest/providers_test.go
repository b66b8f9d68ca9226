package credmontest

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// tlsIdP puts the IdP behind TLS with the stack's certificate (token
// endpoints must be https for the OAuth provider).
func tlsIdP(t *testing.T) string {
	t.Helper()
	u, _ := url.Parse(env.Stack.IdP.URL)
	cert, err := tls.LoadX509KeyPair(env.Stack.Certs.CertFile, env.Stack.Certs.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: httputil.NewSingleHostReverseProxy(u)}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "https://localhost:" + strings.TrimPrefix(l.Addr().String(), "127.0.0.1:")
}

func TestOAuthTopRefreshedAtTheIdP(t *testing.T) {
	// A refresh token from a real login at the IdP (client vault-default).
	sec, err := env.Stack.Login(t.Context(), "default", "default", "bob")
	if err != nil {
		t.Fatal(err)
	}
	rt := sec.Auth.Metadata["oauth2_refresh_token"]
	iss := env.Stack.Issuers[0]
	s := newSite(t, map[string]string{"BOX_CLIENT_ID": iss.ClientID}, "SSL_CERT_FILE="+env.CAFile)
	w := s.watch()
	ud := filepath.Join(s.condor.CredDir, "bob")
	os.Mkdir(ud, 0o700)
	meta, _ := json.Marshal(map[string]any{"client_id": iss.ClientID, "client_secret": iss.ClientSecret,
		"token_url": tlsIdP(t) + "/token", "use_refresh_token": true})
	top, _ := json.Marshal(map[string]string{"refresh_token": rt})
	writeAtomic(t, filepath.Join(ud, "box.meta"), meta)
	writeAtomic(t, filepath.Join(ud, "box.top"), top)
	use := filepath.Join(ud, "box.use")
	w.WaitFor(t, 10*time.Second, "box.use", func() bool { return exists(use) }, s.proc)
	var got map[string]any
	if err := json.Unmarshal(readFile(t, use), &got); err != nil {
		t.Fatalf("box.use is not JSON: %v", err)
	}
	at, _ := got["access_token"].(string)
	if at == "" || got["refresh_token"] != nil {
		t.Fatalf("box.use keys %v: want access_token and no refresh_token", keys(got))
	}
	if cl := jwtClaims(t, []byte(at)); cl["sub"] != "bob" {
		t.Errorf("access token sub %v", cl["sub"])
	}
	if strings.Contains(string(readFile(t, s.log)), rt) {
		t.Error("the refresh token is in the log")
	}
}

func keys(m map[string]any) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

func writeAtomic(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
}

func TestLocalIssuerTokensVerifyAgainstTheJWKS(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "issuer.pem"), filepath.Join(dir, "issuer.pub")
	out, err := exec.Command(filepath.Join(env.Bin, "condor_credmon_vault_keygen"), "-private", priv, "-public", pub, "-kid", "key1").Output()
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(out, &jwks); err != nil || len(jwks.Keys) != 1 {
		t.Fatalf("keygen printed no JWKS: %v\n%s", err, out)
	}
	s := newSite(t, map[string]string{
		"LOCAL_CREDMON_PROVIDER_NAMES": "scitokens",
		"LOCAL_CREDMON_PRIVATE_KEY":    priv,
		"LOCAL_CREDMON_PUBLIC_KEY":     pub,
		"LOCAL_CREDMON_KEY_ID":         "key1",
		"LOCAL_CREDMON_ISSUER":         "https://ap.example.org",
		"LOCAL_CREDMON_TOKEN_AUDIENCE": "https://storage.example.org",
	})
	w := s.watch()
	ud := filepath.Join(s.condor.CredDir, "carol")
	os.Mkdir(ud, 0o700)
	writeAtomic(t, filepath.Join(ud, "scitokens.top"), []byte("carol"))
	use := filepath.Join(ud, "scitokens.use")
	w.WaitFor(t, 10*time.Second, "scitokens.use", func() bool { return exists(use) }, s.proc)
	var doc struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(readFile(t, use), &doc); err != nil || doc.AccessToken == "" {
		t.Fatalf("scitokens.use: %v", err)
	}
	tok, err := jwt.ParseSigned(doc.AccessToken, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var cl struct {
		jwt.Claims
		Scope string `json:"scope"`
		Ver   string `json:"ver"`
	}
	if err := tok.Claims(jwks.Keys[0].Key, &cl); err != nil {
		t.Fatalf("the token does not verify against the published JWKS: %v", err)
	}
	if cl.Subject != "carol" || cl.Issuer != "https://ap.example.org" || !cl.Audience.Contains("https://storage.example.org") ||
		cl.Scope != "read:/user/carol write:/user/carol" || cl.Ver != "scitoken:2.0" {
		t.Errorf("claims %+v", cl)
	}
	if life := cl.Expiry.Time().Sub(cl.IssuedAt.Time()); life != 1200*time.Second || doc.ExpiresIn != 1200 {
		t.Errorf("lifetime %v, expires_in %d: want 1200 s", life, doc.ExpiresIn)
	}
	if h := tok.Headers[0].KeyID; h != "key1" {
		t.Errorf("kid %q", h)
	}
}
