package vaultcred

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Secrets the fuzzed flow holds before Vault answers anything: they must
// never reach an error or the (non-debug) log, whatever Vault says.
const (
	fzVaultToken = "hvs.FUZZ-existing-vault-token-0123"
	fzNegotiate  = "FUZZ-negotiate-blob-4567"
)

// fzMaxRequests bounds one fuzzed run; further requests fail to connect.
const fzMaxRequests = 64

// fzVault answers the flow's requests from a script: answers separated by
// "\n\n", each "<status> <body>" when it starts with three digits and a
// space, else a 200 with that body; the last answer repeats.
type fzVault struct {
	mu      sync.Mutex
	answers [][]byte
	reqs    []string
	bad     []string
}

func (v *fzVault) RoundTrip(r *http.Request) (*http.Response, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	v.reqs = append(v.reqs, r.Method+" "+r.URL.Path)
	if r.URL.Host != "vault.example:8200" || !strings.HasPrefix(r.URL.Path, "/v1/") {
		v.bad = append(v.bad, r.URL.Redacted())
	}
	if len(v.reqs) > fzMaxRequests {
		return nil, errors.New("connection refused")
	}
	a := v.answers[min(len(v.reqs)-1, len(v.answers)-1)]
	status := 200
	if len(a) >= 4 && a[3] == ' ' {
		if n, err := strconv.Atoi(string(a[:3])); err == nil && n >= 100 {
			status, a = n, a[4:]
		}
	}
	return &http.Response{
		StatusCode: status,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(bytes.NewReader(a)),
		Request:    r,
	}, nil
}

