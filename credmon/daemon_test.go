package credmon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

const topVault = `{"vault_token":"hvs.SECRET","vault_url":"https://vault.test:8200/v1/secret/oauth/creds/dune/k:default"}`

func TestFirstPassWritesUse(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	h.prov[ClassVault] = vp
	h.writeTop("alice", "dune", topVault)
	h.start()

	calls := vp.drain()
	if len(calls) != 1 || calls[0].Cred != (Cred{Root: h.root, User: "alice", Name: "dune"}) || calls[0].Top != topVault {
		t.Fatalf("calls = %+v", calls)
	}
	if got := h.read("alice/dune.use"); got != "AT-alice-dune\n" {
		t.Errorf(".use = %q", got)
	}
	fi, err := os.Stat(h.path("alice/dune.use"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o400 || st.Uid != uint32(os.Geteuid()) {
		t.Errorf(".use mode %v uid %d", fi.Mode(), st.Uid)
	}
	if os.Geteuid() == 0 && st.Gid != 0 {
		t.Errorf(".use gid %d, want 0", st.Gid)
	}
	if !h.exists(completeFile) {
		t.Error("CREDMON_COMPLETE not touched after the pass")
	}
	// No temporary file anywhere.
	for _, dir := range []string{h.root, h.path("alice")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), "tmp") {
				t.Errorf("stray file %s/%s", dir, e.Name())
			}
		}
	}
	if strings.Contains(h.log.String(), "hvs.SECRET") || strings.Contains(h.log.String(), "AT-alice") {
		t.Errorf("a token reached the log:\n%s", h.log.String())
	}
	if h.log.count("VAULT: Successfully refreshed token user=alice token=dune") != 1 {
		t.Errorf("log:\n%s", h.log.String())
	}
}

func TestNothingDueNoCalls(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	h.prov[ClassVault] = vp
	h.writeTop("alice", "dune", topVault)
	h.writeTop("bob", "dune", topVault)
	h.start()
	if n := len(vp.drain()); n != 2 {
		t.Fatalf("first pass: %d calls, want 2", n)
	}
	h.clock.Advance(5 * time.Minute)
	s := h.rescan()
	if calls := vp.drain(); len(calls) != 0 {
		t.Fatalf("idle pass made calls: %v", callNames(calls))
	}
	if s.Credentials != 2 || s.Queued != 2 || s.Refreshed != 0 {
		t.Errorf("stats %+v", s)
	}
	// Due (NextRefresh = written + 20 min): refreshed.
	h.clock.Advance(16 * time.Minute)
	h.rescan()
	if calls := vp.drain(); len(calls) != 2 {
		t.Fatalf("due pass: %v", callNames(calls))
	}
}

func TestRestoredTopIsRefreshed(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	h.prov[ClassVault] = vp
	h.writeTop("alice", "dune", topVault)
	h.start()
	vp.drain()
	newTop := strings.Replace(topVault, "SECRET", "OTHER", 1)
	h.writeTop("alice", "dune", newTop)
	h.rescan()
	calls := vp.drain()
	if len(calls) != 1 || calls[0].Top != newTop {
		t.Fatalf("calls after re-store: %+v", calls)
	}
	// Re-stored with the same bytes (the credd always writes a new file):
	// refreshed too, as the original does (.top newer than .use).
	h.writeTop("alice", "dune", newTop)
	h.rescan()
	if n := len(vp.drain()); n != 1 {
		t.Fatalf("identical re-store: %d calls", n)
	}
	// A removed .use is written again.
	if err := os.Remove(h.path("alice/dune.use")); err != nil {
		t.Fatal(err)
	}
	h.rescan()
	if n := len(vp.drain()); n != 1 || !h.exists("alice/dune.use") {
		t.Fatalf("removed .use: %d calls", n)
	}
}

