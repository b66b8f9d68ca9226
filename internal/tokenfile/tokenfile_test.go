package tokenfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const otherUID = 54321

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func TestWriteTokenAtomicAndMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bt_u1")
	old := mustUmask(0)
	defer mustUmask(old)
	if err := WriteToken(p, "tok1"); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, p); m != 0o600 {
		t.Errorf("mode %v, want 0600 whatever the umask", m)
	}
	if err := WriteToken(p, "tok2"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "tok2\n" {
		t.Errorf("content %q", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
}

func TestWriteReplacesSymlinkWithoutFollowing(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "victim")
	os.WriteFile(target, []byte("precious\n"), 0o644)
	p := filepath.Join(dir, "bt")
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	if err := WriteToken(p, "tok"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("symlink target was written through: %q", b)
	}
	if m := mode(t, p); !m.IsRegular() || m.Perm() != 0o600 {
		t.Errorf("target is %v, want a regular 0600 file", m)
	}
}

func TestWriteRefusesForeignFile(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "vt")
	os.WriteFile(p, []byte("theirs\n"), 0o600)
	if err := os.Chown(p, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	err := WriteToken(p, "secret-token")
	var fe *ForeignError
	if !errors.As(err, &fe) || fe.UID != otherUID {
		t.Fatalf("got %v, want ForeignError", err)
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Error("token in error message")
	}
	if b, _ := os.ReadFile(p); string(b) != "theirs\n" {
		t.Error("foreign file was replaced")
	}
	// The credmon may replace foreign files when it says so.
	if err := Write(p, []byte("x\n"), Options{AllowForeign: true, Mode: 0o400, Chown: &Owner{0, 0}}); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, p); m.Perm() != 0o400 {
		t.Errorf("mode %v, want 0400", m)
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	err := WriteToken(filepath.Join(dir, "nonexist", "f"), "secret-token")
	var we *WriteError
	if !errors.As(err, &we) || we.Op != "creating file" || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want creating-file error wrapping ErrNotExist", err)
	}
	if !strings.HasPrefix(err.Error(), "failure creating file: ") || strings.Contains(err.Error(), "secret-token") {
		t.Errorf("message %q", err)
	}
	os.Mkdir(filepath.Join(dir, "d"), 0o700)
	if err := WriteToken(filepath.Join(dir, "d"), "t"); !errors.As(err, &we) {
		t.Errorf("writing over a directory: %v", err)
	}
}

func TestWriteStdio(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fd := w.Fd()
	p := "/dev/fd/" + itoa(int(fd))
	if err := WriteToken(p, "piped"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b := make([]byte, 64)
	n, _ := r.Read(b)
	if string(b[:n]) != "piped\n" {
		t.Errorf("got %q", b[:n])
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "vt")
	os.WriteFile(p, []byte("  hvs.abc \n\n"), 0o600)
	if tok, err := ReadToken(p); err != nil || tok != "hvs.abc" {
		t.Fatalf("ReadToken = %q, %v", tok, err)
	}
	if _, err := ReadToken(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ReadToken(dir); !errors.Is(err, ErrNotRegular) {
		t.Errorf("directory: %v", err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, MaxSize+1), 0o600)
	if _, err := ReadToken(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("big file: %v", err)
	}
	// The user's own symlink is followed.
	own := filepath.Join(dir, "link")
	os.Symlink(p, own)
	if tok, err := ReadToken(own); err != nil || tok != "hvs.abc" {
		t.Errorf("own symlink: %q %v", tok, err)
	}
}

func TestReadRefusesForeign(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "vt")
	os.WriteFile(p, []byte("secret-token\n"), 0o644)
	os.Chown(p, otherUID, otherUID)
	_, err := ReadToken(p)
	var fe *ForeignError
	if !errors.As(err, &fe) || fe.Symlink {
		t.Fatalf("foreign file: %v", err)
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Error("content in error")
	}
	mine := filepath.Join(dir, "mine")
	os.WriteFile(mine, []byte("t\n"), 0o600)
	planted := filepath.Join(dir, "planted")
	os.Symlink(mine, planted)
	if err := os.Lchown(planted, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadToken(planted); !errors.As(err, &fe) || !fe.Symlink {
		t.Fatalf("planted symlink: %v", err)
	}
}

// requireRoot skips tests that need to create files owned by another
// user; CI runs as root, so there they always run.
func requireRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI must run as root to test foreign-owned files")
		}
		t.Skip("needs root to create files owned by another user")
	}
}

func TestWriteNoSync(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.use")
	os.Symlink(filepath.Join(dir, "elsewhere"), p)
	if err := Write(p, []byte("tok\n"), Options{Mode: 0o400, NoSync: true}); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, p); !m.IsRegular() || m.Perm() != 0o400 {
		t.Errorf("mode %v", m)
	}
	if b, _ := os.ReadFile(p); string(b) != "tok\n" {
		t.Errorf("content %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "elsewhere")); err == nil {
		t.Error("the symlink was followed")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	if err := Write(filepath.Join(dir, "missing", "x"), []byte("t"), Options{NoSync: true}); err == nil {
		t.Error("no error for a missing directory")
	}
}

// A FIFO at the path (anyone can plant one in /tmp) is refused at once; it
// used to block the open until something wrote to it.
func TestReadRefusesFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "vt_u1")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Read(p)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("Read(FIFO) = %v, want ErrNotRegular", err)
		}
	case <-time.After(10 * time.Second):
		// Unblock the open so the goroutine ends.
		if w, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		t.Fatal("Read(FIFO) blocked")
	}
}
