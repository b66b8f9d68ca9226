//go:build !gettoken_front

package vaultcred

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"strconv"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// PollLimit is how long the OIDC stage waits for the user (htgettoken's
// "Polling for response took longer than 2 minutes"). gettoken measures it
// by the clock, so it holds in every mode (htgettoken counts only the
// intervals it slept, and never stops with a 0 interval).
const PollLimit = 2 * time.Minute

// clientNonce is like Python's secrets.token_urlsafe(): 32 random bytes,
// 43 URL-safe characters.
func clientNonce() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// deviceLogin is a started OIDC device login: what the user is shown and
// how its end is waited for.
type deviceLogin struct {
	authURL, userCode string
	// pollPath and pollBody are the request that asks Vault whether the
	// user has logged in; interval is the seconds between polls Vault
	// asked for.
	pollPath string
	pollBody map[string]any
	interval int
}

// oidc is the last way to a vault token: the OIDC device flow, in which
// the user logs in at the IdP in a browser. It starts the login at Vault,
// shows the user where to log in, waits for the login, and completes it
// (vault token, credkey, refresh token, bearer token).
func (f *flow) oidc(ctx context.Context, credkey string) (outcome, error) {
	dl, err := f.oidcStart(ctx)
	if err != nil {
		return moveOn, err
	}
	f.oidcShow(ctx, dl)
	login, err := f.oidcWait(ctx, dl)
	if err != nil {
		return moveOn, err
	}
	return f.oidcComplete(ctx, credkey, login)
}

// oidcStart asks Vault for the login URL (auth_url).
func (f *flow) oidcStart(ctx context.Context) (*deviceLogin, error) {
	o := f.o
	nonce := clientNonce()
	authPath := o.OIDCPath + "/auth_url"
	f.log.Infof("Attempting OIDC authentication with %s", o.VaultServer)
	f.log.Debugf("Authenticating to %s", f.v.url(authPath))
	sec, err := f.call(ctx, request{method: "POST", path: authPath, what: "auth_url", body: map[string]any{
		"role":         o.Role,
		"client_nonce": nonce,
		"redirect_uri": o.VaultAlias + "/v1/" + o.OIDCPath + "/callback",
	}})
	if err != nil {
		return nil, fatalf(err, "Initiating authentication to %s failed: %v", o.VaultServer, err)
	}
	if sec == nil || sec.Data == nil {
		return nil, fatalf(nil, "no 'data' in response from %s", o.VaultServer)
	}
	authURL, ok := sec.Data["auth_url"].(string)
	if !ok {
		return nil, fatalf(nil, "no 'auth_url' in data from %s", o.VaultServer)
	}
	if authURL == "" {
		return nil, fatalf(nil, "'auth_url' is empty in data from %s", o.VaultServer)
	}
	userCode, _ := sec.Data["user_code"].(string)
	interval := 0
	switch pi := sec.Data["poll_interval"].(type) {
	case string:
		interval, _ = strconv.Atoi(pi)
	case interface{ String() string }: // json.Number
		interval, _ = strconv.Atoi(pi.String())
	}
	pollBody := map[string]any{}
	for k, v := range sec.Data {
		if k != "auth_url" && k != "user_code" && k != "poll_interval" {
			pollBody[k] = v
		}
	}
	pollBody["client_nonce"] = nonce
	pollPath := o.OIDCPath + "/poll"
	if _, hasState := pollBody["state"]; !hasState {
		pollPath = o.OIDCPath + "/device_wait"
		pollBody["role"] = o.Role
		interval = 0
	}
	return &deviceLogin{authURL: authURL, userCode: userCode, pollPath: pollPath, pollBody: pollBody, interval: interval}, nil
}

// oidcShow shows the user where to log in (the URL, the user code, a QR
// code with --qr) and runs the web open command on the URL.
func (f *flow) oidcShow(ctx context.Context, dl *deviceLogin) {
	o := f.o
	authURL, userCode := dl.authURL, dl.userCode
	f.log.Alwaysf("")
	f.log.Alwaysf("Complete the authentication at:")
	f.log.Alwaysf("    %s", authURL)
	if userCode != "" {
		f.log.Alwaysf("When prompted, enter code %s", userCode)
	}
	if o.QR && f.log != nil && f.log.W != nil {
		qr := f.d.QR
		if qr == nil {
			qr = WriteQR
		}
		if err := qr(f.log.W, authURL); err != nil {
			f.log.Verbosef("Could not draw a QR code: %v", err)
		}
	}
	if o.WebOpenCommand == "" {
		f.log.Alwaysf("No web open command defined, please copy/paste the above to any web browser")
	} else {
		f.log.Infof("Running '%s' on the URL", o.WebOpenCommand)
		open := f.d.OpenURL
		if open == nil {
			open = func(ctx context.Context, command, url string) error { return OpenURL(ctx, os.Stdout, command, url) }
		}
		f.log.Debugf("Setting BROWSER=%s", browserEnv())
		if err := open(ctx, o.WebOpenCommand, authURL); err != nil {
			f.log.Alwaysf("Couldn't open web browser with '%s', please open URL manually", o.WebOpenCommand)
		}
	}
}

