package vaultcred

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"

	"github.com/vaultcred/gettoken/internal/jwtdecode"
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
	exp, ok := jwtdecode.Expiry(tok)
	if !ok {
		f.log.Debugf("bearer token in %s is not a JWT with an exp claim", o.OutFile)
		return false
	}
	left := exp.Unix() - f.d.Now().Unix()
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
