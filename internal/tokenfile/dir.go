package tokenfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Dir is an open directory: every operation on a Dir works on names
// relative to the directory it was opened on (openat, renameat, unlinkat),
// so that renaming or replacing a directory on the way (a user directory
// swapped for a symlink by whoever may rename entries of its parent)
// changes nothing about where the operation lands. It is the API of the
// root daemons (the credmons, the web app) over directories that others
// can write:
//
//	root, err := tokenfile.OpenDir("/var/lib/condor/oauth_credentials")
//	user, err := root.OpenDir("alice")         // never follows a symlink
//	top, info, err := user.ReadFile("dune.top", tokenfile.Checks{Owners: []int{0}})
//	err = user.WriteAtomic("dune.use", use, tokenfile.Options{Mode: 0o400, AllowForeign: true, NoSync: true})
//	err = user.Remove("dune.top")
//
// Names are single path components (no "/", not "." or ".."). A Dir is
// safe for concurrent use; Close may race with other calls, which then
// fail with fs.ErrClosed (the descriptor is never reused under them).
type Dir struct {
	f    *os.File
	path string
}

// OpenDir opens the directory at path. The path is the program's own
// configuration (a credential directory, a parent of a token file), so
// symlinks on the way are followed; use (*Dir).OpenDir for directories
// others control.
func OpenDir(path string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), path), path: path}, nil
}

// Path is the directory's path, for messages only: operations never go
// through it.
func (d *Dir) Path() string { return d.path }

// Join is the path of name in d, for messages.
func (d *Dir) Join(name string) string {
	if d.path == "/" {
		return "/" + name
	}
	return d.path + "/" + name
}

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// control runs fn with d's descriptor, which stays open during the call.
func (d *Dir) control(fn func(fd int) error) error {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// Fd calls fn with the directory's descriptor (for getdents or other
// *at calls the Dir does not offer); the descriptor is valid during the
// call only.
func (d *Dir) Fd(fn func(fd int) error) error { return d.control(fn) }

// checkName refuses names that are not one path component.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.IndexByte(name, '/') >= 0 || strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("%q is not a file name", name)
	}
	return nil
}

// OpenDir opens the subdirectory name of d, refusing a symlink (an error
// matching unix.ELOOP, reported as a *RefusedError) or anything that is
// not a directory (ENOTDIR).
func (d *Dir) OpenDir(name string) (*Dir, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	var sub *Dir
	err := d.control(func(fd int) error {
		nfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			var st unix.Stat_t
			if errors.Is(err, unix.ENOTDIR) && unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				err = unix.ELOOP // O_DIRECTORY answers ENOTDIR for a symlink
			}
			if errors.Is(err, unix.ELOOP) {
				return &RefusedError{Path: d.Join(name), Why: "is a symbolic link", Err: err}
			}
			return &fs.PathError{Op: "open", Path: d.Join(name), Err: err}
		}
		sub = &Dir{f: os.NewFile(uintptr(nfd), d.Join(name)), path: d.Join(name)}
		return nil
	})
	return sub, err
}

// Info is what Stat and ReadFile report about a file (its lstat).
type Info struct {
	// Ino, Size, UID, GID and Nlink as in stat(2).
	Ino      uint64
	Size     int64
	UID, GID int
	Nlink    uint64
	// Mode is the type and permission bits.
	Mode fs.FileMode
	// Mtime and Ctime are the modification and change times.
	Mtime, Ctime time.Time
}

// InfoOf converts a stat(2) result (from a Dir.Fd call) to an Info.
func InfoOf(st *unix.Stat_t) Info {
	m := fs.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	if st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return Info{
		Ino: st.Ino, Size: st.Size, UID: int(st.Uid), GID: int(st.Gid), Nlink: uint64(st.Nlink), Mode: m,
		Mtime: time.Unix(st.Mtim.Unix()), Ctime: time.Unix(st.Ctim.Unix()),
	}
}

