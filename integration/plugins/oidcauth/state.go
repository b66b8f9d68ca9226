package oidcauth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// errTooManyStates is returned when the state table is full.
var errTooManyStates = errors.New("too many pending OIDC logins")

// authState is one pending login, created by oidc/auth_url and identified
// by its random state id. mu serialises poll/callback work on it.
type authState struct {
	mu sync.Mutex

	id          string
	roleName    string
	clientNonce string
	expires     time.Time

	// device mode
	deviceCode string

	// direct mode
	direct       bool
	redirectURI  string
	codeVerifier string
	nonce        string
	requesterIP  string
	// auth is the finished login parked by oidc/callback for oidc/poll.
	auth *logical.Auth
}

// stateTable holds pending logins in memory with expiry.
type stateTable struct {
	mu  sync.Mutex
	m   map[string]*authState
	now func() time.Time
	max int
}

func newStateTable(now func() time.Time, max int) *stateTable {
	return &stateTable{m: map[string]*authState{}, now: now, max: max}
}

// sweep drops expired states; t.mu is held.
func (t *stateTable) sweep() {
	now := t.now()
	for id, s := range t.m {
		if !now.Before(s.expires) {
			delete(t.m, id)
		}
	}
}

// add assigns s a fresh random id and stores it.
func (t *stateTable) add(s *authState) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep()
	if len(t.m) >= t.max {
		return errTooManyStates
	}
	for {
		id := rand.Text()
		if _, dup := t.m[id]; !dup {
			s.id = id
			t.m[id] = s
			return nil
		}
	}
}

// get returns the live state with id, or nil.
func (t *stateTable) get(id string) *authState {
	if id == "" {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.m[id]
	if s == nil {
		return nil
	}
	if !t.now().Before(s.expires) {
		delete(t.m, id)
		return nil
	}
	return s
}

// remove deletes s if it is still the entry for its id.
func (t *stateTable) remove(s *authState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[s.id] == s {
		delete(t.m, s.id)
	}
}

// live reports whether s is still stored and unexpired.
func (t *stateTable) live(s *authState) bool {
	return t.get(s.id) == s
}

// randomToken returns 32 random bytes, base64url without padding
// (43 characters, a valid PKCE verifier).
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// pkceChallenge is the S256 code challenge of verifier.
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
