package credmon

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/urfave/cli/v2"
	"github.com/vaultcred/gettoken/internal/htcondor"
	"github.com/vaultcred/gettoken/internal/tokenfile"
	"golang.org/x/sys/unix"
)

// Defaults and names of the daemon.
const (
	// DefaultConcurrency is the default of CREDMON_MAX_CONCURRENT_REFRESHES.
	DefaultConcurrency = 32
	// MaxConcurrency caps CREDMON_MAX_CONCURRENT_REFRESHES.
	MaxConcurrency = 1024
	// KnobMaxConcurrent is the knob bounding the refreshes running at once.
	KnobMaxConcurrent = "CREDMON_MAX_CONCURRENT_REFRESHES"
	// DefaultRefreshTimeout bounds one Provider.Refresh call.
	DefaultRefreshTimeout = 30 * time.Second
	// DefaultInterval is the period of the full pass (the original's 60 s
	// loop), kept as a safety net next to inotify.
	DefaultInterval = 60 * time.Second
	// DeepInterval is the longest time between two deep passes (which
	// list every user directory, see fullPass).
	DeepInterval = 10 * time.Minute
	// CompleteFile is touched in the credential directory after every
	// full pass and removed at start-up.
	CompleteFile = "CREDMON_COMPLETE"
	// PidFile in the credential directory holds the daemon's pid; the
	// credd sends SIGHUP to it.
	PidFile = "pid"
	// abandonGrace: a provider that ignores its context is abandoned this
	// long after the refresh timeout (its worker is freed).
	abandonGrace = 5 * time.Second
	// maxDirty: more dirty user directories than this and a full pass is
	// cheaper than listing them one by one.
	maxDirty = 1024
)

// Config configures a Daemon. CredDir, Classifier, Knobs and Log are
// required; the rest have defaults.
type Config struct {
	// CredDir is the credential directory (validated by the caller).
	CredDir string
	// Providers serve the classes; a class without a provider serves
	// nothing (its .top files are reported once and skipped).
	Providers map[Class]Provider
	// Classifier decides the class of each .top.
	Classifier *Classifier
	// Knobs caches the HTCondor configuration (<PROVIDER>_CLIENT_ID).
	Knobs *Knobs
	// Log receives the daemon's messages; providers' messages are
	// prefixed with their Kind (see PrefixLogger).
	Log *slog.Logger
	// Concurrency bounds the refreshes running at once (default 32).
	Concurrency int
	// RefreshTimeout bounds one Refresh (default 30 s).
	RefreshTimeout time.Duration
	// Interval is the period of the full pass (default 60 s).
	Interval time.Duration
	// NoWatch disables inotify.
	NoWatch bool
	// Now is the clock used for due times (default time.Now).
	Now func() time.Time
	// Jitter spreads due times (default: uniformly random).
	Jitter Jitter
	// AfterPass, when set, is called (on the daemon's goroutine) each
	// time a full pass is complete: listed, every refresh it made due
	// done and written, CREDMON_COMPLETE touched.
	AfterPass func(PassStats)
}

// PassStats describes a completed full pass. The counters cover the
// refreshes finished since the previous completed pass (including those
// started by inotify events).
type PassStats struct {
	// Seq numbers the full passes from 1.
	Seq uint64
	// Credentials is the number of .top files known (served or not).
	Credentials int
	// Queued is the number of credentials waiting for their due time.
	Queued int
	// Refreshed, Failed and Deleted count refresh outcomes.
	Refreshed, Failed, Deleted int
	// Listing is how long the listing of the directory took.
	Listing time.Duration
}

// job is one refresh handed to a worker. Workers never touch c: it only
// identifies the result.
type job struct {
	c    *cred
	cred Cred
	p    Provider
}

// result is a worker's outcome.
type result struct {
	c       *cred
	sig     fileSig // the .top the provider was given
	readErr error   // the .top could not be read: no provider call
	out     Refreshed
	err     error
}

