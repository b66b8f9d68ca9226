package webapp

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/vaultcred/gettoken/credmon"
)

// The HTCondor knobs the web application reads. The first seven are
// HTCondor's own; the CREDMON_WEB_* ones after CREDMON_WEB_PREFIX are this
// implementation's.
const (
	KnobPrefix            = "CREDMON_WEB_PREFIX"
	KnobCredDirOAuth      = "SEC_CREDENTIAL_DIRECTORY_OAUTH"
	KnobCredDir           = "SEC_CREDENTIAL_DIRECTORY"
	KnobIssuer            = "LOCAL_CREDMON_ISSUER"
	KnobPublicKey         = "LOCAL_CREDMON_PUBLIC_KEY"
	KnobKeyID             = "LOCAL_CREDMON_KEY_ID"
	KnobFullHostname      = "FULL_HOSTNAME"
	KnobListen            = "CREDMON_WEB_LISTEN"
	KnobCertFile          = "CREDMON_WEB_CERTIFICATE_FILE"
	KnobKeyFile           = "CREDMON_WEB_KEY_FILE"
	KnobStoreClientSecret = "CREDMON_WEB_STORE_CLIENT_SECRET"
)

// DefaultPublicKey is LOCAL_CREDMON_PUBLIC_KEY's default.
const DefaultPublicKey = "/etc/condor/scitokens.pem"

// Settings are the web application's configuration as read from the
// knobs: the server's own settings and the application's Config (without
// Store, ParseAds and Log, which the command fills in).
type Settings struct {
	// Listen is CREDMON_WEB_LISTEN ("" if unset).
	Listen string
	// CertFile and KeyFile are CREDMON_WEB_CERTIFICATE_FILE and
	// CREDMON_WEB_KEY_FILE.
	CertFile, KeyFile string
	// CredDir is SEC_CREDENTIAL_DIRECTORY_OAUTH, else
	// SEC_CREDENTIAL_DIRECTORY.
	CredDir string
	// PublicKeyFile is LOCAL_CREDMON_PUBLIC_KEY (default DefaultPublicKey).
	PublicKeyFile string
	// App is the application's configuration.
	App Config
}

// LoadSettings reads the knobs (in one batch) from k.
func LoadSettings(ctx context.Context, k *credmon.Knobs) (Settings, error) {
	var s Settings
	if err := k.Load(ctx, KnobPrefix, KnobCredDirOAuth, KnobCredDir, KnobIssuer, KnobPublicKey, KnobKeyID,
		KnobFullHostname, KnobListen, KnobCertFile, KnobKeyFile, KnobStoreClientSecret); err != nil {
		return s, fmt.Errorf("reading the HTCondor configuration: %w", err)
	}
	s.Listen = k.String(KnobListen, "")
	s.CertFile = k.String(KnobCertFile, "")
	s.KeyFile = k.String(KnobKeyFile, "")
	s.CredDir = k.String(KnobCredDirOAuth, k.String(KnobCredDir, ""))
	if s.CredDir == "" {
		return s, fmt.Errorf("neither %s nor %s is configured", KnobCredDirOAuth, KnobCredDir)
	}
	host := k.String(KnobFullHostname, "")
	if host == "" {
		host, _ = os.Hostname()
	}
	s.App.Prefix = k.String(KnobPrefix, "https://"+host)
	if _, err := BasePath(s.App.Prefix); err != nil {
		return s, err
	}
	s.App.Issuer = k.String(KnobIssuer, "https://"+host)
	s.App.KeyID = k.String(KnobKeyID, "local")
	s.PublicKeyFile = k.String(KnobPublicKey, DefaultPublicKey)
	var err error
	if s.App.StoreClientSecret, err = k.Bool(KnobStoreClientSecret, true); err != nil {
		return s, err
	}
	s.App.Lookup = k.Lookup
	s.App.Preload = k.Load
	return s, nil
}

// LoadPublicKey reads a PEM public key (or the public half of a PEM
// private key). A missing file gives an error matching os.ErrNotExist.
func LoadPublicKey(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the local issuer's public key: %w", err)
	}
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "PUBLIC KEY" {
			pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return pub, nil
		}
	}
	if priv, err := credmon.ParsePrivateKeyPEM(b); err == nil {
		return priv.Public(), nil
	}
	return nil, fmt.Errorf("%s: %w", path, errors.New("no PEM public key"))
}
