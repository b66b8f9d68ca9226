package oauthapp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathCreds(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: "creds/" + nameRegex + "$",
		Fields: map[string]*framework.FieldSchema{
			"name": {Type: framework.TypeString, Description: "Name of the credential."},
			"minimum_seconds": {
				Type:        framework.TypeDurationSecond,
				Description: "Minimum remaining validity of the returned access token (at least 10 s).",
				Query:       true,
			},
			"server": {Type: framework.TypeString, Description: "Server to use; defaults to config default_server."},
			"grant_type": {
				Type:          framework.TypeString,
				Description:   "Grant type; refresh_token when refresh_token is given, else authorization_code.",
				AllowedValues: []any{"authorization_code", "refresh_token", grantDeviceCode},
			},
			"refresh_token": {Type: framework.TypeString, Description: "Refresh token to redeem."},
			"code":          {Type: framework.TypeString, Description: "Authorization code to redeem."},
			"redirect_url":  {Type: framework.TypeString, Description: "Redirect URL used to obtain the code."},
			"device_code":   {Type: framework.TypeString, Description: "Not supported by this plugin."},
			"scopes":        {Type: framework.TypeStringSlice, Description: "Not supported by this plugin (device code scopes)."},
			"maximum_expiry_seconds": {
				Type:        framework.TypeDurationSecond,
				Description: "Upper limit of an access token's validity.",
			},
			"provider_options": {Type: framework.TypeKVPairs, Description: "Provider options (stored only)."},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation:   &framework.PathOperation{Callback: b.credsRead, Summary: "Get a current access token."},
			logical.UpdateOperation: &framework.PathOperation{Callback: b.credsUpdate, Summary: "Store a credential, redeeming it at once."},
			logical.DeleteOperation: &framework.PathOperation{Callback: b.credsDelete, Summary: "Delete a credential."},
		},
		HelpSynopsis:    "Access tokens for stored refresh tokens.",
		HelpDescription: "Write a refresh token (or code) to store a credential; read it to get an access token valid for at least minimum_seconds.",
	}
}

// serverProvider loads server name and its provider. It returns
// errNoSuchServer, a *userError (configuration problem) or a storage error.
func (b *backend) serverProvider(ctx context.Context, s logical.Storage, name string) (*serverEntry, *provider, error) {
	srv, err := readServer(ctx, s, name)
	if err != nil {
		return nil, nil, err
	}
	if srv == nil {
		return nil, nil, errNoSuchServer
	}
	tctx, cancel := context.WithTimeout(ctx, b.providerTimeout(ctx, s))
	defer cancel()
	p, err := b.providerFor(tctx, srv, name)
	if errors.Is(err, errNoSuchProvider) {
		return nil, nil, &userError{msg: fmt.Sprintf("provider %q does not exist", srv.Provider)}
	}
	if err != nil {
		return nil, nil, err
	}
	return srv, p, nil
}

// serverProblem turns a serverProvider error into the plugin's 400 answer,
// or returns nil for errors that are internal (HTTP 500).
func serverProblem(name string, err error) *logical.Response {
	var ue *userError
	switch {
	case errors.Is(err, errNoSuchServer):
		return logical.ErrorResponse("server %q does not exist", name)
	case errors.As(err, &ue):
		return logical.ErrorResponse("server %q has configuration problems: %s", name, ue.msg)
	}
	return nil
}

func credGrantType(d *framework.FieldData) string {
	if v, ok := d.GetOk("grant_type"); ok && v.(string) != "" {
		return v.(string)
	}
	if _, ok := d.GetOk("refresh_token"); ok {
		return "refresh_token"
	}
	return "authorization_code"
}

func (b *backend) credsUpdate(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	grant := credGrantType(d)
	switch grant {
	case "refresh_token", "authorization_code":
	case grantDeviceCode:
		return logical.ErrorResponse("grant type %q is not supported by this plugin", grant), nil
	default:
		return logical.ErrorResponse("unknown grant_type"), nil
	}
	maxExpiry := d.Get("maximum_expiry_seconds").(int)
	if maxExpiry < 0 {
		return logical.ErrorResponse("maximum_expiry_seconds cannot be negative"), nil
	}
	server := d.Get("server").(string)
	if server == "" {
		cfg, err := readConfig(ctx, req.Storage)
		if err != nil {
			return nil, err
		}
		if cfg != nil {
			server = cfg.DefaultServer
		}
	}
	if server == "" {
		return logical.ErrorResponse("missing server"), nil
	}

	var rt, code string
	if grant == "refresh_token" {
		v, ok := d.GetOk("refresh_token")
		if !ok || v.(string) == "" {
			return logical.ErrorResponse("missing refresh_token"), nil
		}
		if _, ok := d.GetOk("code"); ok {
			return logical.ErrorResponse("cannot use code with refresh_token grant type"), nil
		}
		rt = v.(string)
	} else {
		v, ok := d.GetOk("code")
		if !ok || v.(string) == "" {
			return logical.ErrorResponse("missing code"), nil
		}
		if _, ok := d.GetOk("refresh_token"); ok {
			return logical.ErrorResponse("cannot use refresh_token with authorization_code grant type"), nil
		}
		code = v.(string)
	}

	srv, p, err := b.serverProvider(ctx, req.Storage, server)
	if err != nil {
		if resp := serverProblem(server, err); resp != nil {
			return resp, nil
		}
		return nil, err
	}

	tctx, cancel := context.WithTimeout(ctx, b.providerTimeout(ctx, req.Storage))
	defer cancel()
	var ts *tokenSet
	if rt != "" {
		ts, err = b.refresh(tctx, srv, p, rt)
	} else {
		ts, err = b.redeemCode(tctx, srv, p, code, d.Get("redirect_url").(string))
	}
	var ue *userError
	if errors.As(err, &ue) {
		return logical.ErrorResponse(ue.msg), nil
	}
	if err != nil {
		return nil, err
	}

	e := &credEntry{
		Server:               server,
		MaximumExpirySeconds: maxExpiry,
		ProviderOptions:      d.Get("provider_options").(map[string]string),
	}
	e.setToken(ts, b.now())

	key := credKey(d.Get("name").(string))
	unlock := b.locks.lock(key)
	defer unlock()
	if err := putJSON(ctx, req.Storage, key, e); err != nil {
		return nil, err
	}
	if err := req.Storage.Delete(ctx, stsKey(d.Get("name").(string))); err != nil {
		return nil, fmt.Errorf("clearing exchange cache: %w", err)
	}
	return nil, nil
}

