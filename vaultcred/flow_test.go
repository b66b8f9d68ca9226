package vaultcred

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/internal/tokenfile"
)

// Paths of the default issuer and role with credkey "alice".
const (
	pAuthURL = "auth/oidc-default/oidc/auth_url"
	pPoll    = "auth/oidc-default/oidc/poll"
	pCreate  = "auth/token/create"
	pLookup  = "auth/token/lookup-self"
	pKerb    = "auth/kerberos-default_default/login"
	pCreds   = "secret/oauth/creds/default/alice:default"
	pSTS     = "secret/oauth/sts/default/alice:default"

	testAuthURL = "https://idp.example.org/device?user_code=WDJB-MJHT"
	testCode    = "WDJB-MJHT"
)

// fakeClock is a clock that only Sleep moves.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// harness runs Get against a fake Vault in a temporary directory with
// injected clock, browser opener, Kerberos and ssh-agent.
type harness struct {
	t     *testing.T
	fv    *fakeVault
	dir   string
	vt    string // vault token file
	bt    string // bearer token file
	ck    string // credkey file
	clock *fakeClock

	mu        sync.Mutex
	opened    []string // "<command> <url>" of each OpenURL call
	openErr   error
	kerbCalls []string // "<principal>|<service>"
	kerb      func(ctx context.Context, principal, service string) (string, error)
	agent     func() (SSHAgent, error)
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{
		t:     t,
		fv:    newFakeVault(t),
		dir:   dir,
		vt:    filepath.Join(dir, "vt"),
		bt:    filepath.Join(dir, "bt"),
		ck:    filepath.Join(dir, "config", "credkey-default-default"),
		clock: &fakeClock{now: time.Unix(1700000000, 0)},
	}
	h.kerb = func(context.Context, string, string) (string, error) {
		return "", fmt.Errorf("%w: the test has no tickets", ErrNoKerberos)
	}
	h.agent = func() (SSHAgent, error) { return newTestAgent(), nil }
	return h
}

// opts returns derived options for the fake server and the harness files,
// after set changed them.
func (h *harness) opts(set func(o *Options)) *Options {
	h.t.Helper()
	o := NewOptions()
	o.VaultServer = h.fv.URL
	o.CAFile = h.fv.CA
	o.ConfigDir = filepath.Join(h.dir, "config")
	o.OutFile = h.bt
	o.VaultTokenFile = h.vt
	if set != nil {
		set(o)
	}
	env := Environ{Euid: os.Geteuid(), HomeDir: h.dir, StdinTTY: true, StdoutTTY: true, GOOS: "linux"}
	if err := o.Derive(env); err != nil {
		h.t.Fatalf("Derive: %v", err)
	}
	return o
}

// run runs Get with o and returns its result, error and log. Outside -d it
// fails the test when the error or the log holds a secret of the fake.
func (h *harness) run(o *Options) (*Result, error, string) {
	h.t.Helper()
	var buf bytes.Buffer
	lg := &Logger{W: &buf, Quiet: o.Quiet, Verbose: o.Verbose, Debug: o.Debug}
	deps := Deps{
		Log:   lg,
		Now:   h.clock.Now,
		Sleep: h.clock.Sleep,
		OpenURL: func(ctx context.Context, command, url string) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.opened = append(h.opened, command+" "+url)
			return h.openErr
		},
		Kerberos: func(ctx context.Context, principal, service string) (string, error) {
			h.mu.Lock()
			h.kerbCalls = append(h.kerbCalls, principal+"|"+service)
			h.mu.Unlock()
			return h.kerb(ctx, principal, service)
		},
		SSHAgent: h.agent,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Get(ctx, o, deps)
	if res == nil {
		h.t.Fatal("Get returned a nil Result")
	}
	if !o.Debug {
		for _, s := range secretStrings {
			if err != nil && strings.Contains(err.Error(), s) {
				h.t.Errorf("error message holds secret %q: %v", s, err)
			}
			if strings.Contains(buf.String(), s) {
				h.t.Errorf("log holds secret %q:\n%s", s, buf.String())
			}
		}
	}
	return res, err, buf.String()
}

// write creates a file with content (mode 0600), making its directory.
func (h *harness) write(path, content string) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// haveStored sets up what a second run finds: the credkey file and a
// vault token file.
func (h *harness) haveStored(vaultToken string) {
	h.write(h.ck, "alice\n")
	h.write(h.vt, vaultToken+"\n")
}

// scriptOIDC scripts a first OIDC login: auth_url (with user code), one
// pending poll, then login with lease seconds and policies, the exchange,
// the refresh token storage and the bearer read.
func (h *harness) scriptOIDC(lease int, policies []string) {
	fv := h.fv
	fv.on("POST", pAuthURL, authURLAnswer(testAuthURL, testCode, "st_4fj2", "3"))
	fv.on("POST", pPoll, replyErrors(400, "authorization_pending"),
		authAnswer(tokLogin, lease, policies, map[string]string{
			"credkey": "alice", "oauth2_refresh_token": refreshTok, "role": "default"}))
	fv.on("POST", pCreate, createAnswer(tokExch))
	fv.on("POST", pCreds, replyStatus(204, ""))
	fv.on("GET", pCreds, bearerAnswer(bearerPlain))
}

func wantKeys(t *testing.T, fv *fakeVault, want ...string) {
	t.Helper()
	got := fv.keys()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requests:\n got %q\nwant %q", got, want)
	}
}

func wantBody(t *testing.T, what string, r vreq, want map[string]any) {
	t.Helper()
	if !reflect.DeepEqual(r.JSON, want) {
		t.Errorf("%s body = %s, want %v", what, r.Raw, want)
	}
}

func wantFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != mode {
		t.Errorf("%s is %v, want a regular file with mode %v", path, fi.Mode(), mode)
	}
	if b, _ := os.ReadFile(path); string(b) != content {
		t.Errorf("%s holds %q, want %q", path, b, content)
	}
}

func wantNoFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (err %v), want none", path, err)
	}
}

func wantErr(t *testing.T, err error, msg string) {
	t.Helper()
	if err == nil || err.Error() != msg {
		t.Errorf("error = %v, want %q", err, msg)
	}
}

// modes are the three output modes.
var modes = []struct {
	name string
	set  func(o *Options)
}{
	{"default", func(o *Options) {}},
	{"verbose", func(o *Options) { o.Verbose = true }},
	{"quiet", func(o *Options) { o.Quiet = true }},
}

