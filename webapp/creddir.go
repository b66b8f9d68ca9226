package webapp

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"golang.org/x/sys/unix"
)

// maxKeyFile bounds a key file (a few ClassAds; the credd writes well
// under 4 KiB per provider).
const maxKeyFile = 64 << 10

// keyName is the only form of key the credd makes: 32 random bytes as 64
// lowercase hex digits. It is also the rule for stale-key cleanup.
var keyName = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ErrNoKey means the key file does not exist (unknown, used up or
// expired key).
var ErrNoKey = errors.New("no such key file")

// ErrBadFile is matched by the errors for a file or directory in the
// credential directory that fails the type, owner, mode or size checks.
var ErrBadFile = errors.New("unsafe file in the credential directory")

// CredStore is every file operation the web application makes in the
// credential directory. DirStore implements it with checked directory
// handles; it is an interface so that the implementation can be swapped
// for the shared checked-handle functions of internal/tokenfile.
type CredStore interface {
	// ReadKeyFile returns the key file name (a valid key), after checking
	// that it is a regular file owned by root, the directory's owner or
	// this process, not readable or writable by others, and at most
	// maxKeyFile bytes. A missing file is ErrNoKey. It also returns the
	// file's change time.
	ReadKeyFile(name string) ([]byte, time.Time, error)
	// RemoveKeyFile removes the key file name; a missing file is not an
	// error.
	RemoveKeyFile(name string) error
	// StaleKeyFiles removes every key file (name matching the credd's form,
	// not a directory) whose change time is before cutoff, and returns the
	// names removed.
	StaleKeyFiles(cutoff time.Time) ([]string, error)
	// WriteUserFile writes data to <user>/<name> atomically (temporary
	// file in the same directory, then rename) with mode, owned by this
	// process, flushed to disk before the rename when sync is set. The
	// user's directory is created (0700) when missing, as the credd
	// creates it.
	WriteUserFile(user, name string, data []byte, mode uint32, sync bool) error
	// UserFileExists reports whether <user>/<name> is a regular file.
	UserFileExists(user, name string) bool
	// SessionKey returns the cookie signing key kept in name (mode 0400,
	// owned by this process), creating it with a fresh random key when
	// missing.
	SessionKey(name string) ([]byte, error)
}

// DirStore is a CredStore over one directory, opened once: every
// operation is relative to that handle, never to a path walked again,
// and never follows a symbolic link.
type DirStore struct {
	fd   int
	path string
	uid  int // owner of the directory
	euid int
}

// OpenDirStore opens the credential directory path. It must be a real
// directory (not a symbolic link), owned by root or by this process, and
// not writable by others.
func OpenDirStore(path string) (*DirStore, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the credential directory %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("credential directory %s: %w", path, err)
	}
	euid := os.Geteuid()
	if st.Uid != 0 && int(st.Uid) != euid {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: the credential directory %s is owned by uid %d, not by root or by this process (uid %d)", ErrBadFile, path, st.Uid, euid)
	}
	if st.Mode&0o002 != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: the credential directory %s is writable by everyone", ErrBadFile, path)
	}
	return &DirStore{fd: fd, path: path, uid: int(st.Uid), euid: euid}, nil
}

// Close releases the directory handle.
func (d *DirStore) Close() error { return unix.Close(d.fd) }

// Path is the directory's path, for messages.
func (d *DirStore) Path() string { return d.path }

func (d *DirStore) trustedOwner(uid uint32) bool {
	return uid == 0 || int(uid) == d.uid || int(uid) == d.euid
}

// ReadKeyFile implements CredStore.
func (d *DirStore) ReadKeyFile(name string) ([]byte, time.Time, error) {
	if !keyName.MatchString(name) {
		return nil, time.Time{}, fmt.Errorf("%w: not a key", ErrNoKey)
	}
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, time.Time{}, ErrNoKey
	}
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, time.Time{}, fmt.Errorf("%w: key file %s is a symbolic link", ErrBadFile, name[:8])
		}
		return nil, time.Time{}, fmt.Errorf("opening a key file: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, time.Time{}, fmt.Errorf("key file: %w", err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return nil, time.Time{}, fmt.Errorf("%w: key file %s... is not a regular file", ErrBadFile, name[:8])
	case !d.trustedOwner(st.Uid):
		return nil, time.Time{}, fmt.Errorf("%w: key file %s... is owned by uid %d", ErrBadFile, name[:8], st.Uid)
	case st.Mode&0o007 != 0:
		return nil, time.Time{}, fmt.Errorf("%w: key file %s... is accessible to everyone (mode %04o)", ErrBadFile, name[:8], st.Mode&0o7777)
	case st.Size > maxKeyFile:
		return nil, time.Time{}, fmt.Errorf("%w: key file %s... is larger than %d bytes", ErrBadFile, name[:8], maxKeyFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("reading a key file: %w", err)
	}
	if len(data) > maxKeyFile {
		return nil, time.Time{}, fmt.Errorf("%w: key file %s... is larger than %d bytes", ErrBadFile, name[:8], maxKeyFile)
	}
	return data, time.Unix(st.Ctim.Unix()), nil
}

