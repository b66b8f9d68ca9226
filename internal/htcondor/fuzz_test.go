package htcondor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// fuzzKnobs picks up to four valid, distinct (case-insensitively) knob
// names from spec; an empty pick gives two fixed ones.
func fuzzKnobs(spec string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range SplitList(spec) {
		if validKnob(k) && !seen[strings.ToUpper(k)] && len(out) < 4 {
			seen[strings.ToUpper(k)] = true
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		out = []string{"SEC_CREDENTIAL_DIRECTORY_OAUTH", "CREDMON_OAUTH_LOG"}
	}
	return out
}

// marker is appended to every line of the fuzzed stdout, so that a value
// quoted in an error message can be recognised.
const marker = "V4LU3"

// FuzzConfigGet feeds arbitrary condor_config_val output (stdout, stderr,
// exit status) to Config.Get: no panic, a bounded number of runs, only
// *ConfigError as error, errors on one line and never quoting a value
// (stdout), values trimmed and non-empty, and the one-line-per-knob
// answer mapped in order.
func FuzzConfigGet(f *testing.F) {
	f.Add([]byte("/var/lib/condor/oauth_credentials\n/var/log/condor/CredMonOAuthLog\n"), []byte(""), 0, "")
	f.Add([]byte("only one\n"), []byte("Not defined: CREDMON_OAUTH_LOG\n"), 1, "")
	f.Add([]byte("a\nb\nc\n"), []byte(""), 0, "A B")
	f.Add([]byte(""), []byte("Not defined: A\nNot defined: b\n"), 1, "a,B")
	f.Add([]byte("x\r\n"), []byte("ERROR: can't find address of local schedd\n"), 2, "X")
	f.Add([]byte("  spaced  \n\n"), []byte("Not defined:\n"), 1, "use x.y")
	f.Fuzz(func(t *testing.T, stdout, stderr []byte, code int, spec string) {
		knobs := fuzzKnobs(spec)
		var marked bytes.Buffer
		for _, l := range bytes.SplitAfter(stdout, []byte("\n")) {
			if len(l) == 0 {
				continue
			}
			body, nl := bytes.CutSuffix(l, []byte("\n"))
			marked.Write(body)
			marked.WriteString(marker)
			if nl {
				marked.WriteByte('\n')
			}
		}
		runs := 0
		c := New(Options{
			Environ: func() []string { return nil },
			Runner: func(ctx context.Context, name string, args ...string) ([]byte, []byte, int, error) {
				runs++
				return marked.Bytes(), stderr, code, nil
			},
		})
		vals, err := c.Get(context.Background(), knobs...)
		if runs > 1+len(knobs) {
			t.Fatalf("%d runs of condor_config_val for %d knobs", runs, len(knobs))
		}
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Get: error of type %T: %v", err, err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Fatalf("multi-line error %q", msg)
			}
			if strings.Contains(msg, marker) && !bytes.Contains(stderr, []byte(marker)) && !strings.Contains(spec, marker) {
				t.Fatalf("error %q quotes stdout", msg)
			}
			return
		}
		asked := map[string]bool{}
		for _, k := range knobs {
			asked[k] = true
		}
		for k, v := range vals {
			if !asked[k] {
				t.Fatalf("value for %q, which was not asked for", k)
			}
			if v == "" || strings.TrimSpace(v) != v {
				t.Fatalf("value %q of %s is empty or untrimmed", v, k)
			}
		}
		lines := splitLines(marked.Bytes())
		if code == 0 && len(knobs) > 1 && len(lines) == len(knobs) && len(notDefined(stderr)) == 0 {
			for i, k := range knobs {
				if want := strings.TrimSpace(lines[i]); vals[k] != want {
					t.Fatalf("knob %s = %q, want line %d %q", k, vals[k], i, want)
				}
			}
		}
	})
}

var payloadErr = regexp.MustCompile(`^invalid credential payload: (empty vault URL|the vault (token|URL) has a character that JSON would need escaped at byte [0-9]+)$`)

