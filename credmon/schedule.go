package credmon

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"time"
)

// Scheduling constants.
const (
	// backoffBase is the delay before the first retry of a failed
	// refresh; it doubles with each further failure up to backoffMax.
	backoffBase = 30 * time.Second
	// backoffMax caps the back-off.
	backoffMax = 30 * time.Minute
	// minRewrite is the shortest time between two writes of a .use,
	// unless its .top changes.
	minRewrite = 60 * time.Second
	// jitterDivisor: the jitter is up to 1/10 of the interval.
	jitterDivisor = 10
)

// fileSig identifies one version of a file: a re-stored .top (new inode,
// new ctime) or a rewritten one gets a different signature.
type fileSig struct {
	ino   uint64
	size  int64
	mtime int64 // unix ns
	ctime int64 // unix ns
}

// cred flags.
const (
	fInflight        uint8 = 1 << iota // a worker has it
	fInvalid                           // ErrInvalid or bad file: wait for a change of the .top
	fUseSeen                           // its .use exists (seen or written)
	fChangedInFlight                   // the .top changed while a worker had it
	fProvisional                       // seeded without reading its .use (see refineSeeds)
)

// cred is the daemon's state for one .top file. It is deliberately small
// (10,000 users fit in a few MiB): the key holds the user and token names.
type cred struct {
	key      string // "<user>/<name>"
	slash    int32  // index of '/' in key
	idx      int32  // index in the queue; -1 when not queued
	seen     uint32 // generation of the last listing that saw the .top
	class    Class
	flags    uint8
	failures uint8 // consecutive failures (back-off)
	sig      fileSig
	due      int64 // unix ns; 0 = as soon as possible, before anything else
}

func (c *cred) user() string { return c.key[:c.slash] }
func (c *cred) name() string { return c.key[c.slash+1:] }

func (c *cred) has(f uint8) bool { return c.flags&f != 0 }
func (c *cred) set(f uint8)      { c.flags |= f }
func (c *cred) clear(f uint8)    { c.flags &^= f }

// credQueue is a min-heap of creds by due time: the next refresh to run is
// at the top, and a changed .top (due 0) overtakes everything overdue.
type credQueue []*cred

func (q credQueue) Len() int           { return len(q) }
func (q credQueue) Less(i, j int) bool { return q[i].due < q[j].due }
func (q credQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].idx = int32(i)
	q[j].idx = int32(j)
}

func (q *credQueue) Push(x any) {
	c := x.(*cred)
	c.idx = int32(len(*q))
	*q = append(*q, c)
}

func (q *credQueue) Pop() any {
	old := *q
	n := len(old)
	c := old[n-1]
	old[n-1] = nil
	c.idx = -1
	*q = old[:n-1]
	return c
}

// schedule queues c at due (moving it if it is queued already).
func (q *credQueue) schedule(c *cred, due int64) {
	c.due = due
	if c.idx >= 0 {
		heap.Fix(q, int(c.idx))
		return
	}
	heap.Push(q, c)
}

// unqueue removes c from the queue if it is there.
func (q *credQueue) unqueue(c *cred) {
	if c.idx >= 0 {
		heap.Remove(q, int(c.idx))
	}
}

// Jitter returns a random duration in [0, max). It spreads refreshes of
// credentials stored at the same moment.
type Jitter func(max time.Duration) time.Duration

// randomJitter is the default Jitter.
func randomJitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(max)))
}

// dueAfterWrite is when a .use written at written should be refreshed,
// given the provider's next refresh time: next minus a jitter of up to
// 10% of the interval (earlier, never later, than the provider asked, so
// a token is never refreshed after the point its provider chose), but
// never earlier than minRewrite after the write, or than the provider's
// own interval when that is shorter (at least a second).
func dueAfterWrite(written, next time.Time, jitter Jitter) int64 {
	interval := next.Sub(written)
	due := next
	if interval > 0 {
		due = next.Add(-jitter(interval / jitterDivisor))
	}
	// The floor protects against providers asking for a refresh right
	// after the write; a provider that deliberately asks for a shorter
	// interval (CREDMON_OAUTH_TOKEN_REFRESH below a minute) gets it, but
	// never less than a second.
	gap := minRewrite
	if interval > 0 && interval < gap {
		gap = max(interval, time.Second)
	}
	if floor := written.Add(gap); due.Before(floor) {
		due = floor
	}
	if due.After(latestDue) {
		// UnixNano would wrap to a time in the past, and the credential
		// would be refreshed again at once, forever.
		return math.MaxInt64
	}
	return due.UnixNano()
}

// latestDue is the latest due time the queue holds (in the year 2262): a
// provider's "never" (the OAuth provider's year 9999 for
// use_refresh_token false, a JWT whose exp is centuries away) waits until
// then.
var latestDue = time.Unix(0, math.MaxInt64)

// backoff is the delay after the n-th consecutive failure (n >= 1):
// backoffBase doubled n-1 times, capped at backoffMax.
func backoff(n int) time.Duration {
	d := backoffBase
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// dueAfterFailure is when to retry after the n-th consecutive failure:
// the back-off plus a jitter of up to 10% of it.
func dueAfterFailure(now time.Time, n int, jitter Jitter) int64 {
	d := backoff(n)
	return now.Add(d + jitter(d/jitterDivisor)).UnixNano()
}
