package faults

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/integration/harness"
)

// TestCredmonSIGHUPStorm sends 1,000 SIGHUPs within about a second to a
// credmon whose credentials are all current: it must survive, refresh
// nothing that is not due, and still serve a re-stored .top at once.
func TestCredmonSIGHUPStorm(t *testing.T) {
	t.Parallel() // only needs Vault up: runs after the tests that stop or freeze parts of the stack
	s := newCredSite(t, siteOptions{users: 100, base: "https://localhost" + vaultTarget()[strings.LastIndexByte(vaultTarget(), ':'):]})
	s.start()
	s.waitRecovered(time.Now(), time.Minute)
	complete := filepath.Join(s.creddir, "CREDMON_COMPLETE")
	if !waitUntil(30*time.Second, func() bool { _, err := os.Stat(complete); return err == nil }) {
		t.Fatal("no CREDMON_COMPLETE")
	}
	refreshed := s.successes()
	t0 := time.Now()
	for i := 0; i < 1000; i++ {
		if err := syscall.Kill(s.proc.Pid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // the storm's rate: 1,000 in about a second
	}
	storm := time.Since(t0)
	// Re-store one user's .top (same bytes, new inode, as the credd does):
	// its .use is rewritten without waiting for anything.
	u := s.users[0]
	top := filepath.Join(s.creddir, u, "default.top")
	b, _ := os.ReadFile(top)
	// Vault's oauth plugin hands out its cached access token while it is
	// valid, so the new .use may have the same bytes: a rewrite shows as
	// a new file (the credmon writes through a rename).
	oldIno, oldCtime := inode(t, s.use(u)), ctime(t, s.use(u))
	t1 := time.Now()
	os.WriteFile(top+".tmp", b, 0o600)
	os.Rename(top+".tmp", top)
	if !waitUntil(30*time.Second, func() bool {
		fi, err := os.Stat(s.use(u))
		if err != nil {
			return false
		}
		st := fi.Sys().(*syscall.Stat_t)
		return (st.Ino != oldIno || st.Ctim.Nano() != oldCtime) && s.current(u)
	}) {
		t.Fatal("a re-stored .top was not served after the storm")
	}
	rec := time.Since(t1)
	if n := s.successes() - refreshed; n > 1 {
		t.Errorf("%d refreshes during the storm, want only the re-stored one", n)
	}
	lost, partial := s.finish(0)
	record(t, row{Scenario: fmt.Sprintf("credmon: 1,000 SIGHUPs in %.1f s", storm.Seconds()), Requests: 1000, Failures: 0,
		Lost: lost, Partial: partial, Recovery: rec, Note: "a re-stored .top served after the storm"})
}

// TestCredmonENOSPC runs the credmon over a credential directory on a
// small tmpfs: once it is serving, the disk fills up and every .top is
// stored again (renamed in, which needs no space), so every credential
// is due; the refreshes fail, the old .use files stay, and once space is
// freed every credential becomes current.
func TestCredmonENOSPC(t *testing.T) {
	t.Parallel() // only needs Vault up: runs after the tests that stop or freeze parts of the stack
	harness.NeedRoot(t, "a tmpfs mount, a root credmon")
	dir, err := os.MkdirTemp("", "faults-tmpfs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=1m,mode=0770"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	const users = 50
	s := newCredSite(t, siteOptions{users: users, base: "https://localhost" + vaultTarget()[strings.LastIndexByte(vaultTarget(), ':'):],
		creddir: dir, fresh: true})
	complete := filepath.Join(dir, "CREDMON_COMPLETE")
	s.start()
	if !waitUntil(30*time.Second, func() bool { _, err := os.Stat(complete); return err == nil }) {
		t.Fatal("no CREDMON_COMPLETE")
	}
	for _, u := range s.users {
		top := filepath.Join(dir, u, "default.top")
		b, _ := os.ReadFile(top)
		if err := os.WriteFile(top+".new", b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Renaming a .top over the old one would free the old one's page,
	// which is exactly the room one .use needs: the old .top files are
	// held open until space is freed, so the renames free nothing.
	for _, u := range s.users {
		f, err := os.Open(filepath.Join(dir, u, "default.top"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
	}
	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	for _, u := range s.users {
		top := filepath.Join(dir, u, "default.top")
		if err := os.Rename(top+".new", top); err != nil {
			t.Fatal(err)
		}
	}
	s.waitLog("refreshes failing on the full disk", time.Minute, s.failures, users)
	if !strings.Contains(readText(s.log), "no space left on device") {
		t.Error("the failures do not say the disk is full")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	rec := s.waitRecovered(t0, 2*time.Minute)
	lost, partial := s.finish(0)
	record(t, row{Scenario: "credmon: ENOSPC on the credential directory", Requests: s.refreshes(), Failures: s.failures(),
		Lost: lost, Partial: partial, Recovery: rec, Note: "back-off (30 s + jitter) after space is freed"})
}

// fill writes path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}
