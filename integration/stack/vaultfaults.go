package stack

import (
	"context"
	"fmt"
)

// Seal seals the server through its admin listener, as an operator's
// `vault operator seal` does: it keeps running and answers 503 to every
// request until Unseal.
func (v *Vault) Seal(ctx context.Context) error {
	if err := v.Admin.Sys().SealWithContext(ctx); err != nil {
		return fmt.Errorf("vault seal: %w", err)
	}
	return nil
}

// Unseal unseals a sealed server with its key and waits until it is active.
func (v *Vault) Unseal(ctx context.Context) error { return v.unseal(ctx) }
