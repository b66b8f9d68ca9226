package credmon

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestGenerateAndParseRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		kind    KeyType
		pemType string
		alg     string
	}{
		{KeyEC, "EC PRIVATE KEY", "ES256"},
		{"", "EC PRIVATE KEY", "ES256"},
		{KeyRSA, "RSA PRIVATE KEY", "RS256"},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			key, err := GenerateSigningKey(tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			data, err := marshalPrivateKeyPEM(key)
			if err != nil {
				t.Fatal(err)
			}
			if first := strings.SplitN(string(data), "\n", 2)[0]; first != "-----BEGIN "+tc.pemType+"-----" {
				t.Errorf("first line %q, want the %s header", first, tc.pemType)
			}
			back, err := ParsePrivateKeyPEM(data)
			if err != nil {
				t.Fatal(err)
			}
			if !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Error("parsed key differs from the generated one")
			}
			alg, err := SigningAlgorithm(back.Public())
			if err != nil || alg != tc.alg {
				t.Errorf("SigningAlgorithm = %q, %v; want %s", alg, err, tc.alg)
			}
		})
	}
	if _, err := GenerateSigningKey("dsa"); !errors.Is(err, ErrBadKey) {
		t.Errorf("GenerateSigningKey(dsa) = %v, want ErrBadKey", err)
	}
}

func TestParsePKCS8AndP384(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	if alg, _ := SigningAlgorithm(got.Public()); alg != "ES384" {
		t.Errorf("alg %q, want ES384", alg)
	}
}

func TestParseRejects(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)})
	ec, _ := GenerateSigningKey(KeyEC)
	pub, _ := marshalPublicKeyPEM(ec.Public())
	secretish := "-----BEGIN EC PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END EC PRIVATE KEY-----\n"
	for name, data := range map[string][]byte{
		"empty":       nil,
		"not pem":     []byte("hello"),
		"public key":  pub,
		"rsa 1024":    smallPEM,
		"garbage der": []byte(secretish),
	} {
		_, err := ParsePrivateKeyPEM(data)
		if !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: err = %v, want ErrBadKey", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "TOPSECRET") {
			t.Errorf("%s: error shows key material: %v", name, err)
		}
	}
}

func TestPublicJWKS(t *testing.T) {
	for _, kind := range []KeyType{KeyEC, KeyRSA} {
		key, _ := GenerateSigningKey(kind)
		out, err := PublicJWKS(key.Public(), "abc0")
		if err != nil {
			t.Fatal(err)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(out, &set); err != nil {
			t.Fatal(err)
		}
		keys := set.Key("abc0")
		if len(keys) != 1 || !keys[0].IsPublic() || keys[0].Use != "sig" {
			t.Fatalf("%s: JWKS %s", kind, out)
		}
		want := map[KeyType]string{KeyEC: "ES256", KeyRSA: "RS256"}[kind]
		if keys[0].Algorithm != want {
			t.Errorf("%s: alg %q, want %s", kind, keys[0].Algorithm, want)
		}
		if strings.Contains(string(out), `"d"`) {
			t.Errorf("%s: JWKS contains the private exponent: %s", kind, out)
		}
	}
	key, _ := GenerateSigningKey(KeyEC)
	if _, err := PublicJWKS(key.Public(), ""); err == nil {
		t.Error("empty kid accepted")
	}
}

func TestEnsureKeyPair(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "priv.pem"), filepath.Join(dir, "pub.pem")
	created, err := EnsureKeyPair(priv, pub, KeyEC)
	if err != nil || !created {
		t.Fatalf("EnsureKeyPair = %v, %v", created, err)
	}
	assertFileMode(t, priv, 0o600)
	assertFileMode(t, pub, 0o644)
	key, err := LoadSigningKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(priv)

	// A second call keeps the key.
	created, err = EnsureKeyPair(priv, pub, KeyRSA)
	if err != nil || created {
		t.Fatalf("second EnsureKeyPair = %v, %v", created, err)
	}
	if again, _ := os.ReadFile(priv); string(again) != string(first) {
		t.Error("existing private key replaced")
	}

	// A lost public key is derived again.
	os.Remove(pub)
	if _, err := EnsureKeyPair(priv, pub, KeyEC); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	p, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil || !key.Public().(*ecdsa.PublicKey).Equal(p) {
		t.Errorf("re-derived public key does not match: %v", err)
	}

	// An unparsable existing key is an error, not replaced.
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("junk"), 0o600)
	if _, err := EnsureKeyPair(bad, "", KeyEC); !errors.Is(err, ErrBadKey) {
		t.Errorf("bad existing key: %v, want ErrBadKey", err)
	}

	// A directory that does not exist: error, and nothing left behind.
	if _, err := EnsureKeyPair(filepath.Join(dir, "no", "priv.pem"), "", KeyEC); err == nil {
		t.Error("missing directory accepted")
	}
}

func TestEnsureKeyPairCleansUpOnFailure(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "priv.pem")
	// The public key cannot be written (its directory is missing): the
	// private key that was written stays valid, not an empty reservation.
	_, err := EnsureKeyPair(priv, filepath.Join(dir, "missing", "pub.pem"), KeyEC)
	if err == nil {
		t.Fatal("unwritable public key accepted")
	}
	if info, err := os.Stat(priv); err == nil && info.Size() == 0 {
		t.Error("empty private key file left behind")
	}
}

func assertFileMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}
