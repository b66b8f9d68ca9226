package vaultcred

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

const (
	pNonce    = "auth/ssh/nonce"
	pSSHLogin = "auth/ssh/login"
	pRegister = "auth/ssh/role/alice"
)

// testAgent is an in-memory ssh-agent (agent.NewKeyring) that counts
// Close calls and can fail List.
type testAgent struct {
	agent.ExtendedAgent
	closed  atomic.Int32
	listErr error
}

func (a *testAgent) List() ([]*agent.Key, error) {
	if a.listErr != nil {
		return nil, a.listErr
	}
	return a.ExtendedAgent.List()
}

func (a *testAgent) Close() error {
	a.closed.Add(1)
	return nil
}

// newTestAgent returns an agent holding keys, in that order.
func newTestAgent(keys ...any) *testAgent {
	kr := agent.NewKeyring().(agent.ExtendedAgent)
	for _, k := range keys {
		if err := kr.Add(agent.AddedKey{PrivateKey: k, Comment: "test"}); err != nil {
			panic(err)
		}
	}
	return &testAgent{ExtendedAgent: kr}
}

// sshTestKeys is one ed25519 and one RSA key, made once per test binary.
var sshTestKeys = sync.OnceValue(func() struct {
	ed  ed25519.PrivateKey
	rsa *rsa.PrivateKey
} {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return struct {
		ed  ed25519.PrivateKey
		rsa *rsa.PrivateKey
	}{ed, rk}
})

func sshPub(t *testing.T, k any) ssh.PublicKey {
	t.Helper()
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey()
}

// keyLine is the public key as the ssh plugin takes it: "<type> <b64> key<N>".
func keyLine(t *testing.T, k any, n int) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub(t, k)))) + " key" + string(rune('0'+n))
}

// checkSSHLogin checks one login body against the key that should have
// signed and the nonce the fake handed out before it.
func checkSSHLogin(t *testing.T, r vreq, role any, k any, n int, nonce string) {
	t.Helper()
	if r.Token() != "" {
		t.Errorf("ssh login %d sent a vault token", n)
	}
	sig, _ := r.JSON["signature"].(string)
	blob, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		t.Errorf("login %d: signature %q is not standard base64", n, sig)
	}
	pub := sshPub(t, k)
	// The format is the key type: for RSA "ssh-rsa", PKCS#1 v1.5 with
	// SHA-1, which is what the server plugin verifies.
	if err := pub.Verify([]byte(nonce), &ssh.Signature{Format: pub.Type(), Blob: blob}); err != nil {
		t.Errorf("login %d: signature does not verify against %s and nonce %q: %v", n, pub.Type(), nonce, err)
	}
	if _, ok := r.JSON["role"]; !ok {
		t.Errorf("login %d: no role key", n)
	}
	wantBody(t, "ssh login", r, map[string]any{
		"role":       role,
		"public_key": keyLine(t, k, n),
		"signature":  sig,
		"nonce":      base64.StdEncoding.EncodeToString([]byte(nonce)),
		"metadata":   map[string]any{"issuer": "default", "group": "default"},
	})
}

func nonceAnswers(nonces ...string) []answer {
	var as []answer
	for _, n := range nonces {
		as = append(as, replyJSON(200, map[string]any{"data": map[string]any{"nonce": n}}))
	}
	return as
}