// TestFirstOIDCLoginThenSecondRun checks, in every output mode,
// the requests and bodies of a first login, the files, the messages, and a
// second run that makes exactly one request and rewrites no vault token.
func TestFirstOIDCLoginThenSecondRun(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t)
			fv := h.fv
			h.scriptOIDC(2592000, []string{"default", "htgettoken-default"})
			o := h.opts(m.set)
			res, err, log := h.run(o)
			if err != nil {
				t.Fatalf("first run: %v\n%s", err, log)
			}
			wantKeys(t, fv, "POST "+pAuthURL, "POST "+pPoll, "POST "+pPoll, "POST "+pCreate, "POST "+pCreds, "GET "+pCreds)

			au := fv.find("POST " + pAuthURL)[0]
			if au.Token() != "" {
				t.Errorf("auth_url sent a vault token")
			}
			nonce, _ := au.JSON["client_nonce"].(string)
			if len(nonce) != 43 || strings.Trim(nonce, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
				t.Errorf("client_nonce %q is not 43 URL-safe characters", nonce)
			}
			wantBody(t, "auth_url", au, map[string]any{
				"role": "default", "client_nonce": nonce,
				"redirect_uri": fv.URL + "/v1/auth/oidc-default/oidc/callback",
			})
			for i, p := range fv.find("POST " + pPoll) {
				wantBody(t, fmt.Sprintf("poll %d", i), p, map[string]any{"state": "st_4fj2", "client_nonce": nonce})
			}
			cr := fv.find("POST " + pCreate)[0]
			if cr.Token() != tokLogin {
				t.Errorf("token/create sent with the wrong token")
			}
			wantBody(t, "token/create", cr, map[string]any{"ttl": "604800s", "renewable": "false"})
			st := fv.find("POST " + pCreds)[0]
			if st.Token() != tokExch {
				t.Errorf("refresh token stored with the wrong vault token")
			}
			wantBody(t, "creds POST", st, map[string]any{"server": "default", "refresh_token": refreshTok})
			rd := fv.find("GET " + pCreds)[0]
			if rd.Token() != tokExch || rd.RawQuery != "minimum_seconds=60" {
				t.Errorf("bearer read: query %q, right token %v", rd.RawQuery, rd.Token() == tokExch)
			}
			if got := h.clock.slept(); !reflect.DeepEqual(got, []time.Duration{3 * time.Second, 3 * time.Second}) {
				t.Errorf("slept %v, want two poll intervals of 3s", got)
			}
			if len(h.opened) != 1 || h.opened[0] != "xdg-open "+testAuthURL {
				t.Errorf("OpenURL calls %q", h.opened)
			}
			if res.Method != "oidc" || res.VaultToken != tokExch || res.BearerToken != bearerPlain || res.CredKey != "alice" {
				t.Errorf("result: method %q credkey %q, vault token ok %v, bearer ok %v",
					res.Method, res.CredKey, res.VaultToken == tokExch, res.BearerToken == bearerPlain)
			}
			wantFile(t, h.vt, tokExch+"\n", 0o600)
			wantFile(t, h.bt, bearerPlain+"\n", 0o600)
			wantFile(t, h.ck, "alice\n", 0o644)

			V := fv.URL
			var want string
			switch m.name {
			case "default":
				want = "Attempting OIDC authentication with " + V + "\n" +
					"\nComplete the authentication at:\n    " + testAuthURL + "\n" +
					"When prompted, enter code " + testCode + "\n" +
					"Running 'xdg-open' on the URL\n" +
					"Waiting for response in web browser\n" +
					"Storing vault token in " + h.vt + "\n" +
					"Saving credkey to " + h.ck + "\n" +
					"Saving refresh token ... done\n" +
					"Attempting to get token from " + V + " ... succeeded\n" +
					"Storing bearer token in " + h.bt + "\n"
			case "verbose":
				want = "Attempting OIDC authentication with " + V + "\n" +
					"\nComplete the authentication at:\n    " + testAuthURL + "\n" +
					"When prompted, enter code " + testCode + "\n" +
					"Running 'xdg-open' on the URL\n" +
					"Waiting for response in web browser\n" +
					"Storing vault token in " + h.vt + "\n" +
					"Saving credkey to " + h.ck + ": alice\n" +
					"Saving refresh token to " + V + "\n" +
					"  at path " + pCreds + "\n" +
					"Getting bearer token from " + V + "\n" +
					"  at path " + pCreds + "\n" +
					"Storing bearer token in " + h.bt + "\n"
			case "quiet":
				want = "\nComplete the authentication at:\n    " + testAuthURL + "\n" +
					"When prompted, enter code " + testCode + "\n"
			}
			if log != want {
				t.Errorf("first run log:\n%s\nwant:\n%s", log, want)
			}

			// Second run: one request with the stored token, nothing rewritten.
			fv.reset()
			before, _ := os.Stat(h.vt)
			res, err, log = h.run(h.opts(m.set))
			if err != nil {
				t.Fatalf("second run: %v\n%s", err, log)
			}
			wantKeys(t, fv, "GET "+pCreds)
			if r := fv.requests()[0]; r.Token() != tokExch || r.RawQuery != "minimum_seconds=60" {
				t.Errorf("second run read: query %q, right token %v", r.RawQuery, r.Token() == tokExch)
			}
			if after, _ := os.Stat(h.vt); !os.SameFile(before, after) {
				t.Errorf("vault token file was rewritten on reuse")
			}
			if res.Method != "existing" || res.BearerToken != bearerPlain {
				t.Errorf("second run method %q", res.Method)
			}
			switch m.name {
			case "default":
				want = "Attempting to get token from " + V + " ... succeeded\n" +
					"Storing bearer token in " + h.bt + "\n"
			case "verbose":
				want = "Credkey from " + h.ck + ": alice\n" +
					"Attempting to get bearer token from " + V + "\n" +
					"  using vault token from " + h.vt + "\n" +
					"  at path " + pCreds + "\n" +
					"Storing bearer token in " + h.bt + "\n"
			case "quiet":
				want = ""
			}
			if log != want {
				t.Errorf("second run log:\n%s\nwant:\n%s", log, want)
			}
		})
	}
}

