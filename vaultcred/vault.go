//go:build !gettoken_front

package vaultcred

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultcred/gettoken/internal/vaulterr"
)

// HTTPError is a Vault answer with a status other than 200 or 204. Its
// message has htgettoken's form: "HTTPError: <reason phrase>: <errors>",
// for example "HTTPError: Forbidden: permission denied". It is the one
// Vault error type of the project (package vaulterr).
type HTTPError = vaulterr.Error

// ConnectionError is a failure to reach Vault or to read its answer.
type ConnectionError struct{ Err error }

func (e *ConnectionError) Error() string { return "ConnectionError: " + describeNetErr(e.Err) }
func (e *ConnectionError) Unwrap() error { return e.Err }

// describeNetErr drops the URL that net/http puts in front of transport
// errors (the callers' messages name the URL already).
func describeNetErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil && oe.Addr != nil {
		return oe.Op + " " + oe.Addr.String() + ": " + oe.Err.Error()
	}
	return err.Error()
}

// vaultAPI makes the requests of the flow through github.com/hashicorp/vault/api,
// with htgettoken's conventions: one base URL, no retries, no VAULT_*
// environment (htgettoken reads none of it), statuses other than 200 and
// 204 as errors.
type vaultAPI struct {
	c    *vaultapi.Client
	base string
	log  *Logger
}

func newVaultAPI(base string, hc *http.Client, log *Logger) (*vaultAPI, error) {
	c, err := newVaultClient(&vaultapi.Config{Address: base, HttpClient: hc, MaxRetries: 0, DisableRedirects: true})
	if err != nil {
		return nil, fmt.Errorf("setting up the Vault client: %w", err)
	}
	return &vaultAPI{c: c, base: base, log: log}, nil
}

// vaultEnvMu serialises newVaultClient's hiding of the VAULT_* variables.
var vaultEnvMu sync.Mutex

// newVaultClient is vaultapi.NewClient with cfg and nothing from the
// environment. NewClient reads the VAULT_* variables whatever
// configuration it is given: it builds vault/api's default configuration
// internally, which parses VAULT_CACERT, VAULT_CAPATH, VAULT_MAX_RETRIES,
// VAULT_CLIENT_TIMEOUT, VAULT_RATE_LIMIT, VAULT_SKIP_VERIFY, VAULT_HEADERS
// and more, and fails on any value it cannot use (a CA file since deleted,
// say); it then takes a token and namespace from VAULT_TOKEN and
// VAULT_NAMESPACE. It has no switch to turn that off. htgettoken reads
// none of these variables, so when any is set they are hidden from
// NewClient for the duration of the call and restored right after, under
// a lock. Only VAULT_* variables are touched, and only for that instant.
// Requests never ask for response wrapping (VAULT_WRAP_TTL).
func newVaultClient(cfg *vaultapi.Config) (*vaultapi.Client, error) {
	vaultEnvMu.Lock()
	defer vaultEnvMu.Unlock()
	var hidden [][2]string
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "VAULT_") {
			hidden = append(hidden, [2]string{k, v})
		}
	}
	for _, kv := range hidden {
		os.Unsetenv(kv[0])
	}
	defer func() {
		for _, kv := range hidden {
			os.Setenv(kv[0], kv[1])
		}
	}()
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	// Without a lookup function of its own, every request reads
	// VAULT_WRAP_TTL and asks Vault to wrap the answer when it is set.
	c.SetWrappingLookupFunc(func(operation, path string) string { return "" })
	return c, nil
}

// url is the full URL of an API path, as printed in messages.
func (v *vaultAPI) url(path string) string { return v.base + "/v1/" + path }

// request is one Vault call.
type request struct {
	method, path, token string
	query               url.Values
	body                any // JSON body; nil for none
	rawBody             []byte
	header              http.Header
	what                string // for debug output: "get bearer token"
}

// do performs r. It returns the parsed answer for 200 and 204 (nil secret
// for an empty body), an *HTTPError for other statuses (with the parsed
// answer too, so that the OIDC poll can read its errors), and a
// *ConnectionError when Vault could not be reached. A 200 whose body is not
// JSON is a *DecodeError.
func (v *vaultAPI) do(ctx context.Context, r request) (*vaultapi.Secret, error) {
	req := v.c.NewRequest(r.method, "/v1/"+r.path)
	req.ClientToken = r.token
	req.Params = r.query
	if r.body != nil {
		if err := req.SetJSONBody(r.body); err != nil {
			return nil, err
		}
	}
	if r.rawBody != nil {
		req.BodyBytes = r.rawBody
	}
	for k, vs := range r.header {
		for _, val := range vs {
			req.Headers.Add(k, val)
		}
	}
	v.log.Debugf("Reading from %s", v.url(r.path))
	resp, err := v.c.RawRequestWithContext(ctx, req)
	if resp == nil {
		if err == nil {
			err = errors.New("no response")
		}
		return nil, &ConnectionError{Err: err}
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if rerr != nil {
		return nil, &ConnectionError{Err: rerr}
	}
	if r.what != "" && v.log != nil && v.log.Debug {
		v.log.Debugf("##### Begin vault %s response", r.what)
		v.log.Debugf("%s", bytes.TrimSpace(body))
		v.log.Debugf("##### End vault %s response", r.what)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		he := vaulterr.FromResponse(resp.StatusCode, body)
		sec, _ := vaultapi.ParseSecret(bytes.NewReader(body))
		return sec, he
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	sec, err := vaultapi.ParseSecret(bytes.NewReader(body))
	if err != nil {
		return nil, &DecodeError{Err: err}
	}
	return sec, nil
}

// DecodeError is a 200 answer that is not a Vault JSON document.
type DecodeError struct{ Err error }

func (e *DecodeError) Error() string { return "JSONDecodeError: " + e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }

// Delete sends DELETE to url, a URL of o.VaultServer's API ("<V>/v1/<path>",
// as Result.BearerURL has it), with token in X-Vault-Token, through the
// same Vault client as Get and with its rules: 200 or 204 is success, other
// statuses give an *HTTPError, a server that cannot be reached a
// *ConnectionError. hc nil builds the client from o's TLS settings. No
// error holds the token.
func Delete(ctx context.Context, o *Options, hc *http.Client, url, token string) error {
	if !o.Derived() {
		return errors.New("vaultcred: options not derived (call Options.Derive first)")
	}
	prefix := o.VaultServer + "/v1/"
	path, ok := strings.CutPrefix(url, prefix)
	if !ok || path == "" {
		return fmt.Errorf("%s is not a URL under %s", url, prefix)
	}
	if err := checkTokenText(token); err != nil {
		return fmt.Errorf("the vault token is not usable: %w", err)
	}
	if hc == nil {
		hc = NewHTTPClient(HTTPClientConfig{TLS: TLSConfig{CAFile: o.CAFile, CAPath: o.CAPath, ServerName: o.VaultCertName}})
	}
	v, err := newVaultAPI(o.VaultServer, hc, nil)
	if err != nil {
		return err
	}
	_, err = v.do(ctx, request{method: http.MethodDelete, path: path, token: token})
	return err
}