// Daemon is the credential monitor's core: it follows the credential
// directory, decides what is due, runs the providers on a bounded pool of
// workers and writes their results. All state is owned by the goroutine
// running Run; only Rescan may be called from elsewhere.
type Daemon struct {
	root      string
	cls       *Classifier
	knobs     *Knobs
	log       *slog.Logger
	prov      [classCount]Provider
	plog      [classCount]*slog.Logger
	conc      int
	timeout   time.Duration
	interval  time.Duration
	noWatch   bool
	now       func() time.Time
	jitter    Jitter
	afterPass func(PassStats)
	euid      int
	owner     *tokenfile.Owner

	rescan  chan struct{}
	running atomic.Bool

	// State, owned by Run's goroutine.
	creds           map[string]*cred
	queue           credQueue
	reported        map[string]report
	pending         []pendingTop
	users           map[string]*userDir
	racyWindow      time.Duration
	deepEvery       time.Duration
	direntBuf       []byte
	lastDeep        time.Time
	keybuf          []byte
	gen             uint32
	passSeq         uint64
	nextFull        int64
	completePending bool
	lastListing     time.Duration
	inflight        int
	stopping        bool
	stats           PassStats
	w               *watcher
	dirty           map[string]struct{}
	needFull        bool
	watchErrLogged  bool
	watchStarted    bool
	// seedsRefined: refineSeeds ran (after the first complete pass).
	seedsRefined bool
	watchDone    chan watchReport
	rootChanged  map[string]struct{} // root events while the start-up watches are added
	results      chan result
}

