//go:build !gettoken_front

package vaultcred

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// SSHAgent is the part of an ssh-agent the flow uses.
type SSHAgent interface {
	List() ([]*agent.Key, error)
	SignWithFlags(key ssh.PublicKey, data []byte, flags agent.SignatureFlags) (*ssh.Signature, error)
	Close() error
}

type socketAgent struct {
	agent.ExtendedAgent
	conn net.Conn
}

func (a socketAgent) Close() error { return a.conn.Close() }

// errNoAgent means SSH_AUTH_SOCK is not set: the agent has no keys.
var errNoAgent = errors.New("no ssh-agent (SSH_AUTH_SOCK is not set)")

func dialAgent() (SSHAgent, error) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, errNoAgent
	}
	c, err := net.DialTimeout("unix", sock, ConnectTimeout)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(ReadTimeout))
	return socketAgent{agent.NewClient(c), c}, nil
}

// agentKeys lists the agent's keys; no agent means no keys. The agent
// is returned open only when it has keys.
func (f *flow) agentKeys() (SSHAgent, []*agent.Key, error) {
	dial := f.d.SSHAgent
	if dial == nil {
		dial = dialAgent
	}
	ag, err := dial()
	if errors.Is(err, errNoAgent) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fatalf(err, "Error checking for ssh-agent keys: %v", err)
	}
	keys, err := ag.List()
	if err != nil {
		ag.Close()
		return nil, nil, fatalf(err, "Error checking for ssh-agent keys: %v", err)
	}
	if len(keys) == 0 {
		ag.Close()
		return nil, nil, nil
	}
	return ag, keys, nil
}

// publicKeyLine is "<type> <base64> key<N>", the form the ssh plugin takes.
func publicKeyLine(k *agent.Key, n int) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + fmt.Sprintf(" key%d", n)
}

// sshAgent is the third way to a vault token: a login with a key of the
// user's ssh-agent, tried after the existing token and Kerberos.
func (f *flow) sshAgent(ctx context.Context, credkey string) (outcome, error) {
	o := f.o
	ag, keys, err := f.agentKeys()
	if err != nil {
		return moveOn, err
	}
	if len(keys) == 0 {
		f.log.Verbosef("No ssh-agent keys found")
		return moveOn, nil
	}
	defer ag.Close()
	f.log.Start("Attempting ssh-agent auth with %s ...", o.VaultServer)
	var role any
	if credkey != "" {
		role = credkey
	}
	for i, k := range keys {
		n := i + 1
		noncePath := o.SSHPath + "/nonce"
		f.log.Verbosef("Getting ssh nonce from %s", f.v.url(noncePath))
		sec, err := f.call(ctx, request{method: "GET", path: noncePath, what: "ssh nonce"})
		nonce := ""
		if err == nil && sec != nil && sec.Data != nil {
			nonce, _ = sec.Data["nonce"].(string)
		}
		if err == nil && nonce == "" {
			err = errors.New("no nonce in response")
		}
		if err != nil {
			f.log.Verbosef("Getting ssh nonce failed: %v", err)
			f.log.End(" failed")
			return moveOn, nil
		}
		// Flags 0: RSA keys sign with ssh-rsa (SHA-1), which is what the
		// server plugin verifies.
		sig, err := ag.SignWithFlags(k, []byte(nonce), 0)
		if err != nil {
			f.log.Verbosef("Signing with ssh key%d failed: %v", n, err)
			continue
		}
		loginPath := o.SSHPath + "/login"
		f.log.Verbosef("Attempting to login with ssh key%d at %s", n, f.v.url(loginPath))
		body := map[string]any{
			"role":       role,
			"public_key": publicKeyLine(k, n),
			"signature":  base64.StdEncoding.EncodeToString(sig.Blob),
			"nonce":      base64.StdEncoding.EncodeToString([]byte(nonce)),
			"metadata":   map[string]any{"issuer": o.Issuer, "group": o.Role},
		}
		sec, err = f.call(ctx, request{method: "POST", path: loginPath, body: body, what: "ssh login"})
		if err != nil {
			f.log.Verbosef("Logging in with ssh key%d failed: %v", n, err)
			continue
		}
		if sec == nil || sec.Auth == nil {
			f.log.Verbosef("ssh-agent authentication failed")
			f.log.End(" failed")
			return moveOn, nil
		}
		f.log.End(" succeeded")
		tok, err := f.loginToken(ctx, sec)
		if err != nil {
			return moveOn, err
		}
		f.method = "ssh"
		return f.tryBearer(ctx, credkey, tok, o.VaultTokenFile, "")
	}
	f.log.End(" failed")
	return moveOn, nil
}

// registerSSH registers the agent's public keys for credkey with the login
// token (--registerssh).
func (f *flow) registerSSH(ctx context.Context, loginToken, credkey string) error {
	o := f.o
	ag, keys, err := f.agentKeys()
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return fatalf(nil, "No ssh-agent keys found to register")
	}
	defer ag.Close()
	var pubs []string
	for i, k := range keys {
		pubs = append(pubs, publicKeyLine(k, i+1))
	}
	f.log.Start("Registering ssh keys at %s ...", o.VaultServer)
	f.log.Verbosef("Registering ssh keys at %s", o.VaultServer)
	for _, p := range pubs {
		f.log.Verbosef("  %s", p)
	}
	path := o.SSHPath + "/role/" + credkey
	if _, err := f.call(ctx, request{method: "POST", path: path, token: loginToken, body: map[string]any{"public_keys": pubs}, what: "register ssh keys"}); err != nil {
		return fatalf(err, "ssh key registration failed to %s failed: %v", o.VaultServer, err)
	}
	f.log.End(" done")
	return nil
}
