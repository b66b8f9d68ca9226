package oauthapp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

const (
	configKey     = "config"
	serversPrefix = "servers/"
	credsPrefix   = "creds/"
	stsPrefix     = "sts/"
)

// configEntry is the stored plugin configuration.
type configEntry struct {
	DefaultServer string `json:"default_server"`

	ProviderTimeoutSeconds            int     `json:"tune_provider_timeout_seconds"`
	ProviderTimeoutExpiryLeewayFactor float64 `json:"tune_provider_timeout_expiry_leeway_factor"`
	RefreshCheckIntervalSeconds       int     `json:"tune_refresh_check_interval_seconds"`
	RefreshExpiryDeltaFactor          float64 `json:"tune_refresh_expiry_delta_factor"`
	ReapCheckIntervalSeconds          int     `json:"tune_reap_check_interval_seconds"`
	ReapDryRun                        bool    `json:"tune_reap_dry_run"`
	ReapNonRefreshableSeconds         int     `json:"tune_reap_non_refreshable_seconds"`
	ReapRevokedSeconds                int     `json:"tune_reap_revoked_seconds"`
	ReapTransientErrorAttempts        int     `json:"tune_reap_transient_error_attempts"`
	ReapTransientErrorSeconds         int     `json:"tune_reap_transient_error_seconds"`
	ReapServerDeletedSeconds          int     `json:"tune_reap_server_deleted_seconds"`
}

// serverEntry is a stored authorization server.
type serverEntry struct {
	ClientID        string            `json:"client_id"`
	ClientSecrets   []string          `json:"client_secrets,omitempty"`
	Provider        string            `json:"provider"`
	ProviderOptions map[string]string `json:"provider_options,omitempty"`
	AuthURLParams   map[string]string `json:"auth_url_params,omitempty"`
}

// credEntry is a stored credential: the token set and its bookkeeping.
type credEntry struct {
	Server               string            `json:"server"`
	AccessToken          string            `json:"access_token,omitempty"`
	TokenType            string            `json:"token_type,omitempty"`
	RefreshToken         string            `json:"refresh_token,omitempty"`
	Expiry               time.Time         `json:"expiry"`
	MaximumExpirySeconds int               `json:"maximum_expiry_seconds,omitempty"`
	ProviderOptions      map[string]string `json:"provider_options,omitempty"`
	UserError            string            `json:"user_error,omitempty"`
	TransientErrors      int               `json:"transient_errors,omitempty"`
	LastTransientError   string            `json:"last_transient_error,omitempty"`
}

// issued reports whether an access token has been issued.
func (c *credEntry) issued() bool { return c.AccessToken != "" }

// validFor reports whether the access token is still valid for w after now.
func (c *credEntry) validFor(now time.Time, w time.Duration) bool {
	return tokenValid(c.AccessToken, c.Expiry, now, w)
}

// setToken stores a freshly issued token, capping its expiry at
// maximum_expiry_seconds and keeping the old refresh token when the
// provider did not rotate it.
func (c *credEntry) setToken(t *tokenSet, now time.Time) {
	c.AccessToken = t.AccessToken
	c.TokenType = t.TokenType
	if t.RefreshToken != "" {
		c.RefreshToken = t.RefreshToken
	}
	c.Expiry = t.Expiry.UTC()
	if c.MaximumExpirySeconds > 0 {
		limit := now.Add(time.Duration(c.MaximumExpirySeconds) * time.Second).UTC()
		if c.Expiry.IsZero() || c.Expiry.After(limit) {
			c.Expiry = limit
		}
	}
	c.UserError, c.TransientErrors, c.LastTransientError = "", 0, ""
}

// stsToken is one cached exchanged token.
type stsToken struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	Expiry      time.Time `json:"expiry"`
}

// stsCache is every cached exchanged token of one credential, by request key.
type stsCache map[string]stsToken

func tokenValid(access string, expiry time.Time, now time.Time, w time.Duration) bool {
	if access == "" {
		return false
	}
	return expiry.IsZero() || expiry.Add(-w).After(now)
}

// tokenTypeOf normalises a token_type the way golang.org/x/oauth2 does.
func tokenTypeOf(t string) string {
	switch {
	case strings.EqualFold(t, "bearer"), t == "":
		return "Bearer"
	case strings.EqualFold(t, "mac"):
		return "MAC"
	case strings.EqualFold(t, "basic"):
		return "Basic"
	}
	return t
}

func hashName(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

func credKey(name string) string { return credsPrefix + hashName(name) }
func stsKey(name string) string  { return stsPrefix + hashName(name) }

func getJSON(ctx context.Context, s logical.Storage, key string, v any) (bool, error) {
	e, err := s.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", storageKind(key), err)
	}
	if e == nil {
		return false, nil
	}
	if err := json.Unmarshal(e.Value, v); err != nil {
		return false, fmt.Errorf("decoding %s: %w", storageKind(key), err)
	}
	return true, nil
}

func putJSON(ctx context.Context, s logical.Storage, key string, v any) error {
	e, err := logical.StorageEntryJSON(key, v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", storageKind(key), err)
	}
	if err := s.Put(ctx, e); err != nil {
		return fmt.Errorf("writing %s: %w", storageKind(key), err)
	}
	return nil
}

// storageKind names a storage key's kind without the (hashed) name.
func storageKind(key string) string {
	if i := strings.IndexByte(key, '/'); i > 0 {
		return key[:i] + " entry"
	}
	return key + " entry"
}

func readConfig(ctx context.Context, s logical.Storage) (*configEntry, error) {
	var c configEntry
	ok, err := getJSON(ctx, s, configKey, &c)
	if err != nil || !ok {
		return nil, err
	}
	return &c, nil
}

func readServer(ctx context.Context, s logical.Storage, name string) (*serverEntry, error) {
	var e serverEntry
	ok, err := getJSON(ctx, s, serversPrefix+name, &e)
	if err != nil || !ok {
		return nil, err
	}
	return &e, nil
}

func readCred(ctx context.Context, s logical.Storage, key string) (*credEntry, error) {
	var e credEntry
	ok, err := getJSON(ctx, s, key, &e)
	if err != nil || !ok {
		return nil, err
	}
	return &e, nil
}

func readSTS(ctx context.Context, s logical.Storage, key string) (stsCache, error) {
	c := stsCache{}
	if _, err := getJSON(ctx, s, key, &c); err != nil {
		return nil, err
	}
	return c, nil
}
