package credmon

// The daemon's event loop: timers, SIGHUP rescans, inotify events and
// the workers' results, all handled on one goroutine.

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/vaultcred/gettoken/internal/tokenfile"
)

// Run serves the credential directory until ctx is done: then it starts
// no new refresh, waits for those running (each bounded by the refresh
// timeout), writes their results and returns nil. Run may be called once.
func (d *Daemon) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("credmon: Run called twice")
	}
	// Every file operation below is relative to this handle (and to the
	// user directories opened from it), never to a path walked again.
	rootDir, err := tokenfile.OpenDir(d.root)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCredDir, err)
	}
	d.rootDir = rootDir
	defer rootDir.Close()
	// Refreshes are not cancelled by ctx: a stop lets them finish.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	jobs := make(chan job)
	d.results = make(chan result, d.conc)
	var wg sync.WaitGroup
	for range d.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				d.results <- d.work(workCtx, j)
			}
		}()
	}
	defer func() {
		close(jobs)
		wg.Wait()
	}()

	var events <-chan fsnotify.Event
	var werrs <-chan error
	if !d.noWatch {
		d.w = newWatcher(d.root, d.log)
		if d.w != nil {
			defer d.w.close()
			events, werrs = d.w.fw.Events, d.w.fw.Errors
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	var debounceC <-chan time.Time
	arm := func() {
		if debounceC == nil {
			debounce.Reset(debounceDelay)
			debounceC = debounce.C
		}
	}
	done := ctx.Done()

	d.fullPass(ctx, true)
	for {
		if !d.stopping && ctx.Err() != nil {
			// Seen before anything else, so that no refresh starts
			// after a stop, whichever channel select picks.
			d.stopping = true
			done = nil
			if d.inflight > 0 {
				d.log.Info("Stopping: waiting for the refreshes in progress", "count", d.inflight)
			}
		}
		if d.stopping && d.inflight == 0 {
			return nil
		}
		nowNs := d.now().UnixNano()
		dueNow := !d.stopping && len(d.queue) > 0 && d.queue[0].due <= nowNs
		var jobCh chan<- job
		var next job
		if dueNow {
			jobCh = jobs
			c := d.queue[0]
			next = job{c: c, cred: d.credOf(c), p: d.prov[c.class]}
		}
		if d.completePending && d.inflight == 0 && !dueNow && !d.stopping && !d.knobsLoading {
			d.complete()
		}
		wake := d.nextFull
		if !dueNow && len(d.queue) > 0 && d.queue[0].due < wake {
			wake = d.queue[0].due
		}
		if d.stopping {
			wake = nowNs + int64(time.Hour)
		}
		timer.Reset(time.Duration(max(wake-nowNs, 0)))

		select {
		case jobCh <- next:
			c := heap.Pop(&d.queue).(*cred)
			c.set(fInflight)
			d.inflight++
			d.plog[c.class].Info("Refreshing token", "user", c.user(), "token", c.name())
		case r := <-d.results:
			d.handle(r)
		case <-timer.C:
			if !d.stopping && d.now().UnixNano() >= d.nextFull {
				d.fullPass(ctx, d.now().Sub(d.lastDeep) >= d.deepEvery)
			}
		case <-d.rescan:
			if !d.stopping {
				d.fullPass(ctx, d.now().Sub(d.lastDeep) >= d.deepEvery)
			}
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if d.watchEvent(ev) {
				arm()
			}
		case err := <-d.knobsDone:
			d.knobsLoaded(ctx, err)
		case rep := <-d.watchDone:
			d.watchesReady(ctx, rep)
		case err, ok := <-werrs:
			if !ok {
				werrs = nil
				continue
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				d.needFull = true
				arm()
			} else if !d.watchErrLogged {
				d.watchErrLogged = true
				d.log.Warn("inotify error (further ones not logged)", "error", err)
			}
		case <-debounceC:
			debounceC = nil
			if d.stopping {
				continue
			}
			if d.needFull || len(d.dirty) > maxDirty {
				d.fullPass(ctx, d.needFull)
			} else {
				users := make([]string, 0, len(d.dirty))
				for u := range d.dirty {
					users = append(users, u)
				}
				slices.Sort(users)
				d.partialPass(ctx, users)
			}
			clear(d.dirty)
			d.needFull = false
		case <-done:
			// Handled at the top of the loop.
		}
	}
}

// watchEvent records an inotify event: the user directory it concerns is
// marked dirty (to be listed after the debounce). It reports whether the
// event concerns a user directory at all.
func (d *Daemon) watchEvent(ev fsnotify.Event) bool {
	name, inRoot, ok := d.w.userOf(ev)
	if !ok {
		return false
	}
	if inRoot {
		// A new directory needs a new watch.
		if u := d.users[name]; u != nil {
			u.watched = false
		}
		if !d.w.ready {
			if d.rootChanged == nil {
				d.rootChanged = map[string]struct{}{}
			}
			d.rootChanged[name] = struct{}{}
		}
	}
	d.dirty[name] = struct{}{}
	return true
}

// watchesReady records the watches added after the first pass, watches
// the user directories that appeared since, and runs a quick pass for
// whatever changed before the watches were in place.
func (d *Daemon) watchesReady(ctx context.Context, rep watchReport) {
	for _, n := range rep.ok {
		if _, changed := d.rootChanged[n]; changed {
			continue // removed or re-created since: watched again below
		}
		if u := d.users[n]; u != nil {
			u.watched = true
		}
	}
	d.rootChanged = nil
	if rep.err != nil {
		d.w.failed(d.root+"/"+rep.failed, rep.err)
	}
	d.w.ready = true
	for n, u := range d.users {
		if u.watched || d.w.broken {
			continue
		}
		if err := d.w.fw.Add(d.root + "/" + n); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				d.w.failed(d.root+"/"+n, err)
			}
			continue
		}
		u.watched = true
	}
	d.log.Debug("inotify watches added", "user_dirs", len(rep.ok))
	if !d.stopping {
		d.fullPass(ctx, false)
	}
}

// complete ends a full pass: touches CREDMON_COMPLETE and calls AfterPass.
// After the first one, the user directories get their inotify watches.
func (d *Daemon) complete() {
	if d.w != nil && !d.watchStarted {
		d.watchStarted = true
		names := make([]string, 0, len(d.users))
		for n := range d.users {
			names = append(names, n)
		}
		go d.w.watchAll(names, d.watchDone)
	}
	d.completePending = false
	if err := d.rootDir.Touch(completeFile, 0o644); err != nil {
		d.log.Error("Cannot touch the completion file", "file", d.rootDir.Join(completeFile), "error", err)
	}
	if !d.seedsRefined {
		d.seedsRefined = true
		d.refineSeeds()
	}
	s := d.stats
	s.Seq = d.passSeq
	s.Credentials = len(d.creds)
	s.Queued = len(d.queue)
	s.Listing = d.lastListing
	d.stats = PassStats{}
	d.log.Debug("Pass complete; sleeping unless interrupted", "pass", s.Seq, "credentials", s.Credentials,
		"refreshed", s.Refreshed, "failed", s.Failed, "deleted", s.Deleted, "sleep", d.interval)
	if d.afterPass != nil {
		d.afterPass(s)
	}
}