// TestOIDCLoginBlock checks the login URL block printed during an OIDC
// login ("Complete the authentication at:", the URL, the user code line),
// the web open command messages, and that -q keeps them.
func TestOIDCLoginBlock(t *testing.T) {
	tests := []struct {
		name     string
		quiet    bool
		userCode string
		webOpen  string
		openErr  error
		want     string // after "Attempting OIDC ..." and before "Storing vault token"
		opened   bool
	}{
		{name: "no user code", userCode: "", webOpen: "xdg-open", opened: true,
			want: "\nComplete the authentication at:\n    AUTHURL\nRunning 'xdg-open' on the URL\nWaiting for response in web browser\n"},
		{name: "no web open command", userCode: testCode, webOpen: "",
			want: "\nComplete the authentication at:\n    AUTHURL\nWhen prompted, enter code " + testCode + "\n" +
				"No web open command defined, please copy/paste the above to any web browser\nWaiting for response in web browser\n"},
		{name: "open fails", userCode: "", webOpen: "firefox", openErr: errors.New("exit status 3"), opened: true,
			want: "\nComplete the authentication at:\n    AUTHURL\nRunning 'firefox' on the URL\n" +
				"Couldn't open web browser with 'firefox', please open URL manually\nWaiting for response in web browser\n"},
		{name: "quiet no web open command", quiet: true, userCode: testCode, webOpen: "",
			want: "\nComplete the authentication at:\n    AUTHURL\nWhen prompted, enter code " + testCode + "\n" +
				"No web open command defined, please copy/paste the above to any web browser\n"},
		{name: "quiet open fails", quiet: true, webOpen: "firefox", openErr: errors.New("exit status 3"), opened: true,
			want: "\nComplete the authentication at:\n    AUTHURL\n" +
				"Couldn't open web browser with 'firefox', please open URL manually\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.scriptOIDC(600, []string{"default"})
			h.fv.on("POST", pAuthURL, authURLAnswer(testAuthURL, tc.userCode, "st_1", "3"))
			h.openErr = tc.openErr
			o := h.opts(func(o *Options) {
				o.Quiet = tc.quiet
				o.WebOpenCommand, o.WebOpenCommandSet = tc.webOpen, true
			})
			_, err, log := h.run(o)
			if err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			want := strings.ReplaceAll(tc.want, "AUTHURL", testAuthURL)
			if !tc.quiet {
				want = "Attempting OIDC authentication with " + h.fv.URL + "\n" + want +
					"Storing vault token in " + h.vt + "\n" +
					"Saving credkey to " + h.ck + "\n" +
					"Saving refresh token ... done\n" +
					"Attempting to get token from " + h.fv.URL + " ... succeeded\n" +
					"Storing bearer token in " + h.bt + "\n"
			}
			if log != want {
				t.Errorf("log:\n%s\nwant:\n%s", log, want)
			}
			if got := len(h.opened) == 1; got != tc.opened {
				t.Errorf("OpenURL calls %q", h.opened)
			}
		})
	}
}

// TestExchangeDecision checks that token/create is called only when the login
// lease is above the ttl or an sshregister policy has to go.
func TestExchangeDecision(t *testing.T) {
	tests := []struct {
		name     string
		lease    int
		policies []string
		create   map[string]any // nil: no token/create
	}{
		{"lease above ttl", 604801, []string{"default", "p1"},
			map[string]any{"ttl": "604800s", "renewable": "false"}},
		{"lease equal to ttl", 604800, []string{"default", "p1"}, nil},
		{"lease below ttl", 3600, []string{"default"}, nil},
		{"sshregister dropped", 3600, []string{"default", "sshregister-default", "p1"},
			map[string]any{"ttl": "604800s", "renewable": "false", "policies": []any{"default", "p1"}}},
		{"only the first sshregister dropped", 2592000, []string{"sshregister-a", "default", "sshregister-b"},
			map[string]any{"ttl": "604800s", "renewable": "false", "policies": []any{"default", "sshregister-b"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.scriptOIDC(tc.lease, tc.policies)
			res, err, log := h.run(h.opts(nil))
			if err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			cr := h.fv.find("POST " + pCreate)
			wantTok := tokLogin
			if tc.create == nil {
				if len(cr) != 0 {
					t.Errorf("token/create called: %s", cr[0].Raw)
				}
			} else {
				wantTok = tokExch
				if len(cr) != 1 {
					t.Fatalf("token/create called %d times", len(cr))
				}
				wantBody(t, "token/create", cr[0], tc.create)
			}
			wantFile(t, h.vt, wantTok+"\n", 0o600)
			if res.VaultToken != wantTok || h.fv.find("GET " + pCreds)[0].Token() != wantTok {
				t.Errorf("the bearer read did not use the %s token", map[bool]string{true: "login", false: "exchanged"}[wantTok == tokLogin])
			}
		})
	}
}

// TestScopesAudience checks that --scopes and --audience switch the bearer
// read to the sts path with the scopes and audiences parameters.
func TestScopesAudience(t *testing.T) {
	h := newHarness(t)
	h.haveStored(tokStored)
	h.fv.on("GET", pSTS, bearerAnswer(bearerPlain))
	res, err, log := h.run(h.opts(func(o *Options) { o.Scopes = "a b"; o.Audience = "x,y"; o.ShowBearerURL = true }))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	wantKeys(t, h.fv, "GET "+pSTS)
	r := h.fv.requests()[0]
	for _, part := range []string{"minimum_seconds=60", "scopes=a+b", "audiences=x%2Cy"} {
		if !strings.Contains("&"+r.RawQuery+"&", "&"+part+"&") {
			t.Errorf("query %q lacks %q", r.RawQuery, part)
		}
	}
	if len(r.Query) != 3 {
		t.Errorf("query %q has extra parameters", r.RawQuery)
	}
	if res.BearerURL != h.fv.url(pSTS) {
		t.Errorf("BearerURL %q", res.BearerURL)
	}
}

// TestVaultTokenMinTTL checks the --vaulttokenminttl lookup-self check and
// the lookup failure line that -q does not silence.
func TestVaultTokenMinTTL(t *testing.T) {
	tests := []struct {
		name    string
		quiet   bool
		verbose bool
		lookup  answer
		keys    []string
		kerb    bool   // Kerberos attempted
		vt      string // vault token file afterwards
		log     string // exact log, "" to skip
		err     string
	}{
		{name: "enough", verbose: true, lookup: reply200(`{"data":{"ttl":7200,"id":"x"}}`),
			keys: []string{"GET " + pLookup, "GET " + pCreds}, vt: tokStored,
			log: "Credkey from CK: alice\nMaking sure there is at least 3600 seconds remaining\n  in vault token from VT\n" +
				"  7200 seconds remaining\nAttempting to get bearer token from V\n  using vault token from VT\n" +
				"  at path " + pCreds + "\nStoring bearer token in BT\n"},
		{name: "below", lookup: reply200(`{"data":{"ttl":3599}}`),
			keys: []string{"GET " + pLookup, "POST " + pKerb, "POST " + pCreate, "GET " + pCreds}, kerb: true, vt: tokExch,
			log: "Attempting kerberos auth with V ... succeeded\nAttempting to get token from V ... succeeded\n" +
				"Storing vault token in VT\nStoring bearer token in BT\n"},
		{name: "lookup forbidden quiet", quiet: true, lookup: replyErrors(403, "permission denied"),
			keys: []string{"GET " + pLookup, "POST " + pKerb, "POST " + pCreate, "GET " + pCreds}, kerb: true, vt: tokExch,
			log: "Looking up vault token at V/v1/" + pLookup + " failed: HTTPError: Forbidden: permission denied\n"},
		{name: "ttl missing", lookup: reply200(`{"data":{"id":"x"}}`),
			keys: []string{"GET " + pLookup}, vt: tokStored, err: "ttl missing from lookup-self response"},
		{name: "lookup not JSON", lookup: reply200(`<html>ok</html>`),
			keys: []string{"GET " + pLookup}, vt: tokStored, err: "decoding response from V/v1/" + pLookup + " failed: JSONDecodeError: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.haveStored(tokStored)
			h.kerb = func(context.Context, string, string) (string, error) { return "Negotiate " + negotiateB, nil }
			h.fv.on("GET", pLookup, tc.lookup)
			h.fv.on("POST", pKerb, authAnswer(tokKerb, 2592000, []string{"default"}, nil))
			h.fv.on("POST", pCreate, createAnswer(tokExch))
			h.fv.on("GET", pCreds, bearerAnswer(bearerPlain))
			o := h.opts(func(o *Options) {
				o.VaultTokenMinTTL = time.Hour
				o.Quiet, o.Verbose = tc.quiet, tc.verbose
				o.NoOIDC = true
			})
			_, err, log := h.run(o)
			fill := strings.NewReplacer("CK", h.ck, "VT", h.vt, "BT", h.bt, "V", h.fv.URL)
			if tc.err != "" {
				if want := fill.Replace(tc.err); err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error %v, want %q...", err, want)
				}
			} else if err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			wantKeys(t, h.fv, tc.keys...)
			if r := h.fv.find("GET " + pLookup); len(r) != 1 || r[0].Token() != tokStored {
				t.Errorf("lookup-self not made once with the stored token")
			}
			if got := len(h.kerbCalls) > 0; got != tc.kerb {
				t.Errorf("Kerberos attempted: %v", h.kerbCalls)
			}
			if tc.kerb {
				if h.kerbCalls[0] != "|host/127.0.0.1" {
					t.Errorf("Kerberos asked for %q", h.kerbCalls[0])
				}
				if h.fv.find("POST " + pCreate)[0].Token() != tokKerb {
					t.Errorf("token/create not made with the Kerberos login token")
				}
			}
			if rd := h.fv.find("GET " + pCreds); len(rd) == 1 && rd[0].Token() != tc.vt {
				t.Errorf("bearer read with the wrong vault token")
			}
			wantFile(t, h.vt, tc.vt+"\n", 0o600)
			if tc.log != "" && log != fill.Replace(tc.log) {
				t.Errorf("log:\n%s\nwant:\n%s", log, fill.Replace(tc.log))
			}
		})
	}
}

