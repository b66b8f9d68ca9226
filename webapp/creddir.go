package webapp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/vaultcred/gettoken/internal/tokenfile"
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
// credential directory. DirStore implements it on a tokenfile.Dir; it is
// an interface so that tests can swap it.
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
	// process, flushed to disk with its directory when sync is set. The
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

// DirStore is a CredStore over one directory, opened once as a
// tokenfile.Dir: every operation is relative to that handle, never to a
// path walked again, and never follows a symbolic link.
type DirStore struct {
	dir    *tokenfile.Dir
	owners []int // root, the directory's owner, this process
	euid   int
}

// OpenDirStore opens the credential directory path. It must be a real
// directory (not a symbolic link), owned by root or by this process, and
// not writable by others.
func OpenDirStore(path string) (*DirStore, error) {
	dir, err := openNoFollow(path)
	if err != nil {
		return nil, fmt.Errorf("opening the credential directory %s: %w", path, err)
	}
	fi, err := dir.Stat(".")
	if err != nil {
		dir.Close()
		return nil, fmt.Errorf("credential directory %s: %w", path, err)
	}
	euid := os.Geteuid()
	if fi.UID != 0 && fi.UID != euid {
		dir.Close()
		return nil, fmt.Errorf("%w: the credential directory %s is owned by uid %d, not by root or by this process (uid %d)", ErrBadFile, path, fi.UID, euid)
	}
	if fi.Mode&0o002 != 0 {
		dir.Close()
		return nil, fmt.Errorf("%w: the credential directory %s is writable by everyone", ErrBadFile, path)
	}
	owners := []int{0}
	for _, u := range []int{fi.UID, euid} {
		if u != owners[len(owners)-1] && u != 0 {
			owners = append(owners, u)
		}
	}
	return &DirStore{dir: dir, owners: owners, euid: euid}, nil
}

// openNoFollow opens the directory path without following a symbolic
// link in its last component (the ones before it are the admin's
// configuration).
func openNoFollow(path string) (*tokenfile.Dir, error) {
	path = filepath.Clean(path)
	base := filepath.Base(path)
	if base == "/" || base == "." || base == ".." {
		return tokenfile.OpenDir(path)
	}
	parent, err := tokenfile.OpenDir(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	return parent.OpenDir(base)
}

// Close releases the directory handle.
func (d *DirStore) Close() error { return d.dir.Close() }

// Path is the directory's path, for messages.
func (d *DirStore) Path() string { return d.dir.Path() }

// trustedOwner reports root, the directory's owner or this process.
func (d *DirStore) trustedOwner(uid int) bool {
	for _, o := range d.owners {
		if o == uid {
			return true
		}
	}
	return false
}

// keyError words a failure on a key file without the whole key (it is
// the login link's secret part): the file is named by its first 8 digits
// and only the reason or the system error is kept.
func keyError(name string, err error) error {
	var re *tokenfile.RefusedError
	if errors.As(err, &re) {
		return fmt.Errorf("%w: key file %s... %s", ErrBadFile, name[:8], re.Why)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return fmt.Errorf("key file %s...: %w", name[:8], err)
}

// ReadKeyFile implements CredStore.
func (d *DirStore) ReadKeyFile(name string) ([]byte, time.Time, error) {
	if !keyName.MatchString(name) {
		return nil, time.Time{}, fmt.Errorf("%w: not a key", ErrNoKey)
	}
	data, fi, err := d.dir.ReadFile(name, tokenfile.Checks{Owners: d.owners, MaxSize: maxKeyFile, AllowEmpty: true, Forbidden: 0o007})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, ErrNoKey
	}
	if err != nil {
		return nil, time.Time{}, keyError(name, err)
	}
	return data, fi.Ctime, nil
}

// RemoveKeyFile implements CredStore.
func (d *DirStore) RemoveKeyFile(name string) error {
	if !keyName.MatchString(name) {
		return fmt.Errorf("%w: not a key", ErrNoKey)
	}
	if err := d.dir.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing a %w", keyError(name, err))
	}
	return nil
}

