// Package cli runs the gettoken command, built from the main module, as a
// user would: as a separate process under an unprivileged uid (when the
// tests run as root), with its own home directory, against the real stack.
package cli

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/vaultcred/gettoken/integration/stack"
)

var (
	st *stack.Stack
	// bin is the directory of the built commands.
	bin string
	// base holds the per-test user directories (world-traversable).
	base string
	// caFile and krb5Conf are world-readable copies of the stack's CA
	// certificate and Kerberos configuration.
	caFile, krb5Conf string
	// testUID is the uid the commands run as: an unprivileged one when the
	// tests run as root, else the tests' own.
	testUID, testGID int
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	flag.Parse()
	if missing := stack.MissingPrereqs(); missing != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "cli: prerequisites missing in CI: %v\n", missing)
			return 1
		}
		fmt.Fprintf(os.Stderr, "cli: SKIPPING all tests, prerequisites missing (run make prereqs): %v\n", missing)
		return 0
	}
	testUID, testGID = os.Getuid(), os.Getgid()
	if testUID == 0 {
		testUID, testGID = 4321, 4321
	}
	var err error
	if base, err = os.MkdirTemp("", "gettoken-cli-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(base)
	os.Chmod(base, 0o755)
	bin = filepath.Join(base, "bin")
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/...")
	build.Dir = filepath.Dir(stack.ModuleDir())
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "cli: building the commands: %v\n%s", err, out)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err = stack.Start(ctx, stack.Options{PollInterval: 1})
	if err != nil {
		fmt.Fprintf(os.Stderr, "cli: stack start: %v\n", err)
		return 1
	}
	caFile = filepath.Join(base, "ca.pem")
	krb5Conf = filepath.Join(base, "krb5.conf")
	for src, dst := range map[string]string{st.Certs.CAFile: caFile, st.KDC.Krb5Conf: krb5Conf} {
		if b, err := os.ReadFile(src); err != nil || os.WriteFile(dst, b, 0o644) != nil {
			fmt.Fprintf(os.Stderr, "cli: cannot copy %s\n", src)
			return 1
		}
	}
	code := m.Run()
	procs := st.Procs()
	st.Stop()
	for _, p := range procs {
		if stack.PidAlive(p.Pid()) {
			fmt.Fprintf(os.Stderr, "cli: %s (pid %d) still running after Stop\n", p.Name, p.Pid())
			code = 1
		}
	}
	return code
}

// user is one test's person: a directory tree owned by testUID with a home
// directory, an XDG_RUNTIME_DIR, a Kerberos ccache path and a vault token
// file, and the environment that points gettoken at them and at the stack.
type user struct {
	t                      *testing.T
	dir, home, run, cc, vt string
	env                    []string
}

func newUser(t *testing.T) *user {
	t.Helper()
	dir, err := os.MkdirTemp(base, "u-")
	if err != nil {
		t.Fatal(err)
	}
	u := &user{t: t, dir: dir, home: filepath.Join(dir, "home"), run: filepath.Join(dir, "run"),
		cc: filepath.Join(dir, "krb5cc"), vt: filepath.Join(dir, "vt")}
	for _, d := range []string{u.home, u.run} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	u.chown(dir, u.home, u.run)
	u.env = []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + u.home,
		"XDG_RUNTIME_DIR=" + u.run,
		"KRB5_CONFIG=" + krb5Conf,
		"KRB5CCNAME=FILE:" + u.cc,
		// Every test names its own vault token file, so tests never share
		// /tmp/vt_u<uid>; TestDefaultFiles checks the defaults.
		"HTGETTOKENOPTS=-a " + vaultHostPort() + " --cafile " + caFile + " --vaulttokenfile " + u.vt,
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return u
}

func vaultHostPort() string { return strings.TrimPrefix(st.Vault.Addr, "https://") }

func (u *user) chown(paths ...string) {
	u.t.Helper()
	for _, p := range paths {
		if err := os.Lchown(p, testUID, testGID); err != nil {
			u.t.Fatal(err)
		}
	}
}

// result of one command run.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

func (u *user) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
	cmd.Env = u.env
	cmd.Dir = u.dir
	cmd.WaitDelay = time.Second
	if os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(testUID), Gid: uint32(testGID)}}
	}
	return cmd
}

// gettoken runs the command with no terminal (so OIDC is off, as in a
// batch job), stdin from the given string.
func (u *user) gettoken(stdin string, args ...string) result {
	u.t.Helper()
	return u.exec("gettoken", stdin, args...)
}

func (u *user) exec(name, stdin string, args ...string) result {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := u.command(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := result{stdout: o.String(), stderr: e.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		u.t.Fatalf("%s: %v", name, err)
	}
	return r
}

var userCodeRE = regexp.MustCompile(`user_code=([A-Za-z0-9-]+)|enter code ([A-Za-z0-9-]+)`)

// oidc runs gettoken with a terminal on stdin (so the OIDC stage is on)
// and, when the login URL appears, answers at the IdP: approve as account,
// or deny when account is "".
func (u *user) oidc(account string, args ...string) result {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ptmx, tty, err := pty.Open()
	if err != nil {
		u.t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	cmd := u.command(ctx, "gettoken", append([]string{"--web-open-command="}, args...)...)
	cmd.Stdin = tty
	outR, outW := io.Pipe()
	var o, e bytes.Buffer
	cmd.Stdout = io.MultiWriter(&o, outW)
	cmd.Stderr = io.MultiWriter(&e, outW)
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
				answered <- st.IdP.Deny(ctx, code)
			} else {
				answered <- st.IdP.Approve(ctx, code, account)
			}
			io.Copy(io.Discard, outR)
			return
		}
		answered <- fmt.Errorf("no login URL in the output")
	}()
	err = cmd.Run()
	outW.Close()
	r := result{stdout: o.String(), stderr: e.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		u.t.Fatalf("gettoken: %v", err)
	}
	if aerr := <-answered; aerr != nil {
		u.t.Fatalf("answering the login: %v\n%v", aerr, r)
	}
	return r
}

// login does a first OIDC login for account and checks it worked.
func (u *user) login(account string, args ...string) result {
	u.t.Helper()
	r := u.oidc(account, args...)
	if r.code != 0 {
		u.t.Fatalf("OIDC login failed:\n%v", r)
	}
	return r
}

// read returns a file's content, failing the test when it is missing.
func (u *user) read(p string) string {
	u.t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		u.t.Fatal(err)
	}
	return string(b)
}

// requests returns the Vault requests made while f runs, from the audit
// log, leaving out the harness's own root requests (sys/).
func requests(t *testing.T, f func()) []stack.AuditEntry {
	t.Helper()
	before, err := st.Vault.Requests()
	if err != nil {
		t.Fatal(err)
	}
	f()
	var after []stack.AuditEntry
	// The audit device writes synchronously before answering, so the log is
	// complete once the command has exited.
	if after, err = st.Vault.Requests(); err != nil {
		t.Fatal(err)
	}
	var out []stack.AuditEntry
	for _, e := range after[len(before):] {
		if !strings.HasPrefix(e.Path, "sys/") {
			out = append(out, e)
		}
	}
	return out
}

var rootMu sync.Mutex

// revoke revokes a vault token with the root token (as an admin, or an
// expiry, would).
func revoke(t *testing.T, token string) {
	t.Helper()
	rootMu.Lock()
	defer rootMu.Unlock()
	if _, err := st.Vault.Admin.Logical().Write("auth/token/revoke", map[string]any{"token": strings.TrimSpace(token)}); err != nil {
		t.Fatal(err)
	}
}
