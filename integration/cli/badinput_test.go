package cli

import (
	"github.com/vaultcred/gettoken/integration/harness"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// oneLine checks a failed run printed exactly one error line on stderr
// (after the default mode's empty line) and no token.
func oneLine(t *testing.T, r harness.Result, code int, want string, secrets ...string) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("exit %d, want %d\n%v", r.Code, code, r)
	}
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Errorf("stderr %q, want one line containing %q", r.Stderr, want)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(r.Stdout+r.Stderr, strings.TrimSpace(s)) {
			t.Error("a token appears in the output")
		}
	}
}

func TestGarbageVaultToken(t *testing.T) {
	u := newUser(t)
	os.MkdirAll(filepath.Join(u.Home, ".config/htgettoken"), 0o755)
	ck := filepath.Join(u.Home, ".config/htgettoken/credkey-default-default")
	os.WriteFile(ck, []byte("alice\n"), 0o644)
	os.WriteFile(u.VT, []byte("hvs.garbage-garbage-garbage\n"), 0o600)
	u.Chown(filepath.Join(u.Home, ".config"), filepath.Join(u.Home, ".config/htgettoken"), ck, u.VT)
	r := u.gettoken("")
	oneLine(t, r, 1, "Failure getting token from "+v(), "hvs.garbage-garbage-garbage")
	// Control characters in the file: refused before any request.
	os.WriteFile(u.VT, []byte("hvs.abc\x1b[2Jdef\n"), 0o600)
	r = u.gettoken("")
	oneLine(t, r, 1, "is not usable: it holds characters that cannot be in a token")
}

func TestForeignOwnedVaultTokenFile(t *testing.T) {
	if env.UID == os.Getuid() {
		t.Skip("needs root to own a file as another user")
	}
	u := newUser(t)
	u.login("alice")
	// Someone else's file at the vault token path: refused, not used.
	os.Chown(u.VT, 0, 0)
	r := u.gettoken("")
	oneLine(t, r, 1, "refusing to use "+u.VT+": file owned by uid 0", u.Read(u.VT))
}

func TestSymlinkPlantedAtOutputPath(t *testing.T) {
	if env.UID == os.Getuid() {
		t.Skip("needs root to plant a symlink as another user")
	}
	u := newUser(t)
	u.login("alice")
	victim := filepath.Join(u.Dir, "victim")
	os.WriteFile(victim, []byte("precious\n"), 0o644)
	out := filepath.Join(u.Run, "bt-planted")
	if err := os.Symlink(victim, out); err != nil {
		t.Fatal(err)
	}
	// The symlink belongs to root, not to the user.
	r := u.gettoken("", "-o", out)
	oneLine(t, r, 1, "refusing to use "+out+": symlink owned by uid 0")
	if u.Read(victim) != "precious\n" {
		t.Error("the symlink's target was written")
	}
	// The user's own symlink is replaced by a regular file, not followed.
	os.Remove(out)
	os.Symlink(victim, out)
	u.Chown(out)
	if r := u.gettoken("", "-o", out); r.Code != 0 {
		t.Fatalf("%v", r)
	}
	if fi, _ := os.Lstat(out); !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s is %v, want a regular 0600 file", out, fi.Mode())
	}
	if u.Read(victim) != "precious\n" {
		t.Error("the symlink's target was written")
	}
	ents, _ := os.ReadDir(u.Run)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") && !strings.HasSuffix(e.Name(), ".gettoken") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestUnwritableOutputDirectory(t *testing.T) {
	u := newUser(t)
	u.login("alice")
	r := u.gettoken("", "-o", filepath.Join(u.Dir, "no-such-dir", "bt"))
	oneLine(t, r, 1, "failure creating file: ", u.Read(u.VT))
}
