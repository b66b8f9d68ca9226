package main

import (
	"context"
	"fmt"

	"github.com/vaultcred/gettoken/internal/tokenfile"
	"github.com/vaultcred/gettoken/vaultcred"
)

// deleteRefreshToken sends DELETE url with the vault token read from
// vtFile, through vaultcred's Vault client (the one every other Vault
// request uses): 200 or 204 is success, other statuses give a
// *vaultcred.HTTPError, transport failures (the timeout of ctx included) a
// *vaultcred.ConnectionError. No error message contains the token.
func deleteRefreshToken(ctx context.Context, opts *vaultcred.Options, url, vtFile string) error {
	token, err := tokenfile.ReadToken(vtFile)
	if err != nil {
		return fmt.Errorf("reading the vault token: %w", err)
	}
	if token == "" {
		return fmt.Errorf("the vault token file %s is empty", vtFile)
	}
	return vaultcred.Delete(ctx, opts, nil, url, token)
}
