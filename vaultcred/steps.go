//go:build !gettoken_front

package vaultcred

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultcred/gettoken/internal/tokenfile"
)

// remote is the part of Get after the local checks: every request to
// Vault, the Kerberos, ssh-agent and OIDC logins.
func (f *flow) remote(ctx context.Context) error {
	o, d := f.o, f.d
	hc := d.HTTPClient
	if hc == nil {
		hc = NewHTTPClient(HTTPClientConfig{
			TLS:  TLSConfig{CAFile: o.CAFile, CAPath: o.CAPath, ServerName: o.VaultCertName},
			Logf: f.log.Verbosef,
		})
	}
	var err error
	if f.v, err = newVaultAPI(o.VaultServer, hc, f.log); err != nil {
		return err
	}
	err = f.run(ctx)
	if err != nil && !errors.Is(err, ErrNoToken) {
		// A step that failed fatally after its "... " progress line (a 403
		// on the Kerberos login, a refused refresh token) ends that line
		// with " failed", as htgettoken does; the caller then prints the
		// empty line and the message.
		f.log.endFailed()
	}
	return err
}

func (f *flow) run(ctx context.Context) error {
	o := f.o
	// The credential key: --credkey, else the file saved by an earlier login.
	credkey := o.CredKey
	if credkey == "" && (!o.NoBearerToken || o.ShowBearerURL || !o.NoSSH) {
		if b, err := os.ReadFile(o.CredKeyFile); err == nil {
			f.log.Debugf("Reading %s", o.CredKeyFile)
			credkey = strings.TrimSpace(string(b))
			f.log.Verbosef("Credkey from %s: %s", o.CredKeyFile, credkey)
		} else {
			f.log.Debugf("Reading %s failed: %v", o.CredKeyFile, err)
		}
	}
	f.res.CredKey = credkey

	// The ways to a vault token, in htgettoken's order; the first that
	// finishes the run ends it.
	var stages []func(ctx context.Context, credkey string) (outcome, error)
	if (credkey != "" || o.NoBearerToken) && !o.RegisterSSH {
		stages = append(stages, f.existingToken)
		if !o.NoKerberos {
			stages = append(stages, f.kerberos)
		}
		if !o.NoSSH {
			stages = append(stages, f.sshAgent)
		}
	}
	if !o.NoOIDC {
		stages = append(stages, f.oidc)
	}
	for _, stage := range stages {
		if out, err := stage(ctx, credkey); err != nil || out == finished {
			return err
		}
	}
	return fatalf(ErrNoToken, "Failure getting token from %s", o.VaultServer)
}

// outcome is what a stage of the flow achieved.
type outcome int

const (
	// moveOn: this way gave no usable token; the next one is tried.
	moveOn outcome = iota
	// finished: the run reached its end (a bearer token stored, or a
	// vault token with --nobearertoken).
	finished
)

// bearerPath is the secret path for credkey, switched to sts when scopes
// or audiences are requested.
func (f *flow) bearerPath(credkey string) string {
	p := f.o.SecretPathFor(credkey)
	if f.o.Scopes != "" || f.o.Audience != "" {
		p = strings.Replace(p, "/creds/", "/sts/", 1)
	}
	return p
}

// existingToken is the first way to a vault token: the one in the vault
// token file (or given on a pipe, which is exchanged first).
func (f *flow) existingToken(ctx context.Context, credkey string) (outcome, error) {
	o := f.o
	if credkey == "" && o.ShowBearerURL {
		return moveOn, fatalf(nil, "cannot do --showbearerurl because credkey is not known")
	}
	infile := o.VaultTokenInFile
	// gettoken fix: never read a vault token from stdout or stderr (with a
	// lifetime above a million seconds the default in-file resolves to
	// /dev/stdout, which htgettoken reads and, on a pipe, hangs on).
	if isOutputStream(infile) {
		f.log.Debugf("%s is an output stream, not reading a vault token from it", infile)
		return moveOn, nil
	}
	f.log.Debugf("Reading %s", infile)
	var token string
	var err error
	if f.d.VaultTokenIn != nil {
		token, err = f.d.VaultTokenIn()
	} else {
		token, err = tokenfile.ReadToken(infile)
	}
	if errors.Is(err, fs.ErrNotExist) {
		f.log.Debugf("%s does not yet exist", infile)
		return moveOn, nil
	}
	if err != nil {
		return moveOn, fatalf(err, "reading vault token from %s failed: %v", infile, err)
	}
	if token == "" {
		f.log.Debugf("%s is empty", infile)
		return moveOn, nil
	}
	if err := checkTokenText(token); err != nil {
		return moveOn, fatalf(err, "vault token in %s is not usable: %v", infile, err)
	}
	if o.ExchangeMode {
		newTok, err := f.exchange(ctx, token, nil)
		if err != nil {
			return moveOn, err
		}
		if err := f.writeVaultToken(newTok); err != nil {
			return moveOn, err
		}
		f.method = "exchange"
		return f.tryBearer(ctx, credkey, newTok, "", infile)
	}
	if o.NoBearerToken && !o.ShowBearerURL {
		return moveOn, nil
	}
	if o.VaultTokenMinTTL > 0 {
		ok, err := f.enoughTTL(ctx, token, infile)
		if err != nil || !ok {
			return moveOn, err
		}
	}
	f.method = "existing"
	return f.tryBearer(ctx, credkey, token, "", infile)
}

