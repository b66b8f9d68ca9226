package krbcredmontest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/integration/stack"
)

// TestProducerOutputBecomesUsableCache: what cred_producer_krb writes for
// a user, stored by the credd as <user>.cred, becomes <user>.cc (root,
// 0600) which MIT klist reads and with which, copied into a job's sandbox
// as the starter does, MIT kvno gets a service ticket from the KDC.
func TestProducerOutputBecomesUsableCache(t *testing.T) {
	u := env.NewUser(t)
	u.Kinit(stack.Alice.Name)
	r := u.Exec("cred_producer_krb", "")
	if r.Code != 0 || r.Stdout == "" {
		t.Fatalf("cred_producer_krb:\n%v", r)
	}
	s := newSite(t, nil)
	w := watch(t, s.dir)
	s.store("alice", []byte(r.Stdout))
	s.waitCC(w, "alice", 20*time.Second)

	cc := s.path("alice.cc")
	checkOwnership(t, cc)
	k := klist(t, cc)
	if k.principal != stack.Alice.Name+"@"+stack.Realm {
		t.Errorf("klist: principal %q", k.principal)
	}
	b, _ := os.ReadFile(cc)
	if !bytes.Equal(b, []byte(r.Stdout)) {
		t.Error("the .cc of a fresh ticket is not the stored .cred (nothing was due for renewal)")
	}
	if n := len(s.logLines("KRB: Successfully refreshed token user=alice")); n != 1 {
		t.Errorf("%d success lines for alice, want 1", n)
	}

	// The starter's copy into the sandbox, owned by the job's user.
	sandbox := filepath.Join(u.Dir, "alice.cc")
	if err := os.WriteFile(sandbox, b, 0o600); err != nil {
		t.Fatal(err)
	}
	u.Chown(sandbox)
	u.Environ = append(u.Environ, "KRB5CCNAME=FILE:"+sandbox)
	if r := u.Exec("/usr/bin/kvno", "", stack.ServicePrincipal); r.Code != 0 {
		t.Fatalf("kvno with the credmon's cache:\n%v", r)
	}
}

// TestRenewsNearExpiry: a renewable TGT with less left than
// CREDMON_KRB_RENEW_BEFORE is renewed through the KDC; klist shows the new
// end time in both the .cc and the rewritten .cred, the renew-until time
// unchanged.
func TestRenewsNearExpiry(t *testing.T) {
	b := ticket(t, stack.Bob.Name, time.Minute, time.Hour)
	orig := filepath.Join(t.TempDir(), "orig")
	os.WriteFile(orig, b, 0o600)
	before := klist(t, orig)
	if !before.renewable {
		t.Fatal("the KDC gave a ticket that is not renewable")
	}
	// The renewed ticket's end time (whole seconds) must be later than
	// the original's: the renewal must come a second after the kinit.
	s := newSite(t, map[string]string{"CREDMON_KRB_RENEW_BEFORE": "3600"})
	w := watch(t, s.dir)
	// Usually true already; a clock precondition, not a wait for the credmon.
	if d := time.Until(before.start.Add(1500 * time.Millisecond)); d > 0 {
		time.Sleep(d)
	}
	s.store("carol", b)
	s.waitCC(w, "carol", 20*time.Second)

	for _, f := range []string{"carol.cc", "carol.cred"} {
		checkOwnership(t, s.path(f))
		k := klist(t, s.path(f))
		if !k.end.After(before.end) {
			t.Errorf("%s: end time %v, not after the original %v", f, k.end, before.end)
		}
		if !k.renew.Equal(before.renew) || !k.renewable {
			t.Errorf("%s: renew until %v (renewable %v), want %v", f, k.renew, k.renewable, before.renew)
		}
	}
	if len(s.logLines("KRB: Renewed the ticket-granting ticket user=carol")) == 0 {
		t.Error("no renewal logged")
	}
	// The renewed ticket works: a copy of the .cc gets a service ticket.
	b, _ = os.ReadFile(s.path("carol.cc"))
	sandbox := filepath.Join(t.TempDir(), "carol.cc")
	os.WriteFile(sandbox, b, 0o600)
	cmd := exec.CommandContext(t.Context(), "/usr/bin/kvno", stack.ServicePrincipal)
	cmd.Env = []string{"KRB5CCNAME=FILE:" + sandbox, "KRB5_CONFIG=" + env.Krb5Conf}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kvno with the renewed cache: %v\n%s", err, out)
	}
}

