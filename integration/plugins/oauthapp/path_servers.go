package oauthapp

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathServersList(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: "servers/?$",
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ListOperation: &framework.PathOperation{Callback: b.serversList, Summary: "List authorization servers."},
		},
		HelpSynopsis: "List the configured authorization servers.",
	}
}

func pathServers(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: "servers/" + nameRegex + "$",
		Fields: map[string]*framework.FieldSchema{
			"name":           {Type: framework.TypeString, Description: "Name of the server."},
			"client_id":      {Type: framework.TypeString, Description: "OAuth 2.0 client ID."},
			"client_secret":  {Type: framework.TypeString, Description: "OAuth 2.0 client secret (tried first)."},
			"client_secrets": {Type: framework.TypeStringSlice, Description: "Further client secrets, tried in order."},
			"auth_url_params": {
				Type:        framework.TypeKVPairs,
				Description: "Extra authorization URL parameters (stored only).",
			},
			"provider": {Type: framework.TypeString, Description: `Provider name; only "oidc" exists here.`},
			"provider_options": {
				Type:        framework.TypeKVPairs,
				Description: "Provider options; oidc needs issuer_url.",
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation:   &framework.PathOperation{Callback: b.serversRead, Summary: "Read a server (never its secrets)."},
			logical.UpdateOperation: &framework.PathOperation{Callback: b.serversUpdate, Summary: "Write a server; discovery runs now."},
			logical.DeleteOperation: &framework.PathOperation{Callback: b.serversDelete, Summary: "Delete a server."},
		},
		HelpSynopsis:    "Authorization servers (OAuth clients) used by credentials.",
		HelpDescription: "Writing a server performs OIDC discovery at once; a failure is reported and nothing is stored.",
	}
}

func (b *backend) serversList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	keys, err := req.Storage.List(ctx, serversPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing servers: %w", err)
	}
	return logical.ListResponse(keys), nil
}

func (b *backend) serversRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	srv, err := readServer(ctx, req.Storage, d.Get("name").(string))
	if err != nil || srv == nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		"client_id":        srv.ClientID,
		"auth_url_params":  nonNil(srv.AuthURLParams),
		"provider":         srv.Provider,
		"provider_version": 0,
		"provider_options": nonNil(srv.ProviderOptions),
	}}, nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (b *backend) serversUpdate(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	clientID, ok := d.GetOk("client_id")
	if !ok || clientID.(string) == "" {
		return logical.ErrorResponse("missing client ID"), nil
	}
	prov, ok := d.GetOk("provider")
	if !ok || prov.(string) == "" {
		return logical.ErrorResponse("missing provider"), nil
	}
	srv := &serverEntry{
		ClientID:        clientID.(string),
		Provider:        prov.(string),
		ProviderOptions: d.Get("provider_options").(map[string]string),
		AuthURLParams:   d.Get("auth_url_params").(map[string]string),
	}
	if s := d.Get("client_secret").(string); s != "" {
		srv.ClientSecrets = append(srv.ClientSecrets, s)
	}
	for _, s := range d.Get("client_secrets").([]string) {
		if s != "" {
			srv.ClientSecrets = append(srv.ClientSecrets, s)
		}
	}

	tctx, cancel := context.WithTimeout(ctx, b.providerTimeout(ctx, req.Storage))
	defer cancel()
	p, err := b.discover(tctx, srv)
	var ue *userError
	switch {
	case errors.Is(err, errNoSuchProvider):
		return logical.ErrorResponse("provider %q does not exist", srv.Provider), nil
	case errors.As(err, &ue):
		return logical.ErrorResponse(redact(ue.msg, srv.ClientSecrets...)), nil
	case err != nil:
		return nil, err
	}

	if err := putJSON(ctx, req.Storage, serversPrefix+name, srv); err != nil {
		return nil, err
	}
	b.provMu.Lock()
	b.providers[name] = &cachedProvider{fingerprint: srv.fingerprint(), p: p}
	b.provMu.Unlock()
	return nil, nil
}

func (b *backend) serversDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if err := req.Storage.Delete(ctx, serversPrefix+name); err != nil {
		return nil, fmt.Errorf("deleting server: %w", err)
	}
	b.forgetProvider(name)
	return nil, nil
}
