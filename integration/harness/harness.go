// Package harness runs the project's commands in integration tests the
// way users and HTCondor run them: as separate processes, under an
// unprivileged uid when the tests run as root, each test with its own home
// directory, against the real stack.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/vaultcred/gettoken/integration/stack"
)

// Env is what the tests of one package share: the stack, the built
// commands, and world-readable copies of the files users need.
type Env struct {
	Stack *stack.Stack
	// Bin holds the main module's commands.
	Bin string
	// Base holds the per-test user directories (world-traversable).
	Base string
	// CAFile and Krb5Conf are world-readable copies of the stack's CA
	// certificate and Kerberos configuration.
	CAFile, Krb5Conf string
	// UID and GID are what the commands run as: an unprivileged pair when
	// the tests run as root, else the tests' own.
	UID, GID int
}

// Setup builds the main module's commands named in cmds (directories
// under cmd/) and starts a stack. It is called from TestMain; the returned
// cleanup stops everything and reports child processes that outlived the
// stack.
func Setup(ctx context.Context, opts stack.Options, cmds ...string) (*Env, func() error, error) {
	e := &Env{UID: os.Getuid(), GID: os.Getgid()}
	if e.UID == 0 {
		e.UID, e.GID = 4321, 4321
	}
	var err error
	if e.Base, err = os.MkdirTemp("", "gettoken-it-"); err != nil {
		return nil, nil, err
	}
	os.Chmod(e.Base, 0o755)
	e.Bin = filepath.Join(e.Base, "bin")
	args := []string{"build", "-o", e.Bin + "/"}
	for _, c := range cmds {
		args = append(args, "./cmd/"+c)
	}
	builds := [][]string{args}
	if slices.Contains(cmds, "gettoken") {
		// As installed: bin/gettoken is the front end, which runs the
		// full program from ../libexec/gettoken/ (see the Makefile).
		builds = append(builds,
			[]string{"build", "-o", filepath.Join(e.Base, "libexec", "gettoken", "gettoken"), "./cmd/gettoken"},
			[]string{"build", "-tags", "gettoken_front", "-o", filepath.Join(e.Bin, "gettoken"), "./cmd/gettoken"})
	}
	for _, args := range builds {
		build := exec.CommandContext(ctx, "go", args...)
		build.Dir = filepath.Dir(stack.ModuleDir())
		if out, err := build.CombinedOutput(); err != nil {
			os.RemoveAll(e.Base)
			return nil, nil, fmt.Errorf("building the commands: %v\n%s", err, out)
		}
	}
	if e.Stack, err = stack.Start(ctx, opts); err != nil {
		os.RemoveAll(e.Base)
		return nil, nil, fmt.Errorf("stack start: %w", err)
	}
	e.CAFile = filepath.Join(e.Base, "ca.pem")
	e.Krb5Conf = filepath.Join(e.Base, "krb5.conf")
	for src, dst := range map[string]string{e.Stack.Certs.CAFile: e.CAFile, e.Stack.KDC.Krb5Conf: e.Krb5Conf} {
		b, err := os.ReadFile(src)
		if err == nil {
			err = os.WriteFile(dst, b, 0o644)
		}
		if err != nil {
			e.Stack.Stop()
			os.RemoveAll(e.Base)
			return nil, nil, fmt.Errorf("copying %s: %w", src, err)
		}
	}
	cleanup := func() error {
		procs := e.Stack.Procs()
		e.Stack.Stop()
		os.RemoveAll(e.Base)
		for _, p := range procs {
			if stack.PidAlive(p.Pid()) {
				return fmt.Errorf("%s (pid %d) still running after Stop", p.Name, p.Pid())
			}
		}
		return nil
	}
	return e, cleanup, nil
}

// VaultHostPort is the -a value for the stack's Vault.
func (e *Env) VaultHostPort() string { return strings.TrimPrefix(e.Stack.Vault.Addr, "https://") }

// User is one test's person: a directory tree owned by UID with a home
// directory, an XDG_RUNTIME_DIR, a Kerberos ccache path and a vault token
// file, and the environment that points the commands at them.
type User struct {
	T                      *testing.T
	E                      *Env
	Dir, Home, Run, CC, VT string
	// Environ is the commands' whole environment; tests may append.
	Environ []string
	// Wrap, when set, is the argv every command runs under (the program's
	// path and arguments follow it). Running as the user is then Wrap's
	// job: the harness starts it with its own credentials.
	Wrap []string
}

// NewUser makes a user. The vault token file is named in HTGETTOKENOPTS so
// tests never share /tmp/vt_u<uid>.
func (e *Env) NewUser(t *testing.T) *User {
	t.Helper()
	dir, err := os.MkdirTemp(e.Base, "u-")
	if err != nil {
		t.Fatal(err)
	}
	u := &User{T: t, E: e, Dir: dir, Home: filepath.Join(dir, "home"), Run: filepath.Join(dir, "run"),
		CC: filepath.Join(dir, "krb5cc"), VT: filepath.Join(dir, "vt")}
	for _, d := range []string{u.Home, u.Run} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	u.Chown(dir, u.Home, u.Run)
	u.Environ = []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + u.Home,
		"XDG_RUNTIME_DIR=" + u.Run,
		"KRB5_CONFIG=" + e.Krb5Conf,
		"KRB5CCNAME=FILE:" + u.CC,
		"HTGETTOKENOPTS=-a " + e.VaultHostPort() + " --cafile " + e.CAFile + " --vaulttokenfile " + u.VT,
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return u
}

