package htcondor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"
)

func TestGetOneInvocationExactArgv(t *testing.T) {
	f := &fake{respond: configVal(map[string]string{
		"SEC_CREDENTIAL_GETTOKEN_OPTS":     "-a vault.example.org",
		"SEC_CREDENTIAL_VAULT_STORER_OPTS": "-v",
		"SEC_CREDENTIAL_DIRECTORY_OAUTH":   "/var/lib/condor/oauth_credentials",
	})}
	c := New(Options{Runner: f.run, Environ: noEnv})
	got, err := c.Get(context.Background(), "SEC_CREDENTIAL_GETTOKEN_OPTS", "Sec_Credential_Vault_Storer_Opts", "NOT_THERE", "SEC_CREDENTIAL_DIRECTORY_OAUTH")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"SEC_CREDENTIAL_GETTOKEN_OPTS":     "-a vault.example.org",
		"Sec_Credential_Vault_Storer_Opts": "-v",
		"SEC_CREDENTIAL_DIRECTORY_OAUTH":   "/var/lib/condor/oauth_credentials",
	}
	if !maps.Equal(got, want) {
		t.Errorf("Get = %q, want %q", got, want)
	}
	if len(f.calls) != 1 {
		t.Fatalf("%d invocations, want 1", len(f.calls))
	}
	if f.calls[0].name != "condor_config_val" {
		t.Errorf("command = %q", f.calls[0].name)
	}
	argsEqual(t, "config_val", f.calls[0].args, []string{"SEC_CREDENTIAL_GETTOKEN_OPTS", "Sec_Credential_Vault_Storer_Opts", "NOT_THERE", "SEC_CREDENTIAL_DIRECTORY_OAUTH"})
	if d := f.calls[0].deadline; d <= 0 || d > DefaultTimeout {
		t.Errorf("time left on the context = %v, want a deadline within %v", d, DefaultTimeout)
	}
}

func TestGetEnvironmentOverrides(t *testing.T) {
	f := &fake{respond: configVal(map[string]string{
		"SEC_CREDENTIAL_STORER":       "/from/config",
		"CREDMON_OAUTH_TOKEN_MINIMUM": "2400",
		"AUTH_SSL_CLIENT_CADIR":       "/etc/grid-security/certificates",
		"LOCAL_CREDMON_PROVIDER_NAME": "scitokens",
	})}
	c := New(Options{Runner: f.run, Environ: envList(
		"PATH=/usr/bin",
		"_condor_sec_credential_STORER=/from/env/first",
		"_CoNdOr_SEC_CREDENTIAL_STORER=  /from/env/last  ", // the last match wins, trimmed
		"_CONDOR_CREDMON_OAUTH_TOKEN_MINIMUM=",             // empty: undefined, config ignored
		"_CONDOR_=nothing",
		"CONDOR_AUTH_SSL_CLIENT_CADIR=/not/an/override", // no leading underscore
		"X_CONDOR_LOCAL_CREDMON_PROVIDER_NAME=nope",
	)})
	got, err := c.Get(context.Background(), "SEC_CREDENTIAL_STORER", "CREDMON_OAUTH_TOKEN_MINIMUM", "AUTH_SSL_CLIENT_CADIR", "LOCAL_CREDMON_PROVIDER_NAME")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"SEC_CREDENTIAL_STORER":       "/from/env/last",
		"AUTH_SSL_CLIENT_CADIR":       "/etc/grid-security/certificates",
		"LOCAL_CREDMON_PROVIDER_NAME": "scitokens",
	}
	if !maps.Equal(got, want) {
		t.Errorf("Get = %q, want %q", got, want)
	}
	if len(f.calls) != 1 {
		t.Fatalf("%d invocations, want 1", len(f.calls))
	}
	argsEqual(t, "config_val", f.calls[0].args, []string{"AUTH_SSL_CLIENT_CADIR", "LOCAL_CREDMON_PROVIDER_NAME"})
}

func TestGetAllFromEnvironmentRunsNothing(t *testing.T) {
	f := &fake{respond: func([]string, []byte) reply {
		return reply{err: &NotInstalledError{Command: "condor_config_val"}}
	}}
	c := New(Options{Runner: f.run, Environ: envList("_CONDOR_A=1", "_condor_b=")})
	got, err := c.Get(context.Background(), "A", "B")
	if err != nil {
		t.Fatalf("Get with every knob in the environment: %v", err)
	}
	if !maps.Equal(got, map[string]string{"A": "1"}) {
		t.Errorf("Get = %q", got)
	}
	if len(f.calls) != 0 {
		t.Errorf("condor_config_val ran %d times, want 0", len(f.calls))
	}
}

