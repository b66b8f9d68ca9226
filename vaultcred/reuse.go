package vaultcred

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"

	"github.com/vaultcred/gettoken/internal/tokenfile"
)

// reuseRecord is kept next to the bearer token file when --reuse-bearer is
// on: what the token was obtained for, and a hash binding the record to
// the token bytes (so a token written by anything else is never reused).
type reuseRecord struct {
	VaultServer string `json:"vault_server"`
	Issuer      string `json:"issuer"`
	Role        string `json:"role"`
	SecretPath  string `json:"secret_path"`
	Scopes      string `json:"scopes"`
	Audience    string `json:"audience"`
	BearerURL   string `json:"bearer_url"`
	SHA256      string `json:"sha256"`
}

// ReuseRecordPath is the record kept for the bearer token file outFile:
// ".<name>.gettoken" in the same directory.
func ReuseRecordPath(outFile string) string {
	return filepath.Join(filepath.Dir(outFile), "."+filepath.Base(outFile)+".gettoken")
}

func recordFor(o *Options, tok, bearerURL string) reuseRecord {
	sum := sha256.Sum256([]byte(tok))
	return reuseRecord{
		VaultServer: o.VaultServer, Issuer: o.Issuer, Role: o.Role, SecretPath: o.SecretPath,
		Scopes: o.Scopes, Audience: o.Audience, BearerURL: bearerURL, SHA256: hex.EncodeToString(sum[:]),
	}
}

func writeReuseRecord(o *Options, tok string) error {
	rec := recordFor(o, tok, "")
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tokenfile.Write(ReuseRecordPath(o.OutFile), append(b, '\n'), tokenfile.Options{})
}

// localReuse is gettoken's --reuse-bearer: when the bearer token file
// holds a token this program obtained for the same server, issuer, role,
// secret path, scopes and audience, with at least MinSecs of lifetime
// left, it is used as it is, with no request at all.
func (f *flow) localReuse() bool {
	o := f.o
	if o.NoBearerToken || o.ExchangeMode || o.ShowBearerURL || tokenfile.IsStdio(o.OutFile) {
		return false
	}
	tok, err := tokenfile.ReadToken(o.OutFile)
	if err != nil || tok == "" {
		return false
	}
	b, err := tokenfile.Read(ReuseRecordPath(o.OutFile))
	if err != nil {
		return false
	}
	var rec reuseRecord
	if json.Unmarshal(b, &rec) != nil || rec != recordFor(o, tok, rec.BearerURL) {
		f.log.Debugf("bearer token in %s was not obtained with these options", o.OutFile)
		return false
	}
	exp, err := jwtExpiry(tok)
	if err != nil {
		f.log.Debugf("bearer token in %s: %v", o.OutFile, err)
		return false
	}
	left := exp - f.d.Now().Unix()
	if left < o.MinSecs {
		f.log.Debugf("bearer token in %s has %d seconds left, fewer than %d", o.OutFile, left, o.MinSecs)
		return false
	}
	f.log.Progressf("Reusing bearer token in %s (%d seconds left)", o.OutFile, left)
	f.log.Verbosef("Reusing bearer token in %s: %d seconds left, at least %d wanted", o.OutFile, left, o.MinSecs)
	f.res.BearerToken = tok
	f.res.Method = "local"
	return true
}

// jwtExpiry returns the exp claim of a JWT without verifying it (the
// token came from Vault through this program; the record's hash ties it to
// that).
func jwtExpiry(tok string) (int64, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return 0, errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return 0, errors.New("JWT payload is not base64url")
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == nil {
		return 0, errors.New("JWT has no exp claim")
	}
	exp, err := claims.Exp.Int64()
	if err != nil {
		f, ferr := claims.Exp.Float64()
		if ferr != nil {
			return 0, errors.New("JWT exp is not a number")
		}
		exp = int64(f)
	}
	return exp, nil
}