// New returns a daemon for cfg.
func New(cfg Config) (*Daemon, error) {
	if cfg.CredDir == "" || cfg.Classifier == nil || cfg.Knobs == nil || cfg.Log == nil {
		return nil, errors.New("credmon: Config needs CredDir, Classifier, Knobs and Log")
	}
	d := &Daemon{
		root:       strings.TrimRight(cfg.CredDir, "/"),
		cls:        cfg.Classifier,
		knobs:      cfg.Knobs,
		log:        cfg.Log,
		conc:       cfg.Concurrency,
		timeout:    cfg.RefreshTimeout,
		interval:   cfg.Interval,
		noWatch:    cfg.NoWatch,
		now:        cfg.Now,
		jitter:     cfg.Jitter,
		afterPass:  cfg.AfterPass,
		euid:       os.Geteuid(),
		rescan:     make(chan struct{}, 1),
		creds:      map[string]*cred{},
		reported:   map[string]report{},
		dirty:      map[string]struct{}{},
		users:      map[string]*userDir{},
		watchDone:  make(chan watchReport, 1),
		racyWindow: racyWindow,
		deepEvery:  DeepInterval,
	}
	if d.root == "" {
		d.root = "/"
	}
	if d.conc <= 0 {
		d.conc = DefaultConcurrency
	}
	d.conc = min(d.conc, MaxConcurrency)
	if d.timeout <= 0 {
		d.timeout = DefaultRefreshTimeout
	}
	if d.interval <= 0 {
		d.interval = DefaultInterval
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.jitter == nil {
		d.jitter = randomJitter
	}
	if d.euid == 0 {
		d.owner = &tokenfile.Owner{UID: 0, GID: 0}
	}
	for cl, p := range cfg.Providers {
		if cl == ClassNone || cl >= classCount || p == nil {
			continue
		}
		d.prov[cl] = p
		d.plog[cl] = PrefixLogger(cfg.Log, p.Kind())
	}
	return d, nil
}

// Rescan asks for a full pass as soon as possible (SIGHUP). It never
// blocks; requests made while one is pending are merged.
func (d *Daemon) Rescan() {
	select {
	case d.rescan <- struct{}{}:
	default:
	}
}

// Run serves the credential directory until ctx is done: then it starts
// no new refresh, waits for those running (each bounded by the refresh
// timeout), writes their results and returns nil. Run may be called once.
func (d *Daemon) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("credmon: Run called twice")
	}
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
			debounce.Reset(Debounce)
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
				d.log.Info(fmt.Sprintf("Stopping: waiting for %d refreshes in progress", d.inflight))
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
		if d.completePending && d.inflight == 0 && !dueNow && !d.stopping {
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
			d.plog[c.class].Info(fmt.Sprintf("Refreshing %s token for user %s", c.name(), c.user()))
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
				d.log.Warn(fmt.Sprintf("inotify error (further ones not logged): %v", err))
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
	d.log.Debug(fmt.Sprintf("inotify watches on %d user directories", len(rep.ok)))
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
	if err := touch(d.root + "/" + CompleteFile); err != nil {
		d.log.Error(fmt.Sprintf("Cannot touch %s: %v", d.root+"/"+CompleteFile, err))
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
	d.log.Debug(fmt.Sprintf("Pass %d complete: %d credentials, %d refreshed, %d failed, %d deleted; sleeping for %v unless interrupted",
		s.Seq, s.Credentials, s.Refreshed, s.Failed, s.Deleted, d.interval))
	if d.afterPass != nil {
		d.afterPass(s)
	}
}

// work runs on a worker: reads the .top and calls the provider with the
// refresh timeout. A provider that panics or ignores its context does not
// take the worker with it.
func (d *Daemon) work(ctx context.Context, j job) result {
	r := result{c: j.c}
	top, sig, err := readChecked(j.cred.Top(), d.euid)
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
		out, err := j.p.Refresh(cctx, j.cred, top)
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
	c := r.c
	changed := c.has(fChangedInFlight)
	c.clear(fInflight | fChangedInFlight)
	if d.creds[c.key] != c {
		return // its .top disappeared meanwhile: write nothing
	}
	plog := d.plog[c.class]
	cr := d.credOf(c)
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
			d.reportOnce(cr.Top(), r.sig, "Ignoring %v", r.readErr)
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
		plog.Error(fmt.Sprintf("Not refreshing %s token for user %s until its .top changes: %v", c.name(), c.user(), r.err))
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
	d.plog[c.class].Error(fmt.Sprintf("Failed to refresh %s token for user %s: %v (failure %d, next attempt in %v)",
		cr.Name, cr.User, err, c.failures, time.Duration(due-now.UnixNano()).Round(time.Second)))
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
		if cur := lstatSig(cr.Top()); cur != r.sig {
			d.queue.schedule(c, 0) // re-stored meanwhile: the credd's copy wins
			return
		}
		if err := tokenfile.Write(cr.Top(), r.out.Top, tokenfile.Options{Mode: 0o600, AllowForeign: true, Chown: d.owner}); err != nil {
			d.fail(c, cr, now, fmt.Errorf("writing %s: %w", cr.Top(), err))
			return
		}
		c.sig = lstatSig(cr.Top())
	}
	if err := tokenfile.Write(cr.Use(), r.out.Use, tokenfile.Options{Mode: 0o400, AllowForeign: true, Chown: d.owner, NoSync: true}); err != nil {
		d.fail(c, cr, now, fmt.Errorf("writing %s: %w", cr.Use(), err))
		return
	}
	c.failures = 0
	c.set(fUseSeen)
	c.clear(fInvalid)
	next := d.prov[c.class].NextRefresh(cr, r.out.Use, now)
	d.queue.schedule(c, dueAfterWrite(now, next, d.jitter))
	d.stats.Refreshed++
	d.plog[c.class].Info(fmt.Sprintf("Successfully refreshed %s token for user %s", cr.Name, cr.User))
}