// TestKerberos covers the Kerberos login: the request, a 403 that is fatal
// without OIDC, an HTML error page, a 200 without auth, the vault token
// written only when the bearer read worked or with --nobearertoken, and
// --vaultalias naming the service.
func TestKerberos(t *testing.T) {
	html := "<html><head><title>502 Bad Gateway</title></head><body>" + strings.Repeat("upstream unavailable ", 30) + "</body></html>"
	tests := []struct {
		name      string
		set       func(o *Options)
		login     answer
		creds     answer
		keys      []string
		err       string
		vt        string // "" means no vault token file
		method    string
		principal string
	}{
		{name: "success", login: authAnswer(tokKerb, 600, []string{"default"}, nil), creds: bearerAnswer(bearerPlain),
			keys: []string{"POST " + pKerb, "GET " + pCreds}, vt: tokKerb, method: "kerberos"},
		{name: "forbidden is fatal, no OIDC", login: replyErrors(403, "permission denied"),
			keys: []string{"POST " + pKerb},
			err:  "Kerberos negotiate with V/v1/" + pKerb + " failed: HTTPError: Forbidden: permission denied"},
		{name: "html error page", login: replyStatus(502, html),
			keys: []string{"POST " + pKerb},
			err:  "Kerberos negotiate with V/v1/" + pKerb + " failed: HTTPError: Bad Gateway: " + html[:200] + "..."},
		{name: "no auth continues", set: func(o *Options) { o.NoOIDC = true }, login: reply200(`{"warnings":["nope"]}`),
			keys: []string{"POST " + pKerb}, err: "Failure getting token from V"},
		{name: "bearer read fails, no write-back", set: func(o *Options) { o.NoOIDC = true },
			login: authAnswer(tokKerb, 600, []string{"default"}, nil), creds: replyErrors(400, "no refresh token"),
			keys: []string{"POST " + pKerb, "GET " + pCreds}, err: "Failure getting token from V"},
		{name: "nobearertoken writes at once", set: func(o *Options) { o.NoBearerToken = true },
			login: authAnswer(tokKerb, 2592000, []string{"default"}, nil),
			keys:  []string{"POST " + pKerb, "POST " + pCreate}, vt: tokExch, method: "kerberos"},
		{name: "alias names the service", set: func(o *Options) { o.VaultAlias = "htvault.example.org"; o.KerbPrincipal = "alice@EXAMPLE.ORG" },
			login: authAnswer(tokKerb, 600, []string{"default"}, nil), creds: bearerAnswer(bearerPlain),
			keys: []string{"POST " + pKerb, "GET " + pCreds}, vt: tokKerb, method: "kerberos",
			principal: "alice@EXAMPLE.ORG|host/htvault.example.org"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.write(h.ck, "alice\n")
			h.kerb = func(context.Context, string, string) (string, error) { return "Negotiate " + negotiateB, nil }
			h.scriptOIDC(600, []string{"default"})
			h.fv.on("POST", pKerb, tc.login)
			h.fv.on("POST", pCreate, createAnswer(tokExch))
			h.fv.on("GET", pCreds, tc.creds)
			res, err, log := h.run(h.opts(tc.set))
			if tc.err != "" {
				wantErr(t, err, strings.ReplaceAll(tc.err, "V", h.fv.URL))
			} else if err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			wantKeys(t, h.fv, tc.keys...)
			r := h.fv.find("POST " + pKerb)[0]
			if r.Header.Get("Authorization") != "Negotiate "+negotiateB ||
				r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || len(r.Raw) != 0 || r.Token() != "" {
				t.Errorf("kerberos login: headers %v, body %q", r.Header, r.Raw)
			}
			if tc.vt == "" {
				wantNoFile(t, h.vt)
			} else {
				wantFile(t, h.vt, tc.vt+"\n", 0o600)
			}
			if err == nil && res.Method != tc.method {
				t.Errorf("method %q, want %q", res.Method, tc.method)
			}
			want := tc.principal
			if want == "" {
				want = "|host/127.0.0.1"
			}
			if len(h.kerbCalls) != 1 || h.kerbCalls[0] != want {
				t.Errorf("Kerberos calls %q, want %q", h.kerbCalls, want)
			}
			var he *HTTPError
			if tc.name == "html error page" && (!errors.As(err, &he) || he.Status != 502 || he.Body != html) {
				t.Errorf("error does not wrap the HTTPError with the whole body: %#v", he)
			}
		})
	}
}

