package credmon

// The daemon's observer hooks: what metrics and the status file see. The
// core calls an Observer at four points only (see Observer); everything
// else (Prometheus, the status file) is built on those calls.

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"net"
	"os"
	"strings"
	"time"

	"github.com/vaultcred/gettoken/internal/jwtdecode"
)

// Outcome is how one refresh ended.
type Outcome string

// Refresh outcomes.
const (
	// OutcomeOK: the .use was written.
	OutcomeOK Outcome = "ok"
	// OutcomeFailed: the refresh failed; it is retried after a back-off.
	OutcomeFailed Outcome = "failed"
	// OutcomeInvalid: the credential is parked until its .top changes.
	OutcomeInvalid Outcome = "invalid"
	// OutcomeDeleted: the provider asked for the credential's removal.
	OutcomeDeleted Outcome = "deleted"
)

// State is where a credential stands at the end of a pass.
type State string

// Credential states.
const (
	// StateFresh: its .use is written and its next refresh is later.
	StateFresh State = "fresh"
	// StateDue: its refresh is due (or running) and has not failed.
	StateDue State = "due"
	// StateBackingOff: its last refresh failed; it is retried after a
	// back-off.
	StateBackingOff State = "backing_off"
	// StateFailing: refused (invalid .top, unreadable file, no provider
	// configured for it): nothing is tried until its .top changes.
	StateFailing State = "failing"
	// StateUnserved: no provider of this daemon serves the .top.
	StateUnserved State = "unserved"
)

// States lists every State, in the order reports use.
var States = []State{StateFresh, StateDue, StateBackingOff, StateFailing, StateUnserved}

// RefreshEvent is one finished refresh (or refresh attempt).
type RefreshEvent struct {
	// User and Name identify the credential (<User>/<Name>.top).
	User, Name string
	// Provider is the provider's Kind ("VAULT", "OAUTH", ...).
	Provider string
	// Outcome is how it ended.
	Outcome Outcome
	// Latency is the provider's time (zero when the .top could not be
	// read and no provider was called).
	Latency time.Duration
	// Err is the failure (nil for OutcomeOK). Its text never holds a
	// secret (the providers' errors name files and servers only).
	Err error
}

// CredState is one credential's state, as the daemon keeps it.
type CredState struct {
	// User and Name identify the credential.
	User, Name string
	// Provider is the provider's Kind, "" when none serves it.
	Provider string
	// State summarises the rest.
	State State
	// UseExpiry is the expiry of the token last written to the .use
	// (zero when unknown: not a JWT, or not read since start-up).
	UseExpiry time.Time
	// NextRefresh is when the next refresh is due (zero: not scheduled;
	// a time in the past: overdue or running).
	NextRefresh time.Time
	// Failures counts consecutive failures; Backoff is the delay after
	// the last one.
	Failures int
	Backoff  time.Duration
	// LastError is the text of the last failure since the last success.
	LastError string
}

// PassReport is what an Observer gets at the end of each full pass.
type PassReport struct {
	PassStats
	// Deep is true for a pass that listed every user directory.
	Deep bool
	// Duration is from the start of the listing to the completion (every
	// refresh the pass made due done and written).
	Duration time.Duration
	// Now is the daemon's clock at completion.
	Now time.Time
	// Changed is false when no refresh finished and no credential was
	// added or removed since the previous report: the states differ only
	// by the passing of time.
	Changed bool
	// NextDue is the earliest due time in the queue (zero when empty).
	NextDue time.Time
	// Creds yields every credential's state; Counts counts them by
	// state (cheaper). Both are valid only during the call.
	Creds  iter.Seq[CredState]
	Counts func() map[State]int
}

// Observer sees what the daemon does. Its methods are called on the
// daemon's goroutine: they must be quick and must not block (hand slow
// work, such as a file write, to another goroutine, or keep it small).
// The core calls them at exactly these points:
//
//   - Refreshed: in handle (work.go), once per finished refresh attempt;
//   - WatchEvent: in Run's loop (loop.go), once per inotify event and
//     queue overflow;
//   - PassComplete: in complete (loop.go), after CREDMON_COMPLETE is
//     touched.
type Observer interface {
	Refreshed(RefreshEvent)
	WatchEvent(overflow bool)
	PassComplete(PassReport)
}

// Observers combines observers into one (nil entries are skipped).
func Observers(obs ...Observer) Observer {
	var m multiObserver
	for _, o := range obs {
		if o != nil {
			m = append(m, o)
		}
	}
	switch len(m) {
	case 0:
		return nil
	case 1:
		return m[0]
	}
	return m
}

type multiObserver []Observer

