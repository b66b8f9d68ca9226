//go:build !gettoken_front

package vaultcred

import (
	"context"
	"errors"
	"net/http"

	"github.com/vaultcred/gettoken/krb"
)

// ErrNoKerberos marks "no usable Kerberos credentials" from Deps.Kerberos:
// the flow moves on to the next method, as htgettoken does.
var ErrNoKerberos = errors.New("no usable Kerberos credentials")

// defaultKerberos builds a Negotiate header with package krb from the
// user's credential cache (KRB5CCNAME or krb5.conf's default), honouring
// --kerbprincipal (which htgettoken 2.x silently ignores).
func defaultKerberos(ctx context.Context, principal, service string) (string, error) {
	c, err := krb.LoadFromEnv(krb.Options{Principal: principal})
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.NegotiateHeader(ctx, service)
}

// kerberos is the second way to a vault token: a SPNEGO login with the
// user's Kerberos tickets. A Vault error is fatal (htgettoken does not go
// on to ssh-agent or OIDC then); missing tickets move on.
func (f *flow) kerberos(ctx context.Context, credkey string) (outcome, error) {
	o := f.o
	neg := f.d.Kerberos
	if neg == nil {
		neg = defaultKerberos
	}
	f.log.Start("Attempting kerberos auth with %s ...", o.VaultServer)
	f.log.Verbosef("Initializing kerberos client for host@%s", o.VaultHostname)
	hdr, err := neg(ctx, o.KerbPrincipal, "host/"+o.VaultHostname)
	if err != nil {
		f.log.Verbosef("Kerberos init failed: %v", err)
		f.log.End(" failed")
		return moveOn, nil
	}
	path := o.KerbPath + "/login"
	f.log.Verbosef("Negotiating kerberos with %s", o.VaultServer)
	f.log.Verbosef("  at path %s", o.KerbPath)
	f.log.Debugf("Kerberos token: %s", hdr)
	h := http.Header{}
	h.Set("Authorization", hdr)
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	sec, err := f.call(ctx, request{method: "POST", path: path, header: h, rawBody: []byte{}, what: "kerberos login"})
	if err != nil {
		// Fatal, without falling through to ssh or OIDC, as htgettoken.
		return moveOn, fatalf(err, "Kerberos negotiate with %s failed: %v", f.v.url(path), err)
	}
	if sec == nil || sec.Auth == nil {
		f.log.Verbosef("Kerberos authentication failed")
		if sec != nil {
			f.log.Debugf("warnings: %v", sec.Warnings)
		}
		f.log.End(" failed")
		return moveOn, nil
	}
	f.log.End(" succeeded")
	tok, err := f.loginToken(ctx, sec)
	if err != nil {
		return moveOn, err
	}
	f.method = "kerberos"
	return f.tryBearer(ctx, credkey, tok, o.VaultTokenFile, "")
}