// remove handles ErrDelete: the .top and .use are removed, unless the .top
// was re-stored meanwhile; then the credentials whose parent (the name up
// to its last '_') it was are made due at once, so that the provider
// reports them in the same pass.
func (d *Daemon) remove(c *cred, cr Cred, r result, changed bool) {
	plog := d.plog[c.class]
	if changed || lstatSig(cr.Top()) != r.sig {
		plog.Info(fmt.Sprintf("Not deleting %s token for user %s: its .top was stored again meanwhile", cr.Name, cr.User))
		d.queue.schedule(c, 0)
		return
	}
	plog.Warn(fmt.Sprintf("Deleting %s token for user %s: %v", cr.Name, cr.User, r.err))
	for _, p := range []string{cr.Top(), cr.Use()} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			plog.Error(fmt.Sprintf("Cannot remove %s: %v", p, err))
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

// touch creates path or updates its times, never following a symlink.
func touch(path string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0o644)
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	now := time.Now()
	tv := []unix.Timeval{unix.NsecToTimeval(now.UnixNano()), unix.NsecToTimeval(now.UnixNano())}
	if err := unix.Futimes(fd, tv); err != nil {
		return &fs.PathError{Op: "utimes", Path: path, Err: err}
	}
	return nil
}

// DefaultName is the daemon name when -n is not given: the master's
// CREDMON_OAUTH, which prefixes the knobs CREDMON_OAUTH_LOG,
// MAX_CREDMON_OAUTH_LOG and CREDMON_OAUTH_DEBUG.
const DefaultName = "CREDMON_OAUTH"

// Exit statuses of Main.
const (
	// ExitOK: stopped by SIGTERM, SIGINT or SIGQUIT (or -h).
	ExitOK = 0
	// ExitFailure: configuration, credential directory, pid file or
	// provider set-up failed.
	ExitFailure = 1
	// ExitUsage: bad command line (as Python's argparse).
	ExitUsage = 2
	// ExitLog: the log file cannot be opened (and -v is not given); tells
	// the condor_master about a logging error.
	ExitLog = 44
	// ExitNoRestart: a provider list names an invalid provider
	// (DAEMON_NO_RESTART: the master does not restart the daemon).
	ExitNoRestart = 99
)

// ErrCredDir is matched by the errors about an unusable credential
// directory.
var ErrCredDir = errors.New("unusable credential directory")

// ProviderEnv is what a ProviderFactory gets to build its provider.
type ProviderEnv struct {
	// Name is the daemon name (-n).
	Name string
	// CredDir is the credential directory.
	CredDir string
	// Knobs holds the HTCondor configuration; the factory's Knobs are
	// loaded already.
	Knobs *Knobs
	// Log is the daemon's logger with the provider's prefix.
	Log *slog.Logger
	// Classifier is the daemon's (provider names, local and client
	// lists); see PerName.
	Classifier *Classifier
}

// PerName is a Provider that hands each credential to the provider of its
// provider name (Classifier.ProviderName): the local-issuer and
// client-credentials credmons run one instance per name, while the daemon
// has one provider per class. Providers not in Providers are made by Build
// on first use (so a daemon with no such credentials reads no such
// configuration) and kept, as are Build's errors.
type PerName struct {
	// KindName is the Kind reported ("LOCAL", "CLIENT").
	KindName string
	// Classifier derives the provider name of a credential.
	Classifier *Classifier
	// Providers by provider name.
	Providers map[string]Provider
	// Build, when set, makes the provider of a name not in Providers.
	Build func(name string) (Provider, error)

	mu   sync.Mutex
	errs map[string]error
}