// StaleKeyFiles implements CredStore.
func (d *DirStore) StaleKeyFiles(cutoff time.Time) ([]string, error) {
	names, err := d.dir.Names()
	if err != nil {
		return nil, fmt.Errorf("listing the credential directory: %w", err)
	}
	var removed []string
	for _, n := range names {
		if !keyName.MatchString(n) {
			continue
		}
		fi, err := d.dir.Stat(n)
		if err != nil || fi.Mode.IsDir() || !fi.Ctime.Before(cutoff) {
			continue
		}
		if d.dir.Remove(n) == nil {
			removed = append(removed, n)
		}
	}
	return removed, nil
}

// openUser opens the user's directory, refusing a symbolic link, a
// non-directory, and one that is not the trusted owners' alone to write.
func (d *DirStore) openUser(user string) (*tokenfile.Dir, error) {
	ud, err := d.dir.OpenDir(user)
	if err != nil {
		var re *tokenfile.RefusedError
		if errors.As(err, &re) || errors.Is(err, syscall.ENOTDIR) {
			return nil, fmt.Errorf("%w: %s is not a directory", ErrBadFile, d.dir.Join(user))
		}
		return nil, fmt.Errorf("opening the directory of user %s: %w", user, err)
	}
	fi, err := ud.Stat(".")
	if err != nil {
		ud.Close()
		return nil, fmt.Errorf("directory of user %s: %w", user, err)
	}
	if !d.trustedOwner(fi.UID) || fi.Mode&0o022 != 0 {
		ud.Close()
		return nil, fmt.Errorf("%w: %s is owned by uid %d with mode %04o", ErrBadFile, d.dir.Join(user), fi.UID, fi.Mode.Perm())
	}
	return ud, nil
}

// userDir opens the user's directory, creating it when missing as the
// credd does (mkdir 0700 under the umask, inheriting a setgid parent's
// group).
func (d *DirStore) userDir(user string) (*tokenfile.Dir, error) {
	if err := d.dir.MkdirInherit(user, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("creating the directory of user %s: %w", user, err)
	}
	return d.openUser(user)
}

// UserFileExists implements CredStore.
func (d *DirStore) UserFileExists(user, name string) bool {
	ud, err := d.dir.OpenDir(user)
	if err != nil {
		return false
	}
	defer ud.Close()
	fi, err := ud.Stat(name)
	return err == nil && fi.Mode.IsRegular()
}

// WriteUserFile implements CredStore.
func (d *DirStore) WriteUserFile(user, name string, data []byte, mode uint32, sync bool) error {
	ud, err := d.userDir(user)
	if err != nil {
		return err
	}
	defer ud.Close()
	// Refuse to replace anything but a regular file.
	if fi, err := ud.Stat(name); err == nil && !fi.Mode.IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrBadFile, ud.Join(name))
	}
	// AllowForeign: the credmon (root) may have written the file last
	// when this server runs as the credd's user; the directory itself is
	// checked to be the trusted owners' alone.
	return ud.WriteAtomic(name, data, tokenfile.Options{Mode: fs.FileMode(mode) & fs.ModePerm, AllowForeign: true, NoSync: !sync})
}

// minSessionKey and maxSessionKey bound the session key file.
const minSessionKey, maxSessionKey = 32, 1024

// SessionKey implements CredStore.
func (d *DirStore) SessionKey(name string) ([]byte, error) {
	read := func() ([]byte, error) {
		b, _, err := d.dir.ReadFile(name, tokenfile.Checks{MaxSize: maxSessionKey, AllowEmpty: true, Forbidden: 0o077})
		var re *tokenfile.RefusedError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%w: the session key %s must be a regular file of uid %d readable only by it, of at most %d bytes (it %s)", ErrBadFile, d.dir.Join(name), d.euid, maxSessionKey, re.Why)
		}
		if err != nil {
			return nil, err
		}
		if len(b) < minSessionKey {
			return nil, fmt.Errorf("%w: the session key %s is shorter than %d bytes", ErrBadFile, d.dir.Join(name), minSessionKey)
		}
		return b, nil
	}
	b, err := read()
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		if err != nil {
			return nil, fmt.Errorf("reading the session key: %w", err)
		}
		return b, nil
	}
	key := make([]byte, minSessionKey)
	rand.Read(key)
	// NoReplace: another server started meanwhile may have created it;
	// then its key is the one read below.
	if err := d.dir.WriteAtomic(name, key, tokenfile.Options{Mode: 0o400, NoReplace: true}); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("creating the session key: %w", err)
	}
	if b, err = read(); err != nil {
		return nil, fmt.Errorf("reading the session key: %w", err)
	}
	return b, nil
}