func TestGetLookupEnvSpellings(t *testing.T) {
	env := map[string]string{
		"_CONDOR_Mixed_Case": "exact",
		"_CONDOR_UPPER":      "upper",
		"_condor_lower":      "lower",
		"PATH":               "/nowhere",
	}
	f := &fake{respond: configVal(map[string]string{"OTHER": "cfg"})}
	c := New(Options{Runner: f.run, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	got, err := c.Get(context.Background(), "Mixed_Case", "upper", "LOWER", "other")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Mixed_Case": "exact", "upper": "upper", "LOWER": "lower", "other": "cfg"}
	if !maps.Equal(got, want) {
		t.Errorf("Get = %q, want %q", got, want)
	}
	if len(f.calls) != 1 {
		t.Fatalf("%d invocations, want 1", len(f.calls))
	}
	argsEqual(t, "config_val", f.calls[0].args, []string{"other"})
}

func TestGetNotInstalled(t *testing.T) {
	// Through the real exec path: nothing called this on an empty PATH.
	dir := t.TempDir()
	c := New(Options{
		Command:   "condor_config_val_not_installed_here",
		LookupEnv: func(k string) (string, bool) { return map[string]string{"PATH": dir}[k], k == "PATH" },
	})
	_, err := c.Get(context.Background(), "SEC_CREDENTIAL_STORER")
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
	var nie *NotInstalledError
	if !errors.As(err, &nie) || nie.Command != "condor_config_val_not_installed_here" {
		t.Fatalf("err = %#v, want a *NotInstalledError naming the command", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "condor_config_val_not_installed_here") || !strings.Contains(msg, "must be on PATH") {
		t.Errorf("message %q: want one line naming the command and saying the tools must be on PATH", msg)
	}
	for _, d := range []string{dir, "/usr/bin", "/usr/sbin", "/bin", "/sbin"} {
		if !strings.Contains(msg, d) {
			t.Errorf("message %q does not list searched directory %s", msg, d)
		}
	}
}

func TestGetOutputVariants(t *testing.T) {
	tests := []struct {
		name      string
		knobs     []string
		r         reply
		want      map[string]string
		wantCalls int
	}{
		{
			name:  "odd spacing and CRLF",
			knobs: []string{"A", "B"},
			r:     reply{stdout: "   -a host  \r\n\tx y\t\n"},
			want:  map[string]string{"A": "-a host", "B": "x y"},
		},
		{
			name:  "no final newline",
			knobs: []string{"A", "B"},
			r:     reply{stdout: "1\n2"},
			want:  map[string]string{"A": "1", "B": "2"},
		},
		{
			name:  "all undefined",
			knobs: []string{"A", "b"},
			r:     reply{stderr: "Not defined: A\nNot defined: B\n", code: 1},
			want:  map[string]string{},
		},
		{
			name:  "undefined in the middle, warnings on stderr",
			knobs: []string{"A", "mid", "C"},
			r:     reply{stdout: "1\n3\n", stderr: "WARNING: something\nNot defined: MID\n", code: 1},
			want:  map[string]string{"A": "1", "C": "3"},
		},
		{
			name:  "defined as empty line",
			knobs: []string{"A", "B"},
			r:     reply{stdout: "\n2\n"},
			want:  map[string]string{"B": "2"},
		},
		{
			name:  "single defined knob with a multi-line value",
			knobs: []string{"A", "ROUTES"},
			r:     reply{stdout: "[ name = \"x\";\n  y = 1 ]\n", stderr: "Not defined: A\n", code: 1},
			want:  map[string]string{"ROUTES": "[ name = \"x\";\n  y = 1 ]"},
		},
		{
			name:  "exit 0 with a not-defined line still accounted for",
			knobs: []string{"A", "B"},
			r:     reply{stdout: "1\n", stderr: "Not defined: B\n", code: 0},
			want:  map[string]string{"A": "1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{respond: func([]string, []byte) reply { return tt.r }}
			got, err := New(Options{Runner: f.run, Environ: noEnv}).Get(context.Background(), tt.knobs...)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("Get = %q, want %q", got, tt.want)
			}
			if len(f.calls) != 1 {
				t.Errorf("%d invocations, want 1", len(f.calls))
			}
		})
	}
}

func TestGetMultiLineFallsBackToOneKnobPerCall(t *testing.T) {
	values := map[string]string{"A": "one", "MULTI": "line1\nline2", "C": "three"}
	f := &fake{respond: configVal(values)}
	got, err := New(Options{Runner: f.run, Environ: noEnv}).Get(context.Background(), "A", "undef", "multi", "C")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "one", "multi": "line1\nline2", "C": "three"}
	if !maps.Equal(got, want) {
		t.Errorf("Get = %q, want %q", got, want)
	}
	var argvs []string
	for _, c := range f.calls {
		argvs = append(argvs, strings.Join(c.args, " "))
	}
	wantArgvs := []string{"A undef multi C", "A", "multi", "C"}
	if strings.Join(argvs, "|") != strings.Join(wantArgvs, "|") {
		t.Errorf("invocations %q, want %q", argvs, wantArgvs)
	}
}

func TestGetFallbackSingleKnobUndefinedLater(t *testing.T) {
	// The first answer is inconsistent (3 lines for 2 defined knobs); on
	// the per-knob retry B turns out undefined.
	n := 0
	f := &fake{respond: func(args []string, _ []byte) reply {
		n++
		if n == 1 {
			return reply{stdout: "x\ny\nz\n"}
		}
		if args[0] == "B" {
			return reply{stderr: "Not defined: B\n", code: 1}
		}
		return reply{stdout: "a-value\n"}
	}}
	got, err := New(Options{Runner: f.run, Environ: noEnv}).Get(context.Background(), "A", "B")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, map[string]string{"A": "a-value"}) {
		t.Errorf("Get = %q", got)
	}
}

