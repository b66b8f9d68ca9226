package oidcauth

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vaultcred/gettoken/integration/plugins/oidcauth/loginidp"
)

// fakeClock is a settable clock for state expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// testEnv is one backend (in process, in-memory storage) wired to one fake
// IdP. It implements contract.Target the way Vault's HTTP layer would.
type testEnv struct {
	t       *testing.T
	idp     *loginidp.Server
	b       *backend
	storage logical.Storage
	clock   *fakeClock
	logs    *syncBuffer

	mu        sync.Mutex
	lastAlias string
}

func newEnv(t *testing.T, opts loginidp.Options) *testEnv {
	t.Helper()
	idp, err := loginidp.New(opts)
	if err != nil {
		t.Fatalf("starting fake IdP: %v", err)
	}
	t.Cleanup(idp.Close)
	e := &testEnv{t: t, idp: idp, storage: &logical.InmemStorage{},
		clock: &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, logs: &syncBuffer{}}
	e.b = newBackend(e.clock.now)
	conf := logical.TestBackendConfig()
	conf.StorageView = e.storage
	conf.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: e.logs})
	if err := e.b.Setup(context.Background(), conf); err != nil {
		t.Fatalf("backend setup: %v", err)
	}
	return e
}

// configure writes the contract configuration and roles.
func (e *testEnv) configure() {
	e.t.Helper()
	e.mustWrite("config", contractConfig(e.idp))
	for name, r := range contractRoles() {
		e.mustWrite("role/"+name, r)
	}
}

func (e *testEnv) handle(op logical.Operation, path string, data map[string]any) (*logical.Request, *logical.Response, error) {
	req := &logical.Request{
		Operation:  op,
		Path:       path,
		Data:       data,
		Storage:    e.storage,
		Connection: &logical.Connection{RemoteAddr: "127.0.0.1"},
	}
	if op == logical.UpdateOperation {
		// Vault core turns an update of a missing entry into a create.
		checkFound, exists, err := e.b.HandleExistenceCheck(context.Background(), req)
		if err != nil {
			return req, nil, err
		}
		if checkFound && !exists {
			req.Operation = logical.CreateOperation
		}
	}
	resp, err := e.b.HandleRequest(context.Background(), req)
	return req, resp, err
}

func (e *testEnv) mustWrite(path string, data map[string]any) *logical.Response {
	e.t.Helper()
	_, resp, err := e.handle(logical.UpdateOperation, path, data)
	if err != nil || (resp != nil && resp.IsError()) {
		e.t.Fatalf("write %s: err=%v resp=%+v", path, err, resp)
	}
	return resp
}

// Write implements contract.Target.
func (e *testEnv) Write(t *testing.T, path string, body map[string]any) (int, map[string]any) {
	t.Helper()
	return e.write(t, path, body)
}

// write is an update on path rendered as Vault's HTTP layer renders it
// (status code and decoded JSON body).
func (e *testEnv) write(t *testing.T, path string, body map[string]any) (int, map[string]any) {
	t.Helper()
	req, resp, err := e.handle(logical.UpdateOperation, path, body)
	return e.render(t, req, resp, err)
}

func (e *testEnv) render(t *testing.T, req *logical.Request, resp *logical.Response, err error) (int, map[string]any) {
	t.Helper()
	status, herr := logical.RespondErrorCommon(req, resp, err)
	if herr != nil {
		if status == 0 {
			status = http.StatusInternalServerError
		}
		return status, map[string]any{"errors": []any{herr.Error()}}
	}
	if status != 0 {
		// e.g. 404 for a read that found nothing
		return status, map[string]any{"errors": []any{}}
	}
	if resp == nil {
		return http.StatusNoContent, nil
	}
	out := map[string]any{}
	if resp.Data != nil {
		out["data"] = jsonRoundTrip(t, resp.Data)
	}
	if len(resp.Warnings) > 0 {
		out["warnings"] = jsonRoundTrip(t, resp.Warnings)
	}
	if a := resp.Auth; a != nil {
		out["auth"] = jsonRoundTrip(t, map[string]any{
			"client_token":   "in-process",
			"policies":       a.Policies,
			"token_policies": a.Policies,
			"metadata":       a.Metadata,
			"lease_duration": int64(a.TTL.Seconds()),
			"renewable":      a.Renewable,
			"token_type":     "service",
		})
		if a.Alias != nil {
			e.mu.Lock()
			e.lastAlias = a.Alias.Name
			e.mu.Unlock()
		}
	}
	return http.StatusOK, out
}

// LastAliasName implements contract.AliasReporter.
func (e *testEnv) LastAliasName(*testing.T) string { return e.lastAliasName() }

func (e *testEnv) lastAliasName() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastAlias
}

func jsonRoundTrip(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return out
}

// firstError returns errors[0] of a rendered body, or "".
func firstError(body map[string]any) string {
	errs, _ := body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	s, _ := errs[0].(string)
	return s
}

func dataOf(body map[string]any) map[string]any {
	d, _ := body["data"].(map[string]any)
	return d
}
