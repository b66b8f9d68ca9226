package credmon

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

var issuerTestNow = time.Unix(1_760_000_000, 0)

// issuerTestKey writes a new key of kind into dir and returns its path and JWKS.
func issuerTestKey(t *testing.T, kind KeyType, kid string) (string, jose.JSONWebKeySet) {
	t.Helper()
	key, err := GenerateSigningKey(kind)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "priv.pem")
	if err := WriteKeyPair(key, path, ""); err != nil {
		t.Fatal(err)
	}
	raw, err := PublicJWKS(key.Public(), kid)
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	return path, set
}

// verifyIssuedToken checks tok's signature against set (by kid) and returns its
// header and claims.
func verifyIssuedToken(t *testing.T, tok string, set jose.JSONWebKeySet) (jose.Header, map[string]any) {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	h := parsed.Headers[0]
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("no key %q in the JWKS", h.KeyID)
	}
	var claims map[string]any
	if err := parsed.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	return h, claims
}

func localFromKnobs(t *testing.T, knobs map[string]string) *LocalProvider {
	t.Helper()
	cfg, err := LocalConfigFromKnobs("scitokens", knobMap(knobs))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Now = func() time.Time { return issuerTestNow }
	p, err := NewLocalProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// knobMap looks knobs up case-insensitively, as HTCondor does.
func knobMap(m map[string]string) func(string) (string, bool) {
	up := map[string]string{}
	for k, v := range m {
		up[strings.ToUpper(k)] = v
	}
	return func(k string) (string, bool) { v, ok := up[strings.ToUpper(k)]; return v, ok }
}

func TestLocalMintClaimsExact(t *testing.T) {
	for _, kind := range []KeyType{KeyEC, KeyRSA} {
		t.Run(string(kind), func(t *testing.T) {
			keyPath, set := issuerTestKey(t, kind, "abc0")
			mapfile := filepath.Join(t.TempDir(), "map")
			os.WriteFile(mapfile, []byte("# comment\n* alice projectB\n* bob projectA,projectB\n* bob ignored\nbob x y\n"), 0o600)
			p := localFromKnobs(t, map[string]string{
				"LOCAL_CREDMON_PRIVATE_KEY":          keyPath,
				"LOCAL_CREDMON_KEY_ID":               "abc0",
				"LOCAL_CREDMON_ISSUER":               "https://example.com/scitokens",
				"LOCAL_CREDMON_TOKEN_AUDIENCE":       "https://example.com  https://anotherserver.edu",
				"LOCAL_CREDMON_TOKEN_LIFETIME":       "600",
				"LOCAL_CREDMON_AUTHZ_TEMPLATE":       "read:/user/{username} write:/user/{username}",
				"LOCAL_CREDMON_AUTHZ_GROUP_TEMPLATE": "read:/groups/{groupname} write:/groups/{groupname}",
				"LOCAL_CREDMON_AUTHZ_GROUP_MAPFILE":  mapfile,
			})
			out, err := p.Refresh(context.Background(), Cred{Root: "/x", User: "bob", Name: "scitokens"}, []byte("bob"))
			if err != nil {
				t.Fatal(err)
			}
			if out.Top != nil {
				t.Error("local provider rewrote the .top")
			}
			var use struct {
				AccessToken string `json:"access_token"`
				ExpiresIn   *int64 `json:"expires_in"`
			}
			if err := json.Unmarshal(out.Use, &use); err != nil {
				t.Fatalf(".use is not JSON: %v", err)
			}
			if use.ExpiresIn == nil || *use.ExpiresIn != 600 {
				t.Errorf("expires_in = %v, want 600", use.ExpiresIn)
			}
			h, claims := verifyIssuedToken(t, use.AccessToken, set)
			wantAlg := map[KeyType]string{KeyEC: "ES256", KeyRSA: "RS256"}[kind]
			if h.Algorithm != wantAlg || h.KeyID != "abc0" || h.ExtraHeaders["typ"] != "JWT" {
				t.Errorf("header alg=%s kid=%s typ=%v", h.Algorithm, h.KeyID, h.ExtraHeaders["typ"])
			}
			jti, _ := claims["jti"].(string)
			if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(jti) {
				t.Errorf("jti %q is not a UUID v4", jti)
			}
			delete(claims, "jti")
			now := float64(issuerTestNow.Unix())
			want := map[string]any{
				"sub":   "bob",
				"iss":   "https://example.com/scitokens",
				"aud":   []any{"https://example.com", "https://anotherserver.edu"},
				"ver":   "scitoken:2.0",
				"scope": "read:/user/bob write:/user/bob read:/groups/projectA write:/groups/projectA read:/groups/projectB write:/groups/projectB",
				"iat":   now,
				"nbf":   now,
				"exp":   now + 600,
			}
			if !reflect.DeepEqual(claims, want) {
				t.Errorf("claims\n got %v\nwant %v", claims, want)
			}
		})
	}
}

func TestLocalPerProviderOverridesAndBareToken(t *testing.T) {
	keyPath, set := issuerTestKey(t, KeyEC, "k2")
	knobs := map[string]string{
		"LOCAL_CREDMON_PRIVATE_KEY":              "/nonexistent",
		"LOCAL_CREDMON_SCITOKENS_PRIVATE_KEY":    keyPath,
		"LOCAL_CREDMON_KEY_ID":                   "wrong",
		"LOCAL_CREDMON_SCITOKENS_KEY_ID":         "k2",
		"LOCAL_CREDMON_ISSUER":                   "https://generic",
		"LOCAL_CREDMON_SCITOKENS_ISSUER":         "https://specific",
		"LOCAL_CREDMON_TOKEN_AUDIENCE":           "aud1",
		"LOCAL_CREDMON_SCITOKENS_TOKEN_USE_JSON": "False",
		"LOCAL_CREDMON_SCITOKENS_TOKEN_VERSION":  "wlcg:1.0",
		"LOCAL_CREDMON_SCITOKENS_AUTHZ_TEMPLATE": "storage.read:/home/{username} {{literal}}",
		"LOCAL_CREDMON_OTHER_TOKEN_LIFETIME":     "5",
	}
	p := localFromKnobs(t, knobs)
	out, err := p.Refresh(context.Background(), Cred{User: "carol", Name: "scitokens_h1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out.Use)
	if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 || strings.HasPrefix(s, "{") {
		t.Fatalf("bare .use %q", s)
	}
	_, claims := verifyIssuedToken(t, strings.TrimSpace(s), set)
	if claims["iss"] != "https://specific" || claims["wlcg.ver"] != "1.0" || claims["ver"] != nil {
		t.Errorf("claims %v", claims)
	}
	if claims["scope"] != "storage.read:/home/carol {literal}" {
		t.Errorf("scope %q", claims["scope"])
	}
	if claims["exp"].(float64)-claims["iat"].(float64) != 1200 {
		t.Errorf("lifetime %v, want the default 1200", claims["exp"].(float64)-claims["iat"].(float64))
	}
	// NextRefresh reads the bare token's iat/exp: half the lifetime.
	written := issuerTestNow.Add(3 * time.Second)
	if got, want := p.NextRefresh(Cred{}, out.Use, written), issuerTestNow.Add(600*time.Second); !got.Equal(want) {
		t.Errorf("NextRefresh(bare) = %v, want %v", got, want)
	}
}

func TestLocalGroupRequirement(t *testing.T) {
	keyPath, _ := issuerTestKey(t, KeyEC, "local")
	mapfile := filepath.Join(t.TempDir(), "map")
	os.WriteFile(mapfile, []byte("* bob projectA,projectB\n* alice projectB\n"), 0o600)
	knobs := map[string]string{
		"LOCAL_CREDMON_PRIVATE_KEY":             keyPath,
		"LOCAL_CREDMON_ISSUER":                  "https://iss",
		"LOCAL_CREDMON_TOKEN_AUDIENCE":          "a",
		"LOCAL_CREDMON_AUTHZ_GROUP_MAPFILE":     mapfile,
		"LOCAL_CREDMON_AUTHZ_GROUP_REQUIREMENT": "projectA",
	}
	p := localFromKnobs(t, knobs)
	if _, err := p.Refresh(context.Background(), Cred{User: "bob", Name: "scitokens"}, nil); err != nil {
		t.Errorf("bob (in projectA) refused: %v", err)
	}
	_, err := p.Refresh(context.Background(), Cred{User: "alice", Name: "scitokens"}, nil)
	var denied *GroupDeniedError
	if !errors.As(err, &denied) || denied.User != "alice" || denied.Group != "projectA" {
		t.Fatalf("alice: err = %v, want GroupDeniedError", err)
	}
	if errors.Is(err, ErrInvalid) || errors.Is(err, ErrDelete) {
		t.Error("a denied user must be retried, not invalid or deleted")
	}
	// No group template: the token has the user scopes only.
	tok, err := p.Mint("bob")
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	var claims map[string]any
	parsed.UnsafeClaimsWithoutVerification(&claims)
	if claims["scope"] != "read:/user/bob write:/user/bob" {
		t.Errorf("scope %q", claims["scope"])
	}
	// Requirement without a mapfile is a configuration error.
	delete(knobs, "LOCAL_CREDMON_AUTHZ_GROUP_MAPFILE")
	cfg, _ := LocalConfigFromKnobs("scitokens", knobMap(knobs))
	if _, err := NewLocalProvider(cfg); err == nil {
		t.Error("AUTHZ_GROUP_REQUIREMENT without a mapfile accepted")
	}
	// An unreadable mapfile is an error, not a token with fewer scopes.
	knobs["LOCAL_CREDMON_AUTHZ_GROUP_MAPFILE"] = filepath.Join(t.TempDir(), "missing")
	delete(knobs, "LOCAL_CREDMON_AUTHZ_GROUP_REQUIREMENT")
	knobs["LOCAL_CREDMON_AUTHZ_GROUP_TEMPLATE"] = "read:/g/{groupname}"
	p = localFromKnobs(t, knobs)
	if _, err := p.Refresh(context.Background(), Cred{User: "bob", Name: "scitokens"}, nil); err == nil {
		t.Error("missing mapfile accepted")
	}
}

func TestLocalConfigErrors(t *testing.T) {
	keyPath, _ := issuerTestKey(t, KeyEC, "local")
	base := map[string]string{
		"LOCAL_CREDMON_PRIVATE_KEY":    keyPath,
		"LOCAL_CREDMON_ISSUER":         "https://iss",
		"LOCAL_CREDMON_TOKEN_AUDIENCE": "a",
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		if v == "<unset>" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for name, knobs := range map[string]map[string]string{
		"no audience for scitoken:2.0": with("LOCAL_CREDMON_TOKEN_AUDIENCE", "<unset>"),
		"bad lifetime":                 with("LOCAL_CREDMON_TOKEN_LIFETIME", "20m"),
		"zero lifetime":                with("LOCAL_CREDMON_TOKEN_LIFETIME", "0"),
		"bad bool":                     with("LOCAL_CREDMON_TOKEN_USE_JSON", "maybe"),
		"unknown placeholder":          with("LOCAL_CREDMON_AUTHZ_TEMPLATE", "read:/{user}"),
		"unbalanced brace":             with("LOCAL_CREDMON_AUTHZ_TEMPLATE", "read:/{username"),
		"bad group template":           with("LOCAL_CREDMON_AUTHZ_GROUP_TEMPLATE", "read:/{username}"),
		"missing key":                  with("LOCAL_CREDMON_PRIVATE_KEY", filepath.Join(t.TempDir(), "nokey")),
	} {
		cfg, err := LocalConfigFromKnobs("scitokens", knobMap(knobs))
		if err == nil {
			_, err = NewLocalProvider(cfg)
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// No audience is fine for a SciTokens 1.0 profile (no version claim
	// is not expressible with knobs, so use the struct).
	cfg, _ := LocalConfigFromKnobs("scitokens", knobMap(with("LOCAL_CREDMON_TOKEN_AUDIENCE", "<unset>")))
	cfg.Version = ""
	p, err := NewLocalProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.Mint("u")
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	var claims map[string]any
	parsed.UnsafeClaimsWithoutVerification(&claims)
	if _, ok := claims["aud"]; ok {
		t.Error("aud claim without an audience")
	}
	if _, ok := claims["ver"]; ok {
		t.Error("ver claim without a version")
	}
}

func TestLocalDefaultIssuerFromFullHostname(t *testing.T) {
	cfg, err := LocalConfigFromKnobs("scitokens", knobMap(map[string]string{"FULL_HOSTNAME": "ap.example.org"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Issuer != "https://ap.example.org" || cfg.PrivateKeyPath != DefaultLocalPrivateKey ||
		cfg.KeyID != "local" || cfg.Version != "scitoken:2.0" || cfg.Lifetime != 1200*time.Second ||
		cfg.BareToken || cfg.Scopes.AuthzTemplate != DefaultAuthzTemplate {
		t.Errorf("defaults %+v", cfg)
	}
}

func TestIssuedNextRefresh(t *testing.T) {
	keyPath, _ := issuerTestKey(t, KeyEC, "local")
	p := localFromKnobs(t, map[string]string{
		"LOCAL_CREDMON_PRIVATE_KEY":    keyPath,
		"LOCAL_CREDMON_ISSUER":         "https://iss",
		"LOCAL_CREDMON_TOKEN_AUDIENCE": "a",
		"LOCAL_CREDMON_TOKEN_LIFETIME": "1000",
	})
	out, err := p.Refresh(context.Background(), Cred{User: "u"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	written := issuerTestNow.Add(time.Second)
	if got := p.NextRefresh(Cred{}, out.Use, written); !got.Equal(issuerTestNow.Add(500 * time.Second)) {
		t.Errorf("JSON .use: %v", got)
	}
	for name, tc := range map[string]struct {
		use  string
		want time.Time
	}{
		"empty":             {"", written},
		"bad json":          {"{", written},
		"opaque json":       {`{"access_token":"opaque","expires_in":300}`, written.Add(150 * time.Second)},
		"float expires_in":  {`{"access_token":"opaque","expires_in":300.0}`, written.Add(150 * time.Second)},
		"opaque bare":       {"opaque\n", written.Add(500 * time.Second)},
		"short token floor": {`{"access_token":"opaque","expires_in":4}`, written.Add(2 * time.Second)},
		"no expiry at all":  {`{"access_token":"opaque"}`, written},
	} {
		if got := p.NextRefresh(Cred{}, []byte(tc.use), written); !got.Equal(tc.want) {
			t.Errorf("%s: NextRefresh = %v, want %v", name, got, tc.want)
		}
	}
}

func TestExpandBraceTemplate(t *testing.T) {
	vars := map[string]string{"username": "bob"}
	for in, want := range map[string]string{
		"":                        "",
		"read:/user/{username}":   "read:/user/bob",
		"{{username}}":            "{username}",
		"a}}b{{c":                 "a}b{c",
		"{username}{username}x{{": "bobbobx{",
	} {
		if got, err := expandBraceTemplate(in, vars); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"{", "}", "{other}", "a{username"} {
		if _, err := expandBraceTemplate(bad, vars); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLocalRefreshHonoursCanceledContext(t *testing.T) {
	keyPath, _ := issuerTestKey(t, KeyEC, "local")
	p := localFromKnobs(t, map[string]string{
		"LOCAL_CREDMON_PRIVATE_KEY": keyPath, "LOCAL_CREDMON_ISSUER": "https://iss", "LOCAL_CREDMON_TOKEN_AUDIENCE": "a",
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Refresh(ctx, Cred{User: "u"}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestLocalConcurrentRefresh(t *testing.T) {
	keyPath, set := issuerTestKey(t, KeyEC, "local")
	p := localFromKnobs(t, map[string]string{
		"LOCAL_CREDMON_PRIVATE_KEY": keyPath, "LOCAL_CREDMON_ISSUER": "https://iss", "LOCAL_CREDMON_TOKEN_AUDIENCE": "a",
	})
	users := []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"}
	toks := make([]string, len(users))
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks[i], errs[i] = p.Mint(u)
		}()
	}
	wg.Wait()
	for i, u := range users {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if _, claims := verifyIssuedToken(t, toks[i], set); claims["sub"] != u {
			t.Errorf("token %d has sub %v, want %s", i, claims["sub"], u)
		}
	}
}
