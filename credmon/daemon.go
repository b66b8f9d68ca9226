package credmon

import (
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vaultcred/gettoken/internal/tokenfile"
)

// Defaults and names of the daemon.
const (
	// defaultConcurrency is the default of CREDMON_MAX_CONCURRENT_REFRESHES.
	defaultConcurrency = 32
	// maxConcurrency caps CREDMON_MAX_CONCURRENT_REFRESHES.
	maxConcurrency = 1024
	// knobMaxConcurrent is the knob bounding the refreshes running at once.
	knobMaxConcurrent = "CREDMON_MAX_CONCURRENT_REFRESHES"
	// defaultRefreshTimeout bounds one Provider.Refresh call.
	defaultRefreshTimeout = 30 * time.Second
	// defaultInterval is the period of the full pass (the original's 60 s
	// loop), kept as a safety net next to inotify.
	defaultInterval = 60 * time.Second
	// deepInterval is the longest time between two deep passes (which
	// list every user directory, see fullPass).
	deepInterval = 10 * time.Minute
	// completeFile is touched in the credential directory after every
	// full pass and removed at start-up.
	completeFile = "CREDMON_COMPLETE"
	// pidFile in the credential directory holds the daemon's pid; the
	// credd sends SIGHUP to it.
	pidFile = "pid"
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
	// prefixed with their Kind (see prefixLogger).
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
	dir     *tokenfile.Dir // the user directory, opened by the worker (nil if it could not be)
	sig     fileSig        // the .top the provider was given
	readErr error          // the .top could not be read: no provider call
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
	rootDir   *tokenfile.Dir // the credential directory, opened by Run

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
	knobsLoading bool       // classifyPending's lookup is running
	knobsDone    chan error // its outcome
	// beforeWork, when set (tests), runs on the worker before it opens
	// the user directory.
	beforeWork func(Cred)
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
		knobsDone:  make(chan error, 1),
		racyWindow: racyWindow,
		deepEvery:  deepInterval,
	}
	if d.root == "" {
		d.root = "/"
	}
	if d.conc <= 0 {
		d.conc = defaultConcurrency
	}
	d.conc = min(d.conc, maxConcurrency)
	if d.timeout <= 0 {
		d.timeout = defaultRefreshTimeout
	}
	if d.interval <= 0 {
		d.interval = defaultInterval
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
		d.plog[cl] = prefixLogger(cfg.Log, p.Kind())
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