func (m multiObserver) Refreshed(e RefreshEvent) {
	for _, o := range m {
		o.Refreshed(e)
	}
}

func (m multiObserver) WatchEvent(overflow bool) {
	for _, o := range m {
		o.WatchEvent(overflow)
	}
}

func (m multiObserver) PassComplete(r PassReport) {
	for _, o := range m {
		o.PassComplete(r)
	}
}

// ErrorKind sorts a refresh failure into a few stable kinds for metrics
// and the status view: "timeout", "network", "tls", "idp" (a token
// endpoint's error), "discovery" (OIDC discovery), "invalid" (a bad
// .top or configuration), "revoked" (ErrDelete), "file" (a file the
// daemon refused or could not write), "vault" (an error answer from
// Vault), "other".
func ErrorKind(provider string, err error) string {
	var te *TokenEndpointError
	var de *DiscoveryError
	var bad *BadFileError
	var ne net.Error
	var pe *os.PathError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrDelete):
		return "revoked"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case errors.As(err, &de):
		return "discovery"
	case errors.As(err, &te):
		return "idp"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &bad), errors.As(err, &pe):
		return "file"
	case strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "tls:"):
		return "tls"
	case errors.As(err, &ne):
		return "network"
	case provider == "VAULT":
		return "vault"
	}
	return "other"
}

// observeRefresh reports a finished refresh to the observer and keeps
// its error for the status view.
func (d *Daemon) observeRefresh(c *cred, r *result, o Outcome, err error) {
	if err != nil {
		if d.lastErr == nil {
			d.lastErr = map[string]string{}
		}
		d.lastErr[c.key] = err.Error()
	} else if d.lastErr != nil {
		delete(d.lastErr, c.key)
	}
	d.changed = true
	if d.obs == nil {
		return
	}
	e := RefreshEvent{User: c.user(), Name: c.name(), Outcome: o, Err: err}
	if p := d.prov[c.class]; p != nil {
		e.Provider = p.Kind()
	}
	if r != nil {
		e.Latency = r.took
	}
	d.obs.Refreshed(e)
}

// stateIndex is the index in States of c's state.
func (d *Daemon) stateIndex(c *cred, nowNs int64) int {
	switch {
	case c.class == ClassNone || d.prov[c.class] == nil:
		return 4 // unserved
	case c.has(fInvalid):
		return 3 // failing
	case c.failures > 0:
		return 2 // backing off
	case c.has(fInflight) || (c.idx >= 0 && c.due <= nowNs):
		return 1 // due
	}
	return 0 // fresh
}

// stateCounts counts the credentials by state, in the order of States.
func (d *Daemon) stateCounts(now time.Time) map[State]int {
	var n [5]int
	nowNs := now.UnixNano()
	for _, c := range d.creds {
		n[d.stateIndex(c, nowNs)]++
	}
	m := make(map[State]int, len(States))
	for i, s := range States {
		m[s] = n[i]
	}
	return m
}

// credStates yields the state of every credential (see CredState).
func (d *Daemon) credStates(now time.Time) iter.Seq[CredState] {
	return func(yield func(CredState) bool) {
		nowNs := now.UnixNano()
		for _, c := range d.creds {
			s := CredState{User: c.user(), Name: c.name(), Failures: int(c.failures), LastError: d.lastErr[c.key]}
			if p := d.prov[c.class]; p != nil {
				s.Provider = p.Kind()
			}
			if c.useExp != 0 {
				s.UseExpiry = time.Unix(c.useExp, 0)
			}
			if c.idx >= 0 {
				s.NextRefresh = time.Unix(0, max(c.due, 1))
			}
			if c.failures > 0 {
				s.Backoff = backoff(int(c.failures))
			}
			s.State = States[d.stateIndex(c, nowNs)]
			if !yield(s) {
				return
			}
		}
	}
}

// useExpiry is the expiry (unix seconds, 0 when unknown) of a .use: a
// bare JWT, or JSON whose access_token is one (with expires_in as the
// fallback, counted from written).
func useExpiry(use []byte, written time.Time) int64 {
	use = bytes.TrimSpace(use)
	if len(use) == 0 {
		return 0
	}
	tok := string(use)
	var expiresIn int64
	if use[0] == '{' {
		var u issuedUse
		if parseIssuedUse(use, &u) != nil {
			return 0
		}
		tok, expiresIn = u.AccessToken, u.ExpiresIn
	}
	if exp, ok := jwtdecode.Expiry(tok); ok {
		return exp.Unix()
	}
	if expiresIn > 0 {
		return written.Unix() + expiresIn
	}
	return 0
}
