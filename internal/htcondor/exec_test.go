package htcondor

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o700); err != nil {
		t.Fatal(err)
	}
}

// pathEnv is a LookupEnv with only PATH=dir.
func pathEnv(dir string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		if k == "PATH" {
			return dir, true
		}
		return "", false
	}
}

// A tiny condor_config_val in a temporary PATH directory: proves the exec
// path (lookup on PATH, argv, stdout/stderr capture, exit status) and the
// multi-line fallback with a real process.
func TestGetThroughRealScript(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls.log")
	writeScript(t, filepath.Join(dir, "condor_config_val"), `
echo "$*" >> '`+log+`'
st=0
for k in "$@"; do
  case "$k" in
    SEC_CREDENTIAL_GETTOKEN_OPTS) echo "-a vault.example.org  " ;;
    MULTI) printf 'first line\nsecond line\n' ;;
    EMPTYISH) echo "" ;;
    *) echo "Not defined: $(echo "$k" | tr a-z A-Z)" >&2; st=1 ;;
  esac
done
exit $st
`)
	c := New(Options{LookupEnv: pathEnv(dir)})
	got, err := c.Get(context.Background(), "SEC_CREDENTIAL_GETTOKEN_OPTS", "sec_credential_storer")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, map[string]string{"SEC_CREDENTIAL_GETTOKEN_OPTS": "-a vault.example.org"}) {
		t.Errorf("Get = %q", got)
	}
	got, err = c.Get(context.Background(), "SEC_CREDENTIAL_GETTOKEN_OPTS", "MULTI", "nope", "EMPTYISH")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"SEC_CREDENTIAL_GETTOKEN_OPTS": "-a vault.example.org", "MULTI": "first line\nsecond line"}
	if !maps.Equal(got, want) {
		t.Errorf("Get = %q, want %q", got, want)
	}
	calls, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := "SEC_CREDENTIAL_GETTOKEN_OPTS sec_credential_storer\n" +
		"SEC_CREDENTIAL_GETTOKEN_OPTS MULTI nope EMPTYISH\n" +
		"SEC_CREDENTIAL_GETTOKEN_OPTS\nMULTI\nEMPTYISH\n"
	if string(calls) != wantCalls {
		t.Errorf("invocations:\n%s\nwant:\n%s", calls, wantCalls)
	}
}

func TestGetScriptFailureAndTimeout(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, filepath.Join(dir, "cv_fail"), "echo 'ERROR: cannot read /etc/condor/condor_config' >&2\nexit 2\n")
	writeScript(t, filepath.Join(dir, "cv_hang"), "exec sleep 30\n")

	_, err := New(Options{LookupEnv: pathEnv(dir), Command: "cv_fail"}).Get(context.Background(), "A")
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.ExitCode != 2 || !strings.Contains(err.Error(), "cannot read /etc/condor/condor_config") {
		t.Errorf("err = %v, want a *ConfigError with status 2 and the stderr", err)
	}

	start := time.Now()
	_, err = New(Options{LookupEnv: pathEnv(dir), Command: "cv_hang", Timeout: 200 * time.Millisecond}).Get(context.Background(), "A")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("a hung tool held Get for %v", el)
	}
}

func TestStoreCredThroughRealScript(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "condor_store_cred")
	writeScript(t, script, `
printf '%s\n' "$@" > '`+filepath.Join(dir, "argv")+`'
case "$1" in
  add-oauth) cat > '`+filepath.Join(dir, "stdin")+`'; echo "Account: a"; echo "Operation succeeded." ;;
  query-oauth) echo "Account: a"; echo "CredType: oauth"; echo "No credential is stored."; exit 1 ;;
esac
`)
	payload, err := BuildPayload(testToken, "https://v.example:8200/v1/x")
	if err != nil {
		t.Fatal(err)
	}
	s := StoreCred{Runner: Exec{LookupEnv: pathEnv(dir)}.RunInput, ExtraArgs: []string{"-n", "host"}}
	if err := s.AddOAuth(context.Background(), "dune", "", "", payload); err != nil {
		t.Fatal(err)
	}
	stdin, _ := os.ReadFile(filepath.Join(dir, "stdin"))
	if string(stdin) != string(payload) {
		t.Errorf("tool's stdin = %q, want the payload", stdin)
	}
	argv, _ := os.ReadFile(filepath.Join(dir, "argv"))
	if string(argv) != "add-oauth\n-s\ndune\n-n\nhost\n-i\n-\n" {
		t.Errorf("argv = %q", argv)
	}
	r, err := s.QueryOAuth(context.Background(), "dune", "", "")
	if err != nil || r != NotStored {
		t.Errorf("QueryOAuth = %v, %v; want not stored", r, err)
	}
	// By path, bypassing PATH.
	s = StoreCred{Command: script, Runner: Exec{LookupEnv: pathEnv("")}.RunInput}
	if r, err := s.QueryOAuth(context.Background(), "dune", "", ""); err != nil || r != NotStored {
		t.Errorf("QueryOAuth by path = %v, %v", r, err)
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	writeScript(t, filepath.Join(other, "tool"), "exit 0\n")
	if err := os.WriteFile(filepath.Join(dir, "tool"), []byte("not executable"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o700); err != nil {
		t.Fatal(err)
	}
	e := Exec{LookupEnv: pathEnv("relative:" + dir + "::" + dir), ExtraDirs: []string{other}}
	p, err := e.LookPath("tool")
	if err != nil || p != filepath.Join(other, "tool") {
		t.Errorf("LookPath(tool) = %q, %v; want the executable in the extra dir", p, err)
	}
	_, err = e.LookPath("adir")
	var nie *NotInstalledError
	if !errors.As(err, &nie) || !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("LookPath(adir) err = %v", err)
	}
	if strings.Join(nie.Searched, ":") != dir+":"+other {
		t.Errorf("Searched = %q; relative, empty and duplicate entries must be skipped", nie.Searched)
	}
	if _, err := e.LookPath(filepath.Join(dir, "tool")); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("non-executable path: err = %v", err)
	}
	if _, err := e.LookPath(""); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("empty name: err = %v", err)
	}
	if _, _, _, err := e.Run(context.Background(), "absent-tool"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Run(absent) err = %v", err)
	}
}

func TestExecCapturesExitStatusAndLimitsOutput(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, filepath.Join(dir, "noisy"), "head -c 1100000 /dev/zero\necho err >&2\nexit 3\n")
	stdout, stderr, code, err := Exec{LookupEnv: pathEnv(dir)}.Run(context.Background(), "noisy")
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 || len(stdout) != maxOutput || string(stderr) != "err\n" {
		t.Errorf("code %d, %d stdout bytes, stderr %q", code, len(stdout), stderr)
	}
}
