package oauthapp

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// PluginName is the catalog name htvault-config registers the plugin under.
const PluginName = "oauth"

// nameRegex captures a credential or server name: anything without ":/",
// so "<issuer>/<credkey>:<role>" is a single name even with slashes.
const nameRegex = `(?P<name>(?:[^:]|:[^/])+)`

// defaultProviderTimeout bounds every provider call when the configuration
// does not set tune_provider_timeout_seconds (or sets it to 0).
const defaultProviderTimeout = 30 * time.Second

// minimumWindow is the smallest validity window a read accepts (the
// golang.org/x/oauth2 expiry delta the real plugin inherits).
const minimumWindow = 10 * time.Second

// Factory is the logical.Factory Vault calls to create the backend. It uses
// an HTTP client honouring the process environment (proxies, SSL_CERT_FILE).
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	return FactoryWithHTTPClient(nil)(ctx, conf)
}

// FactoryWithHTTPClient returns a factory whose backend talks to providers
// through client (nil means a default client with a 2-minute overall limit).
func FactoryWithHTTPClient(client *http.Client) logical.Factory {
	return func(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
		b := newBackend(client)
		if err := b.Setup(ctx, conf); err != nil {
			return nil, fmt.Errorf("oauthapp: setting up backend: %w", err)
		}
		return b, nil
	}
}

type backend struct {
	*framework.Backend

	client *http.Client
	locks  *keyedLocks
	now    func() time.Time

	provMu    sync.Mutex
	providers map[string]*cachedProvider
}

func newBackend(client *http.Client) *backend {
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 16
		client = &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	}
	b := &backend{
		client:    client,
		locks:     newKeyedLocks(),
		now:       time.Now,
		providers: map[string]*cachedProvider{},
	}
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		Paths: []*framework.Path{
			pathConfig(b),
			pathServersList(b),
			pathServers(b),
			pathCreds(b),
			pathSTS(b),
		},
		Clean: b.clean,
	}
	return b
}

func (b *backend) clean(context.Context) {
	b.provMu.Lock()
	b.providers = map[string]*cachedProvider{}
	b.provMu.Unlock()
	b.client.CloseIdleConnections()
}

// providerTimeout returns the per-call provider timeout from the config.
func (b *backend) providerTimeout(ctx context.Context, s logical.Storage) time.Duration {
	cfg, err := readConfig(ctx, s)
	if err != nil || cfg == nil || cfg.ProviderTimeoutSeconds <= 0 {
		return defaultProviderTimeout
	}
	return time.Duration(cfg.ProviderTimeoutSeconds) * time.Second
}

// window converts minimum_seconds to the validity window a token must cover.
func window(seconds int) time.Duration {
	const maxSeconds = 100 * 365 * 24 * 3600 // keeps the Duration from overflowing
	switch {
	case seconds > maxSeconds:
		return maxSeconds * time.Second
	case time.Duration(seconds)*time.Second < minimumWindow:
		return minimumWindow
	}
	return time.Duration(seconds) * time.Second
}

// keyedLocks hands out one mutex per key, created on demand and dropped when
// nobody holds or waits for it, so unrelated credentials never contend.
type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	refs int
}

func newKeyedLocks() *keyedLocks { return &keyedLocks{m: map[string]*keyLock{}} }

// lock acquires the mutex of key and returns its release function.
func (k *keyedLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// size reports how many keys currently have a lock (for tests).
func (k *keyedLocks) size() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}

const backendHelp = `
The oauth secrets engine stores OAuth 2.0 refresh tokens and hands out
access tokens (creds/) and RFC 8693 exchanged tokens (sts/). This is the
gettoken project's stand-in for the oauthapp plugin.
`