// TestNoCredkeyNoOIDC checks that with no credkey known and OIDC off
// nothing is attempted.
func TestNoCredkeyNoOIDC(t *testing.T) {
	h := newHarness(t)
	h.write(h.vt, tokStored+"\n")
	h.kerb = func(context.Context, string, string) (string, error) { return "Negotiate " + negotiateB, nil }
	_, err, log := h.run(h.opts(func(o *Options) { o.NoOIDC = true }))
	wantErr(t, err, "Failure getting token from "+h.fv.URL)
	if !errors.Is(err, ErrNoToken) {
		t.Errorf("error does not wrap ErrNoToken")
	}
	wantKeys(t, h.fv)
	if len(h.kerbCalls) != 0 {
		t.Errorf("Kerberos attempted without a credkey")
	}
	if log != "" {
		t.Errorf("log %q", log)
	}
}

// TestFiles covers how token files are written: replaced atomically with
// mode 0600, a symlink at the path replaced rather than followed.
func TestFiles(t *testing.T) {
	t.Run("symlink at the outfile is replaced", func(t *testing.T) {
		h := newHarness(t)
		h.haveStored(tokStored)
		h.fv.on("GET", pCreds, bearerAnswer(bearerPlain))
		victim := filepath.Join(h.dir, "victim")
		h.write(victim, "precious\n")
		if err := os.Symlink(victim, h.bt); err != nil {
			t.Fatal(err)
		}
		if _, err, log := h.run(h.opts(nil)); err != nil {
			t.Fatalf("%v\n%s", err, log)
		}
		wantFile(t, h.bt, bearerPlain+"\n", 0o600)
		wantFile(t, victim, "precious\n", 0o600)
	})
	for _, which := range []string{"bearer", "vault"} {
		t.Run("missing directory for the "+which+" token", func(t *testing.T) {
			h := newHarness(t)
			h.scriptOIDC(600, []string{"default"})
			missing := filepath.Join(h.dir, "nonexist", "tok")
			_, err, _ := h.run(h.opts(func(o *Options) {
				if which == "bearer" {
					o.OutFile = missing
				} else {
					o.VaultTokenFile = missing
				}
			}))
			var we *tokenfile.WriteError
			if err == nil || !strings.HasPrefix(err.Error(), "failure creating file: ") || !errors.As(err, &we) {
				t.Errorf("error %v, want failure creating file: ...", err)
			}
			if which == "vault" && len(h.fv.find("POST "+pCreds)) != 0 {
				t.Errorf("refresh token stored although the vault token could not be written")
			}
		})
	}
	t.Run("foreign-owned bearer token file is refused", func(t *testing.T) {
		h := newHarness(t)
		h.haveStored(tokStored)
		h.fv.on("GET", pCreds, bearerAnswer(bearerPlain))
		h.write(h.bt, "theirs\n")
		chownOrSkip(t, h.bt)
		_, err, _ := h.run(h.opts(nil))
		var fe *tokenfile.ForeignError
		if !errors.As(err, &fe) {
			t.Errorf("error %v, want a ForeignError", err)
		}
		if b, _ := os.ReadFile(h.bt); string(b) != "theirs\n" {
			t.Errorf("foreign file was replaced")
		}
	})
}

// chownOrSkip gives path to another user. Only root can; the tests of this
// package run as root in CI, and the check is skipped, visibly, otherwise.
func chownOrSkip(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown a file to another user")
	}
	if err := os.Chown(path, 54321, 54321); err != nil {
		t.Fatal(err)
	}
}

// TestOIDCPoll covers the wait for the OIDC login: poll intervals,
// slow_down, the 2-minute limit and the errors of the poll answers.
func TestOIDCPoll(t *testing.T) {
	login := authAnswer(tokLogin, 600, []string{"default"},
		map[string]string{"credkey": "alice", "oauth2_refresh_token": refreshTok})
	tests := []struct {
		name     string
		authURL  answer
		poll     []answer
		err      string
		sleeps   []time.Duration // nil: not checked
		polls    int             // -1: not checked
		pollPath string
	}{
		{name: "pending then success", authURL: authURLAnswer(testAuthURL, "", "s", "3"),
			poll:   []answer{replyErrors(400, "authorization_pending"), replyErrors(400, "authorization_pending"), login},
			sleeps: []time.Duration{3e9, 3e9, 3e9}, polls: 3},
		{name: "slow_down doubles", authURL: authURLAnswer(testAuthURL, "", "s", "3"),
			poll:   []answer{replyErrors(400, "slow_down"), replyErrors(400, "authorization_pending"), replyErrors(400, "slow_down"), login},
			sleeps: []time.Duration{3e9, 6e9, 6e9, 12e9}, polls: 4},
		{name: "numeric poll_interval", authURL: replyJSON(200, map[string]any{"data": map[string]any{"auth_url": testAuthURL, "state": "s", "poll_interval": 5}}),
			poll: []answer{login}, sleeps: []time.Duration{5e9}, polls: 1},
		{name: "access denied", authURL: authURLAnswer(testAuthURL, "", "s", "3"),
			poll: []answer{replyErrors(400, "authorization_pending"), replyErrors(400, "authorization failed: access_denied")},
			err:  "error in response from V: authorization failed: access_denied", polls: 2},
		{name: "empty auth_url", authURL: authURLAnswer("", "", "s", "3"),
			err: "'auth_url' is empty in data from V", polls: 0},
		{name: "no auth_url", authURL: reply200(`{"data":{"state":"s"}}`),
			err: "no 'auth_url' in data from V", polls: 0},
		{name: "auth_url not JSON", authURL: reply200(`{"data":`),
			err: "Initiating authentication to V failed: JSONDecodeError: ", polls: 0},
		{name: "auth_url forbidden", authURL: replyErrors(400, "invalid redirect_uri"),
			err: "Initiating authentication to V failed: HTTPError: Bad Request: invalid redirect_uri", polls: 0},
		{name: "two minutes", authURL: authURLAnswer(testAuthURL, "", "s", "3"),
			poll: []answer{replyErrors(400, "authorization_pending")},
			err:  "Polling for response took longer than 2 minutes", polls: 41},
		{name: "server error while polling", authURL: authURLAnswer(testAuthURL, "", "s", "3"),
			poll: []answer{replyErrors(500, "internal error")},
			err:  "Authentication to V failed: HTTPError: Internal Server Error: internal error", polls: 1},
		{name: "poll answer without auth", authURL: authURLAnswer(testAuthURL, "", "s", "3"),
			poll: []answer{reply200(`{"data":{}}`)}, err: "no 'auth' in response from V", polls: 1},
		{name: "poll answer not JSON", authURL: authURLAnswer(testAuthURL, "", "s", "3"),
			poll: []answer{reply200(`{"auth":{"client_token":5}}`)}, err: "Authentication to V failed: JSONDecodeError: ", polls: 1},
		{name: "huge poll_interval is capped", authURL: authURLAnswer(testAuthURL, "", "s", "99999999999999"),
			poll: []answer{login}, sleeps: []time.Duration{PollLimit}, polls: 1},
		{name: "huge numeric poll_interval is capped", authURL: replyJSON(200, map[string]any{"data": map[string]any{"auth_url": testAuthURL, "state": "s", "poll_interval": int64(1) << 62}}),
			poll:   []answer{replyErrors(400, "slow_down"), login},
			sleeps: []time.Duration{PollLimit, PollLimit}, polls: 2},
		{name: "slow_down doubles up to the cap", authURL: authURLAnswer(testAuthURL, "", "s", "100"),
			poll:   []answer{replyErrors(400, "slow_down"), login},
			sleeps: []time.Duration{100e9, PollLimit}, polls: 2},
		{name: "negative poll_interval", authURL: authURLAnswer(testAuthURL, "", "s", "-5"),
			poll: []answer{login}, sleeps: []time.Duration{1e9}, polls: 1},
		{name: "legacy device_wait", authURL: authURLAnswer(testAuthURL, testCode, "", "7"),
			poll: []answer{login}, sleeps: []time.Duration{1e9}, polls: 1, pollPath: "auth/oidc-default/oidc/device_wait"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.scriptOIDC(600, []string{"default"})
			h.fv.on("POST", pAuthURL, tc.authURL)
			pollPath := pPoll
			if tc.pollPath != "" {
				pollPath = tc.pollPath
			}
			h.fv.on("POST", pollPath, tc.poll...)
			_, err, log := h.run(h.opts(nil))
			if tc.err != "" {
				if want := strings.ReplaceAll(tc.err, "V", h.fv.URL); err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error %v, want %q", err, want)
				}
				var fe *FlowError
				if !errors.As(err, &fe) {
					t.Errorf("error is not a FlowError")
				}
			} else if err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			polls := h.fv.find("POST " + pollPath)
			if tc.polls >= 0 && len(polls) != tc.polls {
				t.Errorf("%d polls, want %d", len(polls), tc.polls)
			}
			if tc.sleeps != nil && !reflect.DeepEqual(h.clock.slept(), tc.sleeps) {
				t.Errorf("slept %v, want %v", h.clock.slept(), tc.sleeps)
			}
			if tc.pollPath != "" && len(polls) > 0 {
				nonce := h.fv.find("POST " + pAuthURL)[0].JSON["client_nonce"]
				wantBody(t, "device_wait", polls[0], map[string]any{"role": "default", "client_nonce": nonce})
			}
			if tc.name == "two minutes" {
				var total time.Duration
				for _, d := range h.clock.slept() {
					total += d
				}
				if total <= PollLimit || total > PollLimit+3*time.Second {
					t.Errorf("gave up after %v of polling", total)
				}
			}
			if tc.err != "" && len(h.fv.find("POST "+pCreate))+len(h.fv.find("GET "+pCreds)) != 0 {
				t.Errorf("flow went on after the error: %q", h.fv.keys())
			}
		})
	}
}

