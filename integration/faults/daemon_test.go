package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCredmonSIGKILLMidPassThenRestart kills the credmon (SIGKILL, as the
// OOM killer or a machine's crash would) a fifth into a pass and starts it
// again: nothing partial, no temporary file left once the new one's pass
// is over, every credential current.
func TestCredmonSIGKILLMidPassThenRestart(t *testing.T) {
	t.Parallel() // only needs Vault up: runs after the tests that stop or freeze parts of the stack
	p := startProxy(t, vaultTarget(), 10*time.Millisecond)
	s := newCredSite(t, siteOptions{users: passUsers, base: proxyBase(p)})
	s.start()
	s.waitLog("a fifth of the pass", 60*time.Second, s.successes, passUsers/5)
	before := s.successes()
	syscall.Kill(-s.proc.Pid(), syscall.SIGKILL)
	<-s.proc.Done()
	if before >= passUsers {
		t.Fatal("the pass was over before the kill")
	}
	t0 := time.Now()
	complete := filepath.Join(s.creddir, "CREDMON_COMPLETE")
	os.Remove(complete)
	s.start()
	rec := s.waitRecovered(t0, 2*time.Minute)
	if !waitUntil(30*time.Second, func() bool { _, err := os.Stat(complete); return err == nil }) {
		t.Error("no CREDMON_COMPLETE after the restart")
	}
	lost, partial := s.finish(1)
	record(t, row{Scenario: "credmon: SIGKILL mid-pass, then restart", Requests: s.refreshes(), Failures: s.failures(),
		Lost: lost, Partial: partial, Recovery: rec, Note: "restart to every credential current"})
}

// TestCredmonTopReplacedWhileRefreshing replaces a user's .top 100 times
// (atomically, as the credd stores one) while the credmon refreshes it
// through a slow Vault: the .use is whole at every observation and the
// last one is written after the last replacement.
func TestCredmonTopReplacedWhileRefreshing(t *testing.T) {
	t.Parallel() // only needs Vault up: runs after the tests that stop or freeze parts of the stack
	p := startProxy(t, vaultTarget(), 20*time.Millisecond)
	s := newCredSite(t, siteOptions{users: 5, base: proxyBase(p)})
	s.start()
	s.waitRecovered(time.Now(), time.Minute)
	u := s.users[0]
	top := filepath.Join(s.creddir, u, "default.top")
	var last time.Time
	for i := 0; i < 100; i++ {
		b := fmt.Sprintf("{\n  \"vault_token\": \"%s\",\n  \"vault_url\": \"%s/v1/%s\"\n}\n", fix.token, proxyBase(p), fix.paths[i%len(fix.paths)])
		if err := os.WriteFile(top+".tmp", []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(top+".tmp", top); err != nil {
			t.Fatal(err)
		}
		last = time.Now()
		time.Sleep(10 * time.Millisecond) // the replacement rate, not synchronisation
	}
	var rec time.Duration
	if !waitUntil(time.Minute, func() bool {
		fi, err := os.Stat(s.use(u))
		if err == nil && fi.ModTime().After(last) && s.current(u) {
			rec = time.Since(last)
			return true
		}
		return false
	}) {
		t.Fatal("no .use written after the last replacement")
	}
	lost, partial := s.finish(0)
	record(t, row{Scenario: "credmon: a .top replaced 100 times while refreshed", Requests: s.refreshes(), Failures: s.failures(),
		Lost: lost, Partial: partial, Recovery: rec, Note: "last replacement to its .use"})
}

// TestCredmonManyUsersSomeBad runs a first pass over bigUsers users of
// which 1 % have a bad file (not JSON, a FIFO, a symlink, too big, a
// directory): the good ones all become current, the bad ones get no
// .use, and the pass completes.
func TestCredmonManyUsersSomeBad(t *testing.T) {
	t.Parallel() // only needs Vault up: runs after the tests that stop or freeze parts of the stack
	s := newCredSite(t, siteOptions{users: bigUsers, concurrency: 32,
		base: "https://localhost" + vaultTarget()[strings.LastIndexByte(vaultTarget(), ':'):]})
	s.mon.stop() // reading 10,000 files every 50 ms would be the load
	kinds := []func(string) error{
		func(p string) error { return os.WriteFile(p, []byte("{not json"), 0o600) },
		func(p string) error { return syscall.Mkfifo(p, 0o600) },
		func(p string) error { return os.Symlink("/etc/shadow", p) },
		func(p string) error {
			return os.WriteFile(p, []byte(`{"vault_token":"`+strings.Repeat("x", 1<<20)+`"}`), 0o600)
		},
		func(p string) error { return os.Mkdir(p, 0o700) },
	}
	var good []string
	bad := 0
	for i, u := range s.users {
		if i%100 != 7 {
			good = append(good, u)
			continue
		}
		top := filepath.Join(s.creddir, u, "default.top")
		os.Remove(top)
		os.Remove(s.use(u))
		if err := kinds[bad%len(kinds)](top); err != nil {
			t.Fatal(err)
		}
		bad++
	}
	badUsers := s.users
	s.users = good
	t0 := time.Now()
	s.start()
	complete := filepath.Join(s.creddir, "CREDMON_COMPLETE")
	if !waitUntil(5*time.Minute, func() bool { _, err := os.Stat(complete); return err == nil || s.proc.Exited() }) || s.proc.Exited() {
		t.Fatal("the first pass did not complete")
	}
	pass := time.Since(t0)
	rec := s.waitRecovered(t0, time.Minute)
	for i, u := range badUsers {
		if i%100 == 7 {
			if _, err := os.Lstat(s.use(u)); err == nil {
				t.Errorf("%s got a .use from a bad .top", u)
			}
		}
	}
	// The monitor is off here: check every good .use once.
	partial := 0
	for _, u := range good {
		b, err := os.ReadFile(s.use(u))
		if _, ok := wholeToken(b); err != nil || !ok {
			partial++
		}
	}
	lost, p2 := s.finish(0)
	record(t, row{Scenario: fmt.Sprintf("credmon: %d users, %d bad files, first pass", bigUsers, bad), Requests: s.refreshes(), Failures: s.failures(),
		Lost: lost, Partial: partial + p2, Recovery: rec, Note: fmt.Sprintf("the whole pass (CREDMON_COMPLETE after %.1f s)", pass.Seconds())})
}

// bigUsers is the 10,000 users.
const bigUsers = 10000
