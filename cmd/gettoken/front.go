//go:build gettoken_front

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
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
// and --reuse-bearer check, without the Vault flow. What it can finish
// without Vault (--help, --version, option errors, a bearer token reused
// from disk) it finishes; for anything else it runs the full program,
// FullProgram relative to its own executable, with the same arguments,
// environment and standard streams, so that program starts from the very
// beginning as if it had been run directly. Nothing the front end did is
// visible then: its output is held back until it knows it is done, it
// reads no standard input and fetches no -s/--optserver file (that needs
// the full program too).

// FullProgram is where the full program is installed, relative to the
// directory of the front end's executable; InstalledFullProgram is the
// packages' copy, used when a front end copied elsewhere has none next to
// it.
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
		httpClient: func(*vaultcred.Options) (*http.Client, error) {
			return nil, vaultcred.ErrHandOff
		},
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
	full, err := fullProgram()
	if err == nil {
		err = syscall.Exec(full, argv, os.Environ())
		err = fmt.Errorf("%s: %w", full, err)
	}
	fmt.Fprintf(os.Stderr, "%s: cannot start the full program: %v\n", programName(argv[0]), err)
	return exitFatal
}

// fullProgram is FullProgram next to the running executable (symbolic
// links resolved, so the htgettoken link finds it too), else
// InstalledFullProgram when that exists.
func fullProgram() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", err
	}
	p := filepath.Join(filepath.Dir(exe), FullProgram)
	if _, err := os.Stat(p); err != nil {
		if _, ierr := os.Stat(InstalledFullProgram); ierr == nil {
			return InstalledFullProgram, nil
		}
	}
	return p, nil
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
