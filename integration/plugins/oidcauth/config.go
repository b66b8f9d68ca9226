package oidcauth

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// oidcConfig is the stored mount configuration.
type oidcConfig struct {
	OIDCDiscoveryURL   string `json:"oidc_discovery_url"`
	OIDCDiscoveryCAPEM string `json:"oidc_discovery_ca_pem"`
	OIDCClientID       string `json:"oidc_client_id"`
	OIDCClientSecret   string `json:"oidc_client_secret"`
	DefaultRole        string `json:"default_role"`
}

func pathConfig(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: configPath,
		Fields: map[string]*framework.FieldSchema{
			"oidc_discovery_url": {
				Type:        framework.TypeString,
				Description: `The issuer URL; "<url>/.well-known/openid-configuration" is fetched.`,
			},
			"oidc_discovery_ca_pem": {
				Type:        framework.TypeString,
				Description: "PEM CA certificate(s) to trust for the IdP instead of the system roots.",
			},
			"oidc_client_id": {
				Type:        framework.TypeString,
				Description: "The OAuth client id registered at the IdP.",
			},
			"oidc_client_secret": {
				Type:         framework.TypeString,
				Description:  "The OAuth client secret; never returned on read.",
				DisplayAttrs: &framework.DisplayAttributes{Sensitive: true},
			},
			"default_role": {
				Type:        framework.TypeLowerCaseString,
				Description: "The role used when a login names none.",
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation:   &framework.PathOperation{Callback: b.pathConfigRead, Summary: "Read the configuration."},
			logical.UpdateOperation: &framework.PathOperation{Callback: b.pathConfigWrite, Summary: "Configure the IdP."},
		},
		HelpSynopsis: "Configure the OpenID provider used for logins.",
	}
}

// config returns the stored configuration (cached), or nil when unset.
func (b *backend) config(ctx context.Context, s logical.Storage) (*oidcConfig, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cfg != nil {
		return b.cfg, nil
	}
	entry, err := s.Get(ctx, configPath)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if entry == nil {
		return nil, nil
	}
	cfg := &oidcConfig{}
	if err := entry.DecodeJSON(cfg); err != nil {
		return nil, fmt.Errorf("decoding config: %w", err)
	}
	b.cfg = cfg
	return cfg, nil
}

func (b *backend) pathConfigRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, nil
	}
	return &logical.Response{Data: map[string]any{
		"oidc_discovery_url":    cfg.OIDCDiscoveryURL,
		"oidc_discovery_ca_pem": cfg.OIDCDiscoveryCAPEM,
		"oidc_client_id":        cfg.OIDCClientID,
		"default_role":          cfg.DefaultRole,
	}}, nil
}

// pathConfigWrite replaces the whole configuration (as OpenBao does) after
// checking that discovery works with it.
func (b *backend) pathConfigWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	cfg := &oidcConfig{
		OIDCDiscoveryURL:   d.Get("oidc_discovery_url").(string),
		OIDCDiscoveryCAPEM: d.Get("oidc_discovery_ca_pem").(string),
		OIDCClientID:       d.Get("oidc_client_id").(string),
		OIDCClientSecret:   d.Get("oidc_client_secret").(string),
		DefaultRole:        d.Get("default_role").(string),
	}
	resp := &logical.Response{}
	switch {
	case cfg.OIDCDiscoveryURL == "":
		return logical.ErrorResponse("exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set"), nil
	case (cfg.OIDCClientID == "") != (cfg.OIDCClientSecret == ""):
		return logical.ErrorResponse("both 'oidc_client_id' and 'oidc_client_secret' must be set for OIDC"), nil
	}
	if trimmed, _, _ := strings.Cut(cfg.OIDCDiscoveryURL, ".well-known/openid-configuration"); trimmed != cfg.OIDCDiscoveryURL {
		cfg.OIDCDiscoveryURL = trimmed
		resp.AddWarning(fmt.Sprintf("modifying provided `OIDCDiscoveryURL` to %q", trimmed))
	}

	idp, err := discover(ctx, cfg)
	if err != nil {
		b.Logger().Error("error checking oidc discovery URL", "error", err)
		return logical.ErrorResponse("error checking oidc discovery URL"), nil
	}

	entry, err := logical.StorageEntryJSON(configPath, cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	if err := req.Storage.Put(ctx, entry); err != nil {
		return nil, fmt.Errorf("storing config: %w", err)
	}
	b.mu.Lock()
	b.cfg = cfg
	b.idp = idp
	b.mu.Unlock()

	if len(resp.Warnings) == 0 {
		return nil, nil
	}
	return resp, nil
}

// provider returns the discovered IdP for cfg, discovering it (once) when
// the cache is empty, e.g. after a plugin restart.
func (b *backend) provider(ctx context.Context, cfg *oidcConfig) (*idpClient, error) {
	b.mu.Lock()
	idp := b.idp
	b.mu.Unlock()
	if idp != nil && idp.cfg == *cfg {
		return idp, nil
	}
	idp, err := discover(ctx, cfg)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.idp != nil && b.idp.cfg == *cfg {
		return b.idp, nil
	}
	b.idp = idp
	return idp, nil
}
