package faults

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

// freeze stops a stack process with SIGSTOP: it keeps its sockets and its
// state (the IdP's grants live in memory) but answers nothing, the way a
// hung or unreachable server looks to a client. The returned thaw (also
// run at cleanup) lets it go on.
func freeze(t *testing.T, p *stack.Proc) (thaw func()) {
	t.Helper()
	if err := syscall.Kill(-p.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	done := false
	thaw = func() {
		if !done {
			done = true
			syscall.Kill(-p.Pid(), syscall.SIGCONT)
		}
	}
	t.Cleanup(thaw)
	return thaw
}

// ttyRun runs a user's command on a terminal without answering anything
// (a login that cannot start shows no URL).
func ttyRun(t *testing.T, u *harness.User, name string, args ...string) harness.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := ptmx.Read(buf); err != nil {
				return
			}
		}
	}()
	cmd := u.Command(ctx, name, args...)
	var o, e bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &o, &e
	err = cmd.Run()
	r := harness.Result{Stdout: o.String(), Stderr: e.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestGettokenIdPDownDuringOIDC: a first login on a terminal while the
// IdP answers nothing fails with one clear line within gettoken's own
// timeout; the next login, once the IdP is back, succeeds.
func TestGettokenIdPDownDuringOIDC(t *testing.T) {
	u := env.NewUser(t)
	thaw := freeze(t, env.Stack.IdP.Proc)
	t0 := time.Now()
	r := ttyRun(t, u, "gettoken", "--web-open-command=")
	took := time.Since(t0)
	if r.Code == 0 {
		t.Fatalf("a login succeeded with the IdP down:\n%v", r)
	}
	oneClearLine(t, r)
	if _, err := os.Stat(u.VT); err == nil {
		t.Error("a vault token file was written by a failed login")
	}
	thaw()
	t1 := time.Now()
	r2 := u.OIDC(stack.Alice.Name, true, "gettoken", "--web-open-command=")
	rec := time.Since(t1)
	if r2.Code != 0 {
		t.Fatalf("the login after the IdP came back failed:\n%v", r2)
	}
	checkOutputs(t, []harness.Result{r, r2}, []string{readText(u.VT)})
	record(t, row{Scenario: fmt.Sprintf("gettoken: IdP not answering during OIDC (failed after %.1f s)", took.Seconds()),
		Requests: 2, Failures: 1, Recovery: rec, Note: "the next login"})
}

// TestCredmonIdPDownDuringOAuthRefresh: the credmon's refreshes make
// Vault refresh at the IdP (the access tokens it holds are too short for
// the minimum asked), and the IdP answers nothing for a while.
func TestCredmonIdPDownDuringOAuthRefresh(t *testing.T) {
	const users = 20
	s := newCredSite(t, siteOptions{users: users, base: "https://localhost" + vaultTarget()[len("127.0.0.1"):],
		// An hour-long token never has 3,590 s left: Vault refreshes it
		// at the IdP on every read.
		env: []string{"_CONDOR_CREDMON_OAUTH_TOKEN_MINIMUM=3590"},
		// All at once: each refresh waits out the IdP timeout (30 s).
		concurrency: users})
	thaw := freeze(t, env.Stack.IdP.Proc)
	s.start()
	s.waitLog("refreshes failing with the IdP down", 2*time.Minute, s.failures, users)
	thaw()
	t0 := time.Now()
	rec := s.waitRecovered(t0, 2*time.Minute)
	lost, partial := s.finish(0)
	record(t, row{Scenario: "credmon: IdP not answering during OAuth refresh", Requests: s.refreshes(), Failures: s.failures(),
		Lost: lost, Partial: partial, Recovery: rec, Note: "back-off (30 s + jitter) after the IdP is back"})
}

// TestGettokenKDCDownDuringKerberos: with a Kerberos ticket but no vault
// token, gettoken asks the KDC for a service ticket; the KDC answers
// nothing: one clear line, and the next run, with the KDC back, succeeds.
func TestGettokenKDCDownDuringKerberos(t *testing.T) {
	u := env.NewUser(t)
	if r := u.OIDC(stack.Alice.Name, true, "gettoken", "--web-open-command="); r.Code != 0 {
		t.Fatalf("login:\n%v", r)
	}
	old := readText(u.VT)
	os.Remove(u.VT)
	bt := filepath.Join(u.Run, fmt.Sprintf("bt_u%d", env.UID))
	os.Remove(bt)
	u.Kinit(stack.Alice.Name)
	thaw := freeze(t, env.Stack.KDC.Proc)
	t0 := time.Now()
	r := u.Exec("gettoken", "")
	took := time.Since(t0)
	if r.Code == 0 {
		t.Fatalf("gettoken succeeded with the KDC down:\n%v", r)
	}
	oneClearLine(t, r)
	thaw()
	t1 := time.Now()
	r2 := u.Exec("gettoken", "")
	rec := time.Since(t1)
	if r2.Code != 0 {
		t.Fatalf("the run after the KDC came back failed:\n%v", r2)
	}
	checkOutputs(t, []harness.Result{r, r2}, []string{old, readText(u.VT), readText(bt)})
	record(t, row{Scenario: fmt.Sprintf("gettoken: KDC not answering during Kerberos (failed after %.1f s)", took.Seconds()),
		Requests: 2, Failures: 1, Recovery: rec, Note: "the next run"})
}
