package credmon

// The workers' side of a refresh and the daemon's handling of its
// result: the one place that writes and removes credential files.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/vaultcred/gettoken/internal/tokenfile"
)

// work runs on a worker: reads the .top and calls the provider with the
// refresh timeout. A provider that panics or ignores its context does not
// take the worker with it.
func (d *Daemon) work(ctx context.Context, j job) result {
	r := result{c: j.c}
	if d.beforeWork != nil {
		d.beforeWork(j.cred)
	}
	ud, err := d.rootDir.OpenDir(j.cred.User)
	if err != nil {
		r.readErr = err
		return r
	}
	r.dir = ud
	cr := j.cred
	cr.Dir = ud
	top, sig, err := readAt(ud, cr.Name+".top", false)
	r.sig = sig
	if err != nil {
		r.readErr = err
		return r
	}
	cctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	type outcome struct {
		out Refreshed
		err error
	}
	ch := make(chan outcome, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				ch <- outcome{err: fmt.Errorf("the %s provider panicked (%T)", j.p.Kind(), v)}
			}
		}()
		out, err := j.p.Refresh(cctx, cr, top)
		ch <- outcome{out, err}
	}()
	abandon := time.NewTimer(d.timeout + abandonGrace)
	defer abandon.Stop()
	select {
	case o := <-ch:
		r.out, r.err = o.out, o.err
	case <-abandon.C:
		r.err = fmt.Errorf("the %s provider did not return within %v: %w", j.p.Kind(), d.timeout, context.DeadlineExceeded)
	}
	return r
}

// handle applies a worker's result: it is the one place that writes .use
// and .top files and removes credentials.
func (d *Daemon) handle(r result) {
	d.inflight--
	if r.dir != nil {
		defer r.dir.Close()
	}
	c := r.c
	changed := c.has(fChangedInFlight)
	c.clear(fInflight | fChangedInFlight)
	if d.creds[c.key] != c {
		return // its .top disappeared meanwhile: write nothing
	}
	plog := d.plog[c.class]
	cr := d.credOf(c)
	cr.Dir = r.dir
	now := d.now()
	if r.readErr != nil {
		var bad *BadFileError
		switch {
		case changed:
			d.queue.schedule(c, 0)
		case errors.Is(r.readErr, fs.ErrNotExist):
			delete(d.creds, c.key)
		case errors.As(r.readErr, &bad):
			c.sig = r.sig
			c.set(fInvalid)
			d.reportOnce(cr.Top(), r.sig, msgIgnoringFile, "file", bad.Path, "reason", bad.Why)
		default:
			d.fail(c, cr, now, r.readErr)
		}
		return
	}
	switch {
	case r.err == nil:
		if changed {
			// Re-stored while the provider worked on the old one.
			d.queue.schedule(c, 0)
			return
		}
		d.write(c, cr, r, now)
	case errors.Is(r.err, ErrDelete):
		d.remove(c, cr, r, changed)
	case changed:
		d.queue.schedule(c, 0)
	case errors.Is(r.err, ErrInvalid):
		c.sig = r.sig
		c.set(fInvalid)
		d.stats.Failed++
		plog.Error("Not refreshing token until its .top changes", "user", c.user(), "token", c.name(), "error", r.err)
	default:
		d.fail(c, cr, now, r.err)
	}
}

// fail records a failed refresh: the .use is left alone and the
// credential is retried after its back-off.
func (d *Daemon) fail(c *cred, cr Cred, now time.Time, err error) {
	if c.failures < 255 {
		c.failures++
	}
	due := dueAfterFailure(now, int(c.failures), d.jitter)
	d.queue.schedule(c, due)
	d.stats.Failed++
	d.plog[c.class].Error("Failed to refresh token", "user", cr.User, "token", cr.Name, "error", err,
		"failures", c.failures, "retry_in", time.Duration(due-now.UnixNano()).Round(time.Second))
}

// write stores a successful refresh: the new .top first when the provider
// rotated it (so a crash between the two writes loses an access token,
// never a refresh token), then the .use, root-owned 0400.
func (d *Daemon) write(c *cred, cr Cred, r result, now time.Time) {
	if len(r.out.Use) == 0 {
		d.fail(c, cr, now, errors.New("the provider returned an empty token"))
		return
	}
	c.sig = r.sig
	if r.out.Top != nil {
		if cur := statSig(cr.Dir, cr.Name+".top"); cur != r.sig {
			d.queue.schedule(c, 0) // re-stored meanwhile: the credd's copy wins
			return
		}
		// Synced, file and directory: a refresh token the IdP rotated
		// must survive a power failure (the old one is dead).
		if err := cr.Dir.WriteAtomic(cr.Name+".top", r.out.Top, tokenfile.Options{Mode: 0o600, AllowForeign: true, Chown: d.owner}); err != nil {
			d.fail(c, cr, now, fmt.Errorf("writing %s: %w", cr.Top(), err))
			return
		}
		c.sig = statSig(cr.Dir, cr.Name+".top")
	}
	if err := cr.Dir.WriteAtomic(cr.Name+".use", r.out.Use, tokenfile.Options{Mode: 0o400, AllowForeign: true, Chown: d.owner, NoSync: true}); err != nil {
		d.fail(c, cr, now, fmt.Errorf("writing %s: %w", cr.Use(), err))
		return
	}
	c.failures = 0
	c.set(fUseSeen)
	c.clear(fInvalid)
	next := d.prov[c.class].NextRefresh(cr, r.out.Use, now)
	d.queue.schedule(c, dueAfterWrite(now, next, d.jitter))
	d.stats.Refreshed++
	d.plog[c.class].Info("Successfully refreshed token", "user", cr.User, "token", cr.Name)
}

// remove handles ErrDelete: the .top and .use are removed, unless the .top
// was re-stored meanwhile; then the credentials whose parent (the name up
// to its last '_') it was are made due at once, so that the provider
// reports them in the same pass.
func (d *Daemon) remove(c *cred, cr Cred, r result, changed bool) {
	plog := d.plog[c.class]
	if changed || statSig(cr.Dir, cr.Name+".top") != r.sig {
		plog.Info("Not deleting token: its .top was stored again meanwhile", "user", cr.User, "token", cr.Name)
		d.queue.schedule(c, 0)
		return
	}
	plog.Warn("Deleting token", "user", cr.User, "token", cr.Name, "reason", r.err)
	for _, name := range []string{cr.Name + ".top", cr.Name + ".use"} {
		if err := cr.Dir.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			plog.Error("Cannot remove a credential file", "file", cr.Dir.Join(name), "error", err)
		}
	}
	delete(d.creds, c.key)
	d.stats.Deleted++
	user, parent := c.user(), c.name()
	for _, h := range d.creds {
		if h.class == ClassNone || h.user() != user {
			continue
		}
		n := h.name()
		if i := strings.LastIndexByte(n, '_'); i > 0 && n[:i] == parent {
			if h.has(fInflight) {
				h.set(fChangedInFlight)
			} else {
				h.clear(fInvalid)
				d.queue.schedule(h, 0)
			}
		}
	}
}