func (m *PerName) lookup(c Cred) (Provider, error) {
	name, ok := m.Classifier.ProviderName(c.Name)
	if !ok {
		return nil, fmt.Errorf("%w: no %s provider serves %s", ErrInvalid, m.KindName, c.Name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.Providers[name]; p != nil {
		return p, nil
	}
	if err := m.errs[name]; err != nil {
		return nil, err
	}
	if m.Build == nil {
		return nil, fmt.Errorf("%w: no %s provider serves %s", ErrInvalid, m.KindName, c.Name)
	}
	p, err := m.Build(name)
	if err != nil {
		err = fmt.Errorf("%w: %s provider %s is not configured correctly: %v", ErrInvalid, strings.ToLower(m.KindName), name, err)
		if m.errs == nil {
			m.errs = map[string]error{}
		}
		m.errs[name] = err
		return nil, err
	}
	if m.Providers == nil {
		m.Providers = map[string]Provider{}
	}
	m.Providers[name] = p
	return p, nil
}

// Kind implements Provider.
func (m *PerName) Kind() string { return m.KindName }

// Refresh implements Provider: the provider of c's provider name
// refreshes it; without one, c is invalid (ErrInvalid).
func (m *PerName) Refresh(ctx context.Context, c Cred, top []byte) (Refreshed, error) {
	p, err := m.lookup(c)
	if err != nil {
		return Refreshed{}, err
	}
	return p.Refresh(ctx, c, top)
}

// NextRefresh implements Provider (written, for a name no provider serves).
func (m *PerName) NextRefresh(c Cred, use []byte, written time.Time) time.Time {
	if p, err := m.lookup(c); err == nil {
		return p.NextRefresh(c, use, written)
	}
	return written
}

// ProviderFactory builds the provider of one class at start-up.
type ProviderFactory struct {
	// Class served by the provider.
	Class Class
	// Knobs the provider reads: fetched in the daemon's one start-up
	// batch of configuration lookups.
	Knobs []string
	// New builds the provider. An error stops the daemon (exit 1).
	New func(ctx context.Context, env ProviderEnv) (Provider, error)
}

var (
	registryMu sync.Mutex
	registry   []ProviderFactory
)

// Register adds a provider factory to those Main uses by default; the
// provider files call it from an init function.
func Register(f ProviderFactory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry = append(registry, f)
}

// Registered returns the factories added with Register.
func Registered() []ProviderFactory {
	registryMu.Lock()
	defer registryMu.Unlock()
	return slices.Clone(registry)
}

// MainOptions are Main's dependencies; the zero value is the real process.
type MainOptions struct {
	// Stdout receives -h; default os.Stdout.
	Stdout io.Writer
	// Stderr receives usage errors, start-up errors and, with -v, the
	// log; default os.Stderr.
	Stderr io.Writer
	// Config supplies the knobs; default: _CONDOR_ environment overrides
	// and condor_config_val, all knobs undefined when condor_config_val is
	// not installed.
	Config Source
	// Providers; default Registered().
	Providers []ProviderFactory
	// NoWatch disables inotify.
	NoWatch bool
	// AfterPass is passed to the Daemon (tests).
	AfterPass func(PassStats)
}

type mainFlags struct {
	name, credDir, logFile string
	debug, verbose         bool
}

// Main is the condor_credmon_vault process (see the package
// documentation): it parses args (args[0] is the program name), sets up
// logging, the credential directory, the pid file and the signal handlers,
// and runs the daemon until SIGTERM, SIGINT or SIGQUIT, or until ctx is
// done. It returns the exit status.
func Main(ctx context.Context, args []string, o MainOptions) int {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	prog := "condor_credmon_vault"
	if len(args) > 0 {
		prog = filepath.Base(args[0])
	}
	fl, code, ok := parseArgs(prog, args, o.Stdout, o.Stderr)
	if !ok {
		return code
	}
	if !ValidKnobName(fl.name) {
		fmt.Fprintf(o.Stderr, "%s: invalid daemon name %q: only letters, digits and _ are allowed\n", prog, fl.name)
		return ExitUsage
	}
	factories := o.Providers
	if factories == nil {
		factories = Registered()
	}

	// One batch for every static knob.
	src := o.Config
	var missing *notInstalled
	if src == nil {
		missing = &notInstalled{}
		src = defaultSource(missing)
	}
	knobs := NewKnobs(src)
	name := fl.name
	static := []string{
		"SEC_CREDENTIAL_DIRECTORY_OAUTH", "SEC_CREDENTIAL_DIRECTORY",
		name + "_LOG", "LOG", "MAX_" + name + "_LOG", "MAX_DEFAULT_LOG", name + "_DEBUG",
		KnobMaxConcurrent,
	}
	static = append(static, ClassifierKnobs...)
	for _, f := range factories {
		static = append(static, f.Knobs...)
	}
	lctx, cancel := context.WithTimeout(ctx, 2*knobTimeout)
	err := knobs.Load(lctx, static...)
	cancel()
	if err != nil {
		fmt.Fprintf(o.Stderr, "%s: %v\n", prog, err)
		return ExitFailure
	}

	logger, closeLog, code, ok := setupLogging(prog, fl, knobs, o.Stderr)
	if !ok {
		return code
	}
	defer closeLog()
	logger.Info(fmt.Sprintf("Starting %s (%s), pid %d", prog, name, os.Getpid()))
	if missing != nil && missing.get() != nil {
		logger.Warn(fmt.Sprintf("%v: only _CONDOR_ environment settings and the command line are used", missing.get()))
	}

	cls, err := NewClassifier(knobs)
	if err != nil {
		logger.Error(err.Error())
		return ExitFailure
	}
	warnings, err := cls.Check()
	if err != nil {
		logger.Error(err.Error())
		fmt.Fprintf(o.Stderr, "%s: %v\n", prog, err)
		return ExitNoRestart
	}
	for _, w := range warnings {
		logger.Warn(w)
	}

	dir := fl.credDir
	if dir == "" {
		dir = knobs.String("SEC_CREDENTIAL_DIRECTORY_OAUTH", "")
	}
	if dir == "" {
		dir = knobs.String("SEC_CREDENTIAL_DIRECTORY", "")
	}
	if dir == "" {
		err = fmt.Errorf("%w: none given (-c, SEC_CREDENTIAL_DIRECTORY_OAUTH or SEC_CREDENTIAL_DIRECTORY)", ErrCredDir)
	} else {
		err = prepareCredDir(dir)
	}
	if err != nil {
		logger.Error(err.Error())
		fmt.Fprintf(o.Stderr, "%s: %v\n", prog, err)
		return ExitFailure
	}

	providers := map[Class]Provider{}
	for _, f := range factories {
		if f.New == nil || f.Class == ClassNone || f.Class >= classCount {
			continue
		}
		if providers[f.Class] != nil {
			logger.Error(fmt.Sprintf("Two %s providers registered", f.Class))
			return ExitFailure
		}
		p, err := f.New(ctx, ProviderEnv{Name: name, CredDir: dir, Knobs: knobs, Log: PrefixLogger(logger, f.Class.String()), Classifier: cls})
		if err != nil {
			logger.Error(fmt.Sprintf("Cannot set up the %s provider: %v", f.Class, err))
			return ExitFailure
		}
		providers[f.Class] = p
	}
	conc, err := knobs.Int(KnobMaxConcurrent, DefaultConcurrency)
	if err != nil || conc < 1 || conc > MaxConcurrency {
		logger.Warn(fmt.Sprintf("%s must be an integer from 1 to %d; using %d", KnobMaxConcurrent, MaxConcurrency, DefaultConcurrency))
		conc = DefaultConcurrency
	}

	d, err := New(Config{
		CredDir: dir, Providers: providers, Classifier: cls, Knobs: knobs, Log: logger,
		Concurrency: int(conc), NoWatch: o.NoWatch, AfterPass: o.AfterPass,
	})
	if err != nil {
		logger.Error(err.Error())
		return ExitFailure
	}

	// As the original: signal handlers, then the pid file, then the loop.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := writePid(dir); err != nil {
		logger.Error(err.Error())
		fmt.Fprintf(o.Stderr, "%s: %v\n", prog, err)
		return ExitFailure
	}
	if err := os.Remove(filepath.Join(dir, CompleteFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		logger.Warn(fmt.Sprintf("Cannot remove %s: %v", filepath.Join(dir, CompleteFile), err))
	}

	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(runCtx) }()
	parent := ctx.Done()
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGHUP {
				logger.Info("Got SIGHUP: Triggering READ of Credential Directory")
				d.Rescan()
				continue
			}
			logger.Info(fmt.Sprintf("Got signal %d (%v): finishing the refreshes in progress, then terminating", s, s))
			stop()
		case <-parent:
			parent = nil
			stop()
		case err := <-runErr:
			if err != nil {
				logger.Error(err.Error())
				return ExitFailure
			}
			logger.Info("Exiting")
			return ExitOK
		}
	}
}