// Chown gives paths to the user.
func (u *User) Chown(paths ...string) {
	u.T.Helper()
	for _, p := range paths {
		if err := os.Lchown(p, u.E.UID, u.E.GID); err != nil {
			u.T.Fatal(err)
		}
	}
}

// Kinit gets the user a Kerberos ticket for principal in the user's ccache.
func (u *User) Kinit(principal string) {
	u.T.Helper()
	if err := u.E.Stack.KDC.Kinit(u.T.Context(), principal, "FILE:"+u.CC, 0); err != nil {
		u.T.Fatal(err)
	}
	u.Chown(u.CC)
}

// Result of one command run.
type Result struct {
	Code           int
	Stdout, Stderr string
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// Command prepares a command (a name in Bin, or a path) as the user.
func (u *User) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := name
	if !strings.Contains(name, "/") {
		path = filepath.Join(u.E.Bin, name)
	}
	argv := append(append(append([]string{}, u.Wrap...), path), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = u.Environ
	cmd.Dir = u.Dir
	cmd.WaitDelay = time.Second
	if os.Getuid() == 0 && len(u.Wrap) == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.E.UID), Gid: uint32(u.E.GID)}}
	}
	return cmd
}

// Exec runs a command with no terminal (as in a batch job or a pipe), the
// given standard input, and captures its output.
func (u *User) Exec(name, stdin string, args ...string) Result {
	u.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := u.Command(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	return u.finish(name, cmd.Run(), &o, &e)
}

func (u *User) finish(name string, err error, o, e *bytes.Buffer) Result {
	u.T.Helper()
	r := Result{Stdout: o.String(), Stderr: e.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		u.T.Fatalf("%s: %v", name, err)
	}
	return r
}

var userCodeRE = regexp.MustCompile(`user_code=([A-Za-z0-9-]+)|enter code ([A-Za-z0-9-]+)`)

// OIDC runs a command with a terminal and, when a login URL appears in its
// output, answers at the IdP: approve as account, or deny when account is
// "". ttyStdin gives the terminal as standard input (gettoken on a
// terminal); otherwise stdin is closed and stdout/stderr are the terminal
// (condor_submit running the storer). It fails the test if no login URL
// appeared.
func (u *User) OIDC(account string, ttyStdin bool, name string, args ...string) Result {
	u.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	ptmx, tty, err := pty.Open()
	if err != nil {
		u.T.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	cmd := u.Command(ctx, name, args...)
	outR, outW := io.Pipe()
	var o, e bytes.Buffer
	copied := make(chan struct{})
	if ttyStdin {
		close(copied)
		cmd.Stdin = tty
		cmd.Stdout = io.MultiWriter(&o, outW)
		cmd.Stderr = io.MultiWriter(&e, outW)
	} else {
		// The terminal is the output: read it from the pty's master.
		cmd.Stdin = nil
		cmd.Stdout, cmd.Stderr = tty, tty
		go func() {
			io.Copy(io.MultiWriter(&o, outW), ptmx)
			close(copied)
		}()
	}
	answered := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			m := userCodeRE.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			code := m[1] + m[2]
			if account == "" {
				answered <- u.E.Stack.IdP.Deny(ctx, code)
			} else {
				answered <- u.E.Stack.IdP.Approve(ctx, code, account)
			}
			io.Copy(io.Discard, outR)
			return
		}
		answered <- fmt.Errorf("no login URL in the output")
	}()
	err = cmd.Run()
	if !ttyStdin {
		// Everything the command wrote is in the pty; once our copy of the
		// slave is closed too, reading the master ends (EIO).
		tty.Close()
		select {
		case <-copied:
		case <-time.After(5 * time.Second):
			u.T.Fatal("the terminal output was not drained")
		}
	}
	outW.Close()
	r := u.finish(name, err, &o, &e)
	if aerr := <-answered; aerr != nil {
		u.T.Fatalf("answering the login: %v\n%v", aerr, r)
	}
	return r
}

// Read returns a file's content, failing the test when it is missing.
func (u *User) Read(p string) string {
	u.T.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		u.T.Fatal(err)
	}
	return string(b)
}

// Requests returns the Vault requests made while f runs, from the audit
// log, leaving out the harness's own root requests (sys/).
func (e *Env) Requests(t *testing.T, f func()) []stack.AuditEntry {
	t.Helper()
	before, err := e.Stack.Vault.Requests()
	if err != nil {
		t.Fatal(err)
	}
	f()
	// The audit device writes synchronously before answering, so the log
	// is complete once the command has exited.
	after, err := e.Stack.Vault.Requests()
	if err != nil {
		t.Fatal(err)
	}
	var out []stack.AuditEntry
	for _, a := range after[len(before):] {
		if !strings.HasPrefix(a.Path, "sys/") {
			out = append(out, a)
		}
	}
	return out
}

// Revoke revokes a vault token with the root token, as an admin (or an
// expiry) would.
func (e *Env) Revoke(t *testing.T, token string) {
	t.Helper()
	if _, err := e.Stack.Vault.Admin.Logical().Write("auth/token/revoke", map[string]any{"token": strings.TrimSpace(token)}); err != nil {
		t.Fatal(err)
	}
}
