package cli

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
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

	// A full program next to it that others could have put there is
	// refused; once its directory is safe, it is run.
	b, err := os.ReadFile(fullProgram())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(filepath.Dir(filepath.Dir(orphan)), "libexec", "gettoken")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gettoken"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	if r := u.Exec(orphan, "", "--nooidc"); r.Code != 1 || !strings.Contains(r.Stderr, dir+" is writable by others (mode 0777)") {
		t.Errorf("full program in a directory others can write:\n%v", r)
	}
	os.Chmod(dir, 0o755)
	if r := u.Exec(orphan, "", "--nooidc"); r.Code != 0 {
		t.Errorf("full program in a safe directory:\n%v", r)
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

	// The vault token on standard input: the front end must leave it to
	// the full program.
	vt := u.Read(u.VT)
	args := []string{"-v", "--vaulttokeninfile", "/dev/stdin"}
	front, full := u.gettoken(vt, args...), u.Exec(fullProgram(), vt, args...)
	if front != full || front.Code != 0 {
		t.Errorf("vault token on stdin: front end and full program differ:\n--- front end:\n%v\n--- full program:\n%v", front, full)
	}

	// An options file: fetched once, by the full program only.
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "--nooidc\n")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	for _, name := range []string{"gettoken", fullProgram()} {
		conns.Store(0)
		if r := u.Exec(name, "", "-s", srv.URL+"/opts"); r.Code != 1 || conns.Load() != 1 {
			t.Errorf("%s -s: %d connections to the options server, want 1 (the certificate is not trusted, so exit 1):\n%v", name, conns.Load(), r)
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