// oidcWait waits for the user's login (see poll).
func (f *flow) oidcWait(ctx context.Context, dl *deviceLogin) (*vaultapi.Secret, error) {
	f.log.Infof("Waiting for response in web browser")

	return f.poll(ctx, dl.pollPath, dl.pollBody, dl.interval)
}

// oidcComplete turns the login answer into the vault token file, the
// credkey file, the stored refresh token and the bearer token.
func (f *flow) oidcComplete(ctx context.Context, credkey string, login *vaultapi.Secret) (outcome, error) {
	o := f.o
	if login == nil || login.Auth == nil {
		return moveOn, fatalf(nil, "no 'auth' in response from %s", o.VaultServer)
	}
	if o.RegisterSSH {
		// htgettoken uses only --credkey or the credkey file here and crashes
		// on a first login; gettoken falls back to the login's credkey.
		ck := o.CredKey
		if ck == "" {
			ck = credkey
		}
		if ck == "" {
			ck = login.Auth.Metadata["credkey"]
		}
		if ck == "" {
			return moveOn, fatalf(nil, "no 'credkey' in metadata of response from %s", o.VaultServer)
		}
		if err := f.registerSSH(ctx, login.Auth.ClientToken, ck); err != nil {
			return moveOn, err
		}
	}
	tok, err := f.loginToken(ctx, login)
	if err != nil {
		return moveOn, err
	}
	if err := f.writeVaultToken(tok); err != nil {
		return moveOn, err
	}
	f.res.VaultToken = tok
	f.res.Method = "oidc"
	f.method = "oidc"
	if o.NoBearerToken {
		return finished, nil
	}
	md := login.Auth.Metadata
	if md == nil {
		return moveOn, fatalf(nil, "no 'metadata' in response from %s", o.VaultServer)
	}
	if o.CredKey == "" {
		credkey = md["credkey"]
		if credkey == "" {
			// htgettoken reports this as "no 'metadata' in response".
			return moveOn, fatalf(nil, "no 'credkey' in metadata of response from %s", o.VaultServer)
		}
		if err := f.saveCredkey(credkey); err != nil {
			return moveOn, err
		}
	} else {
		credkey = o.CredKey
	}
	f.res.CredKey = credkey
	rt := md["oauth2_refresh_token"]
	if rt == "" {
		return moveOn, fatalf(nil, "no 'oauth2_refresh_token' in response from %s", o.VaultServer)
	}
	path := o.SecretPathFor(credkey)
	f.log.Start("Saving refresh token ...")
	f.log.Verbosef("Saving refresh token to %s", o.VaultServer)
	f.log.Verbosef("  at path %s", path)
	if _, err := f.call(ctx, request{method: "POST", path: path, token: tok, what: "store refresh token",
		body: map[string]any{"server": o.Issuer, "refresh_token": rt}}); err != nil {
		return moveOn, fatalf(err, "Refresh token storage to %s failed: %v", o.VaultServer, err)
	}
	f.log.End(" done")
	f.log.Verbosef("Getting bearer token from %s", o.VaultServer)
	return f.tryBearer(ctx, credkey, tok, "", "")
}

// pollWaitSeconds is interval, the seconds between polls that Vault (or
// the IdP behind it) asked for, made safe: at least 1 (a 0 interval, as
// the legacy device_wait sends, would poll in a busy loop) and at most
// PollLimit, since no wait can be longer than the whole wait for the user.
// Bounding it also keeps the conversion to a time.Duration and the
// doubling on slow_down from overflowing into a negative wait.
func pollWaitSeconds(interval int) int {
	return min(max(interval, 1), int(PollLimit/time.Second))
}

// pollWait is pollWaitSeconds(interval) as a duration.
func pollWait(interval int) time.Duration {
	return time.Duration(pollWaitSeconds(interval)) * time.Second
}

// poll waits for the login: POSTs to path every interval (the first one
// after one interval), doubling it on slow_down, until Vault answers
// without errors, up to PollLimit.
func (f *flow) poll(ctx context.Context, path string, body map[string]any, interval int) (*vaultapi.Secret, error) {
	o := f.o
	start := f.d.Now()
	for {
		if f.d.Now().Sub(start) > PollLimit {
			return nil, fatalf(nil, "Polling for response took longer than 2 minutes")
		}
		wait := pollWait(interval)
		f.log.Debugf("waiting for %d seconds", int(wait/time.Second))
		if err := f.d.Sleep(ctx, wait); err != nil {
			return nil, fatalf(err, "Authentication to %s failed: %v", o.VaultServer, err)
		}
		f.log.Debugf("polling")
		sec, err := f.call(ctx, request{method: "POST", path: path, body: body, what: "poll"})
		var he *HTTPError
		if err != nil && !(errors.As(err, &he) && he.Status == 400) {
			return nil, fatalf(err, "Authentication to %s failed: %v", o.VaultServer, err)
		}
		if he != nil && len(he.Errors) > 0 {
			switch he.Errors[0] {
			case "slow_down":
				interval = pollWaitSeconds(2 * pollWaitSeconds(interval))
				continue
			case "authorization_pending":
				f.log.Debugf("authorization pending, trying again")
				continue
			default:
				return nil, fatalf(err, "error in response from %s: %s", o.VaultServer, he.Errors[0])
			}
		}
		if he != nil {
			return nil, fatalf(err, "Authentication to %s failed: %v", o.VaultServer, err)
		}
		return sec, nil
	}
}
