//go:build gettoken_front

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/vaultcred/gettoken/vaultcred"
)

// The front end. Go initialises every linked package before main, and
// Vault's API package, gokrb5 and x/crypto/ssh alone take longer to start
// than a whole minimal Go program. The installed gettoken is therefore
// this build (tag gettoken_front): the same option parser, help, messages
// and --reuse-bearer check, without the Vault flow or an HTTP client.
// What it can finish without Vault (--help, --version, option errors, a
// bearer token reused from disk) it finishes; for anything else it runs
// the full program,
// FullProgram relative to its own executable, with the same arguments,
// environment and standard streams, so that program starts from the very
// beginning as if it had been run directly. Nothing the front end did is
// visible then: its output is held back until it knows it is done, it
// reads no standard input and fetches no -s/--optserver file (that needs
// the full program too).

// FullProgram is where the full program is installed, relative to the
// directory of the front end's executable. InstalledFullProgram is the
// packages' copy, used only when the front end cannot find its own
// executable (no /proc).
const (
	FullProgram          = "../libexec/gettoken/gettoken"
	InstalledFullProgram = "/usr/libexec/gettoken/gettoken"
)

func gettokenMain() int {
	env := vaultcred.SystemEnviron()
	var held heldOutput
	code := runMain(context.Background(), invocation{
		args:   os.Args,
		stdout: held.stream(os.Stdout),
		stderr: held.stream(os.Stderr),
		env:    env,
		width:  helpWidth(env),
	})
	if code != exitHandOff {
		held.flush()
		return code
	}
	return handOff(os.Args)
}

// handOff replaces this process with the full program. It returns only if
// that program cannot be started.
func handOff(argv []string) int {
	prog := "gettoken"
	if len(argv) > 0 {
		prog = programName(argv[0])
	}
	full, err := fullProgram()
	if err == nil {
		err = syscall.Exec(full, argv, os.Environ())
	}
	if full != "" {
		err = fmt.Errorf("%s: %w", full, err)
	}
	fmt.Fprintf(os.Stderr, "%s: cannot start the full program: %v\n", prog, err)
	return exitFatal
}

// fullProgram is FullProgram next to the running executable (symbolic
// links resolved, so the htgettoken link finds it too), once checked by
// trustedProgram. There is no silent fallback to another copy: a front
// end always runs the full program it was installed with, never one of
// another version. The path is returned with the error, if any.
func fullProgram() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return InstalledFullProgram, trustedProgram(InstalledFullProgram)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", err
	}
	p := filepath.Join(filepath.Dir(exe), FullProgram)
	return p, trustedProgram(p)
}

// trustedProgram checks that the program at p, and the two directories
// above it (libexec/gettoken and libexec), belong to root or to this user
// and that nobody else can write them: a front end copied into /tmp must
// not run what another user put at /tmp/libexec/gettoken/gettoken.
func trustedProgram(p string) error {
	uid := uint32(os.Getuid())
	for i, q := range []string{p, filepath.Dir(p), filepath.Dir(filepath.Dir(p))} {
		var st syscall.Stat_t
		if err := syscall.Lstat(q, &st); err != nil {
			if i == 0 {
				return err // the caller names p
			}
			return fmt.Errorf("%s: %w", q, err)
		}
		switch mode := st.Mode & syscall.S_IFMT; {
		case i == 0 && mode != syscall.S_IFREG:
			return errors.New("not a regular file")
		case i > 0 && mode != syscall.S_IFDIR:
			return fmt.Errorf("%s is not a directory", q)
		case st.Uid != 0 && st.Uid != uid:
			return fmt.Errorf("%s belongs to another user (uid %d)", q, st.Uid)
		case st.Mode&0o022 != 0:
			return fmt.Errorf("%s is writable by others (mode %04o)", q, st.Mode&0o7777)
		}
	}
	return nil
}

// heldOutput keeps what the front end writes to stdout and stderr, in
// order, until it is known whether the front end finishes the run.
type heldOutput struct {
	mu     sync.Mutex
	chunks []heldChunk
}

type heldChunk struct {
	w io.Writer
	b []byte
}

type heldStream struct {
	h *heldOutput
	w io.Writer
}

func (h *heldOutput) stream(w io.Writer) io.Writer { return heldStream{h, w} }

func (s heldStream) Write(p []byte) (int, error) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.h.chunks = append(s.h.chunks, heldChunk{s.w, append([]byte(nil), p...)})
	return len(p), nil
}

// flush writes everything held, in the order it was written.
func (h *heldOutput) flush() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.chunks {
		c.w.Write(c.b)
	}
	h.chunks = nil
}
