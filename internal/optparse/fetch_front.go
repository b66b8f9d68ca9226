//go:build gettoken_front

package optparse

import (
	"context"
	"net/http"

	"github.com/vaultcred/gettoken/vaultcred"
)

// In gettoken's front end build (see vaultcred's package documentation)
// an -s/--optserver file is the full program's to fetch.

// OptServerClient hands the run to the full program.
func OptServerClient(*vaultcred.Options) (*http.Client, error) { return nil, vaultcred.ErrHandOff }

func fetchOptions(context.Context, *vaultcred.Options, string, Sources) (string, error) {
	return "", vaultcred.ErrHandOff
}