// TestOIDCNoBearerToken: with --nobearertoken the vault token is written
// and the run ends without saving the credkey or the refresh token.
func TestOIDCNoBearerToken(t *testing.T) {
	h := newHarness(t)
	h.scriptOIDC(2592000, []string{"default"})
	res, err, log := h.run(h.opts(func(o *Options) { o.NoBearerToken = true; o.NoKerberos = true }))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	wantKeys(t, h.fv, "POST "+pAuthURL, "POST "+pPoll, "POST "+pPoll, "POST "+pCreate)
	wantFile(t, h.vt, tokExch+"\n", 0o600)
	wantNoFile(t, h.ck)
	wantNoFile(t, h.bt)
	if res.Method != "oidc" || res.BearerToken != "" {
		t.Errorf("result %+v", res.Method)
	}
}

// TestExchangeMode covers exchange mode (a vault token given on a pipe, as
// the HTCondor storer does, is always exchanged) and what htdestroytoken
// relies on (--nobearertoken --showbearerurl makes no request).
func TestExchangeMode(t *testing.T) {
	t.Run("token from a pipe is always exchanged", func(t *testing.T) {
		h := newHarness(t)
		h.write(h.ck, "alice\n")
		h.fv.on("POST", pCreate, createAnswer(tokExch))
		h.fv.on("GET", pCreds, bearerAnswer(bearerPlain))
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := w.WriteString(tokCondor + "\n"); err != nil {
			t.Fatal(err)
		}
		w.Close()
		in := fmt.Sprintf("/dev/fd/%d", r.Fd())
		o := h.opts(func(o *Options) {
			o.VaultTokenInFile = in
			o.ShowBearerURL = true
			o.Quiet = true
			o.VaultTokenTTL = 604800 * time.Second
			o.NoOIDC = true
		})
		if !o.ExchangeMode {
			t.Fatalf("%s did not select exchange mode", in)
		}
		res, err, log := h.run(o)
		if err != nil {
			t.Fatalf("%v\n%s", err, log)
		}
		wantKeys(t, h.fv, "POST "+pCreate, "GET "+pCreds)
		cr := h.fv.find("POST " + pCreate)[0]
		if cr.Token() != tokCondor {
			t.Errorf("token/create not made with the piped token")
		}
		wantBody(t, "token/create", cr, map[string]any{"ttl": "604800s", "renewable": "false"})
		if h.fv.find("GET " + pCreds)[0].Token() != tokExch {
			t.Errorf("bearer read not made with the exchanged token")
		}
		wantFile(t, h.vt, tokExch+"\n", 0o600)
		wantFile(t, h.bt, bearerPlain+"\n", 0o600)
		if res.BearerURL != h.fv.url(pCreds) || res.Method != "exchange" || res.VaultToken != tokExch {
			t.Errorf("result: BearerURL %q method %q", res.BearerURL, res.Method)
		}
		if log != "" {
			t.Errorf("quiet log %q", log)
		}
	})
	t.Run("storer: stale token, Kerberos, vault token to a pipe", func(t *testing.T) {
		h := newHarness(t)
		h.haveStored(tokStored)
		h.kerb = func(context.Context, string, string) (string, error) { return "Negotiate " + negotiateB, nil }
		h.fv.on("POST", pKerb, authAnswer(tokKerb, 2592000, []string{"default"}, nil))
		h.fv.on("POST", pCreate, createAnswer(tokExch))
		h.fv.on("GET", pCreds, answer{fn: func(r vreq) answer {
			if r.Token() == tokExch {
				return bearerAnswer(bearerPlain)
			}
			return replyErrors(403, "permission denied")
		}})
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		out := fmt.Sprintf("/dev/fd/%d", w.Fd())
		o := h.opts(func(o *Options) {
			o.VaultTokenTTL = 28 * 24 * time.Hour
			o.VaultTokenInFile = h.vt
			o.VaultTokenFile = out
			o.ShowBearerURL = true
			o.NoOIDC = true
			o.Quiet = true
		})
		if o.ExchangeMode {
			t.Fatal("a plain in-file selected exchange mode")
		}
		res, err, log := h.run(o)
		if err != nil {
			t.Fatalf("%v\n%s", err, log)
		}
		w.Close()
		got, _ := io.ReadAll(r)
		if string(got) != tokExch+"\n" {
			t.Errorf("pipe got %d bytes, want the exchanged token and a newline", len(got))
		}
		wantKeys(t, h.fv, "GET "+pCreds, "POST "+pKerb, "POST "+pCreate, "GET "+pCreds)
		wantBody(t, "token/create", h.fv.find("POST " + pCreate)[0], map[string]any{"ttl": "2419200s", "renewable": "false"})
		if res.BearerURL != h.fv.url(pCreds) || res.Method != "kerberos" {
			t.Errorf("BearerURL %q, method %q", res.BearerURL, res.Method)
		}
		wantFile(t, h.vt, tokStored+"\n", 0o600)
		if log != "" {
			t.Errorf("quiet log %q", log)
		}
	})
	destroy := func(o *Options) {
		o.NoVaultToken, o.NoBearerToken, o.ShowBearerURL = true, true, true
	}
	t.Run("showbearerurl with a token file makes no request", func(t *testing.T) {
		h := newHarness(t)
		h.haveStored(tokStored)
		res, err, log := h.run(h.opts(destroy))
		if err != nil {
			t.Fatalf("%v\n%s", err, log)
		}
		wantKeys(t, h.fv)
		if res.BearerURL != h.fv.url(pCreds) {
			t.Errorf("BearerURL %q", res.BearerURL)
		}
		wantFile(t, h.vt, tokStored+"\n", 0o600)
	})
	t.Run("showbearerurl without a token file fails", func(t *testing.T) {
		h := newHarness(t)
		h.write(h.ck, "alice\n")
		res, err, _ := h.run(h.opts(destroy))
		wantErr(t, err, "Failure getting token from "+h.fv.URL)
		wantKeys(t, h.fv)
		if res.BearerURL != "" {
			t.Errorf("BearerURL %q set without a vault token", res.BearerURL)
		}
	})
	t.Run("showbearerurl without a credkey", func(t *testing.T) {
		h := newHarness(t)
		h.write(h.vt, tokStored+"\n")
		_, err, _ := h.run(h.opts(destroy))
		wantErr(t, err, "cannot do --showbearerurl because credkey is not known")
		wantKeys(t, h.fv)
	})
}