// Stat returns the lstat of name in d (a symlink is described, not
// followed); name "." is the directory itself.
func (d *Dir) Stat(name string) (Info, error) {
	if name != "." {
		if err := checkName(name); err != nil {
			return Info{}, err
		}
	}
	var st unix.Stat_t
	err := d.control(func(fd int) error {
		if name == "." {
			return unix.Fstat(fd, &st)
		}
		return unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return Info{}, err
		}
		return Info{}, &fs.PathError{Op: "stat", Path: d.Join(name), Err: err}
	}
	return InfoOf(&st), nil
}

// Checks are the rules ReadFile applies to a file before reading it. The
// zero value accepts a non-empty regular file of at most MaxSize bytes
// owned by the effective uid.
type Checks struct {
	// Owners are the uids allowed to own the file; nil means the
	// effective uid only.
	Owners []int
	// AnyOwner accepts any owner (a file the daemon wrote itself and
	// only stats, such as a .use handed to another user).
	AnyOwner bool
	// MaxSize is the largest size accepted; 0 means MaxSize.
	MaxSize int64
	// AllowEmpty accepts an empty file.
	AllowEmpty bool
}

// RefusedError is a file that Checks refuse: a symlink, not a regular
// file, owned by someone not allowed, empty or too large. Its message is
// the path and the reason, never the content.
type RefusedError struct {
	Path string
	Why  string
	// Err is the system error behind the refusal, if any (ELOOP for a
	// symlink).
	Err error
}

func (e *RefusedError) Error() string { return e.Path + " " + e.Why }

// Unwrap returns the system error, if any.
func (e *RefusedError) Unwrap() error { return e.Err }

// Check applies c to a file's Info: the reason it is refused, or nil.
func (c Checks) Check(path string, fi Info) error {
	max := c.MaxSize
	if max <= 0 {
		max = MaxSize
	}
	switch {
	case fi.Mode&fs.ModeSymlink != 0:
		return &RefusedError{Path: path, Why: "is a symbolic link"}
	case fi.Mode.IsDir():
		return &RefusedError{Path: path, Why: "is a directory"}
	case !fi.Mode.IsRegular():
		return &RefusedError{Path: path, Why: "is not a regular file"}
	case !c.AnyOwner && !c.ownerOK(fi.UID):
		return &RefusedError{Path: path, Why: fmt.Sprintf("is owned by uid %d, %s", fi.UID, c.owners())}
	case fi.Size == 0 && !c.AllowEmpty:
		return &RefusedError{Path: path, Why: "is empty"}
	case fi.Size > max:
		return &RefusedError{Path: path, Why: fmt.Sprintf("is larger than %d bytes", max)}
	}
	return nil
}

func (c Checks) ownerOK(uid int) bool {
	if c.Owners == nil {
		return uid == os.Geteuid()
	}
	for _, o := range c.Owners {
		if o == uid {
			return true
		}
	}
	return false
}

func (c Checks) owners() string {
	euid := os.Geteuid()
	if c.Owners == nil {
		return fmt.Sprintf("not by this user (uid %d)", euid)
	}
	if len(c.Owners) == 2 && c.Owners[0] == 0 && c.Owners[1] == euid {
		return fmt.Sprintf("not by root or by the credmon (uid %d)", euid)
	}
	s := make([]string, len(c.Owners))
	for i, o := range c.Owners {
		s[i] = fmt.Sprint(o)
	}
	return "not by uid " + strings.Join(s, " or ")
}

// ReadFile reads name in d after checking it with c: it never follows a
// symlink, never blocks on a FIFO or device (the file is opened
// non-blocking and refused unless it is regular), and never reads more
// than the size limit. A missing file gives an error matching
// fs.ErrNotExist. The Info is returned whenever the file could be
// opened, also with a refusal.
func (d *Dir) ReadFile(name string, c Checks) ([]byte, Info, error) {
	if err := checkName(name); err != nil {
		return nil, Info{}, err
	}
	path := d.Join(name)
	var f *os.File
	err := d.control(func(fd int) error {
		nfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err != nil {
			return err
		}
		f = os.NewFile(uintptr(nfd), path)
		return nil
	})
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, Info{}, &RefusedError{Path: path, Why: "is a symbolic link", Err: err}
		}
		return nil, Info{}, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, Info{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	fi := InfoOf(&st)
	if err := c.Check(path, fi); err != nil {
		return nil, fi, err
	}
	max := c.MaxSize
	if max <= 0 {
		max = MaxSize
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fi, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fi, &RefusedError{Path: path, Why: fmt.Sprintf("is larger than %d bytes", max)}
	}
	return b, fi, nil
}

