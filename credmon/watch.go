package credmon

import (
	"errors"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounceDelay is how long the daemon waits after an inotify event before
// listing the directories concerned, so that a burst of events (the credd
// writing <name>.top.tmp and renaming it) costs one listing.
const debounceDelay = 50 * time.Millisecond

// watcher follows the credential directory with inotify: the root (user
// directories appearing or disappearing) and each user directory (.top
// files stored, re-stored or removed). It only says which user
// directories to list again; the listing decides what changed.
//
// The user directories found at start-up are watched after the first
// pass (so that 10,000 inotify_add_watch calls do not delay the first
// CREDMON_COMPLETE), by a goroutine of its own; when they are, a quick
// pass catches whatever changed meanwhile. Directories found later are
// watched just before they are listed. When a watch cannot be added
// (typically fs.inotify.max_user_watches reached), that is logged once
// and no more are added: those directories are then served by the
// periodic pass and by SIGHUP, as in the original credmon.
type watcher struct {
	fw     *fsnotify.Watcher
	root   string
	ready  bool // the start-up directories are watched
	broken bool // adding a watch failed: add no more
	log    *slog.Logger
}

// newWatcher watches root; nil (after a warning) when inotify is not
// available.
func newWatcher(root string, log *slog.Logger) *watcher {
	fw, err := fsnotify.NewBufferedWatcher(256)
	if err == nil {
		err = fw.Add(root)
		if err != nil {
			fw.Close()
		}
	}
	if err != nil {
		log.Warn("Cannot watch with inotify: new credentials are found by the 60-second pass and SIGHUP only", "dir", root, "error", err)
		return nil
	}
	return &watcher{fw: fw, root: root, log: log}
}

// watchReport is the outcome of watchAll.
type watchReport struct {
	ok     []string // user directories now watched
	failed string   // the directory whose watch failed
	err    error
}

// watchAll watches the user directories names, stopping at the first
// failure, and reports on out. It runs on its own goroutine.
func (w *watcher) watchAll(names []string, out chan<- watchReport) {
	var r watchReport
	for _, n := range names {
		if err := w.fw.Add(w.root + "/" + n); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile
			}
			r.failed, r.err = n, err
			break
		}
		r.ok = append(r.ok, n)
	}
	out <- r
}

// failed records that a watch could not be added (logged once).
func (w *watcher) failed(dir string, err error) {
	if w.broken {
		return
	}
	w.broken = true
	w.log.Warn("Cannot watch with inotify; from now on such directories are served by the 60-second pass and SIGHUP only (raise fs.inotify.max_user_watches?)", "dir", dir, "error", err)
}

// userOf maps an event to the user directory to list again; inRoot tells
// that the event is about the directory itself (created, removed or
// renamed: its watch, if any, is gone).
func (w *watcher) userOf(ev fsnotify.Event) (user string, inRoot, ok bool) {
	rel, found := strings.CutPrefix(ev.Name, w.root+"/")
	if !found || rel == "" {
		return "", false, false
	}
	i := strings.IndexByte(rel, '/')
	if i < 0 {
		// An entry of the root: a user directory, or one of the files
		// that live there.
		if rel == "pid" || rel == "CREDMON_COMPLETE" || strings.HasSuffix(rel, ".mark") || !validName(rel) {
			return "", false, false
		}
		if !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Remove) && !ev.Has(fsnotify.Rename) {
			return "", false, false
		}
		return rel, true, true
	}
	user, file := rel[:i], rel[i+1:]
	if strings.IndexByte(file, '/') >= 0 || !strings.HasSuffix(file, ".top") {
		return "", false, false
	}
	return user, false, true
}

func (w *watcher) close() {
	if w != nil {
		w.fw.Close()
	}
}