// FuzzGet runs the whole htgettoken flow against a scripted Vault whose
// answers (auth_url, polls, logins, token exchange, lookups, bearer
// reads, error bodies) are fuzzed, with tokens passed in memory as the
// storer does. mode picks the options: bit 0 an existing vault token,
// bit 1 Kerberos credentials, bit 2 --credkey, bit 3 --nobearertoken, bit
// 4 --vaulttokenminttl, bit 5 --scopes.
//
// It checks: no panic; the run ends (bounded requests, no endless poll);
// every request goes to the configured Vault under /v1/; success delivers
// exactly one non-empty bearer token (or, with --nobearertoken, a vault token); the
// vault token and Negotiate header the flow started with are never in the
// error or the log.
func FuzzGet(f *testing.F) {
	auth := func(tok string, md string) string {
		return `{"auth":{"client_token":"` + tok + `","lease_duration":3600,"renewable":true,"policies":["default"],"metadata":` + md + `}}`
	}
	oidc := strings.Join([]string{
		`{"data":{"auth_url":"https://idp.example/device?code=1","user_code":"ABCD","state":"st1","poll_interval":"3"}}`,
		`400 {"errors":["authorization_pending"]}`,
		`400 {"errors":["slow_down"]}`,
		auth("hvs.login", `{"credkey":"alice","oauth2_refresh_token":"rt-1","role":"default"}`),
		auth("hvs.exchanged", `null`),
		`204 `,
		`{"data":{"access_token":"eyJhbGciOiJub25lIn0.eyJleHAiOjE3OTUwMDAwMDB9.sig"}}`,
	}, "\n\n")
	for _, c := range []struct {
		script string
		mode   uint8
	}{
		{oidc, 0},
		{oidc, 3},
		{`{"data":{"access_token":"bearer-ok"}}`, 1 | 4},
		{`{"data":{"ttl":10}}` + "\n\n" + `{"data":{"access_token":"b"}}`, 1 | 4 | 16},
		{`403 {"errors":["permission denied"]}` + "\n\n" + auth("hvs.k", `{"credkey":"alice"}`) + "\n\n" + auth("hvs.x", `null`) + "\n\n" + `{"data":{"access_token":"b"}}`, 2 | 4},
		{`{"data":{"auth_url":"https://i/x"}}` + "\n\n" + `400 {"errors":["authorization_pending"]}`, 0},
		{`{"data":{"auth_url":"https://i/x","state":"s","poll_interval":"99999999999"}}` + "\n\n" + `400 {"errors":["slow_down"]}`, 0},
		{`500 <html>` + fzVaultToken + `</html>`, 1 | 4},
		{`{"data":{"access_token":"bad token\n"}}`, 1 | 4 | 32},
		{`not json`, 2},
		{`{"auth":null}`, 8},
	} {
		f.Add([]byte(c.script), c.mode)
	}
	f.Fuzz(func(t *testing.T, script []byte, mode uint8) {
		fv := &fzVault{answers: bytes.Split(script, []byte("\n\n"))}
		dir := t.TempDir()
		o := NewOptions()
		o.VaultServer = "https://vault.example:8200"
		o.ConfigDir = filepath.Join(dir, "config")
		o.OutFile = filepath.Join(dir, "bt")
		o.VaultTokenFile = filepath.Join(dir, "vt")
		o.VaultTokenInFile = filepath.Join(dir, "vt")
		o.NoSSH = true
		o.WebOpenCommand, o.WebOpenCommandSet = "", true
		if mode&4 != 0 {
			o.CredKey = "alice"
		}
		if mode&8 != 0 {
			o.NoBearerToken = true
		}
		if mode&16 != 0 {
			o.VaultTokenMinTTL = time.Hour
		}
		if mode&32 != 0 {
			o.Scopes = "read:/"
		}
		env := Environ{Euid: os.Geteuid(), HomeDir: dir, GOOS: "linux"}
		if err := o.Derive(env); err != nil {
			t.Fatalf("Derive: %v", err)
		}
		var (
			log               bytes.Buffer
			mu                sync.Mutex
			now               = time.Unix(1794000000, 0)
			bearers, vaultOut []string
		)
		deps := Deps{
			HTTPClient: &http.Client{Transport: fv},
			Log:        &Logger{W: &log, Verbose: true},
			Now:        func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
			Sleep: func(ctx context.Context, d time.Duration) error {
				mu.Lock()
				defer mu.Unlock()
				if d > 0 {
					now = now.Add(d)
				}
				return ctx.Err()
			},
			OpenURL: func(context.Context, string, string) error { return nil },
			Kerberos: func(ctx context.Context, principal, service string) (string, error) {
				if mode&2 == 0 {
					return "", fmt.Errorf("%w: none in the fuzz test", ErrNoKerberos)
				}
				return "Negotiate " + fzNegotiate, nil
			},
			SSHAgent:       func() (SSHAgent, error) { return nil, errors.New("no agent") },
			QR:             func(io.Writer, string) error { return nil },
			RequestTimeout: 5 * time.Second,
			VaultTokenIn: func() (string, error) {
				if mode&1 == 0 {
					return "", nil
				}
				return fzVaultToken, nil
			},
			VaultTokenOut: func(tok string) error { vaultOut = append(vaultOut, tok); return nil },
			BearerOut:     func(tok string) error { bearers = append(bearers, tok); return nil },
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res, err := Get(ctx, o, deps)
		if res == nil {
			t.Fatal("nil Result")
		}
		if len(fv.bad) > 0 {
			t.Fatalf("requests outside the Vault API: %q", fv.bad)
		}
		if len(fv.reqs) > fzMaxRequests+1 {
			t.Fatalf("%d requests", len(fv.reqs))
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		for _, s := range []string{fzVaultToken, fzNegotiate} {
			if bytes.Contains(script, []byte(s)) {
				continue // Vault itself echoed it
			}
			if strings.Contains(msg, s) || strings.Contains(log.String(), s) {
				t.Fatalf("secret %q in the error %q or the log:\n%s", s, msg, log.String())
			}
		}
		if err != nil {
			return
		}
		if o.NoBearerToken {
			return
		}
		// The bearer token is passed on as Vault gave it (control
		// characters included, as htgettoken does), but never empty.
		if len(bearers) != 1 || bearers[0] == "" {
			t.Fatalf("success with bearer tokens %q", bearers)
		}
	})
}

// FuzzOptionValues checks the parsers of option values that reach gettoken
// from $HTGETTOKENOPTS and optserver files: lifetimes print back to what
// they parsed, and a normalised Vault URL is a fixed point with a host and
// a valid port; errors are *OptionError.
func FuzzOptionValues(f *testing.F) {
	for _, s := range []string{"7d", "0s", "10m", "3h", "99999999999999999d", "5", "s", "-1s", "1.5h", " 1s",
		"vault.example", "https://v:8200/", "http://v/x//", "[::1]", "[::1]:443", "v:0", "v:99999", "a b", "https://", "://x", "h?x", "u@h", "::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseTTL("--vaulttokenttl", s)
		if err != nil {
			var oe *OptionError
			if !errors.As(err, &oe) || !strings.HasPrefix(oe.Msg, "--vaulttokenttl is ") {
				t.Fatalf("ParseTTL(%q): %v", s, err)
			}
		} else {
			if d < 0 || d%time.Second != 0 {
				t.Fatalf("ParseTTL(%q) = %v", s, d)
			}
			if d2, err := ParseTTL("x", strconv.FormatInt(int64(d/time.Second), 10)+"s"); err != nil || d2 != d {
				t.Fatalf("ParseTTL(%q) = %v does not print back: %v %v", s, d, d2, err)
			}
		}
		u, err := NormalizeVaultURL("--vaultserver", s)
		if err != nil {
			var oe *OptionError
			if !errors.As(err, &oe) {
				t.Fatalf("NormalizeVaultURL(%q): %T %v", s, err, err)
			}
			return
		}
		again, err := NormalizeVaultURL("--vaultserver", u)
		if err != nil || again != u {
			t.Fatalf("NormalizeVaultURL(%q) = %q, which normalises to %q, %v", s, u, again, err)
		}
		if h := urlHost(u); h == "" || strings.ContainsAny(h, "/?#@ ") {
			t.Fatalf("NormalizeVaultURL(%q) = %q with host %q", s, u, h)
		}
		if strings.HasSuffix(u, "/") {
			t.Fatalf("NormalizeVaultURL(%q) = %q ends in a slash", s, u)
		}
	})
}
