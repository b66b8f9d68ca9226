// Package tokenfile reads and writes the secret files of gettoken, the
// storer and the credmon: vault tokens, bearer tokens and credmon .use
// files. It is the one place that decides how a secret reaches the disk.
//
// Writes are atomic (a temporary file in the same directory, then rename),
// with mode 0600 unless asked otherwise, so a reader never sees a partial
// token and a crash never leaves one. A symlink at the target is replaced,
// never followed. An existing target owned by another user is refused.
//
// Two APIs: the path functions (Write, WriteToken, Read, ReadToken) for
// programs writing their own user's files, and Dir, a checked directory
// handle, for the root daemons working in directories others can write:
// there every operation is relative to a directory opened once, never a
// path walked again (see Dir). Write itself opens the target's directory
// and writes through a Dir.
//
// Reads refuse a file owned by another user, a symlink that another user
// planted, anything that is not a regular file, and oversized content, and
// never put file content in an error message.
package tokenfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// MaxSize is the largest token file Read accepts. Real tokens are a few
// kilobytes at most.
const MaxSize = 64 << 10

// IsStdio reports whether path names a standard stream or file descriptor
// (/dev/stdin, /dev/stdout, /dev/fd/N, ...): htgettoken writes and reads
// those directly, without a temporary file.
func IsStdio(path string) bool {
	return strings.HasPrefix(path, "/dev/std") || strings.HasPrefix(path, "/dev/fd")
}

// Options control a write.
type Options struct {
	// Mode of the file; 0 means 0600. Applied exactly, whatever the umask.
	Mode os.FileMode
	// Chown, when set, gives the file to this uid:gid before it is renamed
	// into place (the credmon's root-owned .use files).
	Chown *Owner
	// AllowForeign permits replacing an existing file owned by another user
	// (the credmon, as root, replacing files in users' directories).
	AllowForeign bool
	// NoSync skips the fsync of the file before the rename and of its
	// directory after it. Still atomic for readers; after a power
	// failure the file may be empty or the old one. For files that are
	// regenerated anyway (the credmon's .use files, rewritten every few
	// minutes, where the fsync was the daemon's bottleneck).
	NoSync bool
}

// Owner is a numeric uid and gid.
type Owner struct{ UID, GID int }

// WriteError is a failed write. Op is the step that failed, in
// htgettoken's words: "opening for write", "creating file", "writing file"
// or "renaming".
type WriteError struct {
	Op   string
	Path string
	Err  error
}

func (e *WriteError) Error() string {
	if e.Op == "renaming" {
		return fmt.Sprintf("failure renaming temporary file to %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("failure %s: %v", e.Op, e.Err)
}

func (e *WriteError) Unwrap() error { return e.Err }

// ForeignError reports a file owned by another user, or a symlink planted
// by one.
type ForeignError struct {
	Path    string
	UID     int
	Symlink bool
}

func (e *ForeignError) Error() string {
	what := "file"
	if e.Symlink {
		what = "symlink"
	}
	return fmt.Sprintf("refusing to use %s: %s owned by uid %d, not by this user (uid %d)", e.Path, what, e.UID, os.Geteuid())
}

// WriteToken writes token plus a newline to path with mode 0600, the way
// htgettoken stores vault and bearer tokens: directly for standard streams
// and /dev/fd paths, atomically otherwise.
func WriteToken(path, token string) error {
	return Write(path, []byte(token+"\n"), Options{})
}

// Write writes data to path according to o.
func Write(path string, data []byte, o Options) error {
	if IsStdio(path) {
		f, err := openStdio(path, os.O_WRONLY|os.O_TRUNC)
		if err != nil {
			return &WriteError{"opening for write", path, err}
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return &WriteError{"writing file", path, err}
		}
		if err := f.Close(); err != nil {
			return &WriteError{"writing file", path, err}
		}
		return nil
	}
	d, err := OpenDir(filepath.Dir(path))
	if err != nil {
		return &WriteError{"creating file", path, err}
	}
	defer d.Close()
	return d.WriteAtomic(filepath.Base(path), data, o)
}

// ErrNotRegular reports a path that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge reports a file larger than MaxSize.
var ErrTooLarge = errors.New("file too large for a token")

// ReadToken reads a token file: the whole content with surrounding white
// space removed. A missing file gives an error matching fs.ErrNotExist.
// Standard streams are read as they are (htgettoken's exchange mode reads
// the vault token from /dev/stdin).
func ReadToken(path string) (string, error) {
	b, err := Read(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Read reads a secret file owned by the current user, refusing foreign
// files and planted symlinks.
func Read(path string) ([]byte, error) {
	if IsStdio(path) {
		f, err := openStdio(path, os.O_RDONLY)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readLimited(f, path)
	}
	euid := os.Geteuid()
	lfi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if lfi.Mode()&fs.ModeSymlink != 0 {
		if uid := ownerOf(lfi); uid != euid && uid != 0 {
			return nil, &ForeignError{Path: path, UID: uid, Symlink: true}
		}
	} else if uid := ownerOf(lfi); lfi.Mode().IsRegular() && uid != euid {
		// Refuse before opening, so an unreadable foreign file gets the
		// same message as a readable one.
		return nil, &ForeignError{Path: path, UID: uid}
	}
	// O_NONBLOCK: a FIFO planted at the path (in /tmp, by anyone) must be
	// refused below, not block the open until someone writes to it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	if uid := ownerOf(fi); uid != euid {
		return nil, &ForeignError{Path: path, UID: uid}
	}
	return readLimited(f, path)
}

func readLimited(r io.Reader, path string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%s: %w (over %d bytes)", path, ErrTooLarge, MaxSize)
	}
	return b, nil
}

func ownerOf(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// openStdio opens a standard stream path. The descriptor the process
// already has is duplicated rather than the path re-opened: re-opening
// /proc/self/fd/N checks the permissions of the pipe or file behind it,
// which fails when the process runs under another uid than the one that
// created the pipe (a batch system's pipes), although the descriptor is
// perfectly usable. Paths that are not a plain descriptor number are
// opened as files.
func openStdio(path string, flag int) (*os.File, error) {
	fd := -1
	switch path {
	case "/dev/stdin":
		fd = 0
	case "/dev/stdout":
		fd = 1
	case "/dev/stderr":
		fd = 2
	default:
		if n, ok := strings.CutPrefix(path, "/dev/fd/"); ok {
			if v, err := strconv.Atoi(n); err == nil && v >= 0 {
				fd = v
			}
		}
	}
	if fd < 0 {
		return os.OpenFile(path, flag, 0)
	}
	nfd, err := syscall.Dup(fd)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	syscall.CloseOnExec(nfd)
	return os.NewFile(uintptr(nfd), path), nil
}