// parseArgs parses the command line with urfave/cli. ok is false when
// Main must return code at once (-h, or a usage error).
func parseArgs(prog string, args []string, stdout, stderr io.Writer) (fl mainFlags, code int, ok bool) {
	ran := false
	app := &cli.App{
		Name:                   prog,
		Usage:                  "HTCondor credential monitor for Vault, OAuth, local-issuer and client-credentials tokens",
		HideHelpCommand:        true,
		HideVersion:            true,
		UseShortOptionHandling: true,
		Writer:                 stdout,
		ErrWriter:              stderr,
		ExitErrHandler:         func(*cli.Context, error) {},
		OnUsageError:           func(_ *cli.Context, err error, _ bool) error { return err },
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Value: DefaultName, Usage: "daemon `NAME`: prefix of the knobs NAME_LOG, MAX_NAME_LOG, NAME_DEBUG", Destination: &fl.name},
			&cli.StringFlag{Name: "cred-dir", Aliases: []string{"c"}, Usage: "credential `DIR` (default SEC_CREDENTIAL_DIRECTORY_OAUTH, else SEC_CREDENTIAL_DIRECTORY)", Destination: &fl.credDir},
			&cli.StringFlag{Name: "log-file", Aliases: []string{"l"}, Usage: "log `FILE` (default NAME_LOG, else $(LOG)/<CamelName>Log)", Destination: &fl.logFile},
			&cli.BoolFlag{Name: "debug", Aliases: []string{"d"}, Usage: "log debug messages", Destination: &fl.debug},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log to stderr too", Destination: &fl.verbose},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q", c.Args().First())
			}
			ran = true
			return nil
		},
	}
	if len(args) == 0 {
		args = []string{prog}
	}
	if err := app.Run(args); err != nil {
		fmt.Fprintf(stderr, "%s: %v\nusage: %s [-n NAME] [-c DIR] [-l FILE] [-d] [-v]\n", prog, err, prog)
		return fl, ExitUsage, false
	}
	if !ran {
		return fl, ExitOK, false
	}
	return fl, 0, true
}