// RemoveKeyFile implements CredStore.
func (d *DirStore) RemoveKeyFile(name string) error {
	if !keyName.MatchString(name) {
		return fmt.Errorf("%w: not a key", ErrNoKey)
	}
	err := unix.Unlinkat(d.fd, name, 0)
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing a key file: %w", err)
	}
	return nil
}

// StaleKeyFiles implements CredStore.
func (d *DirStore) StaleKeyFiles(cutoff time.Time) ([]string, error) {
	dfd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("listing the credential directory: %w", err)
	}
	dir := os.NewFile(uintptr(dfd), d.path)
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing the credential directory: %w", err)
	}
	var removed []string
	for _, n := range names {
		if !keyName.MatchString(n) {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(d.fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR || !time.Unix(st.Ctim.Unix()).Before(cutoff) {
			continue
		}
		if err := unix.Unlinkat(d.fd, n, 0); err == nil {
			removed = append(removed, n)
		}
	}
	return removed, nil
}

// userDir opens (creating if needed) the user's directory.
func (d *DirStore) userDir(user string) (int, error) {
	err := unix.Mkdirat(d.fd, user, 0o700)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("creating the directory of user %s: %w", user, err)
	}
	fd, err := unix.Openat(d.fd, user, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, fmt.Errorf("%w: %s/%s is not a directory", ErrBadFile, d.path, user)
		}
		return -1, fmt.Errorf("opening the directory of user %s: %w", user, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("directory of user %s: %w", user, err)
	}
	if !d.trustedOwner(st.Uid) || st.Mode&0o022 != 0 {
		unix.Close(fd)
		return -1, fmt.Errorf("%w: %s/%s is owned by uid %d with mode %04o", ErrBadFile, d.path, user, st.Uid, st.Mode&0o7777)
	}
	return fd, nil
}

// UserFileExists implements CredStore.
func (d *DirStore) UserFileExists(user, name string) bool {
	fd, err := unix.Openat(d.fd, user, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	return unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// WriteUserFile implements CredStore.
func (d *DirStore) WriteUserFile(user, name string, data []byte, mode uint32, sync bool) error {
	ufd, err := d.userDir(user)
	if err != nil {
		return err
	}
	defer unix.Close(ufd)
	// Refuse to replace anything but a regular file.
	var st unix.Stat_t
	if err := unix.Fstatat(ufd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%w: %s/%s/%s is not a regular file", ErrBadFile, d.path, user, name)
	}
	return writeAt(ufd, name, data, mode, sync)
}

// writeAt writes data to name in the directory dfd: a new temporary file
// (O_EXCL, never following a link), fsync when sync is set, then rename
// over name.
func writeAt(dfd int, name string, data []byte, mode uint32, sync bool) error {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := "." + name + ".tmp" + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("creating a temporary file for %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	fail := func(err error) error {
		f.Close()
		unix.Unlinkat(dfd, tmp, 0)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return fail(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := f.Close(); err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := unix.Renameat(dfd, tmp, dfd, name); err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return fmt.Errorf("renaming %s into place: %w", name, err)
	}
	return nil
}

// SessionKey implements CredStore.
func (d *DirStore) SessionKey(name string) ([]byte, error) {
	read := func() ([]byte, error) {
		fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return nil, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != d.euid || st.Mode&0o077 != 0 {
			return nil, fmt.Errorf("%w: the session key %s/%s must be a regular file of uid %d readable only by it", ErrBadFile, d.path, name, d.euid)
		}
		b, err := io.ReadAll(io.LimitReader(f, 1024))
		if err != nil {
			return nil, err
		}
		if len(b) < 32 {
			return nil, fmt.Errorf("%w: the session key %s/%s is shorter than 32 bytes", ErrBadFile, d.path, name)
		}
		return b, nil
	}
	b, err := read()
	if err == nil || !errors.Is(err, unix.ENOENT) {
		if err != nil {
			return nil, fmt.Errorf("reading the session key: %w", err)
		}
		return b, nil
	}
	key := make([]byte, 32)
	rand.Read(key)
	// Link a complete file into place without replacing one another
	// process may have created meanwhile: write a temporary file, then
	// hard-link it (fails with EEXIST if the name exists).
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := "." + name + ".tmp" + hex.EncodeToString(rnd[:])
	if err := writeAt(d.fd, tmp, key, 0o400, true); err != nil {
		return nil, fmt.Errorf("creating the session key: %w", err)
	}
	defer unix.Unlinkat(d.fd, tmp, 0)
	if err := unix.Linkat(d.fd, tmp, d.fd, name, 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("creating the session key: %w", err)
	}
	if b, err = read(); err != nil {
		return nil, fmt.Errorf("reading the session key: %w", err)
	}
	return b, nil
}