// TestSSHAgentLogin covers the ssh-agent login: a nonce, then a login with
// each agent key in turn until one works.
func TestSSHAgentLogin(t *testing.T) {
	keys := sshTestKeys()
	nonces := []string{"n0nce-one-8f2a", "n0nce-two-91cc"}
	tests := []struct {
		name   string
		keys   []any
		login  []answer
		creds  answer
		want   []string
		logins int
		vt     string
		err    string
		log    string // default-mode log, "" to skip
	}{
		{name: "key1 refused, key2 accepted", keys: []any{keys.ed, keys.rsa},
			login: []answer{replyErrors(403, "permission denied"), authAnswer(tokSSH, 2592000, []string{"default"}, nil)},
			creds: bearerAnswer(bearerPlain), logins: 2, vt: tokExch,
			want: []string{"GET " + pNonce, "POST " + pSSHLogin, "GET " + pNonce, "POST " + pSSHLogin, "POST " + pCreate, "GET " + pCreds},
			log:  "Attempting ssh-agent auth with V ... succeeded\nAttempting to get token from V ... succeeded\nStoring vault token in VT\nStoring bearer token in BT\n"},
		{name: "rsa key1 accepted", keys: []any{keys.rsa, keys.ed},
			login: []answer{authAnswer(tokSSH, 600, []string{"default"}, nil)},
			creds: bearerAnswer(bearerPlain), logins: 1, vt: tokSSH,
			want: []string{"GET " + pNonce, "POST " + pSSHLogin, "GET " + pCreds}},
		{name: "every key refused", keys: []any{keys.ed, keys.rsa},
			login: []answer{replyErrors(403, "permission denied")}, logins: 2, err: "Failure getting token from V",
			want: []string{"GET " + pNonce, "POST " + pSSHLogin, "GET " + pNonce, "POST " + pSSHLogin},
			log:  "Attempting ssh-agent auth with V ... failed\n"},
		{name: "answer without auth stops", keys: []any{keys.ed, keys.rsa},
			login: []answer{reply200(`{"warnings":["no"]}`)}, logins: 1, err: "Failure getting token from V",
			want: []string{"GET " + pNonce, "POST " + pSSHLogin}},
		{name: "bearer read failure stops", keys: []any{keys.ed, keys.rsa},
			login: []answer{authAnswer(tokSSH, 600, []string{"default"}, nil)}, creds: replyErrors(403, "permission denied"),
			logins: 1, err: "Failure getting token from V",
			want: []string{"GET " + pNonce, "POST " + pSSHLogin, "GET " + pCreds}},
		{name: "nonce failure stops", keys: []any{keys.ed, keys.rsa}, logins: 0, err: "Failure getting token from V",
			want: []string{"GET " + pNonce}, log: "Attempting ssh-agent auth with V ... failed\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.write(h.ck, "alice\n")
			ag := newTestAgent(tc.keys...)
			h.agent = func() (SSHAgent, error) { return ag, nil }
			if tc.logins > 0 {
				h.fv.on("GET", pNonce, nonceAnswers(nonces...)...)
			} else {
				h.fv.on("GET", pNonce, replyErrors(500, "nonce store down"))
			}
			h.fv.on("POST", pSSHLogin, tc.login...)
			h.fv.on("POST", pCreate, createAnswer(tokExch))
			h.fv.on("GET", pCreds, tc.creds)
			res, err, log := h.run(h.opts(func(o *Options) { o.NoKerberos = true; o.NoOIDC = true }))
			if tc.err != "" {
				wantErr(t, err, strings.ReplaceAll(tc.err, "V", h.fv.URL))
			} else if err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			wantKeys(t, h.fv, tc.want...)
			for _, r := range h.fv.find("GET " + pNonce) {
				if r.Token() != "" {
					t.Errorf("nonce request sent a vault token")
				}
			}
			logins := h.fv.find("POST " + pSSHLogin)
			if len(logins) != tc.logins {
				t.Fatalf("%d logins, want %d", len(logins), tc.logins)
			}
			for i, r := range logins {
				checkSSHLogin(t, r, "alice", tc.keys[i], i+1, nonces[i])
			}
			if tc.vt != "" {
				wantFile(t, h.vt, tc.vt+"\n", 0o600)
				if res.Method != "ssh" {
					t.Errorf("method %q", res.Method)
				}
				if cr := h.fv.find("POST " + pCreate); len(cr) == 1 && cr[0].Token() != tokSSH {
					t.Errorf("token/create not made with the ssh login token")
				}
			} else {
				wantNoFile(t, h.vt)
			}
			if tc.log != "" {
				want := strings.NewReplacer("VT", h.vt, "BT", h.bt, "V", h.fv.URL).Replace(tc.log)
				if log != want {
					t.Errorf("log:\n%s\nwant:\n%s", log, want)
				}
			}
			if n := ag.closed.Load(); n != 1 {
				t.Errorf("agent closed %d times, want once", n)
			}
		})
	}
}