// TestMarkRemovesBothFiles: <user>.mark makes the credmon remove the
// user's .cred, .cc and .mark; another user's files stay.
func TestMarkRemovesBothFiles(t *testing.T) {
	b := ticket(t, stack.Alice.Name, 0, 24*time.Hour)
	s := newSite(t, nil)
	w := watch(t, s.dir)
	s.store("dave", b)
	s.store("erin", b)
	s.waitCC(w, "dave", 20*time.Second)
	s.waitCC(w, "erin", 20*time.Second)
	// As the schedd marks an absent owner.
	if err := os.WriteFile(s.path("dave.mark"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w.WaitFor(t, 10*time.Second, "dave's files to be removed", func() bool {
		return !exists(s.path("dave.cred")) && !exists(s.path("dave.cc")) && !exists(s.path("dave.mark"))
	}, s.proc)
	for _, f := range []string{"erin.cred", "erin.cc"} {
		if !exists(s.path(f)) {
			t.Errorf("%s removed too", f)
		}
	}
	if len(s.logLines("Deleting token user=dave")) != 1 {
		t.Error("the removal is not logged once")
	}
}

// TestSIGHUPPicksUpAtOnce: a .cred stored with SIGHUP gets its .cc at
// once; and a change inotify does not report (a chmod that makes a
// refused .cred acceptable) is picked up by the pass SIGHUP triggers,
// long before the 60 s timer.
func TestSIGHUPPicksUpAtOnce(t *testing.T) {
	b := ticket(t, stack.Alice.Name, 0, 24*time.Hour)
	s := newSite(t, nil)
	w := watch(t, s.dir, filepath.Dir(s.log))
	s.store("frank", b)
	s.waitCC(w, "frank", 5*time.Second)

	// Group-readable: refused with one line, no .cc.
	if err := os.WriteFile(s.path("gina.credtmp"), b, 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(s.path("gina.credtmp"), 0o640)
	if err := os.Rename(s.path("gina.credtmp"), s.path("gina.cred")); err != nil {
		t.Fatal(err)
	}
	w.WaitFor(t, 10*time.Second, "gina's .cred to be refused", func() bool {
		return len(s.logLines("gina.cred is accessible by group or others")) > 0
	}, s.proc)
	if exists(s.path("gina.cc")) {
		t.Fatal("a .cc was written from a group-readable .cred")
	}
	if err := os.Chmod(s.path("gina.cred"), 0o600); err != nil {
		t.Fatal(err)
	}
	hups := len(s.logLines("Got SIGHUP"))
	start := time.Now()
	s.hupFromPidFile()
	s.waitCC(w, "gina", 10*time.Second)
	if len(s.logLines("Got SIGHUP")) != hups+1 {
		t.Error("the SIGHUP is not logged")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the .cc came after %v: not the SIGHUP's pass", d)
	}
	if n := len(s.logLines("gina.cred is accessible by group or others")); n != 1 {
		t.Errorf("%d lines about gina's mode, want 1", n)
	}
}

// TestBadCredsOneLineEach: a corrupt, truncated, foreign-owned or expired
// non-renewable .cred gives one log line each, through several passes,
// and no .cc; the good user next to them is served.
func TestBadCredsOneLineEach(t *testing.T) {
	good := ticket(t, stack.Alice.Name, 0, 24*time.Hour)
	// Not renewable, and expired by the time the site is up (seconds).
	expired := ticket(t, stack.Alice.Name, time.Second, 0)
	scratch := filepath.Join(t.TempDir(), "expired")
	os.WriteFile(scratch, expired, 0o600)
	if k := klist(t, scratch); k.renewable {
		t.Fatal("the KDC gave a renewable ticket without -r")
	}

	s := newSite(t, nil)
	w := watch(t, s.dir, filepath.Dir(s.log))
	bad := map[string][]byte{
		"corrupt": append([]byte{5, 4, 0, 0}, bytes.Repeat([]byte{0xee}, 300)...),
		"trunc":   good[:len(good)/2],
		"foreign": good,
		"expired": expired,
	}
	// The ticket must be past its end (a precondition on the clock, not a
	// wait for the credmon): usually it is, the site took longer than 1 s.
	if d := time.Until(klist(t, scratch).end.Add(time.Second)); d > 0 {
		time.Sleep(d)
	}
	for user, b := range bad {
		uid := 0
		if user == "foreign" {
			uid = env.UID // owned by a user from the start
		}
		s.storeAs(user, b, uid)
	}
	s.store("good", good)
	s.waitCC(w, "good", 20*time.Second)
	klist(t, s.path("good.cc"))

	// Two more passes (SIGHUP; each ends by touching CREDMON_COMPLETE).
	for range 2 {
		fi, _ := os.Stat(s.path("CREDMON_COMPLETE"))
		s.hupFromPidFile()
		w.WaitFor(t, 10*time.Second, "a pass", func() bool {
			n, err := os.Stat(s.path("CREDMON_COMPLETE"))
			return err == nil && n.ModTime().After(fi.ModTime())
		}, s.proc)
	}
	for user := range bad {
		lines := s.logLines("/" + user + ".cred")
		if len(lines) != 1 {
			t.Errorf("%s: %d log lines, want 1:\n%s", user, len(lines), strings.Join(lines, "\n"))
		}
		if exists(s.path(user + ".cc")) {
			t.Errorf("%s: a .cc was written", user)
		}
	}
	if n := len(s.logLines("expired at")); n != 1 {
		t.Errorf("the expired ticket is not named as such (%d lines)", n)
	}
}
