package optparse

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vaultcred/gettoken/vaultcred"
)

// The fuzz targets of the command line: $HTGETTOKENOPTS and the optserver
// file are split by Split and parsed by Parse/Load, so everything here is
// input a user's environment or a remote file controls.

// addJSONCases adds the "in" strings of split_cases.json and the argv of
// parse_cases.json (joined with quoting) as seeds.
func addJSONCases(f *testing.F, add func(s string)) {
	f.Helper()
	var split struct {
		Cases []struct {
			In string `json:"in"`
		} `json:"cases"`
	}
	var parse struct {
		Cases []struct {
			Argv []string `json:"argv"`
		} `json:"cases"`
	}
	for name, v := range map[string]any{"testdata/split_cases.json": &split, "testdata/parse_cases.json": &parse} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			f.Fatalf("%s: %v", name, err)
		}
	}
	for _, c := range split.Cases {
		add(c.In)
	}
	for _, c := range parse.Cases {
		add(joinQuoted(c.Argv))
	}
}

// shellQuote quotes w so that Split returns it as one word: single quotes
// keep everything, and a single quote itself is written as "'".
func shellQuote(w string) string {
	return "'" + strings.ReplaceAll(w, "'", `'"'"'`) + "'"
}

func joinQuoted(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}

// FuzzSplit checks that Split never panics, fails only with its two
// errors, and that quoting its words and splitting again gives the same
// words (so a word can hold any character, and splitting is
// deterministic).
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"", "a b", `"a\"b" 'c d' e\ f`, "a#b c\n-d", `"unterminated`, `x\`, "''", "é\x00\xff"} {
		f.Add(s)
	}
	addJSONCases(f, func(s string) { f.Add(s) })
	f.Fuzz(func(t *testing.T, s string) {
		words, err := Split(s)
		if err != nil {
			if !errors.Is(err, ErrNoClosingQuote) && !errors.Is(err, ErrNoEscapedChar) {
				t.Fatalf("Split(%q): unexpected error %v", s, err)
			}
			return
		}
		if !utf8.ValidString(s) {
			// Split works on runes: invalid bytes become U+FFFD, so the
			// round trip is checked on what it produced.
			s = strings.ToValidUTF8(s, "\uFFFD")
		}
		again, err := Split(joinQuoted(words))
		if err != nil {
			t.Fatalf("re-splitting the quoted words of %q: %v", s, err)
		}
		if len(words) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(words, again) {
			t.Fatalf("Split(%q) = %q, but its quoted form splits to %q", s, words, again)
		}
	})
}

// FuzzParse checks Parse on the words of an $HTGETTOKENOPTS value: no
// panic; every error is an *Error (exit 2), ErrHelp or ErrVersion, never
// an internal one; and the canonical form of an accepted command line
// parses to the same result (normalisation is idempotent).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"-a vault.example --minsecs=0x10 -vq", "--vaultserv=h --cred", "-ofile -- -x",
		"--minsecs 1_000", "--re", "--q", "-s", "--nooidc=1", "-h", "--version", "--mins=-0o17",
	} {
		f.Add(s)
	}
	addJSONCases(f, func(s string) { f.Add(s) })
	p := HTGetToken("htgettoken", "/etc/ssl/ca.pem")
	f.Fuzz(func(t *testing.T, s string) {
		args, err := Split(s)
		if err != nil {
			return
		}
		res, err := p.Parse(args)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) && !errors.Is(err, ErrHelp) && !errors.Is(err, ErrVersion) {
				t.Fatalf("Parse(%q): error of type %T: %v", args, err, err)
			}
			if pe != nil && strings.ContainsAny(pe.Msg, "\n") && !strings.Contains(strings.Join(args, ""), "\n") {
				t.Fatalf("Parse(%q): multi-line message %q", args, pe.Msg)
			}
			return
		}
		canon, _, err := p.normalize(args)
		if err != nil {
			t.Fatalf("normalize(%q) failed after Parse succeeded: %v", args, err)
		}
		canon2, pos2, err := p.normalize(canon)
		if err != nil || len(pos2) != 0 || !reflect.DeepEqual(canon, canon2) {
			t.Fatalf("canonical form %q is not a fixed point: %q %q %v", canon, canon2, pos2, err)
		}
		res2, err := p.Parse(append(canon, append([]string{"--"}, res.Args...)...))
		if err != nil {
			t.Fatalf("Parse(canonical %q): %v", canon, err)
		}
		if !reflect.DeepEqual(res.strs, res2.strs) || !reflect.DeepEqual(res.flags, res2.flags) ||
			!reflect.DeepEqual(res.ints, res2.ints) || len(res.Args) != len(res2.Args) {
			t.Fatalf("Parse(%q) = %+v, its canonical form %q gives %+v", args, res, canon, res2)
		}
	})
}

// FuzzLoadEnv runs Load with a fuzzed $HTGETTOKENOPTS (the optserver is
// never contacted: the HTTP client is absent, so -s must fail cleanly).
// Every failure is one of the documented error types; on success the
// lifetimes are non-negative and --vaultserver is set.
func FuzzLoadEnv(f *testing.F) {
	for _, s := range []string{
		"", "-a h", "-a h --vaulttokenttl=99999999999999999d", "-a h --vaulttokenminttl 5x",
		"-s opt.example -a h", "'unterminated", "pos", "--minsecs=abc -a h", "-a h -d -s https://x/y?z#",
	} {
		f.Add(s, "")
		f.Add(s, "--nooidc")
	}
	p := HTGetToken("htgettoken", "")
	f.Fuzz(func(t *testing.T, env, arg string) {
		src := Sources{Env: vaultcred.Environ{LookupEnv: func(k string) (string, bool) {
			if k == EnvOpts {
				return env, true
			}
			return "", false
		}}}
		args, err := Split(arg)
		if err != nil {
			return
		}
		opts, err := Load(context.Background(), p, args, src)
		if err != nil {
			var (
				pe *Error
				se *SourceError
				oe *vaultcred.OptionError
			)
			switch {
			case errors.As(err, &pe), errors.Is(err, ErrHelp), errors.Is(err, ErrVersion), errors.As(err, &oe):
			case errors.As(err, &se):
				if se.Err == nil {
					t.Fatalf("SourceError without a cause")
				}
			default:
				t.Fatalf("Load: error of type %T: %v", err, err)
			}
			return
		}
		if opts.VaultServer == "" || opts.VaultTokenTTL < 0 || opts.VaultTokenMinTTL < 0 {
			t.Fatalf("Load accepted %q %q: server %q ttl %v minttl %v", env, args, opts.VaultServer, opts.VaultTokenTTL, opts.VaultTokenMinTTL)
		}
		if opts.OptServer != "" {
			t.Fatalf("Load succeeded with -s %q but no HTTP client", opts.OptServer)
		}
	})
}

// FuzzParseOptInt checks the integer option syntax against strconv where
// the two agree (plain decimal and 0x hexadecimal without underscores)
// and that accepted values print back to themselves; and that pyRepr,
// which quotes the bad value in the error, always returns one printable
// quoted line.
func FuzzParseOptInt(f *testing.F) {
	for _, s := range []string{"0", "10", "-5", " 7 ", "0x1f", "0b101", "0b", "017", "0o17", "1_000", "1__0", "_1", "1_", "9223372036854775808", "-9223372036854775808", "0x", "+0x_f", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := parseOptInt(s)
		if ok {
			if m, ok2 := parseOptInt(strconv.FormatInt(n, 10)); n != 0 && (!ok2 || m != n) {
				t.Fatalf("parseOptInt(%q) = %d, but %d parses to %d, %v", s, n, n, m, ok2)
			}
		}
		trim := strings.TrimSpace(s)
		digits := strings.TrimLeft(trim, "+-")
		if trim != "" && !strings.Contains(trim, "_") && !strings.HasPrefix(digits, "0") && !strings.ContainsAny(digits, "+-") {
			want, err := strconv.ParseInt(trim, 10, 64)
			if (err == nil) != ok || (ok && want != n) {
				t.Fatalf("parseOptInt(%q) = %d, %v; strconv says %d, %v", s, n, ok, want, err)
			}
		}
		r := pyRepr(s)
		if len(r) < 2 || (r[0] != '\'' && r[0] != '"') || r[len(r)-1] != r[0] {
			t.Fatalf("pyRepr(%q) = %q: not quoted", s, r)
		}
		for _, c := range r {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("pyRepr(%q) = %q holds a control character", s, r)
			}
		}
		if !utf8.ValidString(r) {
			t.Fatalf("pyRepr(%q) = %q is not valid UTF-8", s, r)
		}
	})
}
