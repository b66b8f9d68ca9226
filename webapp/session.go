package webapp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
	"sync"
	"time"
)

// Session limits.
const (
	// sessionLifetime is how long a session lives after its last use.
	sessionLifetime = 2 * time.Hour
	// maxSessions bounds the sessions kept in memory; the oldest are
	// dropped first.
	maxSessions = 20000
	// pendingLifetime is how long a started login may take at the
	// provider.
	pendingLifetime = 30 * time.Minute
)

// pending is a login started at a provider.
type pending struct {
	label, state, verifier string
	started                time.Time
}

// session is one browser's state, kept on the server; the browser holds
// only its signed, random id.
type session struct {
	id   string
	csrf string
	key  string // key file name
	user string
	// reqs are the key file's requests (without client secrets), shown
	// once the key file is gone.
	reqs []Request
	// pending logins, keyed by state (one per label: starting a login
	// again replaces that label's earlier one).
	pending map[string]*pending
	// failed holds the last error shown for a label.
	failed map[string]string
	used   time.Time
}

// sessions is the in-memory session store, safe for concurrent use.
type sessions struct {
	mac []byte
	mu  sync.Mutex
	m   map[string]*session
}

func newSessions(key []byte) *sessions {
	return &sessions{mac: key, m: map[string]*session{}}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sign returns the cookie value for id.
func (s *sessions) sign(id string) string {
	h := hmac.New(sha256.New, s.mac)
	h.Write([]byte(id))
	return id + "." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// verify returns the id of a cookie value whose signature is right.
func (s *sessions) verify(v string) (string, bool) {
	id, sig, ok := strings.Cut(v, ".")
	if !ok || len(id) != 43 || len(v) > 200 {
		return "", false
	}
	want := s.sign(id)
	return id, subtle.ConstantTimeCompare([]byte(want), []byte(v)) == 1 && sig != ""
}

// create makes a new session for key and user.
func (s *sessions) create(key, user string, reqs []Request, now time.Time) *session {
	kept := make([]Request, len(reqs))
	for i, r := range reqs {
		r.ClientSecret = ""
		kept[i] = r
	}
	ss := &session{id: randomToken(), csrf: randomToken(), key: key, user: user, reqs: kept,
		pending: map[string]*pending{}, failed: map[string]string{}, used: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		s.expireLocked(now)
	}
	for len(s.m) >= maxSessions {
		var oldest *session
		for _, x := range s.m {
			if oldest == nil || x.used.Before(oldest.used) {
				oldest = x
			}
		}
		delete(s.m, oldest.id)
	}
	s.m[ss.id] = ss
	return ss
}

// with runs f on the session id under the store's lock; false when there
// is no such (live) session.
func (s *sessions) with(id string, now time.Time, f func(*session)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[id]
	if !ok || now.Sub(ss.used) > sessionLifetime {
		delete(s.m, id)
		return false
	}
	ss.used = now
	for st, p := range ss.pending {
		if now.Sub(p.started) > pendingLifetime {
			delete(ss.pending, st)
		}
	}
	f(ss)
	return true
}

// expire drops idle sessions.
func (s *sessions) expire(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
}

func (s *sessions) expireLocked(now time.Time) {
	for id, ss := range s.m {
		if now.Sub(ss.used) > sessionLifetime {
			delete(s.m, id)
		}
	}
}
