package webapp

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func openStore(t *testing.T, dir string) *DirStore {
	t.Helper()
	s, err := OpenDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenDirStoreRefusals(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "creds")
	if err := os.Mkdir(real, 0o770); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDirStore(filepath.Join(base, "link")); err == nil {
		t.Error("a symlinked credential directory was accepted")
	}
	if _, err := OpenDirStore(real + "/"); err != nil {
		t.Errorf("trailing slash: %v", err)
	}
	os.Chmod(real, 0o777)
	if _, err := OpenDirStore(real); !errors.Is(err, ErrBadFile) {
		t.Errorf("world-writable directory: %v", err)
	}
}

// TestWriteUserFileAsTheCredd: the user directory is made as the credd
// makes it (0700, setgid inherited from the credential directory), the
// file lands with exactly the bytes and mode, and nothing else is left.
func TestWriteUserFileAsTheCredd(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o770|os.ModeSetgid)
	s := openStore(t, dir)
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for _, sync := range []bool{true, false} {
		if err := s.WriteUserFile("alice", "box.top", []byte("{\"a\": 1}\n"), 0o400, sync); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Lstat(filepath.Join(dir, "alice"))
	if err != nil || fi.Mode() != os.ModeDir|os.ModeSetgid|0o700 {
		t.Errorf("user directory: %v %v", fi.Mode(), err)
	}
	fi, err = os.Lstat(filepath.Join(dir, "alice", "box.top"))
	if err != nil || fi.Mode() != 0o400 || fi.Sys().(*syscall.Stat_t).Uid != uint32(os.Geteuid()) {
		t.Errorf("box.top: %v %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "alice", "box.top")); string(b) != "{\"a\": 1}\n" {
		t.Errorf("box.top: %q", b)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "alice")); len(ents) != 1 {
		t.Errorf("left in the user directory: %v", ents)
	}
	if !s.UserFileExists("alice", "box.top") || s.UserFileExists("alice", "box.use") || s.UserFileExists("bob", "box.top") {
		t.Error("UserFileExists")
	}
}

func TestWriteUserFileRefusals(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "creds")
	outside := filepath.Join(base, "outside")
	os.Mkdir(dir, 0o770)
	os.Mkdir(outside, 0o700)
	s := openStore(t, dir)
	os.Symlink(outside, filepath.Join(dir, "mallory"))
	if err := s.WriteUserFile("mallory", "box.top", []byte("x"), 0o400, false); !errors.Is(err, ErrBadFile) {
		t.Errorf("symlinked user directory: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "carol"), nil, 0o600)
	if err := s.WriteUserFile("carol", "box.top", []byte("x"), 0o400, false); !errors.Is(err, ErrBadFile) {
		t.Errorf("user 'directory' that is a file: %v", err)
	}
	os.Mkdir(filepath.Join(dir, "dave"), 0o777)
	os.Chmod(filepath.Join(dir, "dave"), 0o777)
	if err := s.WriteUserFile("dave", "box.top", []byte("x"), 0o400, false); !errors.Is(err, ErrBadFile) {
		t.Errorf("world-writable user directory: %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "alice", "box.top"), 0o700)
	if err := s.WriteUserFile("alice", "box.top", []byte("x"), 0o400, false); !errors.Is(err, ErrBadFile) {
		t.Errorf("directory at the file's name: %v", err)
	}
	if s.UserFileExists("alice", "box.top") || s.UserFileExists("mallory", "box.top") {
		t.Error("UserFileExists of a directory or through a symlink")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("written through the symlink: %v", ents)
	}
}

// TestKeyFileErrorsHideTheKey: the key is the login link's secret, so
// no error names more than its first 8 digits.
func TestKeyFileErrorsHideTheKey(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	key := strings.Repeat("ab", 32)
	os.WriteFile(filepath.Join(dir, key), []byte("ads"), 0o644)
	_, _, err := s.ReadKeyFile(key)
	if !errors.Is(err, ErrBadFile) || strings.Contains(err.Error(), key[8:]) || !strings.Contains(err.Error(), key[:8]+"...") {
		t.Errorf("world-readable key file: %v", err)
	}
	os.Chmod(filepath.Join(dir, key), 0o640)
	if b, _, err := s.ReadKeyFile(key); err != nil || string(b) != "ads" {
		t.Errorf("0640 key file: %q %v", b, err)
	}
	os.Remove(filepath.Join(dir, key))
	os.Mkdir(filepath.Join(dir, key), 0o700)
	if err := s.RemoveKeyFile(key); err == nil || strings.Contains(err.Error(), key[8:]) {
		t.Errorf("RemoveKeyFile of a directory: %v", err)
	}
	if _, _, err := s.ReadKeyFile(strings.Repeat("cd", 32)); !errors.Is(err, ErrNoKey) {
		t.Errorf("missing key file: %v", err)
	}
}

func TestSessionKey(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	k1, err := s.SessionKey(SessionKeyFile)
	if err != nil || len(k1) != 32 {
		t.Fatalf("new session key: %d bytes, %v", len(k1), err)
	}
	k2, err := s.SessionKey(SessionKeyFile)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Errorf("second read: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, SessionKeyFile)); err != nil || fi.Mode() != 0o400 {
		t.Errorf("session key file: %v %v", fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left in the directory: %v", ents)
	}
	os.Chmod(filepath.Join(dir, SessionKeyFile), 0o440)
	if _, err := s.SessionKey(SessionKeyFile); !errors.Is(err, ErrBadFile) {
		t.Errorf("group-readable session key: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "short"), []byte("tiny"), 0o400)
	if _, err := s.SessionKey("short"); !errors.Is(err, ErrBadFile) {
		t.Errorf("short session key: %v", err)
	}
}
