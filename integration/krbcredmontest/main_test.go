// Package krbcredmontest runs condor_credmon_krb, built from the main
// module, as the condor_master runs it (as root, no arguments, knobs
// through the stand-in condor_config_val), against the stack's real MIT
// KDC, and checks every cache it writes with MIT klist.
//
// The credd stand-in has no KRB_STORE_CRED; store below does what the
// credd does for it (write <user>.credtmp as root, mode 0600, rename it to
// <user>.cred, SIGHUP the pid in <dir>/pid).
package krbcredmontest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/integration/condor"
	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

var env *harness.Env

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, "krbcredmontest", &env, stack.Options{PollInterval: 1}, nil,
		"condor_credmon_krb", "cred_producer_krb"))
}

// site is an access point: the HTCondor stand-ins (for condor_config_val)
// with a Kerberos credential directory, and condor_credmon_krb on it.
type site struct {
	t      *testing.T
	condor *condor.Condor
	dir    string // SEC_CREDENTIAL_DIRECTORY_KRB
	log    string // SEC_CREDENTIAL_MONITOR_KRB_LOG
	proc   *stack.Proc
}

// newSite starts the stand-ins with knobs added and the credmon, and
// waits for its first CREDMON_COMPLETE.
func newSite(t *testing.T, knobs map[string]string) *site {
	t.Helper()
	base, err := os.MkdirTemp("", "krbcm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	s := &site{t: t, dir: filepath.Join(base, "krb_credentials"), log: filepath.Join(base, "CredMonKrbLog")}
	all := map[string]string{
		"SEC_CREDENTIAL_DIRECTORY_KRB":   s.dir,
		"SEC_CREDENTIAL_MONITOR_KRB_LOG": s.log,
	}
	for k, v := range knobs {
		all[k] = v
	}
	c, err := condor.Start(t.Context(), base, env.Stack.LogDir, all)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	s.condor = c
	// As the condor_master: root, 0755.
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(s.log)
			t.Logf("credmon log:\n%s", b)
		}
	})
	w := watch(t, s.dir)
	p, err := stack.StartProc(env.Stack.LogDir, "krbcredmon-"+filepath.Base(base),
		append(append([]string{}, c.Env...), "KRB5_CONFIG="+env.Krb5Conf), base,
		filepath.Join(env.Bin, "condor_credmon_krb"))
	if err != nil {
		t.Fatal(err)
	}
	s.proc = p
	t.Cleanup(func() { p.Stop(5 * time.Second) })
	w.WaitFor(t, 10*time.Second, "the first CREDMON_COMPLETE", func() bool { return exists(s.path("CREDMON_COMPLETE")) }, p)
	return s
}

func (s *site) path(name string) string { return filepath.Join(s.dir, name) }

// store does what the credd does with a Kerberos credential: <user>.credtmp
// written as root with mode 0600, renamed to <user>.cred; then, as no .cc
// exists, SIGHUP to the credmon's pid file.
func (s *site) store(user string, b []byte) { s.t.Helper(); s.storeAs(user, b, 0) }

// storeAs is store with the file owned by uid (and the test user's gid)
// before it is renamed into place.
func (s *site) storeAs(user string, b []byte, uid int) {
	s.t.Helper()
	tmp := s.path(user + ".credtmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		s.t.Fatal(err)
	}
	if uid != 0 {
		if err := os.Lchown(tmp, uid, env.GID); err != nil {
			s.t.Fatal(err)
		}
	}
	if err := os.Rename(tmp, s.path(user+".cred")); err != nil {
		s.t.Fatal(err)
	}
	if !exists(s.path(user + ".cc")) {
		s.hupFromPidFile()
	}
}

// hupFromPidFile signals the pid in <dir>/pid, as the credd does.
func (s *site) hupFromPidFile() {
	s.t.Helper()
	b, err := os.ReadFile(s.path("pid"))
	if err != nil {
		s.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid != s.proc.Pid() {
		s.t.Fatalf("pid file holds %q, the credmon is %d", b, s.proc.Pid())
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		s.t.Fatal(err)
	}
}

// logLines returns the credmon log's lines containing every substring.
func (s *site) logLines(substrs ...string) []string {
	f, err := os.Open(s.log)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
next:
	for sc.Scan() {
		for _, sub := range substrs {
			if !strings.Contains(sc.Text(), sub) {
				continue next
			}
		}
		out = append(out, sc.Text())
	}
	return out
}

// waitCC waits for <user>.cc.
func (s *site) waitCC(w *harness.Watcher, user string, timeout time.Duration) {
	s.t.Helper()
	w.WaitFor(s.t, timeout, user+".cc", func() bool { return exists(s.path(user + ".cc")) }, s.proc)
}

// ticket gets a TGT for principal with MIT kinit into a scratch FILE
// cache and returns the cache's bytes. renew 0 asks for a ticket that is
// not renewable.
func ticket(t *testing.T, principal string, lifetime, renew time.Duration) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cc")
	if err := env.Stack.KDC.KinitRenewable(t.Context(), principal, "FILE:"+p, lifetime, renew); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// klistTGT is what MIT klist shows of a cache's TGT.
type klistTGT struct {
	principal          string
	start, end, renew  time.Time
	renewable, present bool
}

// klist runs MIT klist -f on a FILE cache (as root, in the C locale and
// UTC so that its dates parse) and returns the TGT line.
func klist(t *testing.T, path string) klistTGT {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/klist", "-f", "-c", "FILE:"+path)
	cmd.Env = []string{"LC_ALL=C", "TZ=UTC", "KRB5_CONFIG=" + env.Krb5Conf}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("MIT klist cannot read %s: %v\n%s", path, err, out)
	}
	var k klistTGT
	lines := strings.Split(string(out), "\n")
	const layout = "01/02/06 15:04:05"
	for i, l := range lines {
		if p, ok := strings.CutPrefix(l, "Default principal: "); ok {
			k.principal = p
		}
		f := strings.Fields(l)
		if len(f) == 5 && strings.HasPrefix(f[4], "krbtgt/") {
			k.present = true
			k.start, _ = time.Parse(layout, f[0]+" "+f[1])
			k.end, _ = time.Parse(layout, f[2]+" "+f[3])
			// "\trenew until 12/10/26 11:30:00, Flags: FRIA" (one line or two).
			for _, m := range lines[i+1 : min(i+3, len(lines))] {
				if _, r, ok := strings.Cut(m, "renew until "); ok {
					r, _, _ = strings.Cut(r, ",")
					k.renew, _ = time.Parse(layout, strings.TrimSpace(r))
				}
				if _, fl, ok := strings.Cut(m, "Flags: "); ok {
					k.renewable = strings.Contains(fl, "R")
					break
				}
			}
			break
		}
	}
	if !k.present {
		t.Fatalf("klist shows no TGT in %s:\n%s", path, out)
	}
	return k
}

// checkOwnership: root, 0600, a regular file.
func checkOwnership(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 || st.Uid != 0 || st.Gid != 0 {
		t.Errorf("%s: mode %v uid %d gid %d, want a regular file, 0600, root:root", path, fi.Mode(), st.Uid, st.Gid)
	}
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// watch watches dirs for the tests' waits (harness.Watcher).
func watch(t *testing.T, dirs ...string) *harness.Watcher { return harness.Watch(t, dirs...) }
