package oauthapp

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Defaults of the real plugin's tuning options.
var defaultTuning = configEntry{
	ProviderTimeoutSeconds:            30,
	ProviderTimeoutExpiryLeewayFactor: 1.5,
	RefreshCheckIntervalSeconds:       60,
	RefreshExpiryDeltaFactor:          1.2,
	ReapCheckIntervalSeconds:          300,
	ReapNonRefreshableSeconds:         86400,
	ReapRevokedSeconds:                3600,
	ReapTransientErrorAttempts:        10,
	ReapTransientErrorSeconds:         86400,
	ReapServerDeletedSeconds:          86400,
}

func pathConfig(b *backend) *framework.Path {
	d := defaultTuning
	dur := func(desc string, def int) *framework.FieldSchema {
		return &framework.FieldSchema{Type: framework.TypeDurationSecond, Description: desc, Default: def}
	}
	return &framework.Path{
		Pattern: "config$",
		Fields: map[string]*framework.FieldSchema{
			"default_server": {
				Type:        framework.TypeString,
				Description: "Server used when a credential write names none.",
			},
			"tune_provider_timeout_seconds": dur("Timeout of each provider request.", d.ProviderTimeoutSeconds),
			"tune_provider_timeout_expiry_leeway_factor": {
				Type: framework.TypeFloat, Default: d.ProviderTimeoutExpiryLeewayFactor,
				Description: "Accepted for compatibility; must be at least 1.",
			},
			"tune_refresh_check_interval_seconds": dur("Accepted for compatibility (no background refresh).", d.RefreshCheckIntervalSeconds),
			"tune_refresh_expiry_delta_factor": {
				Type: framework.TypeFloat, Default: d.RefreshExpiryDeltaFactor,
				Description: "Accepted for compatibility; must be at least 1.",
			},
			"tune_reap_check_interval_seconds": dur("Accepted for compatibility (no reaper).", d.ReapCheckIntervalSeconds),
			"tune_reap_dry_run": {
				Type: framework.TypeBool, Default: d.ReapDryRun,
				Description: "Accepted for compatibility (no reaper).",
			},
			"tune_reap_non_refreshable_seconds": dur("Accepted for compatibility (no reaper).", d.ReapNonRefreshableSeconds),
			"tune_reap_revoked_seconds":         dur("Accepted for compatibility (no reaper).", d.ReapRevokedSeconds),
			"tune_reap_transient_error_attempts": {
				Type: framework.TypeInt, Default: d.ReapTransientErrorAttempts,
				Description: "Accepted for compatibility (no reaper).",
			},
			"tune_reap_transient_error_seconds": dur("Accepted for compatibility (no reaper).", d.ReapTransientErrorSeconds),
			"tune_reap_server_deleted_seconds":  dur("Accepted for compatibility (no reaper).", d.ReapServerDeletedSeconds),
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation:   &framework.PathOperation{Callback: b.configRead, Summary: "Read the plugin configuration."},
			logical.UpdateOperation: &framework.PathOperation{Callback: b.configUpdate, Summary: "Replace the plugin configuration."},
			logical.DeleteOperation: &framework.PathOperation{Callback: b.configDelete, Summary: "Delete the plugin configuration."},
		},
		HelpSynopsis:    "Plugin configuration: default server and tuning options.",
		HelpDescription: "A write replaces the whole configuration; omitted options revert to their defaults.",
	}
}

func (b *backend) configRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	c, err := readConfig(ctx, req.Storage)
	if err != nil || c == nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		"default_server":                             c.DefaultServer,
		"tune_provider_timeout_seconds":              c.ProviderTimeoutSeconds,
		"tune_provider_timeout_expiry_leeway_factor": c.ProviderTimeoutExpiryLeewayFactor,
		"tune_refresh_check_interval_seconds":        c.RefreshCheckIntervalSeconds,
		"tune_refresh_expiry_delta_factor":           c.RefreshExpiryDeltaFactor,
		"tune_reap_check_interval_seconds":           c.ReapCheckIntervalSeconds,
		"tune_reap_dry_run":                          c.ReapDryRun,
		"tune_reap_non_refreshable_seconds":          c.ReapNonRefreshableSeconds,
		"tune_reap_revoked_seconds":                  c.ReapRevokedSeconds,
		"tune_reap_transient_error_attempts":         c.ReapTransientErrorAttempts,
		"tune_reap_transient_error_seconds":          c.ReapTransientErrorSeconds,
		"tune_reap_server_deleted_seconds":           c.ReapServerDeletedSeconds,
	}}, nil
}

func (b *backend) configUpdate(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	c := &configEntry{
		DefaultServer:                     d.Get("default_server").(string),
		ProviderTimeoutSeconds:            d.Get("tune_provider_timeout_seconds").(int),
		ProviderTimeoutExpiryLeewayFactor: d.Get("tune_provider_timeout_expiry_leeway_factor").(float64),
		RefreshCheckIntervalSeconds:       d.Get("tune_refresh_check_interval_seconds").(int),
		RefreshExpiryDeltaFactor:          d.Get("tune_refresh_expiry_delta_factor").(float64),
		ReapCheckIntervalSeconds:          d.Get("tune_reap_check_interval_seconds").(int),
		ReapDryRun:                        d.Get("tune_reap_dry_run").(bool),
		ReapNonRefreshableSeconds:         d.Get("tune_reap_non_refreshable_seconds").(int),
		ReapRevokedSeconds:                d.Get("tune_reap_revoked_seconds").(int),
		ReapTransientErrorAttempts:        d.Get("tune_reap_transient_error_attempts").(int),
		ReapTransientErrorSeconds:         d.Get("tune_reap_transient_error_seconds").(int),
		ReapServerDeletedSeconds:          d.Get("tune_reap_server_deleted_seconds").(int),
	}
	switch {
	case c.ProviderTimeoutExpiryLeewayFactor < 1:
		return logical.ErrorResponse("provider timeout expiry leeway factor must be at least 1.0"), nil
	case c.RefreshCheckIntervalSeconds > int((90 * 24 * time.Hour).Seconds()):
		return logical.ErrorResponse("refresh check interval can be at most 90 days"), nil
	case c.RefreshExpiryDeltaFactor < 1:
		return logical.ErrorResponse("refresh expiry delta factor must be at least 1.0"), nil
	case c.ReapCheckIntervalSeconds > int((180 * 24 * time.Hour).Seconds()):
		return logical.ErrorResponse("reap check interval can be at most 180 days"), nil
	case c.ReapTransientErrorAttempts < 0:
		return logical.ErrorResponse("reap transient error attempts cannot be negative"), nil
	}
	if err := putJSON(ctx, req.Storage, configKey, c); err != nil {
		return nil, err
	}
	return nil, nil
}

func (b *backend) configDelete(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if err := req.Storage.Delete(ctx, configKey); err != nil {
		return nil, fmt.Errorf("deleting config: %w", err)
	}
	return nil, nil
}
