//go:build !gettoken_front

package optparse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/vaultcred/gettoken/internal/vaulterr"
	"github.com/vaultcred/gettoken/vaultcred"
)

// OptServerClient is the client that fetches an -s/--optserver file: the
// transport of every Vault request (TLS trusting --cafile and --capath
// together, htgettoken's timeouts, no proxy, no redirects, DNS round
// robin).
func OptServerClient(o *vaultcred.Options) (*http.Client, error) {
	return vaultcred.NewHTTPClient(vaultcred.HTTPClientConfig{
		TLS: vaultcred.TLSConfig{CAFile: o.CAFile, CAPath: o.CAPath},
	}), nil
}

// fetchOptions GETs the optserver file. TLS is always used, whatever the
// scheme, and redirects are not followed, as in htgettoken. Unlike
// htgettoken, a query string in the URL is kept.
func fetchOptions(ctx context.Context, opts *vaultcred.Options, rawURL string, src Sources) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("invalid URL: %w", err)
	}
	if u.Hostname() == "" {
		return "", errors.New("no host name in URL")
	}
	u.Scheme = "https"
	if src.HTTPClient == nil {
		return "", errors.New("no HTTP client configured")
	}
	client, err := src.HTTPClient(opts)
	if err != nil {
		return "", err
	}
	noRedirect := *client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	timeout := src.FetchTimeout
	if timeout <= 0 {
		timeout = DefaultFetchTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("building request: %w", err)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOptionsSize+1))
	if err != nil {
		return "", fmt.Errorf("reading response: %w", err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return "", vaulterr.FromResponse(resp.StatusCode, body)
	}
	if len(body) > maxOptionsSize {
		return "", fmt.Errorf("options file larger than %d bytes", maxOptionsSize)
	}
	return string(body), nil
}
