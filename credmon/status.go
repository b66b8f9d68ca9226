package credmon

// The status file: the daemon's per-credential state, written by the
// daemon after every full pass in which something changed, and printed
// by "condor_credmon_vault status".
//
// A file rather than a socket: it needs no listener, no extra goroutine
// serving requests and no protocol; it outlives the daemon (the last
// state of a crashed or stopped daemon can still be read, with its time
// and pid); and its protection is the file system's (root-owned, 0600, in
// the credential directory that is already closed to others). The cost
// is a write per changed pass, off the daemon's goroutine, and an idle
// pass writes nothing.

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/vaultcred/gettoken/internal/tokenfile"
)

// StatusFile is the name of the status file in the credential directory.
const StatusFile = "CREDMON_STATUS"

// maxStatusSize bounds the status file the status command reads (about
// 300 bytes a credential: room for a million).
const maxStatusSize = 512 << 20

// StatusDoc is the content of the status file (JSON) and the output of
// "status --json".
type StatusDoc struct {
	// Daemon is the daemon name (-n); Pid the process that wrote it.
	Daemon string `json:"daemon"`
	Pid    int    `json:"pid"`
	// Written is when the daemon wrote the file; Pass the number of the
	// full pass.
	Written time.Time `json:"written"`
	Pass    uint64    `json:"pass"`
	// Credentials, sorted by user and name.
	Credentials []StatusCred `json:"credentials"`
}

// StatusCred is one credential in the status file. It never holds a
// token: only names, times, counts and error texts.
type StatusCred struct {
	User     string `json:"user"`
	Name     string `json:"name"`
	Provider string `json:"provider,omitempty"`
	State    State  `json:"state"`
	// UseExpiry is the expiry of the token in the .use, when known.
	UseExpiry *time.Time `json:"use_expiry,omitempty"`
	// NextRefresh is when the next refresh is due (absent: not
	// scheduled).
	NextRefresh *time.Time `json:"next_refresh,omitempty"`
	Failures    int        `json:"failures,omitempty"`
	// BackoffSeconds is the back-off after the last failure.
	BackoffSeconds float64 `json:"backoff_seconds,omitempty"`
	LastError      string  `json:"last_error,omitempty"`
	ErrorKind      string  `json:"error_kind,omitempty"`
}

// StatusWriter is the Observer that keeps the status file: at the end of
// each full pass in which something changed (and the first), it copies
// the states on the daemon's goroutine, then sorts, encodes and writes
// them atomically (mode 0600, through the credential directory's handle)
// on its own goroutine; a write still running when the next is asked
// for is followed by the latest one only.
type StatusWriter struct {
	dir    *tokenfile.Dir
	name   string
	log    *slog.Logger
	owner  *tokenfile.Owner
	ch     chan StatusDoc
	done   chan struct{}
	once   sync.Once
	wrote  bool
	kinds  map[string]string // error text -> kind, filled by Refreshed
	failed error             // the last write error logged
}

// NewStatusWriter writes dir/StatusFile for the daemon name. Close stops
// it after the last write.
func NewStatusWriter(dir, name string, log *slog.Logger) (*StatusWriter, error) {
	d, err := tokenfile.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &StatusWriter{dir: d, name: name, log: log, ch: make(chan StatusDoc, 1), done: make(chan struct{}), kinds: map[string]string{}}
	if os.Geteuid() == 0 {
		w.owner = &tokenfile.Owner{UID: 0, GID: 0}
	}
	go w.loop()
	return w, nil
}

// Refreshed implements Observer: it remembers the kind of each error.
func (w *StatusWriter) Refreshed(e RefreshEvent) {
	if e.Err != nil {
		w.kinds[e.Err.Error()] = ErrorKind(e.Provider, e.Err)
	}
}

// WatchEvent implements Observer.
func (w *StatusWriter) WatchEvent(bool) {}

// PassComplete implements Observer.
func (w *StatusWriter) PassComplete(r PassReport) {
	if !r.Changed && w.wrote {
		return
	}
	w.wrote = true
	doc := StatusDoc{Daemon: w.name, Pid: os.Getpid(), Written: r.Now.UTC().Truncate(time.Second), Pass: r.Seq}
	doc.Credentials = make([]StatusCred, 0, r.Credentials)
	used := make(map[string]string, len(w.kinds))
	for s := range r.Creds {
		c := StatusCred{User: s.User, Name: s.Name, Provider: s.Provider, State: s.State, Failures: s.Failures,
			BackoffSeconds: s.Backoff.Seconds(), LastError: s.LastError}
		if !s.UseExpiry.IsZero() {
			t := s.UseExpiry.UTC()
			c.UseExpiry = &t
		}
		if !s.NextRefresh.IsZero() && s.NextRefresh.Before(latestDue) {
			t := s.NextRefresh.UTC().Truncate(time.Second)
			c.NextRefresh = &t
		}
		if s.LastError != "" {
			c.ErrorKind = w.kinds[s.LastError]
			used[s.LastError] = c.ErrorKind
		}
		doc.Credentials = append(doc.Credentials, c)
	}
	w.kinds = used
	select {
	case <-w.ch: // superseded
	default:
	}
	w.ch <- doc
}

