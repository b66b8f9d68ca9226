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
	"fmt"
	"io/fs"
	"os"

	"github.com/go-jose/go-jose/v4"

	"github.com/vaultcred/gettoken/internal/tokenfile"
)

// Default locations of the local issuer's key pair: the defaults of
// LOCAL_CREDMON_PRIVATE_KEY and LOCAL_CREDMON_PUBLIC_KEY in HTCondor.
const (
	DefaultLocalPrivateKey = "/etc/condor/scitokens-private.pem"
	DefaultLocalPublicKey  = "/etc/condor/scitokens.pem"
)

// KeyType is the kind of signing key the local issuer uses.
type KeyType string

// The key types GenerateSigningKey makes.
const (
	// KeyEC is an ECDSA P-256 key, signing with ES256 (the default, and
	// what HTCondor's credmon creates).
	KeyEC KeyType = "ec"
	// KeyRSA is a 2048-bit RSA key, signing with RS256.
	KeyRSA KeyType = "rsa"
)

// rsaBits is the size of the RSA keys GenerateSigningKey makes.
const rsaBits = 2048

// ErrBadKey is matched by the errors for a key file that cannot be used
// to sign: not PEM, not a private key, or an unsupported key type or curve.
var ErrBadKey = errors.New("unusable signing key")

// GenerateSigningKey makes a new private key of the given type ("" means
// KeyEC).
func GenerateSigningKey(kind KeyType) (crypto.Signer, error) {
	switch kind {
	case KeyEC, "":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating an EC P-256 key: %w", err)
		}
		return k, nil
	case KeyRSA:
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return nil, fmt.Errorf("generating an RSA key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: key type %q is not %q or %q", ErrBadKey, kind, KeyEC, KeyRSA)
}

// marshalPrivateKeyPEM encodes key as PEM in the "traditional" OpenSSL
// form the scitokens tools write: "EC PRIVATE KEY" (SEC 1) or
// "RSA PRIVATE KEY" (PKCS #1).
func marshalPrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadKey, err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
	case *rsa.PrivateKey:
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
	}
	return nil, fmt.Errorf("%w: %T is not an EC or RSA private key", ErrBadKey, key)
}

// marshalPublicKeyPEM encodes pub as a PEM "PUBLIC KEY" (SubjectPublicKeyInfo).
func marshalPublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM decodes the first PEM block of data: "EC PRIVATE
// KEY", "RSA PRIVATE KEY" or "PRIVATE KEY" (PKCS #8) holding an EC key on
// P-256, P-384 or P-521 or an RSA key of at least 2048 bits. Errors
// match ErrBadKey and never contain key material.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block found", ErrBadKey)
	}
	var key any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%w: PEM block %q is not a private key", ErrBadKey, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadKey, block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not a signing key", ErrBadKey, key)
	}
	if _, err := SigningAlgorithm(signer.Public()); err != nil {
		return nil, err
	}
	return signer, nil
}

// LoadSigningKey reads and parses the private key file at path (see
// ParsePrivateKeyPEM).
func LoadSigningKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the signing key: %w", err)
	}
	k, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// SigningAlgorithm is the JWS algorithm the local issuer uses with a key:
// ES256, ES384 or ES512 by curve for EC keys, RS256 for RSA keys of at
// least 2048 bits.
func SigningAlgorithm(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return string(jose.ES256), nil
		case elliptic.P384():
			return string(jose.ES384), nil
		case elliptic.P521():
			return string(jose.ES512), nil
		}
		return "", fmt.Errorf("%w: unsupported EC curve", ErrBadKey)
	case *rsa.PublicKey:
		if k.N.BitLen() < rsaBits {
			return "", fmt.Errorf("%w: RSA key of %d bits (at least %d needed)", ErrBadKey, k.N.BitLen(), rsaBits)
		}
		return string(jose.RS256), nil
	}
	return "", fmt.Errorf("%w: %T is not an EC or RSA public key", ErrBadKey, pub)
}

// PublicJWKS returns the JSON Web Key Set holding pub, with key id kid,
// "use": "sig" and its algorithm: the document an administrator publishes
// at the URL the issuer's .well-known/openid-configuration names as
// "jwks_uri". It is indented and ends with a newline.
func PublicJWKS(pub crypto.PublicKey, kid string) ([]byte, error) {
	alg, err := SigningAlgorithm(pub)
	if err != nil {
		return nil, err
	}
	if kid == "" {
		return nil, fmt.Errorf("%w: empty key id", ErrBadKey)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"}}}
	out, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the JWKS: %w", err)
	}
	return append(out, '\n'), nil
}

// OpenIDConfiguration returns the minimal
// <issuer>/.well-known/openid-configuration document for a local issuer
// whose key set is published at jwksURI.
func OpenIDConfiguration(issuer, jwksURI string) ([]byte, error) {
	out, err := json.MarshalIndent(map[string]string{"issuer": issuer, "jwks_uri": jwksURI}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the openid-configuration: %w", err)
	}
	return append(out, '\n'), nil
}

// WriteKeyPair writes key to privatePath (mode 0600) and its public key to
// publicPath (mode 0644, as HTCondor's credmon does: it is meant to be
// published), each atomically (temporary file in the same directory, then
// rename). Existing files are replaced. An empty publicPath writes only
// the private key.
func WriteKeyPair(key crypto.Signer, privatePath, publicPath string) error {
	priv, err := marshalPrivateKeyPEM(key)
	if err != nil {
		return err
	}
	// Through tokenfile: the temporary file is made next to the key (a
	// general-purpose temporary directory such as /tmp is never used for
	// a private key), synced, and renamed into place.
	if err := tokenfile.Write(privatePath, priv, tokenfile.Options{Mode: 0o600, AllowForeign: true}); err != nil {
		return fmt.Errorf("writing the private key: %w", err)
	}
	if publicPath == "" {
		return nil
	}
	return writePublicKey(key.Public(), publicPath)
}

func writePublicKey(pub crypto.PublicKey, path string) error {
	data, err := marshalPublicKeyPEM(pub)
	if err != nil {
		return err
	}
	if err := tokenfile.Write(path, data, tokenfile.Options{Mode: 0o644, AllowForeign: true}); err != nil {
		return fmt.Errorf("writing the public key: %w", err)
	}
	return nil
}

// EnsureKeyPair is what the credmon does at start-up: when privatePath
// does not exist it creates a key of the given type there and its public
// key at publicPath, and reports created. When the private key exists it
// is left alone (it must parse); a missing public key is then derived
// from it and written. The private key file is reserved with O_EXCL
// first, so two processes never both create one.
func EnsureKeyPair(privatePath, publicPath string, kind KeyType) (created bool, err error) {
	f, err := os.OpenFile(privatePath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		key, err := LoadSigningKey(privatePath)
		if err != nil {
			return false, err
		}
		if publicPath == "" {
			return false, nil
		}
		if _, err := os.Stat(publicPath); errors.Is(err, fs.ErrNotExist) {
			return false, writePublicKey(key.Public(), publicPath)
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("creating the private key file: %w", err)
	}
	f.Close()
	key, err := GenerateSigningKey(kind)
	if err == nil {
		err = WriteKeyPair(key, privatePath, publicPath)
	}
	if err != nil {
		// Do not leave an empty reserved file behind: it would be taken
		// for an existing (unparsable) key at the next start.
		if info, serr := os.Stat(privatePath); serr == nil && info.Size() == 0 {
			os.Remove(privatePath)
		}
		return false, err
	}
	return true, nil
}