// TestSSHNoBearerTokenUnknownCredkey: with --nobearertoken and no credkey
// the login's role is null, and the vault token is written at once.
func TestSSHNoBearerTokenUnknownCredkey(t *testing.T) {
	keys := sshTestKeys()
	h := newHarness(t)
	h.agent = func() (SSHAgent, error) { return newTestAgent(keys.ed), nil }
	h.fv.on("GET", pNonce, nonceAnswers("abc")...)
	h.fv.on("POST", pSSHLogin, authAnswer(tokSSH, 2592000, []string{"default"}, nil))
	h.fv.on("POST", pCreate, createAnswer(tokExch))
	res, err, log := h.run(h.opts(func(o *Options) { o.NoBearerToken = true; o.NoKerberos = true; o.NoOIDC = true }))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	wantKeys(t, h.fv, "GET "+pNonce, "POST "+pSSHLogin, "POST "+pCreate)
	checkSSHLogin(t, h.fv.find("POST " + pSSHLogin)[0], nil, keys.ed, 1, "abc")
	wantFile(t, h.vt, tokExch+"\n", 0o600)
	wantNoFile(t, h.bt)
	if res.Method != "ssh" || res.VaultToken != tokExch {
		t.Errorf("method %q", res.Method)
	}
}

// TestSSHAgentNoKeysOrBroken: an empty agent is skipped (and closed); an
// agent that cannot be reached or listed is fatal.
func TestSSHAgentNoKeysOrBroken(t *testing.T) {
	t.Run("no keys", func(t *testing.T) {
		h := newHarness(t)
		h.write(h.ck, "alice\n")
		ag := newTestAgent()
		h.agent = func() (SSHAgent, error) { return ag, nil }
		_, err, log := h.run(h.opts(func(o *Options) { o.NoKerberos = true; o.NoOIDC = true; o.Verbose = true }))
		wantErr(t, err, "Failure getting token from "+h.fv.URL)
		wantKeys(t, h.fv)
		if want := "Credkey from " + h.ck + ": alice\nNo ssh-agent keys found\n"; log != want {
			t.Errorf("log %q, want %q", log, want)
		}
		if n := ag.closed.Load(); n != 1 {
			t.Errorf("empty agent closed %d times, want once", n)
		}
	})
	t.Run("no agent", func(t *testing.T) {
		h := newHarness(t)
		h.write(h.ck, "alice\n")
		h.agent = func() (SSHAgent, error) { return nil, errNoAgent }
		_, err, _ := h.run(h.opts(func(o *Options) { o.NoKerberos = true; o.NoOIDC = true }))
		wantErr(t, err, "Failure getting token from "+h.fv.URL)
	})
	t.Run("dial error", func(t *testing.T) {
		h := newHarness(t)
		h.write(h.ck, "alice\n")
		h.agent = func() (SSHAgent, error) { return nil, errors.New("connection refused") }
		_, err, _ := h.run(h.opts(func(o *Options) { o.NoKerberos = true }))
		wantErr(t, err, "Error checking for ssh-agent keys: connection refused")
		wantKeys(t, h.fv)
	})
	t.Run("list error", func(t *testing.T) {
		h := newHarness(t)
		h.write(h.ck, "alice\n")
		ag := newTestAgent(sshTestKeys().ed)
		ag.listErr = errors.New("agent refused operation")
		h.agent = func() (SSHAgent, error) { return ag, nil }
		_, err, _ := h.run(h.opts(func(o *Options) { o.NoKerberos = true }))
		wantErr(t, err, "Error checking for ssh-agent keys: agent refused operation")
		if n := ag.closed.Load(); n != 1 {
			t.Errorf("agent closed %d times, want once", n)
		}
	})
}