func TestStartupSeedsFromExistingUse(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	var seeded []string
	vp.setNext(func(c Cred, use []byte, written time.Time) time.Time {
		seeded = append(seeded, c.Name+"="+string(use))
		return written.Add(20 * time.Minute)
	})
	h.prov[ClassVault] = vp
	// fresh.use written after its .top; stale.top re-stored after its
	// .use (ctimes in distinct clock ticks of the file system).
	h.writeTop("alice", "fresh", topVault)
	h.writeTop("alice", "stale", topVault)
	h.nextTick()
	if err := os.WriteFile(h.path("alice/fresh.use"), []byte("OLD\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.path("alice/stale.use"), []byte("OLD\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	h.nextTick()
	h.writeTop("alice", "stale", topVault)
	// The clock is the .use ctime, so fresh is due in 20 minutes.
	h.clock.t = time.Now()
	h.start()
	calls := vp.drain()
	if got := callNames(calls); !slices.Equal(got, []string{"alice/stale"}) {
		t.Fatalf("start-up calls %v, want only alice/stale", got)
	}
	if !slices.Contains(seeded, "fresh=OLD\n") {
		t.Errorf("NextRefresh not called with the existing .use: %q", seeded)
	}
	h.clock.Advance(21 * time.Minute)
	h.rescan()
	if got := callNames(vp.drain()); !slices.Contains(got, "alice/fresh") {
		t.Fatalf("fresh not refreshed when due: %v", got)
	}
}

func TestBackoffGrowsAndResets(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	vp.setAnswer(func(context.Context, Cred, []byte) (Refreshed, error) { return Refreshed{}, errBoom })
	h.prov[ClassVault] = vp
	h.writeTop("alice", "dune", topVault)
	h.start()
	expect := func(step string, want int) {
		t.Helper()
		if got := len(vp.drain()); got != want {
			t.Fatalf("%s: %d calls, want %d\nlog:\n%s", step, got, want, h.log.String())
		}
	}
	expect("first pass", 1)
	h.rescan()
	expect("immediately after a failure", 0)
	h.clock.Advance(30 * time.Second)
	h.rescan()
	expect("after 30 s", 1) // failure 2: next in 60 s
	h.clock.Advance(30 * time.Second)
	h.rescan()
	expect("30 s into a 60 s back-off", 0)
	h.clock.Advance(30 * time.Second)
	h.rescan()
	expect("after 60 s", 1) // failure 3: next in 120 s
	h.clock.Advance(119 * time.Second)
	h.rescan()
	expect("119 s into a 120 s back-off", 0)
	h.clock.Advance(time.Second)
	h.rescan()
	expect("after 120 s", 1)
	if h.exists("alice/dune.use") {
		t.Fatal("a .use appeared although every refresh failed")
	}
	if n := h.log.count(`VAULT: Failed to refresh token user=alice token=dune error="boom: vault said no" failures=`); n != 4 {
		t.Errorf("%d failure lines, want 4", n)
	}

	// Success resets the back-off.
	vp.setAnswer(nil)
	h.clock.Advance(240 * time.Second)
	h.rescan()
	expect("after 240 s", 1)
	if got := h.read("alice/dune.use"); got != "AT-alice-dune\n" {
		t.Fatalf(".use = %q", got)
	}
	vp.setAnswer(func(context.Context, Cred, []byte) (Refreshed, error) { return Refreshed{}, errBoom })
	h.clock.Advance(20 * time.Minute)
	h.rescan()
	expect("when due after the success", 1)
	if got := h.read("alice/dune.use"); got != "AT-alice-dune\n" {
		t.Fatalf("a failed refresh changed the .use: %q", got)
	}
	h.clock.Advance(30 * time.Second)
	h.rescan()
	expect("30 s after the first failure following a success", 1)
}

func TestBackoffSchedule(t *testing.T) {
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 30 * time.Minute, 30 * time.Minute}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := backoff(200); got != backoffMax {
		t.Errorf("backoff(200) = %v", got)
	}
	now := time.Unix(1000, 0)
	full := func(max time.Duration) time.Duration { return max - 1 }
	if got := time.Duration(dueAfterFailure(now, 1, full) - now.UnixNano()); got != 33*time.Second-1 {
		t.Errorf("jittered back-off %v", got)
	}
	// NextRefresh an hour away: jitter up to 6 min earlier.
	next := now.Add(time.Hour)
	if got := time.Unix(0, dueAfterWrite(now, next, full)); got != next.Add(-6*time.Minute+1) {
		t.Errorf("dueAfterWrite = %v", got.Sub(now))
	}
	// A provider asking for an immediate refresh still waits 60 s.
	if got := time.Unix(0, dueAfterWrite(now, now, full)); got != now.Add(minRewrite) {
		t.Errorf("dueAfterWrite(now) = %v", got.Sub(now))
	}
	// "Never" (beyond what a due time in nanoseconds holds) stays in the
	// future: it used to wrap to the past and refresh again at once.
	for _, j := range []Jitter{full, func(time.Duration) time.Duration { return 0 }} {
		if got := dueAfterWrite(now, oauthNever, j); got != math.MaxInt64 {
			t.Errorf("dueAfterWrite(never) = %v, want the latest due time", time.Unix(0, got))
		}
	}
}

func TestErrDeleteRemovesAndCascades(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	var revoked atomic.Bool
	vp.setAnswer(func(_ context.Context, c Cred, _ []byte) (Refreshed, error) {
		switch {
		case c.Name == "dune" && c.User == "alice" && revoked.Load():
			return Refreshed{}, fmt.Errorf("permission denied: %w", ErrDelete)
		case strings.Contains(c.Name, "_"):
			parent := c.Name[:strings.LastIndex(c.Name, "_")]
			if _, err := c.Dir.Stat(parent + ".top"); err != nil {
				return Refreshed{}, fmt.Errorf("parent .top not available: %w", ErrDelete)
			}
		}
		return Refreshed{Use: []byte("AT\n")}, nil
	})
	h.prov[ClassVault] = vp
	h.cfg.Concurrency = 1
	h.writeTop("alice", "dune", topVault)
	h.writeTop("alice", "dune_ro", `{"vault_url":"https://vault.test:8200/v1/x"}`)
	h.writeTop("alice", "dune_x", `{"vault_url":"https://vault.test:8200/v1/x"}`)   // parent dune
	h.writeTop("alice", "dune_x_y", `{"vault_url":"https://vault.test:8200/v1/x"}`) // parent dune_x
	h.writeTop("alice", "dune2", topVault)
	h.writeTop("alice", "dune2_ro", `{"vault_url":"https://vault.test:8200/v1/x"}`) // parent dune2
	h.writeTop("bob", "dune", topVault)
	h.writeTop("bob", "dune_ro", `{"vault_url":"https://vault.test:8200/v1/x"}`)
	h.start()
	if n := len(vp.drain()); n != 8 {
		t.Fatalf("first pass: %d calls", n)
	}
	// The vault token is revoked; the credd stores the .top again. The
	// deletion cascades, in the same pass, to the handles (parent = name
	// up to the last '_') and to their handles.
	revoked.Store(true)
	h.writeTop("alice", "dune", topVault)
	h.rescan()
	for _, gone := range []string{"dune", "dune_ro", "dune_x", "dune_x_y"} {
		for _, ext := range []string{".top", ".use"} {
			if h.exists("alice/" + gone + ext) {
				t.Errorf("alice/%s%s still exists after the pass", gone, ext)
			}
		}
	}
	for _, kept := range []string{"alice/dune2.use", "alice/dune2_ro.use", "bob/dune.use", "bob/dune_ro.use"} {
		if !h.exists(kept) {
			t.Errorf("%s missing", kept)
		}
	}
	got := callNames(vp.drain())
	slices.Sort(got)
	if !slices.Equal(got, []string{"alice/dune", "alice/dune_ro", "alice/dune_x", "alice/dune_x_y"}) {
		t.Errorf("calls in the deleting pass: %v", got)
	}
	if n := h.log.count(`VAULT: Deleting token user=alice token=dune reason="permission denied`); n != 1 {
		t.Errorf("deletion logged %d times\n%s", n, h.log.String())
	}
	if n := h.log.count(`VAULT: Deleting token user=alice token=dune_ro reason="parent .top not available`); n != 1 {
		t.Errorf("handle deletion logged %d times\n%s", n, h.log.String())
	}
	h.rescan()
	if calls := vp.drain(); len(calls) != 0 {
		t.Errorf("calls after the deletions: %v", callNames(calls))
	}
}

func TestErrInvalidParksUntilChange(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	vp.setAnswer(func(_ context.Context, _ Cred, top []byte) (Refreshed, error) {
		if strings.Contains(string(top), "http://") {
			return Refreshed{}, fmt.Errorf("vault_url does not begin with https://: %w", ErrInvalid)
		}
		return Refreshed{Use: []byte("AT\n")}, nil
	})
	h.prov[ClassVault] = vp
	h.writeTop("alice", "dune", `{"vault_token":"x","vault_url":"http://v/v1"}`)
	h.start()
	for range 3 {
		h.clock.Advance(time.Hour)
		h.rescan()
	}
	if n := len(vp.drain()); n != 1 {
		t.Fatalf("%d calls for an invalid credential, want 1", n)
	}
	if n := h.log.count(`until its .top changes user=alice token=dune error="vault_url does not begin`); n != 1 {
		t.Errorf("logged %d times\n%s", n, h.log.String())
	}
	h.writeTop("alice", "dune", topVault)
	h.rescan()
	if n := len(vp.drain()); n != 1 || h.read("alice/dune.use") != "AT\n" {
		t.Fatalf("fixed .top: %d calls", n)
	}
}

func TestBadFilesReportedOnce(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	h.prov[ClassVault] = vp
	h.writeTop("alice", "dune", topVault)
	h.writeTop("alice", "foreign", topVault)
	if err := os.Chown(h.path("alice/foreign.top"), 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("dune.top", h.path("alice/link.top")); err != nil {
		t.Fatal(err)
	}
	h.writeTop("alice", "bad name", topVault)
	h.writeTop("alice", "b@d", topVault)
	h.writeTop("alice", "huge", strings.Repeat("x", MaxFileSize+1))
	h.writeTop("alice", "empty", "")
	if err := os.Mkdir(h.path("alice/dir.top"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(h.path("alice"), h.path("evil")); err != nil {
		t.Fatal(err)
	}
	h.writeTop("bad user", "dune", topVault)
	h.writeTop("bob", "dune", topVault)
	if err := syscall.Mkfifo(h.path("bob/fifo.top"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	for range 3 {
		h.clock.Advance(time.Hour)
		h.rescan()
	}
	got := map[string]int{}
	for _, c := range vp.drain() {
		got[c.Cred.User+"/"+c.Cred.Name]++
	}
	// Good ones: first pass and each hourly pass.
	if got["alice/dune"] != 4 || got["bob/dune"] != 4 || len(got) != 2 {
		t.Fatalf("calls %v", got)
	}
	for _, w := range []string{
		`alice/foreign.top reason="is owned by uid 4242`,
		`alice/link.top reason="is a symbolic link"`,
		`alice/bad name.top" reason="its name`,
		`alice/b@d.top reason="its name`,
		`alice/huge.top reason="is larger than`,
		`alice/empty.top reason="is empty"`,
		`alice/dir.top reason="is a directory"`,
		`Ignoring a symbolic link in place of a user directory path=` + h.path("evil"),
		`Ignoring user directory: its name has characters other than letters, digits and - + = _ . dir="` + h.path("bad user"),
		`bob/fifo.top reason="is not a regular file"`,
	} {
		if n := h.log.count(w); n != 1 {
			t.Errorf("%q logged %d times, want once", w, n)
		}
	}
	// A change of a bad file is reported again, once.
	f, err := os.OpenFile(h.path("alice/huge.top"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("more")
	f.Close()
	h.rescan()
	h.rescan()
	if n := h.log.count("alice/huge.top reason=\"is larger than"); n != 2 {
		t.Errorf("changed huge file reported %d times in all, want 2", n)
	}
	// Fixing a bad file makes it served.
	if err := os.Chown(h.path("alice/foreign.top"), 0, 0); err != nil {
		t.Fatal(err)
	}
	h.rescan()
	if calls := callNames(vp.drain()); !slices.Equal(calls, []string{"alice/foreign"}) {
		t.Errorf("after the chown: %v", calls)
	}
}

func TestRotatedTopIsWritten(t *testing.T) {
	h := newDaemonHarness(t)
	op := newScriptedProvider("OAUTH")
	op.setAnswer(func(context.Context, Cred, []byte) (Refreshed, error) {
		return Refreshed{Use: []byte(`{"access_token":"a"}`), Top: []byte(`{"refresh_token":"rotated"}`)}, nil
	})
	h.prov[ClassOAuth] = op
	h.src.vals["BOX_CLIENT_ID"] = "client"
	h.writeTop("alice", "box", `{"refresh_token":"r0"}`)
	h.start()
	if got := h.read("alice/box.top"); got != `{"refresh_token":"rotated"}` {
		t.Fatalf(".top = %q", got)
	}
	fi, _ := os.Stat(h.path("alice/box.top"))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf(".top mode %v", fi.Mode())
	}
	if got := h.read("alice/box.use"); got != `{"access_token":"a"}` {
		t.Errorf(".use = %q", got)
	}
	op.drain()
	h.rescan()
	if n := len(op.drain()); n != 0 {
		t.Errorf("the daemon's own .top write was taken for a re-store: %d calls", n)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	release := make(chan struct{})
	vp.setAnswer(func(ctx context.Context, c Cred, _ []byte) (Refreshed, error) {
		<-release
		return Refreshed{Use: []byte("AT\n")}, nil
	})
	h.prov[ClassVault] = vp
	h.cfg.Concurrency = 3
	for i := range 10 {
		h.writeTop(fmt.Sprintf("u%d", i), "dune", topVault)
	}
	go func() {
		// Three calls start; then release everything.
		for range 3 {
			<-vp.callCh
		}
		close(release)
	}()
	h.start()
	if m := vp.maxRun.Load(); m != 3 {
		t.Errorf("at most %d refreshes ran at once, want exactly 3", m)
	}
	for i := range 10 {
		if !h.exists(fmt.Sprintf("u%d/dune.use", i)) {
			t.Errorf("u%d/dune.use missing", i)
		}
	}
}

func TestRefreshTimeout(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	vp.setAnswer(func(ctx context.Context, _ Cred, _ []byte) (Refreshed, error) {
		<-ctx.Done()
		return Refreshed{}, ctx.Err()
	})
	h.prov[ClassVault] = vp
	h.cfg.RefreshTimeout = 50 * time.Millisecond
	h.writeTop("alice", "dune", topVault)
	h.start()
	if n := h.log.count(`Failed to refresh token user=alice token=dune error="context deadline exceeded"`); n != 1 {
		t.Errorf("timeout not logged as a failure:\n%s", h.log.String())
	}
	if h.exists("alice/dune.use") {
		t.Error(".use written after a timeout")
	}
}

func TestProviderPanicIsAFailure(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	vp.setAnswer(func(context.Context, Cred, []byte) (Refreshed, error) { panic("oops") })
	h.prov[ClassVault] = vp
	h.writeTop("alice", "dune", topVault)
	h.writeTop("bob", "dune", topVault)
	h.start()
	if n := h.log.count("the VAULT provider panicked"); n != 2 {
		t.Errorf("panics logged %d times\n%s", n, h.log.String())
	}
}

func TestClassesAndUnservedOnce(t *testing.T) {
	h := newDaemonHarness(t, "BOX_CLIENT_ID", "boxid", "LOCAL_CREDMON_PROVIDER_NAMES", "scitokens")
	vp := newScriptedProvider("VAULT")
	op := newScriptedProvider("OAUTH")
	h.prov[ClassVault] = vp
	h.prov[ClassOAuth] = op
	h.writeTop("alice", "dune", topVault)
	h.writeTop("alice", "dune_production_h1", topVault)
	h.writeTop("alice", "box", `{"refresh_token":"r"}`)
	h.writeTop("alice", "scitokens", "alice")
	h.writeTop("alice", "trailing_", topVault)
	h.start()
	if got := callNames(vp.drain()); len(got) != 2 || !slices.Contains(got, "alice/dune") || !slices.Contains(got, "alice/dune_production_h1") {
		t.Errorf("vault calls %v", got)
	}
	if got := callNames(op.drain()); !slices.Equal(got, []string{"alice/box"}) {
		t.Errorf("oauth calls %v", got)
	}
	for range 2 {
		h.rescan()
	}
	if n := h.log.count(`Ignoring token user=alice token=scitokens reason="it is a LOCAL credential and this daemon has no LOCAL provider"`); n != 1 {
		t.Errorf("unserved local warning %d times\n%s", n, h.log.String())
	}
	if n := h.log.count(`Ignoring token user=alice token=trailing_ reason="the name ends in '_'`); n != 1 {
		t.Errorf("trailing _ warning %d times", n)
	}
	// The <PROVIDER>_CLIENT_ID knobs: one batch (first pass), then cached.
	var batches [][]string
	for _, b := range h.src.batches() {
		if strings.HasSuffix(b[0], "_CLIENT_ID") {
			batches = append(batches, b)
		}
	}
	if len(batches) != 1 || len(batches[0]) != 3 {
		t.Errorf("CLIENT_ID batches %v", batches)
	}
	// Re-stored: warned again, once.
	h.writeTop("alice", "scitokens", "alice")
	h.rescan()
	h.rescan()
	if n := h.log.count("Ignoring token user=alice token=scitokens"); n != 2 {
		t.Errorf("re-stored unserved .top warned %d times in all, want 2", n)
	}
}

func TestClientIDLookupFailureRetries(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	h.prov[ClassVault] = vp
	if err := h.knobs.Load(context.Background(), ClassifierKnobs...); err != nil {
		t.Fatal(err)
	}
	h.src.err = errors.New("condor_config_val exploded")
	h.writeTop("alice", "dune", topVault)
	h.start()
	if n := len(vp.drain()); n != 0 {
		t.Fatalf("classified without its knobs: %d calls", n)
	}
	if h.log.count(`Cannot classify new credentials count=1 error="reading the HTCondor configuration: condor_config_val exploded"`) != 1 {
		t.Errorf("log:\n%s", h.log.String())
	}
	h.src.mu.Lock()
	h.src.err = nil
	h.src.mu.Unlock()
	h.rescan()
	if n := len(vp.drain()); n != 1 {
		t.Fatalf("after the configuration came back: %d calls", n)
	}
}

func TestStopFinishesRefreshesInProgress(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	release := make(chan struct{})
	vp.setAnswer(func(context.Context, Cred, []byte) (Refreshed, error) {
		<-release
		return Refreshed{Use: []byte("AT\n")}, nil
	})
	h.prov[ClassVault] = vp
	h.cfg.Concurrency = 1
	h.writeTop("alice", "dune", topVault)
	h.writeTop("bob", "dune", topVault)
	// Start without waiting for the first pass.
	h.passes = make(chan PassStats, 10)
	if err := h.knobs.Load(context.Background(), ClassifierKnobs...); err != nil {
		t.Fatal(err)
	}
	cls, _ := NewClassifier(h.knobs)
	cfg := h.cfg
	cfg.Providers, cfg.Classifier, cfg.Knobs = h.prov, cls, h.knobs
	cfg.Log = slogFor(h.log)
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	first := <-vp.callCh // one refresh in progress
	cancel()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !h.exists(first.Cred.User + "/dune.use") {
		t.Error("the refresh in progress was not written")
	}
	if n := len(vp.drain()); n != 0 {
		t.Errorf("%d refreshes started after the stop", n)
	}
	if h.exists(completeFile) {
		t.Error("CREDMON_COMPLETE touched although the pass did not complete")
	}
}

// fakeKnobSource is a fake configuration: a map of knob values, recording
// every batch asked.
type fakeKnobSource struct {
	mu    sync.Mutex
	vals  map[string]string
	calls [][]string
	err   error
}

func newFakeKnobSource(kv ...string) *fakeKnobSource {
	m := &fakeKnobSource{vals: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		m.vals[strings.ToUpper(kv[i])] = kv[i+1]
	}
	return m
}

func (m *fakeKnobSource) Get(_ context.Context, knobs ...string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, append([]string(nil), knobs...))
	if m.err != nil {
		return nil, m.err
	}
	out := map[string]string{}
	for _, k := range knobs {
		if v, ok := m.vals[strings.ToUpper(k)]; ok && v != "" {
			out[k] = v
		}
	}
	return out, nil
}

func (m *fakeKnobSource) batches() [][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]string(nil), m.calls...)
}

// refreshCall is one Refresh seen by a scriptedProvider.
type refreshCall struct {
	Cred Cred
	Top  string
}

// scriptedProvider records calls and answers from a script.
type scriptedProvider struct {
	kind string

	mu      sync.Mutex
	calls   []refreshCall
	answer  func(ctx context.Context, c Cred, top []byte) (Refreshed, error)
	next    func(c Cred, use []byte, written time.Time) time.Time
	callCh  chan refreshCall
	running atomic.Int32
	maxRun  atomic.Int32
}

func newScriptedProvider(kind string) *scriptedProvider {
	return &scriptedProvider{kind: kind, callCh: make(chan refreshCall, 1000)}
}

func (p *scriptedProvider) Kind() string { return p.kind }

func (p *scriptedProvider) Refresh(ctx context.Context, c Cred, top []byte) (Refreshed, error) {
	n := p.running.Add(1)
	defer p.running.Add(-1)
	for {
		m := p.maxRun.Load()
		if n <= m || p.maxRun.CompareAndSwap(m, n) {
			break
		}
	}
	cc := c
	cc.Dir = nil // compared by value in the tests
	cl := refreshCall{Cred: cc, Top: string(top)}
	p.mu.Lock()
	p.calls = append(p.calls, cl)
	answer := p.answer
	p.mu.Unlock()
	p.callCh <- cl
	if answer != nil {
		return answer(ctx, c, top)
	}
	return Refreshed{Use: []byte("AT-" + c.User + "-" + c.Name + "\n")}, nil
}

func (p *scriptedProvider) NextRefresh(c Cred, use []byte, written time.Time) time.Time {
	p.mu.Lock()
	next := p.next
	p.mu.Unlock()
	if next != nil {
		return next(c, use, written)
	}
	return written.Add(20 * time.Minute)
}

func (p *scriptedProvider) setAnswer(f func(ctx context.Context, c Cred, top []byte) (Refreshed, error)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answer = f
}

func (p *scriptedProvider) setNext(f func(c Cred, use []byte, written time.Time) time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next = f
}

// drain returns the calls made since the last drain.
func (p *scriptedProvider) drain() []refreshCall {
	var out []refreshCall
	for {
		select {
		case c := <-p.callCh:
			out = append(out, c)
		default:
			return out
		}
	}
}

// logSink is a goroutine-safe log sink.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// count counts the log lines containing sub.
func (s *logSink) count(sub string) int {
	n := 0
	for _, l := range strings.Split(s.String(), "\n") {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// daemonHarness runs a Daemon on a temporary credential directory.
type daemonHarness struct {
	t       testing.TB
	root    string
	src     *fakeKnobSource
	knobs   *Knobs
	log     *logSink
	clock   *testClock
	prov    map[Class]Provider
	cfg     Config
	d       *Daemon
	passes  chan PassStats
	lastSeq uint64
	tune    func(*Daemon)
	cancel  context.CancelFunc
	done    chan error
}

func newDaemonHarness(t testing.TB, kv ...string) *daemonHarness {
	t.Helper()
	root := filepath.Join(t.TempDir(), "creds")
	if err := os.Mkdir(root, 0o770); err != nil {
		t.Fatal(err)
	}
	src := newFakeKnobSource(kv...)
	h := &daemonHarness{
		t:      t,
		root:   root,
		src:    src,
		knobs:  NewKnobs(src),
		log:    &logSink{},
		clock:  &testClock{t: time.Now()},
		prov:   map[Class]Provider{},
		passes: make(chan PassStats, 100),
	}
	h.cfg = Config{
		CredDir:        root,
		Concurrency:    4,
		RefreshTimeout: 5 * time.Second,
		NoWatch:        true,
		Jitter:         func(time.Duration) time.Duration { return 0 },
	}
	return h
}

func (h *daemonHarness) start() {
	h.t.Helper()
	if err := h.knobs.Load(context.Background(), ClassifierKnobs...); err != nil {
		h.t.Fatal(err)
	}
	cls, err := NewClassifier(h.knobs)
	if err != nil {
		h.t.Fatal(err)
	}
	cfg := h.cfg
	cfg.Providers = h.prov
	cfg.Classifier = cls
	cfg.Knobs = h.knobs
	cfg.Log = slog.New(NewHandler(h.log, slog.LevelDebug))
	cfg.Now = h.clock.Now
	cfg.AfterPass = func(s PassStats) { h.passes <- s }
	d, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.d = d
	if h.tune != nil {
		h.tune(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- d.Run(ctx) }()
	h.t.Cleanup(h.stop)
	h.waitPass()
}

// stop stops the daemon and waits for Run to return.
func (h *daemonHarness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		h.t.Errorf("Run did not return after cancel")
	}
}

// waitPass waits for the next completed full pass.
func (h *daemonHarness) waitPass() PassStats {
	h.t.Helper()
	for {
		select {
		case s := <-h.passes:
			if s.Seq > h.lastSeq {
				h.lastSeq = s.Seq
				return s
			}
		case <-time.After(20 * time.Second):
			h.t.Fatalf("no pass completed\nlog:\n%s", h.log.String())
			return PassStats{}
		}
	}
}

// rescan triggers a full pass and waits for it to complete.
func (h *daemonHarness) rescan() PassStats {
	h.t.Helper()
	h.d.Rescan()
	return h.waitPass()
}

func (h *daemonHarness) path(rel string) string { return filepath.Join(h.root, rel) }

// writeTop stores a .top the way the credd does: a temporary file renamed
// into place (new inode, new ctime), mode 0600.
func (h *daemonHarness) writeTop(user, name, content string) {
	h.t.Helper()
	dir := h.path(user)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		h.t.Fatal(err)
	}
	tmp := filepath.Join(dir, name+".top.tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name+".top")); err != nil {
		h.t.Fatal(err)
	}
}

func (h *daemonHarness) read(rel string) string {
	h.t.Helper()
	b, err := os.ReadFile(h.path(rel))
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

func (h *daemonHarness) exists(rel string) bool {
	_, err := os.Lstat(h.path(rel))
	return err == nil
}

// waitFileCreated waits (with inotify, no polling) until dir/name exists.
func waitFileCreated(t *testing.T, dir, name string, timeout time.Duration) {
	t.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
		return
	}
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-w.Events:
			if filepath.Base(ev.Name) == name && (ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename)) {
				if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
					return
				}
			}
		case err := <-w.Errors:
			t.Fatalf("watching %s: %v", dir, err)
		case <-deadline:
			t.Fatalf("%s/%s did not appear within %v", dir, name, timeout)
		}
	}
}

var errBoom = errors.New("boom: vault said no")

func callNames(calls []refreshCall) []string {
	var out []string
	for _, c := range calls {
		out = append(out, fmt.Sprintf("%s/%s", c.Cred.User, c.Cred.Name))
	}
	return out
}

func slogFor(w io.Writer) *slog.Logger { return slog.New(NewHandler(w, slog.LevelDebug)) }

// nextTick returns once the file system's clock (the coarse clock that
// stamps ctimes) has moved on, so that files written afterwards have a
// strictly later ctime than files written before.
func (h *daemonHarness) nextTick() { waitFSTick(h.t) }

func waitFSTick(t testing.TB) {
	t.Helper()
	probe := filepath.Join(t.TempDir(), "tick")
	stamp := func() int64 {
		if err := os.WriteFile(probe, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(probe, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ctim.Nano()
	}
	first := stamp()
	for i := 0; i < 10_000_000; i++ {
		if stamp() != first {
			return
		}
	}
	t.Fatal("the file system clock does not move")
}

// mainRun runs Main in the background.
type mainRun struct {
	t      *testing.T
	stderr *logSink
	stdout *logSink
	passes chan PassStats
	code   chan int
	cancel context.CancelFunc
}

func startMain(t *testing.T, args []string, src Source, providers []ProviderFactory) *mainRun {
	t.Helper()
	m := &mainRun{t: t, stderr: &logSink{}, stdout: &logSink{}, passes: make(chan PassStats, 100), code: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	opts := MainOptions{Stdout: m.stdout, Stderr: m.stderr, Config: src, Providers: providers, NoWatch: true,
		AfterPass: func(s PassStats) { m.passes <- s }}
	go func() { m.code <- Main(ctx, append([]string{"condor_credmon_vault"}, args...), opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-m.code:
		case <-time.After(20 * time.Second):
		}
	})
	return m
}

// runMain runs Main to completion (for runs that must exit by themselves).
func runMain(t *testing.T, args []string, src Source) (int, string) {
	t.Helper()
	m := startMain(t, args, src, []ProviderFactory{})
	select {
	case c := <-m.code:
		m.code <- c
		return c, m.stderr.String()
	case <-m.passes:
		t.Fatalf("Main %v started serving; stderr:\n%s", args, m.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("Main %v did not exit", args)
	}
	return 0, ""
}

func (m *mainRun) waitPass() PassStats {
	m.t.Helper()
	select {
	case s := <-m.passes:
		return s
	case c := <-m.code:
		m.t.Fatalf("Main exited with %d; stderr:\n%s", c, m.stderr.String())
	case <-time.After(20 * time.Second):
		m.t.Fatal("no pass completed")
	}
	return PassStats{}
}

func (m *mainRun) wait() int {
	m.t.Helper()
	select {
	case c := <-m.code:
		m.code <- c
		return c
	case <-time.After(40 * time.Second):
		m.t.Fatal("Main did not exit")
	}
	return -1
}

func factoryFor(cl Class, p Provider) []ProviderFactory {
	return []ProviderFactory{{Class: cl, Knobs: []string{"CREDMON_OAUTH_TOKEN_MINIMUM"},
		New: func(context.Context, ProviderEnv) (Provider, error) { return p, nil }}}
}

func makeCredDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "creds")
	if err := os.Mkdir(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	return dir
}

func putTop(t *testing.T, dir, user, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, user), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, user, name+".top"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMainSignals drives the process contract through the real signal
// path: the signals are sent to the test process, which Main handles.
func TestMainSignals(t *testing.T) {
	dir := makeCredDir(t)
	logFile := filepath.Join(t.TempDir(), "CredmonLog")
	if err := os.WriteFile(filepath.Join(dir, completeFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	putTop(t, dir, "alice", "dune", topVault)
	vp := newScriptedProvider("VAULT")
	release := make(chan struct{})
	vp.setAnswer(func(context.Context, Cred, []byte) (Refreshed, error) {
		<-release
		return Refreshed{Use: []byte("AT\n")}, nil
	})
	m := startMain(t, []string{"-c", dir, "-l", logFile}, newFakeKnobSource(), factoryFor(ClassVault, vp))

	<-vp.callCh // the first pass is refreshing alice/dune
	if _, err := os.Lstat(filepath.Join(dir, completeFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CREDMON_COMPLETE exists before the first pass completed (err %v)", err)
	}
	pid, err := os.ReadFile(filepath.Join(dir, pidFile))
	if err != nil || string(pid) != fmt.Sprint(os.Getpid()) {
		t.Errorf("pid file %q, %v; want %d without a newline", pid, err, os.Getpid())
	}
	close(release)
	m.waitPass()
	if _, err := os.Lstat(filepath.Join(dir, completeFile)); err != nil {
		t.Errorf("CREDMON_COMPLETE after the first pass: %v", err)
	}

	putTop(t, dir, "bob", "dune", topVault)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	m.waitPass()
	if got := callNames(vp.drain()); !slices.Equal(got, []string{"bob/dune"}) {
		t.Errorf("calls after SIGHUP: %v", got)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if c := m.wait(); c != ExitOK {
		t.Errorf("exit %d after SIGTERM", c)
	}
	log, _ := os.ReadFile(logFile)
	for _, w := range []string{"Got SIGHUP: Triggering READ of Credential Directory", "Got a stop signal: finishing the refreshes in progress, then terminating signal=terminated", "VAULT: Successfully refreshed token user=bob token=dune"} {
		if !strings.Contains(string(log), w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}
}

func TestMainCredDir(t *testing.T) {
	t.Run("created 02770", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "creds")
		m := startMain(t, []string{"-c", dir, "-v"}, newFakeKnobSource(), []ProviderFactory{})
		m.waitPass()
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o770 || fi.Mode()&os.ModeSetgid == 0 {
			t.Errorf("mode %v, want drwxrws---", fi.Mode())
		}
		m.cancel()
		if c := m.wait(); c != ExitOK {
			t.Errorf("exit %d", c)
		}
	})
	t.Run("open to others", func(t *testing.T) {
		dir := makeCredDir(t)
		if err := os.Chmod(dir, 0o775); err != nil {
			t.Fatal(err)
		}
		code, stderr := runMain(t, []string{"-c", dir, "-l", filepath.Join(t.TempDir(), "log")}, newFakeKnobSource())
		if code != ExitFailure || !strings.Contains(stderr, "readable and/or writable by others") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, pidFile)); err == nil {
			t.Error("pid file written for a refused directory")
		}
	})
	t.Run("not a directory", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		os.WriteFile(f, nil, 0o600)
		code, stderr := runMain(t, []string{"-c", f, "-l", filepath.Join(t.TempDir(), "log")}, newFakeKnobSource())
		if code != ExitFailure || !strings.Contains(stderr, "is not a directory") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("none configured", func(t *testing.T) {
		code, stderr := runMain(t, []string{"-l", filepath.Join(t.TempDir(), "log")}, newFakeKnobSource())
		if code != ExitFailure || !strings.Contains(stderr, "SEC_CREDENTIAL_DIRECTORY_OAUTH") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	for _, knob := range []string{"SEC_CREDENTIAL_DIRECTORY_OAUTH", "SEC_CREDENTIAL_DIRECTORY"} {
		t.Run("from "+knob, func(t *testing.T) {
			dir := makeCredDir(t)
			m := startMain(t, []string{"-l", filepath.Join(t.TempDir(), "log")}, newFakeKnobSource(knob, dir), []ProviderFactory{})
			m.waitPass()
			if _, err := os.Stat(filepath.Join(dir, pidFile)); err != nil {
				t.Errorf("pid file not in %s: %v", knob, err)
			}
		})
	}
}

func TestMainLogging(t *testing.T) {
	t.Run("unopenable log is exit 44", func(t *testing.T) {
		dir := makeCredDir(t)
		code, stderr := runMain(t, []string{"-c", dir, "-l", "/nonexistent/dir/log"}, newFakeKnobSource())
		if code != ExitLog || !strings.Contains(stderr, "/nonexistent/dir/log") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("-v logs to stderr even then", func(t *testing.T) {
		dir := makeCredDir(t)
		m := startMain(t, []string{"-c", dir, "-l", "/nonexistent/dir/log", "-v"}, newFakeKnobSource(), []ProviderFactory{})
		m.waitPass()
		m.cancel()
		if c := m.wait(); c != ExitOK {
			t.Errorf("exit %d", c)
		}
		if !strings.Contains(m.stderr.String(), "Cannot open the log file; logging to stderr only file=/nonexistent/dir/log") || !strings.Contains(m.stderr.String(), "Starting program=condor_credmon_vault") {
			t.Errorf("stderr:\n%s", m.stderr.String())
		}
	})
	for _, c := range []struct {
		name string
		args []string
		kv   func(logDir string) []string
		file string
	}{
		{"$(LOG)/CredmonOauthLog", nil, func(d string) []string { return []string{"LOG", d} }, "CredmonOauthLog"},
		{"-n names it", []string{"-n", "CREDMON_VAULT"}, func(d string) []string { return []string{"LOG", d} }, "CredmonVaultLog"},
		{"<NAME>_LOG wins", nil, func(d string) []string { return []string{"LOG", d, "CREDMON_OAUTH_LOG", d + "/CredMonOAuthLog"} }, "CredMonOAuthLog"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := makeCredDir(t)
			logDir := t.TempDir()
			m := startMain(t, append([]string{"-c", dir}, c.args...), newFakeKnobSource(c.kv(logDir)...), []ProviderFactory{})
			m.waitPass()
			b, err := os.ReadFile(filepath.Join(logDir, c.file))
			if err != nil || !strings.Contains(string(b), "Starting program=condor_credmon_vault") {
				t.Errorf("log %s: %v %q", c.file, err, b)
			}
		})
	}
}

func TestMainProviderNameChecks(t *testing.T) {
	dir := makeCredDir(t)
	code, stderr := runMain(t, []string{"-c", dir, "-l", filepath.Join(t.TempDir(), "log")},
		newFakeKnobSource("VAULT_CREDMON_PROVIDER_NAMES", "dune_production"))
	if code != ExitNoRestart || !strings.Contains(stderr, `"dune_production" in VAULT_CREDMON_PROVIDER_NAMES`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	m := startMain(t, []string{"-c", dir, "-l", filepath.Join(t.TempDir(), "log")},
		newFakeKnobSource("VAULT_CREDMON_PROVIDER_NAMES", "dune_production", "CREDMON_ALLOW_SPECIAL_CHAR_NAMES", "True"), []ProviderFactory{})
	m.waitPass()
}

func TestMainUsage(t *testing.T) {
	dir := makeCredDir(t)
	for _, args := range [][]string{{"-c", dir, "extra"}, {"--bogus"}, {"-n", "a-b"}} {
		code, stderr := runMain(t, args, newFakeKnobSource())
		if code != ExitUsage || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
	m := startMain(t, []string{"-h"}, newFakeKnobSource(), nil)
	if c := m.wait(); c != ExitOK || !strings.Contains(m.stdout.String(), "--cred-dir") {
		t.Errorf("-h: exit %d, stdout %q", c, m.stdout.String())
	}
}

func TestMainProviderSetup(t *testing.T) {
	dir := makeCredDir(t)
	src := newFakeKnobSource("CREDMON_OAUTH_TOKEN_MINIMUM", "600")
	var env ProviderEnv
	fs := []ProviderFactory{{Class: ClassVault, Knobs: []string{"CREDMON_OAUTH_TOKEN_MINIMUM"},
		New: func(_ context.Context, e ProviderEnv) (Provider, error) {
			env = e
			return nil, errors.New("no CA file")
		}}}
	m := startMain(t, []string{"-c", dir, "-l", filepath.Join(t.TempDir(), "log")}, src, fs)
	if c := m.wait(); c != ExitFailure {
		t.Errorf("exit %d", c)
	}
	if env.CredDir != dir || env.Name != DefaultName {
		t.Errorf("env %+v", env)
	}
	if v, ok, known := env.Knobs.Cached("CREDMON_OAUTH_TOKEN_MINIMUM"); !known || !ok || v != "600" {
		t.Errorf("provider knob not in the start-up batch: %q %v %v", v, ok, known)
	}
	if n := len(src.batches()); n != 1 {
		t.Errorf("%d configuration batches at start-up, want 1: %v", n, src.batches())
	}
}

// TestBinary runs the built command as the condor_master would.
func TestBinary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build the command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "condor_credmon_vault")
	build := exec.Command(goTool, "build", "-o", bin, "../cmd/condor_credmon_vault")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	env := []string{"PATH=/nonexistent", "HOME=" + t.TempDir()}

	t.Run("signals", func(t *testing.T) {
		dir := makeCredDir(t)
		logFile := filepath.Join(t.TempDir(), "log")
		cmd := exec.Command(bin, "-l", logFile, "-d")
		cmd.Env = append(env, "_CONDOR_SEC_CREDENTIAL_DIRECTORY_OAUTH="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		defer func() {
			cmd.Process.Kill()
			<-exited
		}()
		waitFileCreated(t, dir, completeFile, 10*time.Second)
		if pid, _ := os.ReadFile(filepath.Join(dir, pidFile)); string(pid) != fmt.Sprint(cmd.Process.Pid) {
			t.Errorf("pid file %q, process %d", pid, cmd.Process.Pid)
		}
		if err := os.Remove(filepath.Join(dir, completeFile)); err != nil {
			t.Fatal(err)
		}
		cmd.Process.Signal(syscall.SIGHUP)
		waitFileCreated(t, dir, completeFile, 10*time.Second)
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("exit after SIGTERM: %v", err)
			}
			exited <- nil
		case <-time.After(20 * time.Second):
			t.Fatal("no exit after SIGTERM")
		}
		log, _ := os.ReadFile(logFile)
		for _, w := range []string{"Got SIGHUP", "Got a stop signal", "condor_config_val: command not found"} {
			if !strings.Contains(string(log), w) {
				t.Errorf("log lacks %q:\n%s", w, log)
			}
		}
	})
	t.Run("exit 44", func(t *testing.T) {
		cmd := exec.Command(bin, "-c", makeCredDir(t), "-l", "/nonexistent/log")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != ExitLog {
			t.Errorf("err %v, output %s", err, out)
		}
	})
}

func TestRestoredDuringRefreshWins(t *testing.T) {
	h := newDaemonHarness(t)
	op := newScriptedProvider("OAUTH")
	var n atomic.Int32
	op.setAnswer(func(_ context.Context, c Cred, top []byte) (Refreshed, error) {
		switch n.Add(1) {
		case 1:
			// The credd stores a new .top while the refresh runs.
			h.writeTop("alice", "box", `{"refresh_token":"from-credd"}`)
			return Refreshed{Use: []byte("old\n"), Top: []byte(`{"refresh_token":"rotated-old"}`)}, nil
		case 2:
			h.writeTop("alice", "box", `{"refresh_token":"again"}`)
			return Refreshed{}, fmt.Errorf("revoked: %w", ErrDelete)
		}
		return Refreshed{Use: []byte("new\n"), Top: []byte(`{"refresh_token":"rotated-new"}`)}, nil
	})
	h.prov[ClassOAuth] = op
	h.src.vals["BOX_CLIENT_ID"] = "id"
	h.writeTop("alice", "box", `{"refresh_token":"r0"}`)
	h.start()
	var tops []string
	for _, c := range op.drain() {
		tops = append(tops, c.Top)
	}
	want := []string{`{"refresh_token":"r0"}`, `{"refresh_token":"from-credd"}`, `{"refresh_token":"again"}`}
	if !slices.Equal(tops, want) {
		t.Fatalf("refreshed with %q, want %q", tops, want)
	}
	if got := h.read("alice/box.top"); got != `{"refresh_token":"rotated-new"}` {
		t.Errorf(".top = %q", got)
	}
	if got := h.read("alice/box.use"); got != "new\n" {
		t.Errorf(".use = %q", got)
	}
	if h.log.count("Not deleting token: its .top was stored again meanwhile user=alice token=box") != 1 {
		t.Errorf("log:\n%s", h.log.String())
	}
}

func TestWriteFailuresKeepTheUse(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	vp.setAnswer(func(_ context.Context, c Cred, _ []byte) (Refreshed, error) {
		if c.User == "empty" {
			return Refreshed{}, nil
		}
		return Refreshed{Use: []byte("AT\n")}, nil
	})
	h.prov[ClassVault] = vp
	h.writeTop("alice", "dune", topVault)
	if err := os.Mkdir(h.path("alice/dune.use"), 0o700); err != nil {
		t.Fatal(err)
	}
	h.writeTop("empty", "dune", topVault)
	if err := os.WriteFile(h.path("empty/dune.use"), []byte("KEEP\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	h.nextTick()
	h.writeTop("empty", "dune", topVault) // newer than its .use: due
	h.start()
	if n := h.log.count(`Failed to refresh token user=alice token=dune error="writing ` + h.path("alice/dune.use")); n != 1 {
		t.Errorf("log:\n%s", h.log.String())
	}
	if n := h.log.count(`Failed to refresh token user=empty token=dune error="the provider returned an empty token"`); n != 1 {
		t.Errorf("log:\n%s", h.log.String())
	}
	if got := h.read("empty/dune.use"); got != "KEEP\n" {
		t.Errorf(".use = %q", got)
	}
}

// TestStartupSeedsFromTheTokenExpiry: at start-up Vault credentials are
// scheduled without reading their .use (provisional: the refresh interval
// after the write), and after the first complete pass the .use is read and
// the due time moved to the token's expiry rule.
func TestStartupSeedsFromTheTokenExpiry(t *testing.T) {
	h := newDaemonHarness(t)
	h.prov[ClassVault] = NewVault(VaultConfig{})
	h.writeTop("alice", "dune", topVault)
	h.nextTick()
	exp := time.Now().Add(2 * time.Hour).Unix()
	if err := os.WriteFile(h.path("alice/dune.use"), jwtWithExp(exp), 0o400); err != nil {
		t.Fatal(err)
	}
	var due int64
	var provisional bool
	h.tune = func(d *Daemon) {
		orig := d.afterPass
		d.afterPass = func(s PassStats) {
			if c := d.creds["alice/dune"]; c != nil {
				due, provisional = c.due, c.has(fProvisional)
			}
			orig(s)
		}
	}
	h.start()
	want := time.Unix(exp, 0).Add(-1200 * time.Second)
	if got := time.Unix(0, due); provisional || got.Before(want.Add(-time.Second)) || got.After(want.Add(time.Second)) {
		t.Errorf("due %v (provisional %v), want %v: 1200 s before the token's expiry", got, provisional, want)
	}
}