func (w *StatusWriter) loop() {
	defer close(w.done)
	for doc := range w.ch {
		slices.SortFunc(doc.Credentials, func(a, b StatusCred) int {
			return cmp.Or(strings.Compare(a.User, b.User), strings.Compare(a.Name, b.Name))
		})
		b, err := json.Marshal(doc)
		if err == nil {
			err = w.dir.WriteAtomic(StatusFile, append(b, '\n'), tokenfile.Options{Mode: 0o600, AllowForeign: true, Chown: w.owner, NoSync: true})
		}
		if err != nil && (w.failed == nil || w.failed.Error() != err.Error()) {
			w.log.Warn("Cannot write the status file", "file", w.dir.Join(StatusFile), "error", err)
		}
		w.failed = err
	}
}

// Close waits for the last write and releases the directory.
func (w *StatusWriter) Close() error {
	w.once.Do(func() {
		close(w.ch)
		<-w.done
		w.dir.Close()
	})
	return nil
}

// ReadStatus reads the status file of the credential directory dir: a
// regular file, not a symlink, owned by root or by the caller.
func ReadStatus(dir string) (StatusDoc, error) {
	var doc StatusDoc
	d, err := tokenfile.OpenDir(dir)
	if err != nil {
		return doc, err
	}
	defer d.Close()
	b, _, err := d.ReadFile(StatusFile, tokenfile.Checks{Owners: []int{0, os.Geteuid()}, MaxSize: maxStatusSize})
	if err != nil {
		return doc, err
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return doc, fmt.Errorf("%s: %s", d.Join(StatusFile), jsonErrorText(err))
	}
	return doc, nil
}

// Current brings the states of a document read later than it was
// written up to now: a fresh credential whose next refresh has passed is
// due.
func (doc *StatusDoc) Current(now time.Time) {
	for i := range doc.Credentials {
		c := &doc.Credentials[i]
		if c.State == StateFresh && c.NextRefresh != nil && !c.NextRefresh.After(now) {
			c.State = StateDue
		}
	}
}

// PrintStatus writes doc as a table: one line per credential, times as
// local times with the interval from now.
func PrintStatus(out io.Writer, doc StatusDoc, now time.Time) error {
	counts := map[State]int{}
	for _, c := range doc.Credentials {
		counts[c.State]++
	}
	var sum []string
	for _, s := range States {
		if counts[s] > 0 {
			sum = append(sum, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if len(sum) == 0 {
		sum = []string{"none"}
	}
	running := ""
	if !alive(doc.Pid) {
		running = ", not running"
	}
	fmt.Fprintf(out, "%s (pid %d%s), pass %d, written %s (%s ago): %d credentials: %s\n",
		doc.Daemon, doc.Pid, running, doc.Pass, doc.Written.Local().Format(time.DateTime), roundAgo(now.Sub(doc.Written)),
		len(doc.Credentials), strings.Join(sum, ", "))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tTOKEN\tPROVIDER\tSTATE\tUSE EXPIRES\tNEXT REFRESH\tBACK-OFF\tLAST ERROR")
	for _, c := range doc.Credentials {
		backoff := "-"
		if c.Failures > 0 {
			backoff = fmt.Sprintf("%s (failures: %d)", time.Duration(c.BackoffSeconds*float64(time.Second)).Round(time.Second), c.Failures)
		}
		errText := "-"
		if c.LastError != "" {
			errText = oneLine(c.LastError)
			if c.ErrorKind != "" {
				errText = c.ErrorKind + ": " + errText
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.User, c.Name, cmp.Or(c.Provider, "-"), c.State,
			when(c.UseExpiry, now), when(c.NextRefresh, now), backoff, errText)
	}
	return tw.Flush()
}

func when(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	d := t.Sub(now)
	rel := "in " + roundAgo(d)
	if d < 0 {
		rel = roundAgo(-d) + " ago"
	}
	return t.Local().Format(time.DateTime) + " (" + rel + ")"
}

func roundAgo(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String()
}

// oneLine keeps a table row on one line whatever an error says.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// alive reports whether process pid exists.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
