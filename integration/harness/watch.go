package harness

import (
	"os"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/vaultcred/gettoken/integration/stack"
)

// Watcher waits for file-system events in directory trees: the tests'
// way to wait for a daemon's files without sleeping.
type Watcher struct {
	w *fsnotify.Watcher
}

// Watch watches dirs (and, as they appear, the directories created in
// them) until the test ends.
func Watch(t *testing.T, dirs ...string) *Watcher {
	t.Helper()
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fw.Close() })
	for _, d := range dirs {
		if err := fw.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	return &Watcher{fw}
}

// WaitFor waits until cond holds, re-checking it on every event (and
// adding new directories to the watch), failing the test after timeout or
// when proc (if not nil) exits.
func (w *Watcher) WaitFor(t *testing.T, timeout time.Duration, what string, cond func() bool, proc *stack.Proc) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var exited <-chan struct{}
	if proc != nil {
		exited = proc.Done()
	}
	for !cond() {
		select {
		case ev := <-w.w.Events:
			if ev.Op&fsnotify.Create != 0 {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					w.w.Add(ev.Name)
				}
			}
		case err := <-w.w.Errors:
			t.Fatalf("watch: %v", err)
		case <-exited:
			t.Fatalf("the daemon exited while waiting for %s; output:\n%s", what, proc.Tail(3000))
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}