// tempInfix separates a target's name from the random part in the names
// of WriteAtomic's temporary files: ".<name>.tmp<16 hex digits>".
const tempInfix = ".tmp"

// IsTemp reports whether name is one of WriteAtomic's temporary files,
// which a crash can leave behind (see RemoveTemp).
func IsTemp(name string) bool {
	if len(name) < 1+1+len(tempInfix)+16 || name[0] != '.' {
		return false
	}
	hexPart := name[len(name)-16:]
	if _, err := hex.DecodeString(hexPart); err != nil || strings.ToLower(hexPart) != hexPart {
		return false
	}
	return strings.HasSuffix(name[:len(name)-16], tempInfix)
}

// RemoveTemp removes the temporary file name (see IsTemp) if it is a
// regular file owned by the effective uid and was last modified more
// than olderThan ago; it reports whether it did.
func (d *Dir) RemoveTemp(name string, olderThan time.Duration) (bool, error) {
	if !IsTemp(name) {
		return false, fmt.Errorf("%s is not a temporary file", d.Join(name))
	}
	fi, err := d.Stat(name)
	if err != nil {
		return false, err
	}
	if !fi.Mode.IsRegular() || fi.UID != os.Geteuid() || time.Since(fi.Mtime) < olderThan {
		return false, nil
	}
	if err := d.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}

