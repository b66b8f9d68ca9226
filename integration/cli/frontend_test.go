package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vaultcred/gettoken/integration/harness"
)

// fullProgram is the full gettoken program the harness installs next to
// the front end, as the Makefile and the packages do.
func fullProgram() string {
	return filepath.Join(filepath.Dir(env.Bin), "libexec", "gettoken", "gettoken")
}

// orphanFrontEnd copies the front end where no full program is next to
// it: whatever it still does, it did alone.
func orphanFrontEnd(t *testing.T, u *user) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.Bin, "gettoken"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(u.Dir, "orphan", "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "gettoken")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFrontEndFinishesWithoutVault: --version, --help, option errors and
// a --reuse-bearer hit are the front end's alone; a run that needs Vault
// without the full program next to it says so in one line.
func TestFrontEndFinishesWithoutVault(t *testing.T) {
	u := newUser(t)
	u.login("alice")
	if r := u.gettoken("", "--reuse-bearer"); r.Code != 0 {
		t.Fatalf("run that writes the reuse record:\n%v", r)
	}
	orphan := orphanFrontEnd(t, u)
	var hit harness.Result
	if reqs := requests(t, func() { hit = u.Exec(orphan, "", "--reuse-bearer", "-v") }); len(reqs) != 0 || hit.Code != 0 {
		t.Errorf("reuse hit by the front end alone: %d requests\n%v", len(reqs), hit)
	}
	for _, c := range []struct {
		args []string
		code int
		out  string // in stdout+stderr
	}{
		{[]string{"--version"}, 0, "2.6\n"},
		{[]string{"--help"}, 0, "Usage: gettoken [-h]"},
		{[]string{"--nosuchoption"}, 2, "gettoken: error: no such option: --nosuchoption"},
		{[]string{"--minsecs=x"}, 2, "invalid integer value"},
		{[]string{"--nooidc"}, 1, "gettoken: cannot start the full program: " + filepath.Join(filepath.Dir(filepath.Dir(orphan)), "libexec", "gettoken", "gettoken") + ": no such file or directory\n"},
	} {
		r := u.Exec(orphan, "", c.args...)
		if r.Code != c.code || !strings.Contains(r.Stdout+r.Stderr, c.out) {
			t.Errorf("%q: want exit %d and %q:\n%v", c.args, c.code, c.out, r)
		}
	}
	if r := u.Exec(orphan, "", "--nooidc"); strings.Count(r.Stderr, "\n") != 1 || r.Stdout != "" {
		t.Errorf("a failed hand-over must be one line on stderr:\n%v", r)
	}
}

// TestFrontEndSameAsFullProgram: through the front end, every run prints
// and exits exactly as the full program run directly.
func TestFrontEndSameAsFullProgram(t *testing.T) {
	u := newUser(t)
	u.login("alice")
	if r := u.gettoken("", "--reuse-bearer"); r.Code != 0 {
		t.Fatalf("run that writes the reuse record:\n%v", r)
	}
	for _, args := range [][]string{
		{"-v"},
		{"--reuse-bearer", "-v"}, // a hit
		{"--reuse-bearer", "-v", "--minsecs", "100000"}, // a miss: one read
		{"-v", "--nooidc", "-a", "localhost:1"},
		{"--nosuchoption"},
		{"-h"},
		{"-q", "-a", "localhost:1"},
		{"-s", "https://localhost:1/opts"},
	} {
		front := secondsLeft(u.gettoken("", args...))
		full := secondsLeft(u.Exec(fullProgram(), "", args...))
		if front != full {
			t.Errorf("%q: front end and full program differ:\n--- front end:\n%v\n--- full program:\n%v", args, front, full)
		}
	}
}

var secondsLeftRE = regexp.MustCompile(`: [0-9]+ seconds left`)

// secondsLeft masks the reused token's remaining lifetime, which the next
// second changes.
func secondsLeft(r harness.Result) harness.Result {
	r.Stdout = secondsLeftRE.ReplaceAllString(r.Stdout, ": N seconds left")
	r.Stderr = secondsLeftRE.ReplaceAllString(r.Stderr, ": N seconds left")
	return r
}
