package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/vaultcred/gettoken/credmon"
	"github.com/vaultcred/gettoken/internal/htcondor"
)

// noCondor is a knob getter for a host without HTCondor.
func noCondor(context.Context, ...string) (map[string]string, error) {
	return nil, &htcondor.NotInstalledError{Command: "condor_config_val"}
}

// knobs is a knob getter answering from m, case-insensitively and keyed
// by the names as asked, like htcondor.Config.Get.
func knobs(m map[string]string) knobGetter {
	return func(_ context.Context, names ...string) (map[string]string, error) {
		out := map[string]string{}
		for _, n := range names {
			for k, v := range m {
				if strings.EqualFold(k, n) {
					out[n] = v
				}
			}
		}
		return out, nil
	}
}

func runKeygen(t *testing.T, get knobGetter, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, get, &out, &errb)
	return code, out.String(), errb.String()
}

// mint signs a token with the local issuer configured on privPath.
func mint(t *testing.T, privPath, kid string) string {
	t.Helper()
	p, err := credmon.NewLocalProvider(credmon.LocalConfig{
		Provider: "scitokens", PrivateKeyPath: privPath, KeyID: kid, Issuer: "https://issuer.example",
		Audience: []string{"https://aud.example"}, Version: "scitoken:2.0", Lifetime: 20 * time.Minute,
		Scopes: credmon.ScopePolicy{AuthzTemplate: "read:/user/{username}"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Refresh(context.Background(), credmon.Cred{Root: "/r", User: "alice", Name: "scitokens"}, []byte("alice"))
	if err != nil {
		t.Fatal(err)
	}
	var use struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(out.Use, &use); err != nil {
		t.Fatal(err)
	}
	return use.AccessToken
}

// verify checks tok against the printed JWKS and returns its claims.
func verify(tok, jwks string) (map[string]any, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(jwks), &set); err != nil {
		return nil, err
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		return nil, err
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		return nil, os.ErrNotExist
	}
	var claims map[string]any
	err = parsed.Claims(keys[0].Key, &claims)
	return claims, err
}

func TestKeygenJWKSVerifiesMintedTokens(t *testing.T) {
	for _, kind := range []string{"ec", "rsa"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			priv, pub := filepath.Join(dir, "priv.pem"), filepath.Join(dir, "pub.pem")
			code, jwks, stderr := runKeygen(t, noCondor, "-type", kind, "-private", priv, "-public", pub, "-kid", "abc0")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stderr, "Created a new") {
				t.Errorf("stderr %q", stderr)
			}
			for path, mode := range map[string]os.FileMode{priv: 0o600, pub: 0o644} {
				if info, err := os.Stat(path); err != nil || info.Mode().Perm() != mode {
					t.Errorf("%s: %v %v, want mode %o", path, info, err, mode)
				}
			}
			tok := mint(t, priv, "abc0")
			claims, err := verify(tok, jwks)
			if err != nil {
				t.Fatalf("token does not verify against the printed JWKS: %v", err)
			}
			if claims["sub"] != "alice" || claims["scope"] != "read:/user/alice" || claims["iss"] != "https://issuer.example" {
				t.Errorf("claims %v", claims)
			}
			want := map[string]string{"ec": "ES256", "rsa": "RS256"}[kind]
			if !strings.Contains(jwks, `"alg": "`+want+`"`) {
				t.Errorf("JWKS lacks alg %s: %s", want, jwks)
			}

			// A token signed with another key (same kid) does not verify.
			other := filepath.Join(dir, "other.pem")
			if code, _, stderr := runKeygen(t, noCondor, "-type", kind, "-private", other, "-public", other+".pub"); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if _, err := verify(mint(t, other, "abc0"), jwks); err == nil {
				t.Error("a token from another key verified")
			}
		})
	}
}

func TestKeygenKeepsExistingKeyUnlessForced(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "priv.pem"), filepath.Join(dir, "pub.pem")
	_, first, _ := runKeygen(t, noCondor, "-private", priv, "-public", pub)
	code, second, stderr := runKeygen(t, noCondor, "-private", priv, "-public", pub, "-type", "rsa")
	if code != 0 || second != first || !strings.Contains(stderr, "existing private key") {
		t.Errorf("second run: exit %d, same JWKS %v, stderr %q", code, second == first, stderr)
	}
	if !strings.Contains(first, `"kid": "local"`) {
		t.Errorf("default kid not used: %s", first)
	}
	code, third, _ := runKeygen(t, noCondor, "-private", priv, "-public", pub, "-force", "-type", "rsa")
	if code != 0 || third == first || !strings.Contains(third, `"kty": "RSA"`) {
		t.Errorf("-force: exit %d, JWKS %s", code, third)
	}
}

func TestKeygenReadsKnobs(t *testing.T) {
	dir := t.TempDir()
	get := knobs(map[string]string{
		"LOCAL_CREDMON_PRIVATE_KEY":           filepath.Join(dir, "generic.pem"),
		"LOCAL_CREDMON_SCITOKENS_PRIVATE_KEY": filepath.Join(dir, "specific.pem"),
		"LOCAL_CREDMON_PUBLIC_KEY":            filepath.Join(dir, "public.pem"),
		"LOCAL_CREDMON_KEY_ID":                "kid-from-knob",
		"LOCAL_CREDMON_ISSUER":                "https://ap.example/scitokens",
	})
	code, jwks, stderr := runKeygen(t, get, "-provider", "scitokens")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, f := range []string{"specific.pem", "public.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "generic.pem")); err == nil {
		t.Error("the generic knob won over the provider's")
	}
	if !strings.Contains(jwks, `"kid": "kid-from-knob"`) {
		t.Errorf("JWKS %s", jwks)
	}
	if !strings.Contains(stderr, "https://ap.example/scitokens/.well-known/issuer.jwks") {
		t.Errorf("no publishing hint: %q", stderr)
	}
	code, doc, _ := runKeygen(t, get, "-provider", "scitokens", "-openid-configuration")
	var cfg map[string]string
	if code != 0 || json.Unmarshal([]byte(doc), &cfg) != nil ||
		cfg["issuer"] != "https://ap.example/scitokens" || cfg["jwks_uri"] != "https://ap.example/scitokens/.well-known/issuer.jwks" {
		t.Errorf("-openid-configuration: exit %d, %s", code, doc)
	}
}

func TestKeygenUsageErrors(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "p.pem")
	for name, args := range map[string][]string{
		"bad type":        {"-type", "dsa", "-private", priv},
		"extra argument":  {"-private", priv, "extra"},
		"unknown flag":    {"-nope"},
		"openid, no iss":  {"-private", priv, "-public", priv + ".pub", "-openid-configuration"},
		"bad provider":    {"-provider", "a b"},
		"provider with +": {"-provider", "a+b"},
	} {
		if code, _, _ := runKeygen(t, noCondor, args...); code != 2 {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
		if _, err := os.Stat(priv); err == nil {
			t.Fatalf("%s: a key was written despite the usage error", name)
		}
	}
	os.WriteFile(priv, []byte("not a key"), 0o600)
	code, out, stderr := runKeygen(t, noCondor, "-private", priv, "-public", priv+".pub")
	if code != 1 || out != "" || !strings.Contains(stderr, "unusable signing key") {
		t.Errorf("bad key: exit %d, out %q, stderr %q", code, out, stderr)
	}
}