// makeJWT returns an unsigned JWT with the claims.
func makeJWT(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(b) + ".c2lnbmF0dXJl"
}

// TestReuseBearer covers --reuse-bearer.
func TestReuseBearer(t *testing.T) {
	tests := []struct {
		name    string
		change  func(h *harness, o *Options)
		reused  bool
		readKey string
	}{
		{name: "same options, enough lifetime", change: func(*harness, *Options) {}, reused: true},
		{name: "different scopes", change: func(h *harness, o *Options) { o.Scopes = "read:/" }, readKey: "GET " + pSTS},
		{name: "different role", change: func(h *harness, o *Options) { o.Role = "prod" }, readKey: ""},
		{name: "expired", change: func(h *harness, o *Options) { h.clock.advance(3600*time.Second - 59*time.Second) }, readKey: "GET " + pCreds},
		{name: "minsecs above what is left", change: func(h *harness, o *Options) { o.MinSecs = 3601 }, readKey: "GET " + pCreds},
		{name: "tampered token file", change: func(h *harness, o *Options) {
			h.write(h.bt, makeJWT(map[string]any{"exp": 1700000000 + 86400, "sub": "mallory"})+"\n")
		}, readKey: "GET " + pCreds},
		{name: "record removed", change: func(h *harness, o *Options) { os.Remove(ReuseRecordPath(h.bt)) }, readKey: "GET " + pCreds},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.haveStored(tokStored)
			jwt := makeJWT(map[string]any{"exp": 1700000000 + 3600, "sub": "alice"})
			h.fv.on("GET", pCreds, bearerAnswer(jwt))
			h.fv.on("GET", pSTS, bearerAnswer(jwt))
			if _, err, log := h.run(h.opts(func(o *Options) { o.ReuseBearer = true; o.NoOIDC = true })); err != nil {
				t.Fatalf("first run: %v\n%s", err, log)
			}
			if fi, err := os.Stat(ReuseRecordPath(h.bt)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("reuse record: %v", err)
			}
			h.fv.reset()
			var o *Options
			o = h.opts(func(o2 *Options) {
				o2.ReuseBearer = true
				o2.NoOIDC = true
				tc.change(h, o2)
			})
			res, err, log := h.run(o)
			if tc.reused {
				if err != nil {
					t.Fatalf("%v\n%s", err, log)
				}
				wantKeys(t, h.fv)
				if res.Method != "local" || res.BearerToken != jwt {
					t.Errorf("method %q, bearer reused %v", res.Method, res.BearerToken == jwt)
				}
				if want := "Reusing bearer token in " + h.bt + " (3600 seconds left)\n"; log != want {
					t.Errorf("log %q, want %q", log, want)
				}
				return
			}
			if res.Method == "local" {
				t.Errorf("bearer token reused")
			}
			if tc.readKey == "" {
				if len(h.fv.requests()) != 0 {
					t.Errorf("requests %q", h.fv.keys())
				}
				return
			}
			if k := h.fv.keys(); len(k) == 0 || k[len(k)-1] != tc.readKey {
				t.Errorf("requests %q, want a Vault read %q", k, tc.readKey)
			}
		})
	}
}