// setupLogging opens the log: --log-file, else <NAME>_LOG, else
// $(LOG)/<CamelName>Log, rotated at MAX_<NAME>_LOG (else MAX_DEFAULT_LOG,
// else 10 MiB). -v adds stderr; without -v a log that cannot be opened is
// exit 44. With no file at all (no LOG knob either), the log goes to
// stderr.
func setupLogging(prog string, fl mainFlags, knobs *Knobs, stderr io.Writer) (*slog.Logger, func(), int, bool) {
	path := fl.logFile
	if path == "" {
		path = knobs.String(fl.name+"_LOG", "")
	}
	if path == "" {
		if dir := knobs.String("LOG", ""); dir != "" {
			path = filepath.Join(dir, CamelName(fl.name)+"Log")
		}
	}
	var notes []string
	maxLog := int64(DefaultMaxLog)
	for _, k := range []string{"MAX_" + fl.name + "_LOG", "MAX_DEFAULT_LOG"} {
		if v, ok := knobs.Lookup(k); ok {
			n, err := ParseSize(v)
			if err != nil {
				notes = append(notes, fmt.Sprintf("%s: %v; using %d", k, err, DefaultMaxLog))
			} else {
				maxLog = n
			}
			break
		}
	}
	var ws []io.Writer
	closeLog := func() {}
	if path != "" {
		lf, err := OpenLog(path, maxLog)
		if err != nil {
			if !fl.verbose {
				fmt.Fprintf(stderr, "%s: cannot open the log file %s: %v\n", prog, path, err)
				return nil, nil, ExitLog, false
			}
			notes = append(notes, fmt.Sprintf("Cannot open the log file %s: %v; logging to stderr only", path, err))
		} else {
			ws = append(ws, lf)
			closeLog = func() { lf.Close() }
		}
	}
	if fl.verbose || len(ws) == 0 {
		ws = append(ws, stderr)
	}
	level := slog.LevelInfo
	if fl.debug || debugKnob(knobs.String(fl.name+"_DEBUG", "")) {
		level = slog.LevelDebug
	}
	logger := slog.New(NewHandler(LineWriter(ws...), level))
	if path == "" {
		notes = append(notes, fmt.Sprintf("No log file (-l, %s_LOG or LOG): logging to stderr", fl.name))
	}
	for _, n := range notes {
		logger.Warn(n)
	}
	return logger, closeLog, 0, true
}