// TestRegisterSSH covers --registerssh (the keys registered after the OIDC
// login), including a first
// login with no credkey file, which htgettoken crashes on.
func TestRegisterSSH(t *testing.T) {
	keys := sshTestKeys()
	tests := []struct {
		name     string
		stored   bool // credkey and vault token files exist
		keys     []any
		register answer
		poll     *answer
		want     []string
		err      string
	}{
		{name: "first login", keys: []any{keys.ed, keys.rsa}, register: replyStatus(204, ""),
			want: []string{"POST " + pAuthURL, "POST " + pPoll, "POST " + pPoll, "POST " + pRegister, "POST " + pCreate, "POST " + pCreds, "GET " + pCreds}},
		{name: "credkey known, stored token not used", stored: true, keys: []any{keys.rsa}, register: replyStatus(204, ""),
			want: []string{"POST " + pAuthURL, "POST " + pPoll, "POST " + pPoll, "POST " + pRegister, "POST " + pCreate, "POST " + pCreds, "GET " + pCreds}},
		{name: "no keys", keys: nil, err: "No ssh-agent keys found to register",
			want: []string{"POST " + pAuthURL, "POST " + pPoll, "POST " + pPoll}},
		{name: "registration refused", keys: []any{keys.ed}, register: replyErrors(403, "permission denied"),
			err:  "ssh key registration failed to V failed: HTTPError: Forbidden: permission denied",
			want: []string{"POST " + pAuthURL, "POST " + pPoll, "POST " + pPoll, "POST " + pRegister}},
		{name: "login answer without auth", keys: []any{keys.ed}, poll: &answer{status: 200, body: `{"data":{}}`},
			err: "no 'auth' in response from V", want: []string{"POST " + pAuthURL, "POST " + pPoll}},
		{name: "login without credkey", keys: []any{keys.ed},
			poll: ptr(authAnswer(tokLogin, 600, []string{"sshregister-default"}, map[string]string{"oauth2_refresh_token": refreshTok})),
			err:  "no 'credkey' in metadata of response from V", want: []string{"POST " + pAuthURL, "POST " + pPoll}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.stored {
				h.haveStored(tokStored)
			}
			h.kerb = func(context.Context, string, string) (string, error) { return "Negotiate " + negotiateB, nil }
			h.scriptOIDC(600, []string{"default", "sshregister-default"})
			if tc.poll != nil {
				h.fv.on("POST", pPoll, *tc.poll)
			}
			h.fv.on("POST", pRegister, tc.register)
			ag := newTestAgent(tc.keys...)
			h.agent = func() (SSHAgent, error) { return ag, nil }
			res, err, log := h.run(h.opts(func(o *Options) { o.RegisterSSH = true }))
			if tc.err != "" {
				wantErr(t, err, strings.ReplaceAll(tc.err, "V", h.fv.URL))
			} else if err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			wantKeys(t, h.fv, tc.want...)
			if len(h.kerbCalls) != 0 {
				t.Errorf("Kerberos attempted with --registerssh")
			}
			if regs := h.fv.find("POST " + pRegister); len(regs) == 1 {
				var lines []any
				for i, k := range tc.keys {
					lines = append(lines, keyLine(t, k, i+1))
				}
				wantBody(t, "register", regs[0], map[string]any{"public_keys": lines})
				if regs[0].Token() != tokLogin {
					t.Errorf("registration not made with the raw login token")
				}
			}
			if tc.err != "" {
				return
			}
			wantBody(t, "token/create", h.fv.find("POST " + pCreate)[0],
				map[string]any{"ttl": "604800s", "renewable": "false", "policies": []any{"default"}})
			wantFile(t, h.vt, tokExch+"\n", 0o600)
			wantFile(t, h.ck, "alice\n", 0o644)
			if res.Method != "oidc" || res.BearerToken != bearerPlain {
				t.Errorf("method %q", res.Method)
			}
			V := h.fv.URL
			want := "Attempting OIDC authentication with " + V + "\n" +
				"\nComplete the authentication at:\n    " + testAuthURL + "\n" +
				"When prompted, enter code " + testCode + "\n" +
				"Running 'xdg-open' on the URL\n" +
				"Waiting for response in web browser\n" +
				"Registering ssh keys at " + V + " ... done\n" +
				"Storing vault token in " + h.vt + "\n" +
				"Saving credkey to " + h.ck + "\n" +
				"Saving refresh token ... done\n" +
				"Attempting to get token from " + V + " ... succeeded\n" +
				"Storing bearer token in " + h.bt + "\n"
			if log != want {
				t.Errorf("log:\n%s\nwant:\n%s", log, want)
			}
			if !reflect.DeepEqual(h.opened, []string{"xdg-open " + testAuthURL}) {
				t.Errorf("opened %q", h.opened)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
