package oidcauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	configPath = "config"
	rolePrefix = "role/"

	callbackModeDevice = "device"
	callbackModeDirect = "direct"

	// defaultStateTTL is how long an auth_url state lives when the IdP
	// gives no device code lifetime (and always in direct mode); OpenBao
	// uses the same 10 minutes.
	defaultStateTTL = 10 * time.Minute
	// idpTimeout bounds every HTTP exchange with the IdP.
	idpTimeout = 30 * time.Second
	// maxPendingStates bounds the in-memory state table (auth_url is
	// unauthenticated).
	maxPendingStates = 10000
)

// Error message prefixes shared with OpenBao's jwt/oidc plugin.
const (
	errLoginFailed       = "Vault login failed."
	errTokenVerification = "Token verification failed."
	errNotOIDCFlow       = "OIDC login is not configured for this mount"
	errExpiredState      = errLoginFailed + " Expired or missing OAuth state."
)

// Factory creates the backend and sets it up; it is the
// logical.Factory served by the plugin main.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	if conf == nil {
		return nil, errors.New("oidcauth: nil backend configuration")
	}
	b := newBackend(time.Now)
	if err := b.Setup(ctx, conf); err != nil {
		return nil, fmt.Errorf("oidcauth: setting up backend: %w", err)
	}
	return b, nil
}

// backend is the oidc auth method. Configuration and roles live in
// logical.Storage; pending logins (auth_url states) live in memory.
type backend struct {
	*framework.Backend

	now    func() time.Time
	states *stateTable

	// mu guards cfg and idp, the caches of the stored configuration and of
	// the discovered provider.
	mu  sync.Mutex
	cfg *oidcConfig
	idp *idpClient
}

func newBackend(now func() time.Time) *backend {
	b := &backend{now: now, states: newStateTable(now, maxPendingStates)}
	b.Backend = &framework.Backend{
		Help:        backendHelp,
		BackendType: logical.TypeCredential,
		PathsSpecial: &logical.Paths{
			Unauthenticated: []string{
				"oidc/auth_url",
				"oidc/poll",
				"oidc/callback",
			},
			SealWrapStorage: []string{configPath},
		},
		Paths: framework.PathAppend(
			[]*framework.Path{pathConfig(b), pathRoleList(b), pathRole(b)},
			pathOIDC(b),
		),
		AuthRenew:  b.pathLoginRenew,
		Invalidate: b.invalidate,
	}
	return b
}

// invalidate drops the cached configuration and provider when the stored
// configuration changes behind the backend's back.
func (b *backend) invalidate(_ context.Context, key string) {
	if key == configPath {
		b.reset()
	}
}

func (b *backend) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cfg = nil
	b.idp = nil
}

// pathLoginRenew renews a login token while its role still exists.
func (b *backend) pathLoginRenew(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if req.Auth == nil {
		return nil, errors.New("request auth was nil")
	}
	roleName, _ := req.Auth.InternalData["role"].(string)
	if roleName == "" {
		return nil, errors.New("failed to fetch role_name during renewal")
	}
	role, err := b.role(ctx, req.Storage, roleName)
	if err != nil {
		return nil, fmt.Errorf("failed to validate role %s during renewal: %w", roleName, err)
	}
	if role == nil {
		return nil, fmt.Errorf("role %s does not exist during renewal", roleName)
	}
	resp := &logical.Response{Auth: req.Auth}
	resp.Auth.TTL = role.TokenTTL
	resp.Auth.MaxTTL = role.TokenMaxTTL
	resp.Auth.Period = role.TokenPeriod
	return resp, nil
}

const backendHelp = `
The oidc auth method (gettoken's test substitute) logs users in through an
OpenID provider with the OAuth 2.0 device flow or a direct authorization code
callback, speaking OpenBao's oidc/auth_url, oidc/poll and oidc/callback
protocol.
`