// enoughTTL does the --vaulttokenminttl lookup-self.
func (f *flow) enoughTTL(ctx context.Context, token, infile string) (bool, error) {
	min := int64(f.o.VaultTokenMinTTL / time.Second)
	f.log.Verbosef("Making sure there is at least %d seconds remaining", min)
	f.log.Verbosef("  in vault token from %s", infile)
	path := "auth/token/lookup-self"
	sec, err := f.call(ctx, request{method: "GET", path: path, token: token, what: "lookup token"})
	if err != nil {
		var de *DecodeError
		if errors.As(err, &de) {
			return false, fatalf(err, "decoding response from %s failed: %v", f.v.url(path), err)
		}
		// Printed in every mode, as htgettoken's elog.
		f.log.Alwaysf("Looking up vault token at %s failed: %v", f.v.url(path), err)
		return false, nil
	}
	if sec == nil || sec.Data == nil || sec.Data["ttl"] == nil {
		return false, fatalf(nil, "ttl missing from lookup-self response")
	}
	ttl, err := sec.TokenTTL()
	if err != nil {
		return false, fatalf(err, "ttl in lookup-self response is not a number")
	}
	secs := int64(ttl / time.Second)
	f.log.Verbosef("  %d seconds remaining", secs)
	return secs >= min, nil
}

// tryBearer announces and performs a bearer read (the progress line of the
// default mode), then writes the vault token back to writeBack (when set)
// and stores the bearer token: the run is then finished. The files are
// written after the progress line ends, so their "Storing ..." lines stand
// on lines of their own.
func (f *flow) tryBearer(ctx context.Context, credkey, vaultToken, writeBack, from string) (outcome, error) {
	o := f.o
	path := f.bearerPath(credkey)
	if o.ShowBearerURL && f.res.BearerURL == "" {
		f.res.BearerURL = f.v.url(path)
	}
	if o.NoBearerToken {
		if writeBack != "" {
			if err := f.writeVaultToken(vaultToken); err != nil {
				return moveOn, err
			}
		}
		f.res.VaultToken = vaultToken
		f.res.Method = f.method
		return finished, nil
	}
	f.log.Start("Attempting to get token from %s ...", o.VaultServer)
	tok, err := f.readBearer(ctx, path, vaultToken, from)
	if err != nil {
		return moveOn, err
	}
	if tok == "" {
		f.log.End(" failed")
		return moveOn, nil
	}
	f.log.End(" succeeded")
	if writeBack != "" {
		if err := f.writeVaultToken(vaultToken); err != nil {
			return moveOn, err
		}
	}
	f.res.VaultToken = vaultToken
	f.res.CredKey = credkey
	if err := f.storeBearer(tok); err != nil {
		return moveOn, err
	}
	f.res.BearerToken = tok
	f.res.Method = f.method
	return finished, nil
}

// readBearer is the bearer token read (htgettoken's getBearerToken): the
// access token at path,
// or "" when the read failed (an HTTP or connection error, or no token in
// the answer). An answer that is not JSON is fatal.
func (f *flow) readBearer(ctx context.Context, path, vaultToken, from string) (string, error) {
	o := f.o
	if f.method != "oidc" {
		// After an OIDC login, oidc has said "Getting bearer token from
		// <V>" instead, as htgettoken (which prints only one of the two).
		f.log.Verbosef("Attempting to get bearer token from %s", o.VaultServer)
	}
	if from != "" {
		f.log.Verbosef("  using vault token from %s", from)
	}
	f.log.Verbosef("  at path %s", path)
	q := url.Values{"minimum_seconds": {fmt.Sprint(o.MinSecs)}}
	if o.Scopes != "" {
		q.Set("scopes", o.Scopes)
	}
	if o.Audience != "" {
		q.Set("audiences", o.Audience)
	}
	sec, err := f.call(ctx, request{method: "GET", path: path, token: vaultToken, query: q, what: "get bearer token"})
	if err != nil {
		var de *DecodeError
		if errors.As(err, &de) {
			return "", fatalf(err, "decoding response from %s failed", f.v.url(path))
		}
		f.log.Verbosef("Read token from %s failed: %v", f.v.url(path), err)
		return "", nil
	}
	tok := ""
	if sec != nil && sec.Data != nil {
		tok, _ = sec.Data["access_token"].(string)
	}
	if tok == "" {
		f.log.Verbosef("Read token from %s failed: no access_token in response", f.v.url(path))
		return "", nil
	}
	// A token goes into files and Authorization headers: control
	// characters or white space in it would corrupt both.
	if err := checkTokenText(tok); err != nil {
		return "", fatalf(err, "the bearer token from %s is not usable", f.v.url(path))
	}
	return tok, nil
}

