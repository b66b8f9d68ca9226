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

// A user directory created before the start-up watches are in place (the
// credd storing a new user's first credential while the first pass runs)
// is recorded for watchesReady; this used to write to a nil map and crash
// the daemon.
func TestWatchEventBeforeWatchesReady(t *testing.T) {
	h := newDaemonHarness(t)
	cls, err := NewClassifier(h.knobs)
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.cfg
	cfg.Classifier, cfg.Knobs, cfg.Log = cls, h.knobs, slogFor(h.log)
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.w = &watcher{root: h.root} // the start-up watches are not ready yet
	if !d.watchEvent(fsnotify.Event{Name: h.root + "/bob", Op: fsnotify.Create}) {
		t.Fatal("a new user directory was not taken as a user event")
	}
	if _, ok := d.rootChanged["bob"]; !ok {
		t.Errorf("rootChanged = %v, want bob in it", d.rootChanged)
	}
	if _, ok := d.dirty["bob"]; !ok {
		t.Errorf("dirty = %v, want bob in it", d.dirty)
	}
	if d.watchEvent(fsnotify.Event{Name: h.root + "/pid", Op: fsnotify.Create}) {
		t.Error("the pid file was taken as a user event")
	}

	// Once the watches are ready, root events no longer go to rootChanged.
	d.rootChanged = nil
	d.w.ready = true
	d.watchEvent(fsnotify.Event{Name: h.root + "/carol", Op: fsnotify.Create})
	if d.rootChanged != nil {
		t.Errorf("rootChanged = %v after the watches were ready", d.rootChanged)
	}
	if _, ok := d.dirty["carol"]; !ok {
		t.Errorf("dirty = %v, want carol in it", d.dirty)
	}
}