// WriteAtomic writes data to name in d: a temporary file is created next
// to it (O_EXCL, never through a symlink), written, given o.Mode exactly
// and o.Chown, synced unless o.NoSync, and renamed over name; then, unless
// o.NoSync, the directory is synced so that the rename survives a power
// failure. A symlink at name is replaced, never followed. An existing
// name owned by another user is refused (*ForeignError) unless
// o.AllowForeign. Errors are *WriteError.
func (d *Dir) WriteAtomic(name string, data []byte, o Options) error {
	path := d.Join(name)
	if err := checkName(name); err != nil {
		return &WriteError{"creating file", path, err}
	}
	mode := o.Mode
	if mode == 0 {
		mode = 0o600
	}
	if fi, err := d.Stat(name); err == nil {
		if fi.UID != os.Geteuid() && !o.AllowForeign {
			return &ForeignError{Path: path, UID: fi.UID, Symlink: fi.Mode&fs.ModeSymlink != 0}
		}
		if fi.Mode.IsDir() {
			return &WriteError{"creating file", path, fmt.Errorf("%s is a directory", path)}
		}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := "." + name + tempInfix + hex.EncodeToString(rnd[:])
	if len(tmp) > 255 {
		tmp = "." + name[:255-1-len(tempInfix)-16] + tempInfix + hex.EncodeToString(rnd[:])
	}
	var f *os.File
	err := d.control(func(fd int) error {
		nfd, err := unix.Openat(fd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f = os.NewFile(uintptr(nfd), d.Join(tmp))
		return nil
	})
	if err != nil {
		return &WriteError{"creating file", path, &fs.PathError{Op: "open", Path: d.Join(tmp), Err: err}}
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			_ = d.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return &WriteError{"writing file", path, err}
	}
	if err := f.Chmod(mode); err != nil {
		return &WriteError{"writing file", path, err}
	}
	if o.Chown != nil {
		if err := f.Chown(o.Chown.UID, o.Chown.GID); err != nil {
			return &WriteError{"writing file", path, err}
		}
	}
	if !o.NoSync {
		if err := f.Sync(); err != nil {
			return &WriteError{"writing file", path, err}
		}
	}
	if err := f.Close(); err != nil {
		return &WriteError{"writing file", path, err}
	}
	if err := d.control(func(fd int) error { return unix.Renameat(fd, tmp, fd, name) }); err != nil {
		return &WriteError{"renaming", path, err}
	}
	ok = true
	if !o.NoSync {
		if err := d.Sync(); err != nil {
			return &WriteError{"renaming", path, err}
		}
		dirSynced(d)
	}
	return nil
}

// dirSynced is called after WriteAtomic synced a directory (tests).
var dirSynced = func(*Dir) {}

// Sync flushes the directory itself (its entries) to stable storage.
func (d *Dir) Sync() error {
	return d.control(func(fd int) error {
		if err := unix.Fsync(fd); err != nil && !errors.Is(err, unix.EINVAL) {
			return &fs.PathError{Op: "fsync", Path: d.path, Err: err}
		}
		return nil
	})
}

// Remove removes the file name from d (never a directory, never through
// a symlink: a symlink is removed itself).
func (d *Dir) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := d.control(func(fd int) error { return unix.Unlinkat(fd, name, 0) })
	if err != nil {
		return &fs.PathError{Op: "remove", Path: d.Join(name), Err: err}
	}
	return nil
}

// Rename renames oldName to newName within d.
func (d *Dir) Rename(oldName, newName string) error {
	if err := checkName(oldName); err != nil {
		return err
	}
	if err := checkName(newName); err != nil {
		return err
	}
	err := d.control(func(fd int) error { return unix.Renameat(fd, oldName, fd, newName) })
	if err != nil {
		return &os.LinkError{Op: "rename", Old: d.Join(oldName), New: d.Join(newName), Err: err}
	}
	return nil
}

// Mkdir creates the subdirectory name with exactly mode (permission,
// setgid and sticky bits; the umask does not apply). An existing entry
// gives an error matching fs.ErrExist.
func (d *Dir) Mkdir(name string, mode fs.FileMode) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := d.control(func(fd int) error {
		if err := unix.Mkdirat(fd, name, 0o700); err != nil {
			return err
		}
		sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(sub)
		return unix.Fchmod(sub, syscallMode(mode))
	})
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: d.Join(name), Err: err}
	}
	return nil
}

// OpenFile opens name in d for writing or appending (flag from os.O_*;
// O_NOFOLLOW and O_NONBLOCK are always added, so a symlink or FIFO
// planted at name is refused rather than followed or blocked on) with
// perm for a new file, and refuses anything but a regular file.
func (d *Dir) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	var f *os.File
	err := d.control(func(fd int) error {
		nfd, err := unix.Openat(fd, name, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, syscallMode(perm))
		if err != nil {
			if errors.Is(err, unix.ELOOP) {
				return &RefusedError{Path: d.Join(name), Why: "is a symbolic link", Err: err}
			}
			return &fs.PathError{Op: "open", Path: d.Join(name), Err: err}
		}
		f = os.NewFile(uintptr(nfd), d.Join(name))
		return nil
	})
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &RefusedError{Path: d.Join(name), Why: "is not a regular file"}
	}
	// Back to blocking writes (O_NONBLOCK only guarded the open).
	if err := setBlocking(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func setBlocking(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}

// Touch creates name (mode perm) or updates its times, never through a
// symlink and never blocking on a FIFO.
func (d *Dir) Touch(name string, perm fs.FileMode) error {
	f, err := d.OpenFile(name, os.O_WRONLY|os.O_CREATE, perm)
	if err != nil {
		return err
	}
	defer f.Close()
	now := time.Now()
	tv := []unix.Timeval{unix.NsecToTimeval(now.UnixNano()), unix.NsecToTimeval(now.UnixNano())}
	if err := unix.Futimes(int(f.Fd()), tv); err != nil {
		return &fs.PathError{Op: "utimes", Path: d.Join(name), Err: err}
	}
	return nil
}

func syscallMode(m fs.FileMode) uint32 {
	o := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		o |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		o |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		o |= unix.S_ISVTX
	}
	return o
}