// storeBearer writes the bearer token file (and, with --reuse-bearer, the
// record that lets a later run reuse it).
func (f *flow) storeBearer(tok string) error {
	if f.d.BearerOut != nil {
		return f.d.BearerOut(tok)
	}
	if err := f.writeFile(f.o.OutFile, tok, "bearer"); err != nil {
		return err
	}
	if f.o.ReuseBearer {
		if err := writeReuseRecord(f.o, tok); err != nil {
			f.log.Verbosef("Could not record the bearer token for reuse: %v", err)
		}
	}
	return nil
}

// writeVaultToken writes the vault token file.
func (f *flow) writeVaultToken(tok string) error {
	if f.d.VaultTokenOut != nil {
		return f.d.VaultTokenOut(tok)
	}
	return f.writeFile(f.o.VaultTokenFile, tok, "vault")
}

// writeFile writes a token file through package tokenfile (temporary file
// and rename, mode 0600; standard streams written directly).
func (f *flow) writeFile(path, tok, kind string) error {
	if tokenfile.IsStdio(path) {
		f.log.Debugf("Writing %s token to %s", kind, path)
	} else {
		f.log.Infof("Storing %s token in %s", kind, path)
	}
	if err := tokenfile.WriteToken(path, tok); err != nil {
		return fatalf(err, "%v", err)
	}
	return nil
}

// call performs one Vault request with the per-request timeout.
func (f *flow) call(ctx context.Context, r request) (*vaultapi.Secret, error) {
	ctx, cancel := context.WithTimeout(ctx, f.d.RequestTimeout)
	defer cancel()
	return f.v.do(ctx, r)
}

// exchange is htgettoken's getVaultToken: it returns auth's token, exchanged for
// a non-renewable one of the wanted lifetime when the login's lease is
// longer (or unknown, auth == nil meaning "exchange always"), dropping an
// sshregister policy.
func (f *flow) exchange(ctx context.Context, token string, auth *vaultapi.SecretAuth) (string, error) {
	var policies []string
	dropped := false
	if auth != nil {
		for _, p := range auth.Policies {
			if !dropped && strings.HasPrefix(p, "sshregister") {
				dropped = true
				continue
			}
			policies = append(policies, p)
		}
		// As htgettoken: a lease no longer than wanted (0, a token that does
		// not expire, included) is kept as it is.
		if int64(auth.LeaseDuration) <= int64(f.o.VaultTokenTTL/time.Second) && !dropped {
			return token, nil
		}
	}
	body := map[string]any{"ttl": f.o.VaultTokenTTLParam(), "renewable": "false"}
	if dropped {
		body["policies"] = policies
	}
	path := "auth/token/create"
	sec, err := f.call(ctx, request{method: "POST", path: path, token: token, body: body, what: "create token"})
	if err != nil {
		var de *DecodeError
		if errors.As(err, &de) {
			return "", fatalf(err, "decoding response from %s failed: %v", f.v.url(path), err)
		}
		return "", fatalf(err, "getting vault token from %s failed: %v", f.v.url(path), err)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return "", fatalf(nil, "no vault token in response from %s", f.v.url(path))
	}
	return sec.Auth.ClientToken, nil
}

// loginToken checks that a login answer holds a client token and exchanges
// it.
func (f *flow) loginToken(ctx context.Context, sec *vaultapi.Secret) (string, error) {
	if sec == nil || sec.Auth == nil {
		return "", fatalf(nil, "no 'auth' in response from %s", f.o.VaultServer)
	}
	if sec.Auth.ClientToken == "" {
		return "", fatalf(nil, "no 'client_token' in response from %s", f.o.VaultServer)
	}
	return f.exchange(ctx, sec.Auth.ClientToken, sec.Auth)
}

func isOutputStream(p string) bool {
	switch p {
	case "/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2":
		return true
	}
	return false
}

// checkTokenText rejects file content that cannot be a token (it would
// otherwise end up in an HTTP header). The message never shows the content.
func checkTokenText(tok string) error {
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c >= 0x7f {
			return errors.New("it holds characters that cannot be in a token")
		}
	}
	return nil
}

// saveCredkey writes the credkey file, making its directory (a plain
// write, as htgettoken: the credkey is no secret).
func (f *flow) saveCredkey(credkey string) error {
	o := f.o
	if f.log != nil && (f.log.Verbose || f.log.Debug) {
		f.log.Verbosef("Saving credkey to %s: %s", o.CredKeyFile, credkey)
	} else {
		f.log.Infof("Saving credkey to %s", o.CredKeyFile)
	}
	dir := filepath.Dir(o.CredKeyFile)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fatalf(err, "error creating %s: %v", dir, err)
	}
	if err := tokenfile.Write(o.CredKeyFile, []byte(credkey+"\n"), tokenfile.Options{Mode: 0o644}); err != nil {
		return fatalf(err, "error writing %s: %v", o.CredKeyFile, err)
	}
	return nil
}