// FuzzBuildPayload checks the storer's credential document: whatever
// BuildPayload accepts is valid JSON holding exactly the token and URL;
// whatever it refuses gives a fixed message that quotes neither.
func FuzzBuildPayload(f *testing.F) {
	f.Add("hvs.CAESIJ-abc", "https://vault.example:8200/v1/secret/oauth/creds/dune/u:default")
	f.Add("", "https://v/v1/x")
	f.Add("hvs.x", "")
	f.Add(`a"b`, "u")
	f.Add("tok\x00", "u")
	f.Add("t", "\xff")
	f.Add("t", "é\u2028")
	f.Fuzz(func(t *testing.T, token, url string) {
		p, err := BuildPayload(token, url)
		if err != nil {
			if !errors.Is(err, ErrInvalidPayload) || !payloadErr.MatchString(err.Error()) {
				t.Fatalf("BuildPayload error %q", err)
			}
			return
		}
		var doc map[string]string
		if err := json.Unmarshal(p, &doc); err != nil {
			t.Fatalf("payload %q is not JSON: %v", p, err)
		}
		want := map[string]string{"vault_url": url}
		if token != "" {
			want["vault_token"] = token
		}
		if len(doc) != len(want) || doc["vault_url"] != url || doc["vault_token"] != want["vault_token"] {
			t.Fatalf("payload %q decodes to %q, want %q", p, doc, want)
		}
		if got := payloadToken(p); got != token {
			t.Fatalf("payloadToken = %q, want %q", got, token)
		}
	})
}

// tokenChars maps arbitrary bytes onto the alphabet of Vault tokens.
func tokenChars(s string) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
	b := []byte(s)
	for i, c := range b {
		b[i] = alpha[int(c)%len(alpha)]
	}
	return string(b)
}

// FuzzStoreCredOutput feeds arbitrary condor_store_cred output to
// AddOAuth and QueryOAuth when the tool echoes the vault token: the token
// never reaches the echoed output or an error, errors are one line, and
// the query result follows the exit status.
func FuzzStoreCredOutput(f *testing.F) {
	f.Add([]byte("Account: alice\nCredType: oauth\nOperation succeeded.\n"), []byte(""), 0, "CAESIJabc")
	f.Add([]byte("No credential is stored.\n"), []byte(""), 1, "xyz12345")
	f.Add([]byte("got TOKEN back\n"), []byte("TOKEN TOKENTOKEN\r\n"), 1, "0123456789")
	f.Add([]byte(""), []byte("ERROR: credd refused\n"), 2, "")
	f.Fuzz(func(t *testing.T, stdout, stderr []byte, code int, raw string) {
		// Shorter strings than minRedact are not redacted, by design
		// (real vault tokens are about a hundred characters).
		token := "hvs." + tokenChars(raw) + "CAES"
		payload, err := BuildPayload(token, "https://vault.example/v1/secret/oauth/creds/dune/x")
		if err != nil {
			t.Fatalf("BuildPayload: %v", err)
		}
		echo := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("TOKEN"), []byte(token)) }
		var out, errOut bytes.Buffer
		s := &StoreCred{
			Stdout: &out, Stderr: &errOut,
			Runner: func(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, []byte, int, error) {
				return echo(stdout), echo(stderr), code, nil
			},
		}
		err = s.AddOAuth(context.Background(), "dune", "", "", payload)
		if (err == nil) != (code == 0) {
			t.Fatalf("AddOAuth with exit %d: %v", code, err)
		}
		for what, b := range map[string]string{"stdout": out.String(), "stderr": errOut.String(), "error": errString(err)} {
			if strings.Contains(b, token) {
				t.Fatalf("the vault token reached %s: %q", what, b)
			}
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error %q", err)
		}

		r, err := s.QueryOAuth(context.Background(), "dune", "", "")
		switch {
		case code == 0 && r != Stored, code == 2 && r != Mismatch:
			t.Fatalf("query exit %d gave %v", code, r)
		case r == NotStored && (code != 1 || !hasLine(echo(stdout), noCredentialLine)):
			t.Fatalf("NotStored from exit %d and stdout %q", code, stdout)
		case (r == QueryUnknown) != (err != nil):
			t.Fatalf("query result %v with error %v", r, err)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error %q", err)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
