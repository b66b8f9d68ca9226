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

	"golang.org/x/sys/unix"
)

// TestDirSurvivesSwap: once a user directory is open, renaming it away
// and planting a symlink to another directory in its place changes
// nothing about where writes and removals land.
func TestDirSurvivesSwap(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "creds")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root, filepath.Join(root, "alice"), outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "dune.top"), []byte("victim"), 0o600); err != nil {
		t.Fatal(err)
	}
	rd, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	ud, err := rd.OpenDir("alice")
	if err != nil {
		t.Fatal(err)
	}
	defer ud.Close()

	// The swap.
	if err := os.Rename(filepath.Join(root, "alice"), filepath.Join(root, "alice.moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "alice")); err != nil {
		t.Fatal(err)
	}

	if err := ud.WriteAtomic("dune.use", []byte("AT\n"), Options{Mode: 0o400, NoSync: true}); err != nil {
		t.Fatal(err)
	}
	if err := ud.Remove("dune.top"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove of a file only the outside has: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(outside, "dune.use")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the write followed the swapped directory: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "dune.top")); err != nil || string(b) != "victim" {
		t.Errorf("outside file touched: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "alice.moved", "dune.use")); err != nil || string(b) != "AT\n" {
		t.Errorf("write did not land in the opened directory: %q %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "alice.moved", "dune.use")); err != nil || fi.Mode().Perm() != 0o400 {
		t.Errorf("mode: %v %v", fi, err)
	}
	// Opening the name now meets the symlink and refuses it.
	var re *RefusedError
	if _, err := rd.OpenDir("alice"); !errors.As(err, &re) || !errors.Is(err, unix.ELOOP) {
		t.Errorf("OpenDir of a symlink: %v", err)
	}
	if _, err := rd.OpenDir("../outside"); err == nil {
		t.Error("OpenDir accepted a path")
	}
}

func TestDirReadFileChecks(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ok", "tok")
	write("empty", "")
	write("big", strings.Repeat("x", 100))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "ok"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	b, fi, err := d.ReadFile("ok", Checks{})
	if err != nil || string(b) != "tok" || fi.Size != 3 || !fi.Mode.IsRegular() {
		t.Fatalf("ReadFile ok: %q %+v %v", b, fi, err)
	}
	for _, c := range []struct {
		name string
		c    Checks
		why  string
	}{
		{"empty", Checks{}, "is empty"},
		{"big", Checks{MaxSize: 99}, "is larger than 99 bytes"},
		{"fifo", Checks{}, "is not a regular file"},
		{"link", Checks{}, "is a symbolic link"},
		{"sub", Checks{}, "is a directory"},
		{"ok", Checks{Owners: []int{os.Geteuid() + 1}}, "is owned by uid"},
	} {
		done := make(chan error, 1)
		go func() { _, _, err := d.ReadFile(c.name, c.c); done <- err }()
		select {
		case err := <-done:
			var re *RefusedError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), c.why) || !strings.HasPrefix(err.Error(), filepath.Join(dir, c.name)) {
				t.Errorf("%s: %v, want %q", c.name, err, c.why)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: ReadFile blocked", c.name)
		}
	}
	if _, _, err := d.ReadFile("empty", Checks{AllowEmpty: true}); err != nil {
		t.Errorf("AllowEmpty: %v", err)
	}
	if _, _, err := d.ReadFile("missing", Checks{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestDirWriteAtomicTempsAndSweep(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.WriteAtomic("a.use", []byte("1"), Options{}); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "a.use" {
		t.Fatalf("entries after a write: %v", ents)
	}
	// A crash's leftover, and files that merely look alike.
	stale := ".a.use.tmp0123456789abcdef"
	for _, n := range []string{stale, ".a.use.tmp0123", "a.use.tmp0123456789abcdef"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if !IsTemp(stale) || IsTemp(".a.use.tmp0123") || IsTemp("a.use.tmp0123456789abcdef") || IsTemp(".x.tmp0123456789ABCDEF") {
		t.Error("IsTemp")
	}
	if removed, err := d.RemoveTemp(stale, time.Hour); err != nil || removed {
		t.Errorf("a fresh temp was removed: %v %v", removed, err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, stale), old, old); err != nil {
		t.Fatal(err)
	}
	if removed, err := d.RemoveTemp(stale, time.Hour); err != nil || !removed {
		t.Errorf("stale temp kept: %v %v", removed, err)
	}
	if _, err := d.RemoveTemp("a.use", 0); err == nil {
		t.Error("RemoveTemp removed a non-temporary name")
	}
	if _, err := os.Stat(filepath.Join(dir, "a.use")); err != nil {
		t.Error(err)
	}
	// A symlink at the target is replaced, not followed.
	target := filepath.Join(t.TempDir(), "target")
	if err := os.Symlink(target, filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteAtomic("b", []byte("2"), Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Error("the write followed a symlink")
	}
	if err := d.Mkdir("sub", 0o770|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if fi, err := d.Stat("sub"); err != nil || fi.Mode != fs.ModeDir|fs.ModeSetgid|0o770 {
		t.Errorf("Mkdir mode %v %v", fi.Mode, err)
	}
	if err := d.Touch("stamp", 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "stamp2")); err != nil {
		t.Fatal(err)
	}
	if err := d.Touch("stamp2", 0o644); err == nil {
		t.Error("Touch followed a symlink")
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Error("Touch created the symlink's target")
	}
	// Closed: every call fails, none panics.
	d.Close()
	if err := d.WriteAtomic("c", nil, Options{}); err == nil {
		t.Error("write on a closed Dir")
	}
}

// TestWriteAtomicSyncsTheDirectory: a synced write also syncs the
// directory after the rename (a rotated refresh token must survive a
// power failure); NoSync does neither.
func TestWriteAtomicSyncsTheDirectory(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	n := 0
	dirSynced = func(s *Dir) {
		if s == d {
			n++
		}
	}
	defer func() { dirSynced = func(*Dir) {} }()
	if err := d.WriteAtomic("a.top", []byte("x"), Options{}); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteAtomic("a.use", []byte("x"), Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "b"), []byte("x"), Options{}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("directory synced %d times by d, want 1", n)
	}
}