// TestBadInput covers garbage answers and unusable token files: one clear
// error, no panic, no request where none should be made.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(h *harness)
		set    func(o *Options)
		err    string // exact; "PREFIX:" means a prefix
		keys   []string
		errAs  func(error) bool
		readOK bool
	}{
		{name: "bearer answer not JSON", setup: func(h *harness) {
			h.haveStored(tokStored)
			h.fv.on("GET", pCreds, reply200("this is not json"))
		}, err: "decoding response from V/v1/" + pCreds + " failed", keys: []string{"GET " + pCreds},
			errAs: func(err error) bool { var de *DecodeError; return errors.As(err, &de) }},
		{name: "bearer answer HTML page", setup: func(h *harness) {
			h.haveStored(tokStored)
			h.fv.on("GET", pCreds, reply200("<html><body>proxy login</body></html>"))
		}, err: "decoding response from V/v1/" + pCreds + " failed", keys: []string{"GET " + pCreds}},
		{name: "bearer answer with a non-string token", setup: func(h *harness) {
			h.haveStored(tokStored)
			h.fv.on("GET", pCreds, reply200(`{"data":{"access_token":42}}`))
		}, set: func(o *Options) { o.NoOIDC = true }, err: "Failure getting token from V", keys: []string{"GET " + pCreds}},
		{name: "bearer token with a newline", setup: func(h *harness) {
			h.haveStored(tokStored)
			h.fv.on("GET", pCreds, reply200(`{"data":{"access_token":"bad token\n"}}`))
		}, err: "PREFIX:the bearer token from V/v1/" + pCreds + " is not usable", keys: []string{"GET " + pCreds}},
		{name: "bearer HTML error page is not fatal", setup: func(h *harness) {
			h.haveStored(tokStored)
			h.fv.on("GET", pCreds, replyStatus(503, "<html>maintenance</html>"))
		}, set: func(o *Options) { o.NoOIDC = true }, err: "Failure getting token from V", keys: []string{"GET " + pCreds}},
		{name: "token/create not JSON", setup: func(h *harness) {
			h.scriptOIDC(2592000, []string{"default"})
			h.fv.on("POST", pCreate, reply200("]]"))
		}, err: "PREFIX:decoding response from V/v1/" + pCreate + " failed: JSONDecodeError: ",
			keys: []string{"POST " + pAuthURL, "POST " + pPoll, "POST " + pPoll, "POST " + pCreate}},
		{name: "token/create without a token", setup: func(h *harness) {
			h.scriptOIDC(2592000, []string{"default"})
			h.fv.on("POST", pCreate, reply200(`{"auth":null}`))
		}, err: "no vault token in response from V/v1/" + pCreate,
			keys: []string{"POST " + pAuthURL, "POST " + pPoll, "POST " + pPoll, "POST " + pCreate}},
		{name: "token/create forbidden", setup: func(h *harness) {
			h.scriptOIDC(2592000, []string{"default"})
			h.fv.on("POST", pCreate, replyErrors(403, "permission denied"))
		}, err: "getting vault token from V/v1/" + pCreate + " failed: HTTPError: Forbidden: permission denied",
			keys: []string{"POST " + pAuthURL, "POST " + pPoll, "POST " + pPoll, "POST " + pCreate}},
		{name: "login without credkey", setup: func(h *harness) {
			h.scriptOIDC(600, nil)
			h.fv.on("POST", pPoll, authAnswer(tokLogin, 600, nil, map[string]string{"oauth2_refresh_token": refreshTok}))
		}, err: "no 'credkey' in metadata of response from V", keys: []string{"POST " + pAuthURL, "POST " + pPoll}},
		{name: "login without refresh token", setup: func(h *harness) {
			h.scriptOIDC(600, nil)
			h.fv.on("POST", pPoll, authAnswer(tokLogin, 600, nil, map[string]string{"credkey": "alice"}))
		}, err: "no 'oauth2_refresh_token' in response from V", keys: []string{"POST " + pAuthURL, "POST " + pPoll}},
		{name: "login without metadata", setup: func(h *harness) {
			h.scriptOIDC(600, nil)
			h.fv.on("POST", pPoll, authAnswer(tokLogin, 600, nil, nil))
		}, err: "no 'metadata' in response from V", keys: []string{"POST " + pAuthURL, "POST " + pPoll}},
		{name: "refresh token storage fails", setup: func(h *harness) {
			h.scriptOIDC(600, nil)
			h.fv.on("POST", pCreds, replyErrors(500, "backend down"))
		}, err: "Refresh token storage to V failed: HTTPError: Internal Server Error: backend down",
			keys: []string{"POST " + pAuthURL, "POST " + pPoll, "POST " + pPoll, "POST " + pCreds}},
		{name: "vault token file with a second line", setup: func(h *harness) {
			h.write(h.ck, "alice\n")
			h.write(h.vt, tokStored+"\nsomething else\n")
		}, err: "vault token in VT is not usable: it holds characters that cannot be in a token"},
		{name: "vault token file with control characters", setup: func(h *harness) {
			h.write(h.ck, "alice\n")
			h.write(h.vt, tokStored+"\x1b[31m\n")
		}, err: "vault token in VT is not usable: it holds characters that cannot be in a token"},
		{name: "vault token file is binary", setup: func(h *harness) {
			h.write(h.ck, "alice\n")
			h.write(h.vt, "\x00\xff\xfe"+tokStored)
		}, err: "vault token in VT is not usable: it holds characters that cannot be in a token"},
		{name: "vault token file is a directory", setup: func(h *harness) {
			h.write(h.ck, "alice\n")
			os.Mkdir(h.vt, 0o700)
		}, err: "PREFIX:reading vault token from VT failed: "},
		{name: "foreign-owned vault token file", setup: func(h *harness) {
			h.haveStored(tokStored)
			chownOrSkip(h.t, h.vt)
		}, err: "PREFIX:reading vault token from VT failed: refusing to use VT: file owned by uid 54321",
			errAs: func(err error) bool { var fe *tokenfile.ForeignError; return errors.As(err, &fe) }},
		{name: "empty vault token file", setup: func(h *harness) {
			h.write(h.ck, "alice\n")
			h.write(h.vt, "\n \n")
		}, set: func(o *Options) { o.NoOIDC = true }, err: "Failure getting token from V"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tc.setup(h)
			set := tc.set
			if set == nil {
				set = func(*Options) {}
			}
			_, err, _ := h.run(h.opts(set))
			want := strings.NewReplacer("VT", h.vt, "V", h.fv.URL).Replace(tc.err)
			if p, ok := strings.CutPrefix(want, "PREFIX:"); ok {
				if err == nil || !strings.HasPrefix(err.Error(), p) {
					t.Errorf("error %v, want %q...", err, p)
				}
			} else {
				wantErr(t, err, want)
			}
			if tc.errAs != nil && !tc.errAs(err) {
				t.Errorf("error %v does not wrap the expected type", err)
			}
			wantKeys(t, h.fv, tc.keys...)
			wantNoFile(t, h.bt)
		})
	}
}

// TestDebugShowsSecrets checks that a -d run does log the fake's tokens,
// so that the no-secret check the harness makes outside -d can fail.
func TestDebugShowsSecrets(t *testing.T) {
	h := newHarness(t)
	h.scriptOIDC(2592000, []string{"default"})
	res, err, log := h.run(h.opts(func(o *Options) { o.Debug = true }))
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	for _, s := range []string{tokLogin, tokExch, refreshTok, bearerPlain} {
		if !strings.Contains(log, s) {
			t.Errorf("-d log lacks %q: the no-secret check of the other tests would be vacuous", s)
		}
	}
	if res.BearerToken != bearerPlain {
		t.Errorf("no bearer token")
	}
}

// TestNilLogger: a nil Logger discards everything and the flow still works.
func TestNilLogger(t *testing.T) {
	h := newHarness(t)
	h.haveStored(tokStored)
	h.fv.on("GET", pCreds, bearerAnswer(bearerPlain))
	o := h.opts(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Get(ctx, o, Deps{})
	if err != nil || res.BearerToken != bearerPlain {
		t.Errorf("Get with zero Deps: %v", err)
	}
}

// TestNotDerived: Get refuses options that were not derived.
func TestNotDerived(t *testing.T) {
	res, err := Get(context.Background(), NewOptions(), Deps{})
	if err == nil || res == nil {
		t.Errorf("Get with underived options: %v, %v", res, err)
	}
}
