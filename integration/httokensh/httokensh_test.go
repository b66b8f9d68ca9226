// Package httokensh runs httokensh, built from the main module, against the
// real stack: a session that outlives its first bearer token, exit status
// pass-through, SIGTERM, and the usage errors.
package httokensh

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

var env *harness.Env

// accessTokenTTL is the IdP's token lifetime here: long enough that the
// renewal wait stays above httokensh's 60 s minimum with --minsecs=5, short
// enough that a session outlives a token within the test.
const accessTokenTTL = 70 * time.Second

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, "httokensh", &env, stack.Options{PollInterval: 1, AccessTokenTTL: accessTokenTTL}, nil,
		"gettoken", "httokensh", "htdecodetoken"))
}

// loggedIn returns a user with a vault token from an OIDC login as alice.
func loggedIn(t *testing.T) *harness.User {
	u := env.NewUser(t)
	if r := u.OIDC("alice", true, "gettoken", "--web-open-command="); r.Code != 0 {
		t.Fatalf("OIDC login failed:\n%v", r)
	}
	return u
}

func expiry(t *testing.T, tok string) time.Time {
	t.Helper()
	exp, ok := harness.JWTClaims(t, tok)["exp"].(float64)
	if !ok {
		t.Fatal("token without exp")
	}
	return time.Unix(int64(exp), 0)
}

func TestCommandOutlivingTheTokenSeesARenewedOne(t *testing.T) {
	u := loggedIn(t)
	// The command keeps the first token, waits until it has expired, then
	// keeps what $BEARER_TOKEN_FILE holds at that moment.
	script := `set -e
cp "$BEARER_TOKEN_FILE" first
exp=$(` + filepath.Join(env.Bin, "htdecodetoken") + ` -s "$BEARER_TOKEN_FILE" | sed -n 's/^ *"exp": \([0-9]*\).*/\1/p')
test -n "$exp"
while [ "$(date +%s)" -le "$exp" ]; do sleep 1; done
cp "$BEARER_TOKEN_FILE" after
date +%s > after.time
echo "$BEARER_TOKEN_FILE" > btf
exit 7`
	r := u.Exec("httokensh", "", "--minsecs=5", "--", "/bin/sh", "-c", script)
	if r.Code != 7 {
		t.Fatalf("want the command's exit status 7:\n%v", r)
	}
	if !strings.Contains(r.Stderr, "Renewal log is at $BEARER_TOKEN_FILE.log") {
		t.Errorf("no renewal log message:\n%v", r)
	}
	first := u.Read(filepath.Join(u.Dir, "first"))
	after := u.Read(filepath.Join(u.Dir, "after"))
	if first == after {
		t.Fatal("the token was not renewed")
	}
	readAt, err := strconv.ParseInt(strings.TrimSpace(u.Read(filepath.Join(u.Dir, "after.time"))), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if e1, e2 := expiry(t, first), expiry(t, after); !e2.After(time.Unix(readAt, 0)) || !e2.After(e1) {
		t.Errorf("token read at %d after the first expired (%v) expires %v", readAt, e1, e2)
	}
	if c := harness.JWTClaims(t, after)["sub"]; c != "alice" {
		t.Errorf("renewed token for %v", c)
	}
	btf := strings.TrimSpace(u.Read(filepath.Join(u.Dir, "btf")))
	want := fmt.Sprintf("%s/bt_u%d.sh-", u.Run, env.UID)
	if !strings.HasPrefix(btf, want) {
		t.Errorf("BEARER_TOKEN_FILE=%s, want %s<pid>", btf, want)
	}
	for _, p := range []string{btf, btf + ".log"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
}

func TestExitStatusPassesThrough(t *testing.T) {
	u := loggedIn(t)
	for _, c := range []struct {
		script string
		want   int
	}{
		{`test -s "$BEARER_TOKEN_FILE"`, 0},
		{`exit 42`, 42},
		{`kill -KILL $$`, 128 + 9},
	} {
		r := u.Exec("httokensh", "", "--nooidc", "--", "/bin/sh", "-c", c.script)
		if r.Code != c.want {
			t.Errorf("%s: want exit %d:\n%v", c.script, c.want, r)
		}
	}
	// HTGETTOKENOPTS alone is not enough: at least one option on the
	// command line (as in the original).
	r := u.Exec("httokensh", "", "--", "true")
	if r.Code != 1 || !strings.Contains(r.Stderr, "No htgettoken options given") {
		t.Errorf("no options:\n%v", r)
	}
}

// TestSignalsStopBoth: SIGTERM to httokensh is passed on to the command;
// Ctrl-C on a terminal (SIGINT to the whole process group) reaches the
// command, which must not have inherited an ignored SIGINT. Either way both
// end and the token file is gone.
func TestSignalsStopBoth(t *testing.T) {
	for _, c := range []struct {
		name string
		send func(pid int) error
		sig  syscall.Signal
	}{
		{"SIGTERM to httokensh", func(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }, syscall.SIGTERM},
		{"Ctrl-C to the process group", func(pid int) error { return syscall.Kill(-pid, syscall.SIGINT) }, syscall.SIGINT},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := loggedIn(t)
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			pidFile := filepath.Join(u.Dir, "child.pid")
			cmd := u.Command(ctx, "httokensh", "-v", "--", "/bin/sh", "-c", `echo "$BEARER_TOKEN_FILE" > btf; echo $$ > child.pid.tmp; mv child.pid.tmp child.pid; exec sleep 600`)
			if cmd.SysProcAttr == nil {
				cmd.SysProcAttr = &syscall.SysProcAttr{}
			}
			cmd.SysProcAttr.Setpgid = true // a process group of its own, like a terminal job
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var child int
			for child == 0 {
				if b, err := os.ReadFile(pidFile); err == nil {
					child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
					break
				}
				select {
				case <-ctx.Done():
					t.Fatal("the command never started")
				case <-time.After(50 * time.Millisecond):
				}
			}
			if err := c.send(cmd.Process.Pid); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != 128+int(c.sig) {
				t.Errorf("httokensh exit %d (%v), want %d", code, err, 128+int(c.sig))
			}
			if stack.PidAlive(child) {
				t.Errorf("the command (pid %d) still runs", child)
			}
			btf := strings.TrimSpace(u.Read(filepath.Join(u.Dir, "btf")))
			if _, err := os.Lstat(btf); err == nil {
				t.Errorf("%s left behind", btf)
			}
		})
	}
}

func TestNoTokenNoCommand(t *testing.T) {
	u := env.NewUser(t) // no login: no vault token, and no terminal for OIDC
	r := u.Exec("httokensh", "", "--nokerberos", "--nossh", "--", "/bin/sh", "-c", "touch ran")
	if r.Code != 1 || !strings.Contains(r.Stderr, "htgettoken failed, not running command") {
		t.Errorf("want exit 1 and the failure line:\n%v", r)
	}
	if _, err := os.Stat(filepath.Join(u.Dir, "ran")); err == nil {
		t.Error("the command ran")
	}
	r = u.Exec("httokensh", "", "-v")
	if r.Code != 1 || !strings.Contains(r.Stderr, "No -- separator given") {
		t.Errorf("missing --:\n%v", r)
	}
}