func TestGetDuplicatesAskedOnce(t *testing.T) {
	f := &fake{respond: configVal(map[string]string{"FOO": "bar"})}
	got, err := New(Options{Runner: f.run, Environ: noEnv}).Get(context.Background(), "foo", "FOO", "Foo")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, map[string]string{"foo": "bar", "FOO": "bar", "Foo": "bar"}) {
		t.Errorf("Get = %q", got)
	}
	if len(f.calls) != 1 {
		t.Fatalf("%d invocations", len(f.calls))
	}
	argsEqual(t, "config_val", f.calls[0].args, []string{"foo"})
}

func TestGetNoKnobs(t *testing.T) {
	f := &fake{respond: configVal(nil)}
	got, err := New(Options{Runner: f.run, Environ: noEnv}).Get(context.Background())
	if err != nil || len(got) != 0 || len(f.calls) != 0 {
		t.Errorf("Get() = %q, %v with %d calls", got, err, len(f.calls))
	}
}

func TestGetInvalidKnobs(t *testing.T) {
	for _, k := range []string{"", "-dump", "A B", "use", "USE", "^FEATURE", "A=B", "$(X)", "KNOB\n", "ÄKNOB"} {
		f := &fake{respond: configVal(nil)}
		_, err := New(Options{Runner: f.run, Environ: noEnv}).Get(context.Background(), "GOOD", k)
		if !errors.Is(err, ErrInvalidKnob) {
			t.Errorf("Get(%q): err = %v, want ErrInvalidKnob", k, err)
		}
		if len(f.calls) != 0 {
			t.Errorf("Get(%q) ran the tool", k)
		}
	}
	for _, k := range []string{"SCHEDD.SEC_CREDENTIAL_STORER", "dune_DEFAULT_SCOPES", "3D_CLIENT_ID"} {
		if !validKnob(k) {
			t.Errorf("validKnob(%q) = false", k)
		}
	}
}

func TestGetFailures(t *testing.T) {
	tests := []struct {
		name string
		r    reply
		code int
	}{
		{"exit 2", reply{stdout: "secretish-value\n", stderr: "ERROR: config file unreadable\n", code: 2}, 2},
		{"exit 1 without not-defined", reply{stderr: "ERROR: Can't find address of local schedd\n", code: 1}, 1},
		{"exit 127", reply{code: 127}, 127},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{respond: func([]string, []byte) reply { return tt.r }}
			_, err := New(Options{Runner: f.run, Environ: noEnv}).Get(context.Background(), "A")
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *ConfigError", err)
			}
			if ce.ExitCode != tt.code {
				t.Errorf("ExitCode = %d, want %d", ce.ExitCode, tt.code)
			}
			if strings.Contains(err.Error(), "secretish-value") {
				t.Errorf("message %q carries stdout", err)
			}
			if first := strings.SplitN(tt.r.stderr, "\n", 2)[0]; !strings.Contains(err.Error(), first) {
				t.Errorf("message %q lacks stderr %q", err, first)
			}
		})
	}
}

func TestGetRunnerErrorsAndTimeout(t *testing.T) {
	f := &fake{respond: func([]string, []byte) reply {
		return reply{code: -1, err: fmt.Errorf("running condor_config_val: %w", context.DeadlineExceeded)}
	}}
	c := New(Options{Runner: f.run, Environ: noEnv, Timeout: 3 * time.Second})
	_, err := c.Get(context.Background(), "A")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	if d := f.calls[0].deadline; d <= 0 || d > 3*time.Second {
		t.Errorf("time left = %v, want within the 3s timeout", d)
	}
}

func TestZeroConfigUsable(t *testing.T) {
	var c Config
	if c.command() != DefaultConfigCommand || c.timeout() != DefaultTimeout || c.runner() == nil {
		t.Errorf("zero Config defaults: %q %v", c.command(), c.timeout())
	}
}
