package main

import (
	"net/http"

	"github.com/vaultcred/gettoken/vaultcred"
)

// newHTTPClient returns the client used to fetch the optserver file: the
// same transport as every Vault request (TLS trusting --cafile and
// --capath together, 2 s connect and 10 s read timeouts, no proxy, no
// redirects, DNS round robin).
func newHTTPClient(o *vaultcred.Options) (*http.Client, error) {
	return vaultcred.NewHTTPClient(vaultcred.HTTPClientConfig{
		TLS: vaultcred.TLSConfig{CAFile: o.CAFile, CAPath: o.CAPath},
	}), nil
}
