package htcondor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultTimeout bounds every run of an HTCondor tool unless a caller sets
// its own timeout.
const DefaultTimeout = 10 * time.Second

// maxOutput is the most stdout or stderr kept from one tool run; the rest is
// discarded. The tools print a few lines.
const maxOutput = 1 << 20

// waitDelay is how long a killed tool's output pipes may stay open (held by
// a grandchild) before Wait gives up on them.
const waitDelay = 2 * time.Second

// ErrNotInstalled is matched (errors.Is) by every error that says an
// HTCondor tool could not be found.
var ErrNotInstalled = errors.New("HTCondor is not installed")

// NotInstalledError reports that an HTCondor tool could not be found. It
// matches ErrNotInstalled with errors.Is.
type NotInstalledError struct {
	// Command is the tool as configured, e.g. "condor_config_val".
	Command string
	// Searched lists the directories that were searched.
	Searched []string
}

// Error returns a one-line message naming the command.
func (e *NotInstalledError) Error() string {
	where := ""
	if len(e.Searched) > 0 {
		where = " (searched " + strings.Join(e.Searched, ":") + ")"
	}
	return fmt.Sprintf("%s: command not found%s; HTCondor's tools must be on PATH", e.Command, where)
}

// Is makes errors.Is(err, ErrNotInstalled) true.
func (e *NotInstalledError) Is(target error) bool { return target == ErrNotInstalled }

// Runner runs one command to completion and returns its captured output.
// A command that ran and exited with a non-zero status is reported through
// exitCode with a nil error; err is non-nil only when the command could not
// be run (not found: an error matching ErrNotInstalled), was killed, or the
// context ended. Config uses a Runner.
type Runner func(ctx context.Context, name string, args ...string) (stdout, stderr []byte, exitCode int, err error)

// StdinRunner is a Runner that also writes stdin to the command's standard
// input (nil: empty input). StoreCred uses a StdinRunner.
type StdinRunner func(ctx context.Context, stdin []byte, name string, args ...string) (stdout, stderr []byte, exitCode int, err error)

// Exec runs real executables. Its Run and RunInput methods are the default
// Runner and StdinRunner. The zero value searches $PATH of the process
// environment only.
type Exec struct {
	// LookupEnv supplies PATH for the search; nil means os.LookupEnv.
	// The command itself inherits the process environment.
	LookupEnv func(string) (string, bool)
	// ExtraDirs are searched after the directories of PATH.
	ExtraDirs []string
}

// LookPath resolves name as the shell would, searching the absolute
// directories of PATH and then ExtraDirs (relative and empty PATH entries
// are skipped). A name containing a slash is used as is. A missing or
// non-executable command gives a *NotInstalledError.
func (e Exec) LookPath(name string) (string, error) {
	if name == "" {
		return "", &NotInstalledError{Command: "(empty command)"}
	}
	if strings.ContainsRune(name, '/') {
		if isExecutable(name) {
			return name, nil
		}
		return "", &NotInstalledError{Command: name}
	}
	dirs := e.searchDirs()
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", &NotInstalledError{Command: name, Searched: dirs}
}

func (e Exec) searchDirs() []string {
	lookup := e.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	path, _ := lookup("PATH")
	var dirs []string
	seen := map[string]bool{}
	add := func(d string) {
		if d == "" || !filepath.IsAbs(d) || seen[d] {
			return
		}
		seen[d] = true
		dirs = append(dirs, d)
	}
	for _, d := range filepath.SplitList(path) {
		add(d)
	}
	for _, d := range e.ExtraDirs {
		add(d)
	}
	return dirs
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// Run implements Runner: it runs name with args and an empty stdin.
func (e Exec) Run(ctx context.Context, name string, args ...string) ([]byte, []byte, int, error) {
	return e.RunInput(ctx, nil, name, args...)
}

// RunInput implements StdinRunner: it resolves name with LookPath, runs it
// with args, feeds stdin, and captures up to 1 MiB of stdout and of stderr.
// The command is killed when ctx ends.
func (e Exec) RunInput(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, []byte, int, error) {
	path, err := e.LookPath(name)
	if err != nil {
		return nil, nil, -1, err
	}
	var stdout, stderr limitedBuffer
	cmd := exec.CommandContext(ctx, path, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = waitDelay
	err = cmd.Run()
	if ctx.Err() != nil {
		return stdout.Bytes(), stderr.Bytes(), -1, fmt.Errorf("running %s: %w", name, ctx.Err())
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return stdout.Bytes(), stderr.Bytes(), -1, fmt.Errorf("running %s: killed by signal %v", name, ws.Signal())
			}
			return stdout.Bytes(), stderr.Bytes(), ee.ExitCode(), nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, -1, &NotInstalledError{Command: name}
		}
		return stdout.Bytes(), stderr.Bytes(), -1, fmt.Errorf("running %s: %w", name, err)
	}
	return stdout.Bytes(), stderr.Bytes(), 0, nil
}

// limitedBuffer keeps the first maxOutput bytes written and discards the
// rest, so a runaway tool cannot exhaust memory. (The buffer is a field, not
// embedded: an embedded bytes.Buffer would give it a ReadFrom method that
// io.Copy would use instead of Write, bypassing the limit.)
type limitedBuffer struct{ buf bytes.Buffer }

// Write keeps what fits and reports everything as written.
func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - b.buf.Len(); room > 0 {
		if len(p) <= room {
			b.buf.Write(p)
		} else {
			b.buf.Write(p[:room])
		}
	}
	return len(p), nil
}

// Bytes returns what was kept.
func (b *limitedBuffer) Bytes() []byte { return b.buf.Bytes() }

// summarize turns captured tool output into one line for an error message:
// non-empty lines of stderr then stdout (without the "Account:" and
// "CredType:" banner of condor_store_cred), joined by "; ", at most 400
// bytes.
func summarize(stderr, stdout []byte) string {
	var parts []string
	for _, out := range [][]byte{stderr, stdout} {
		for _, l := range strings.Split(string(out), "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "Account:") || strings.HasPrefix(l, "CredType:") {
				continue
			}
			parts = append(parts, l)
		}
	}
	s := strings.Join(parts, "; ")
	const max = 400
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
