package credmon

import (
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

func TestWatchServesNewTopsWithoutRescan(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	h.prov[ClassVault] = vp
	h.cfg.NoWatch = false
	h.writeTop("alice", "dune", topVault)
	h.start()
	vp.drain()

	// A new .top in a known user directory.
	h.writeTop("alice", "new", topVault)
	waitFileCreated(t, h.path("alice"), "new.use", 5*time.Second)

	// A new user directory.
	h.writeTop("bob", "dune", topVault)
	waitFileCreated(t, h.path("bob"), "dune.use", 5*time.Second)

	// A re-stored .top.
	h.writeTop("alice", "dune", `{"vault_token":"t2"}`)
	deadline := time.After(5 * time.Second)
	for {
		select {
		case c := <-vp.callCh:
			if c.Cred.User == "alice" && c.Cred.Name == "dune" {
				if c.Top != `{"vault_token":"t2"}` {
					t.Fatalf("refreshed with %q", c.Top)
				}
				return
			}
		case <-deadline:
			t.Fatalf("re-stored .top not refreshed without a rescan\nlog:\n%s", h.log.String())
		}
	}
}

func TestWatchUserOf(t *testing.T) {
	w := &watcher{root: "/c"}
	cases := []struct {
		ev     fsnotify.Event
		user   string
		inRoot bool
		ok     bool
	}{
		{fsnotify.Event{Name: "/c/alice/dune.top", Op: fsnotify.Create}, "alice", false, true},
		{fsnotify.Event{Name: "/c/alice/dune.top", Op: fsnotify.Remove}, "alice", false, true},
		{fsnotify.Event{Name: "/c/alice/dune.top", Op: fsnotify.Chmod}, "alice", false, true},
		{fsnotify.Event{Name: "/c/alice/dune.use", Op: fsnotify.Create}, "", false, false},
		{fsnotify.Event{Name: "/c/alice/.dune.use123", Op: fsnotify.Write}, "", false, false},
		{fsnotify.Event{Name: "/c/alice/dune.top.tmp", Op: fsnotify.Write}, "", false, false},
		{fsnotify.Event{Name: "/c/bob", Op: fsnotify.Create}, "bob", true, true},
		{fsnotify.Event{Name: "/c/alice", Op: fsnotify.Remove}, "alice", true, true},
		{fsnotify.Event{Name: "/c/alice", Op: fsnotify.Chmod}, "", false, false},
		{fsnotify.Event{Name: "/c/bob.mark", Op: fsnotify.Create}, "", false, false},
		{fsnotify.Event{Name: "/c/CREDMON_COMPLETE", Op: fsnotify.Create}, "", false, false},
		{fsnotify.Event{Name: "/c/pid", Op: fsnotify.Create}, "", false, false},
		{fsnotify.Event{Name: "/c/bad name", Op: fsnotify.Create}, "", false, false},
		{fsnotify.Event{Name: "/other/x.top", Op: fsnotify.Create}, "", false, false},
	}
	for _, c := range cases {
		u, inRoot, ok := w.userOf(c.ev)
		if u != c.user || inRoot != c.inRoot || ok != c.ok {
			t.Errorf("userOf(%v) = %q, %v, %v; want %q, %v, %v", c.ev, u, inRoot, ok, c.user, c.inRoot, c.ok)
		}
	}
}
