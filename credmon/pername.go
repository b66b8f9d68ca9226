package credmon

// The per-name provider multiplexer of the local-issuer and
// client-credentials kinds.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

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
	// Build, when set, makes the provider of a name not in Providers,
	// within ctx (the deadline of the refresh that needs it). It runs
	// with no lock held: refreshes of other names go on meanwhile, and
	// those of the same name wait for it (or for their own deadline). A
	// failure is kept, unless ctx ended first (then the next refresh
	// tries again).
	Build func(ctx context.Context, name string) (Provider, error)
	// Unbuilt, when set, is NextRefresh for a name whose provider is not
	// built yet.
	Unbuilt func(c Cred, use []byte, written time.Time) time.Time

	mu       sync.Mutex
	errs     map[string]error
	building map[string]chan struct{} // closed when that name's Build returns
}

func (m *PerName) lookup(ctx context.Context, c Cred) (Provider, error) {
	name, ok := m.Classifier.ProviderName(c.Name)
	if !ok {
		return nil, fmt.Errorf("%w: no %s provider serves %s", ErrInvalid, m.KindName, c.Name)
	}
	for {
		m.mu.Lock()
		if p := m.Providers[name]; p != nil {
			m.mu.Unlock()
			return p, nil
		}
		if err := m.errs[name]; err != nil {
			m.mu.Unlock()
			return nil, err
		}
		if m.Build == nil {
			m.mu.Unlock()
			return nil, fmt.Errorf("%w: no %s provider serves %s", ErrInvalid, m.KindName, c.Name)
		}
		if wait := m.building[name]; wait != nil {
			m.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("waiting for the %s provider %s: %w", strings.ToLower(m.KindName), name, ctx.Err())
			}
		}
		done := make(chan struct{})
		if m.building == nil {
			m.building = map[string]chan struct{}{}
		}
		m.building[name] = done
		m.mu.Unlock()

		p, err := m.Build(ctx, name)

		m.mu.Lock()
		delete(m.building, name)
		close(done)
		switch {
		case err != nil && ctx.Err() != nil:
			m.mu.Unlock()
			return nil, fmt.Errorf("setting up the %s provider %s: %w", strings.ToLower(m.KindName), name, err)
		case err != nil:
			err = fmt.Errorf("%w: %s provider %s is not configured correctly: %v", ErrInvalid, strings.ToLower(m.KindName), name, err)
			if m.errs == nil {
				m.errs = map[string]error{}
			}
			m.errs[name] = err
			m.mu.Unlock()
			return nil, err
		}
		if m.Providers == nil {
			m.Providers = map[string]Provider{}
		}
		m.Providers[name] = p
		m.mu.Unlock()
		return p, nil
	}
}

// Kind implements Provider.
func (m *PerName) Kind() string { return m.KindName }

// Refresh implements Provider: the provider of c's provider name
// refreshes it; without one, c is invalid (ErrInvalid).
func (m *PerName) Refresh(ctx context.Context, c Cred, top []byte) (Refreshed, error) {
	p, err := m.lookup(ctx, c)
	if err != nil {
		return Refreshed{}, err
	}
	return p.Refresh(ctx, c, top)
}

// NextRefresh implements Provider (written, for a name no provider serves).
// NextRefresh runs on the daemon's goroutine, so it never builds a
// provider (that reads configuration and key files): a name whose
// provider is not built yet gets Unbuilt's answer (written when nil).
func (m *PerName) NextRefresh(c Cred, use []byte, written time.Time) time.Time {
	name, ok := m.Classifier.ProviderName(c.Name)
	if !ok {
		return written
	}
	m.mu.Lock()
	p := m.Providers[name]
	m.mu.Unlock()
	if p != nil {
		return p.NextRefresh(c, use, written)
	}
	if m.Unbuilt != nil {
		return m.Unbuilt(c, use, written)
	}
	return written
}