// refreshLocked refreshes e (read under the credential's lock, which the
// caller holds) when it is not valid for w, and stores the outcome. A
// non-nil response is a 400 answer for the caller to return.
func (b *backend) refreshLocked(ctx context.Context, s logical.Storage, key string, e *credEntry, w time.Duration) (*logical.Response, error) {
	if !e.issued() || e.validFor(b.now(), w) || e.RefreshToken == "" {
		return nil, nil
	}
	srv, p, err := b.serverProvider(ctx, s, e.Server)
	if err != nil {
		if resp := serverProblem(e.Server, err); resp != nil {
			return resp, nil
		}
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, b.providerTimeout(ctx, s))
	defer cancel()
	ts, err := b.refresh(tctx, srv, p, e.RefreshToken)
	var ue *userError
	var te *transientError
	switch {
	case err == nil:
		e.setToken(ts, b.now())
	case errors.As(err, &ue):
		e.UserError = ue.msg
	case errors.As(err, &te):
		e.TransientErrors++
		e.LastTransientError = te.msg
	default:
		return nil, err
	}
	return nil, putJSON(ctx, s, key, e)
}

// lockedRefresh takes the credential's lock, re-reads it (another request
// may have refreshed or deleted it meanwhile) and refreshes it if needed.
func (b *backend) lockedRefresh(ctx context.Context, s logical.Storage, key string, w time.Duration) (*credEntry, *logical.Response, error) {
	unlock := b.locks.lock(key)
	defer unlock()
	e, err := readCred(ctx, s, key)
	if err != nil || e == nil {
		return nil, nil, err
	}
	resp, err := b.refreshLocked(ctx, s, key, e, w)
	return e, resp, err
}

// unusable answers a read whose credential cannot provide a token valid
// for w, or returns nil when it can.
func (b *backend) unusable(e *credEntry, w time.Duration) *logical.Response {
	switch {
	case !e.issued() && e.UserError != "":
		return logical.ErrorResponse(e.UserError)
	case !e.issued():
		return logical.ErrorResponse("token pending issuance")
	case !e.validFor(b.now(), w) && e.UserError != "":
		return logical.ErrorResponse(e.UserError)
	case !e.validFor(b.now(), w):
		return logical.ErrorResponse("token expired")
	}
	return nil
}

func (b *backend) credsRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	w := window(d.Get("minimum_seconds").(int))
	key := credKey(name)

	e, err := readCred(ctx, req.Storage, key)
	if err != nil || e == nil {
		return nil, err
	}
	if e.issued() && !e.validFor(b.now(), w) {
		var resp *logical.Response
		e, resp, err = b.lockedRefresh(ctx, req.Storage, key, w)
		if err != nil || resp != nil || e == nil {
			return resp, err
		}
	}
	if resp := b.unusable(e, w); resp != nil {
		return resp, nil
	}

	data := map[string]any{
		"access_token": e.AccessToken,
		"type":         tokenTypeOf(e.TokenType),
		"server":       e.Server,
	}
	if !e.Expiry.IsZero() {
		data["expire_time"] = e.Expiry.UTC()
	}
	if len(e.ProviderOptions) > 0 {
		data["provider_options"] = e.ProviderOptions
	}
	if e.MaximumExpirySeconds > 0 {
		data["maximum_expiry_seconds"] = e.MaximumExpirySeconds
	}
	resp := &logical.Response{Data: data}
	switch {
	case e.UserError != "":
		resp.AddWarning("token will expire: " + e.UserError)
	case e.TransientErrors > 0:
		resp.AddWarning(fmt.Sprintf("%d attempt(s) to refresh this token failed, most recently: %s",
			e.TransientErrors, e.LastTransientError))
	}
	return resp, nil
}

func (b *backend) credsDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	key := credKey(name)
	unlock := b.locks.lock(key)
	defer unlock()
	if err := req.Storage.Delete(ctx, key); err != nil {
		return nil, fmt.Errorf("deleting credential: %w", err)
	}
	if err := req.Storage.Delete(ctx, stsKey(name)); err != nil {
		return nil, fmt.Errorf("deleting exchange cache: %w", err)
	}
	return nil, nil
}