// debugKnob reports whether a <NAME>_DEBUG value asks for debug messages.
func debugKnob(v string) bool {
	for _, w := range SplitList(v) {
		w, _, _ = strings.Cut(strings.ToUpper(w), ":")
		if w == "D_FULLDEBUG" || w == "D_ALL" || w == "D_ANY" {
			return true
		}
	}
	return false
}

// prepareCredDir creates the credential directory (mode 02770) if it is
// missing and refuses one that others may read, write or search, or that
// the daemon cannot read, write and search.
func prepareCredDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("%w: creating %s: %w", ErrCredDir, dir, err)
		}
		if err := os.Mkdir(dir, 0o770|os.ModeSetgid); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: creating %s: %w", ErrCredDir, dir, err)
		}
		if err := os.Chmod(dir, 0o770|os.ModeSetgid); err != nil {
			return fmt.Errorf("%w: %w", ErrCredDir, err)
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCredDir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrCredDir, dir)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		return fmt.Errorf("%w: the credential directory %s is readable and/or writable by others (mode %04o)", ErrCredDir, dir, fi.Mode().Perm())
	}
	if err := unix.Access(dir, unix.R_OK|unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("%w: the credential directory %s is not readable, writable and searchable: %w", ErrCredDir, dir, err)
	}
	return nil
}

// writePid writes <dir>/pid: the decimal pid, no newline, atomically.
func writePid(dir string) error {
	path := filepath.Join(dir, PidFile)
	if err := tokenfile.Write(path, []byte(strconv.Itoa(os.Getpid())), tokenfile.Options{Mode: 0o644, AllowForeign: true}); err != nil {
		return fmt.Errorf("writing the pid file: %w", err)
	}
	return nil
}

// notInstalled records that condor_config_val could not be found.
type notInstalled struct{ err atomic.Pointer[error] }

func (n *notInstalled) get() error {
	if p := n.err.Load(); p != nil {
		return *p
	}
	return nil
}

// defaultSource is the production configuration: _CONDOR_ overrides and
// condor_config_val (searched on PATH, then /usr/bin, /usr/sbin, /bin,
// /sbin). When condor_config_val is missing, every knob it would be asked
// is undefined, and missing records why.
func defaultSource(missing *notInstalled) Source {
	ex := htcondor.Exec{ExtraDirs: []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin"}}
	run := func(ctx context.Context, name string, args ...string) ([]byte, []byte, int, error) {
		out, errb, code, err := ex.Run(ctx, name, args...)
		if errors.Is(err, htcondor.ErrNotInstalled) {
			missing.err.Store(&err)
			var b strings.Builder
			for _, a := range args {
				b.WriteString("Not defined: " + strings.ToUpper(a) + "\n")
			}
			return nil, []byte(b.String()), 1, nil
		}
		return out, errb, code, err
	}
	return htcondor.New(htcondor.Options{Runner: run})
}
