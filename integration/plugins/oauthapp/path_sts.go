package oauthapp

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathSTS(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: "sts/" + nameRegex + "$",
		Fields: map[string]*framework.FieldSchema{
			"name": {Type: framework.TypeString, Description: "Name of the credential (as under creds/)."},
			"scopes": {
				Type: framework.TypeCommaStringSlice, Query: true,
				Description: "Scopes to request (sent space-separated).",
			},
			"audiences": {
				Type: framework.TypeCommaStringSlice, Query: true,
				Description: "Audiences to request (one audience parameter each).",
			},
			"resources": {
				Type: framework.TypeCommaStringSlice, Query: true,
				Description: "RFC 8707 resources to request (one resource parameter each).",
			},
			"minimum_seconds": {
				Type: framework.TypeDurationSecond, Query: true,
				Description: "Minimum remaining validity of a cached exchanged token (at least 10 s).",
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{Callback: b.stsRead, Summary: "Exchange the credential's access token (RFC 8693)."},
		},
		HelpSynopsis:    "RFC 8693 token exchange of a stored credential's access token.",
		HelpDescription: "Results are cached per (scopes, audiences, resources) while valid for minimum_seconds.",
	}
}

// stsCacheKey identifies one exchange request of a credential.
func stsCacheKey(scopes, audiences, resources []string) string {
	k, _ := json.Marshal([3][]string{scopes, audiences, resources})
	return string(k)
}

func stsResponse(t stsToken) *logical.Response {
	data := map[string]any{
		"access_token": t.AccessToken,
		"type":         tokenTypeOf(t.TokenType),
	}
	if !t.Expiry.IsZero() {
		data["expire_time"] = t.Expiry.UTC()
	}
	return &logical.Response{Data: data}
}

func (b *backend) stsRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	w := window(d.Get("minimum_seconds").(int))
	x := exchangeRequest{
		scopes:    d.Get("scopes").([]string),
		audiences: d.Get("audiences").([]string),
		resources: d.Get("resources").([]string),
	}
	ck := stsCacheKey(x.scopes, x.audiences, x.resources)
	key, skey := credKey(name), stsKey(name)

	e, err := readCred(ctx, req.Storage, key)
	if err != nil || e == nil {
		return nil, err
	}
	cache, err := readSTS(ctx, req.Storage, skey)
	if err != nil {
		return nil, err
	}
	if t, ok := cache[ck]; ok && tokenValid(t.AccessToken, t.Expiry, b.now(), w) {
		return stsResponse(t), nil
	}

	unlock := b.locks.lock(key)
	defer unlock()
	if e, err = readCred(ctx, req.Storage, key); err != nil || e == nil {
		return nil, err
	}
	if cache, err = readSTS(ctx, req.Storage, skey); err != nil {
		return nil, err
	}
	if t, ok := cache[ck]; ok && tokenValid(t.AccessToken, t.Expiry, b.now(), w) {
		return stsResponse(t), nil
	}
	if resp, err := b.refreshLocked(ctx, req.Storage, key, e, w); err != nil || resp != nil {
		return resp, err
	}
	if resp := b.unusable(e, minimumWindow); resp != nil {
		return resp, nil
	}

	srv, p, err := b.serverProvider(ctx, req.Storage, e.Server)
	if err != nil {
		if resp := serverProblem(e.Server, err); resp != nil {
			return resp, nil
		}
		return nil, err
	}
	x.subject = e.AccessToken
	tctx, cancel := context.WithTimeout(ctx, b.providerTimeout(ctx, req.Storage))
	defer cancel()
	ts, err := b.exchange(tctx, srv, p, x)
	var ue *userError
	var te *transientError
	switch {
	case errors.As(err, &ue):
		return logical.ErrorResponse(ue.msg), nil
	case errors.As(err, &te):
		return logical.ErrorResponse(te.msg), nil
	case err != nil:
		return nil, err
	}

	t := stsToken{AccessToken: ts.AccessToken, TokenType: ts.TokenType, Expiry: ts.Expiry}
	if !t.Expiry.IsZero() {
		now := b.now()
		for k, old := range cache {
			if !tokenValid(old.AccessToken, old.Expiry, now, 0) {
				delete(cache, k)
			}
		}
		cache[ck] = t
		if err := putJSON(ctx, req.Storage, skey, cache); err != nil {
			return nil, err
		}
	}
	return stsResponse(t), nil
}
