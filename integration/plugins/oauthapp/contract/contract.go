// Package contract is the behavioural contract of the oauth secrets plugin
// as clients see it through Vault: for each request, the HTTP status, the
// first error string, the data keys with their JSON types, selected values
// and warnings. The cases are a plain slice of structs run in order against
// a Client, so the same table drives the plugin in process (Backend) and
// through a real Vault server (HTTP), both against the scriptable provider
// of package tokenidp.
//
// In process, the Backend client maps results the way Vault's HTTP layer
// does: an error response is 400, a nil read is 404 with no errors, a nil
// write or delete is 204, an empty list is 404.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vaultcred/gettoken/integration/plugins/oauthapp/tokenidp"
)

// Op is a Vault operation.
type Op string

// Operations.
const (
	Read   Op = "read"
	Write  Op = "write"
	Delete Op = "delete"
	List   Op = "list"
)

// Request is one request to the plugin, relative to its mount.
type Request struct {
	Op    Op
	Path  string
	Query map[string]string // read parameters (URL query)
	Body  map[string]any    // write parameters (JSON body)
}

// Response is what a client sees, after JSON decoding.
type Response struct {
	Status   int
	Errors   []string
	Data     map[string]any
	Warnings []string
}

// Client performs a Request.
type Client interface {
	Do(ctx context.Context, r Request) (*Response, error)
}

// Env is the shared state of one contract run: the provider and the
// variables that requests and expectations refer to as ${name}.
type Env struct {
	IdP  *tokenidp.IdP
	Vars map[string]string
}

// NewEnv returns an Env with vars issuer, client_id and client_secret.
func NewEnv(idp *tokenidp.IdP) *Env {
	return &Env{IdP: idp, Vars: map[string]string{
		"issuer":        idp.URL(),
		"client_id":     tokenidp.ClientID,
		"client_secret": tokenidp.ClientSecret,
	}}
}

// Expand replaces ${name} with the variable's value.
func (e *Env) Expand(s string) string {
	return expand(s, e.Vars)
}

func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(vars[s[i+2:i+j]])
		s = s[i+j+1:]
	}
}

func (e *Env) expandAny(v any) any {
	switch x := v.(type) {
	case string:
		return e.Expand(x)
	case []string:
		out := make([]string, len(x))
		for i, s := range x {
			out[i] = e.Expand(s)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = e.expandAny(s)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, s := range x {
			out[k] = e.expandAny(s)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, s := range x {
			out[k] = e.Expand(s)
		}
		return out
	}
	return v
}

// Case is one step of the contract.
type Case struct {
	Name   string
	Before func(e *Env) // scripts the provider / sets variables
	Req    Request

	Status  int
	Err     string            // errors[0] must start with this (expanded); for 404 "" means no errors
	Keys    map[string]string // exact data keys -> JSON type (string, number, bool, object, array, null)
	Values  map[string]any    // exact values of some data keys (strings expanded)
	Warning string            // some warning must contain this

	Save    string   // store data.access_token in this variable
	Same    string   // data.access_token must equal this variable
	Differs string   // data.access_token must differ from this variable
	Absent  []string // these variables' values must not appear anywhere in the response

	Check func(e *Env, r *Response) error // extra assertions (e.g. what the provider received)
}

// Run runs Cases in order against c.
func Run(t *testing.T, c Client, e *Env) {
	t.Helper()
	RunCases(t, c, e, Cases())
}

// RunCases runs cases in order against c, one subtest each.
func RunCases(t *testing.T, c Client, e *Env, cases []Case) {
	t.Helper()
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%02d %s", i, tc.Name), func(t *testing.T) {
			if err := runCase(c, e, tc); err != nil {
				t.Error(err)
			}
		})
	}
}

func runCase(c Client, e *Env, tc Case) error {
	if tc.Before != nil {
		tc.Before(e)
	}
	req := Request{Op: tc.Req.Op, Path: e.Expand(tc.Req.Path)}
	if tc.Req.Query != nil {
		req.Query = map[string]string{}
		for k, v := range tc.Req.Query {
			req.Query[k] = e.Expand(v)
		}
	}
	if tc.Req.Body != nil {
		req.Body = e.expandAny(tc.Req.Body).(map[string]any)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := c.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Op, req.Path, err)
	}
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if r.Status != tc.Status {
		fail("status = %d, want %d (errors %q)", r.Status, tc.Status, r.Errors)
	}
	if want := e.Expand(tc.Err); want != "" {
		if len(r.Errors) == 0 || !strings.HasPrefix(r.Errors[0], want) {
			fail("errors = %q, want first starting with %q", r.Errors, want)
		}
	} else if tc.Status == http.StatusNotFound && len(r.Errors) != 0 {
		fail("errors = %q, want none", r.Errors)
	}
	if tc.Keys != nil {
		for k, v := range r.Data {
			want, ok := tc.Keys[k]
			if !ok {
				fail("unexpected data key %q", k)
			} else if got := jsonType(v); got != want {
				fail("data.%s has JSON type %s, want %s", k, got, want)
			}
		}
		for k := range tc.Keys {
			if _, ok := r.Data[k]; !ok {
				fail("missing data key %q", k)
			}
		}
	}
	for k, want := range tc.Values {
		w := normalize(e.expandAny(want))
		if got := r.Data[k]; !reflect.DeepEqual(got, w) {
			fail("data.%s = %#v, want %#v", k, got, w)
		}
	}
	if tc.Warning != "" && !containsAny(r.Warnings, e.Expand(tc.Warning)) {
		fail("warnings = %q, want one containing %q", r.Warnings, tc.Warning)
	}
	at, _ := r.Data["access_token"].(string)
	if tc.Save != "" {
		if at == "" {
			fail("no access_token to save as %s", tc.Save)
		}
		e.Vars[tc.Save] = at
	}
	if tc.Same != "" && (at == "" || at != e.Vars[tc.Same]) {
		fail("access_token differs from %s", tc.Same)
	}
	if tc.Differs != "" && (at == "" || at == e.Vars[tc.Differs]) {
		fail("access_token is the same as %s (or missing)", tc.Differs)
	}
	if len(tc.Absent) > 0 {
		raw, _ := json.Marshal(r)
		for _, name := range tc.Absent {
			if v := e.Vars[name]; v != "" && bytes.Contains(raw, []byte(v)) {
				fail("response contains the value of %s", name)
			}
		}
	}
	if tc.Check != nil {
		if err := tc.Check(e, r); err != nil {
			fail("%v", err)
		}
	}
	return errors.Join(errs...)
}

func containsAny(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// normalize round-trips v through JSON so it compares with decoded data.
func normalize(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return v
	}
	return out
}

// Backend runs requests against an in-process logical.Backend.
type Backend struct {
	B       logical.Backend
	Storage logical.Storage
}

// Do implements Client, mapping results as Vault's HTTP layer does.
func (c *Backend) Do(ctx context.Context, r Request) (*Response, error) {
	req := &logical.Request{Path: r.Path, Storage: c.Storage, Data: map[string]any{}}
	switch r.Op {
	case Read:
		req.Operation = logical.ReadOperation
	case List:
		req.Operation = logical.ListOperation
	case Delete:
		req.Operation = logical.DeleteOperation
	case Write:
		req.Operation = logical.UpdateOperation
	default:
		return nil, fmt.Errorf("unknown operation %q", r.Op)
	}
	for k, v := range r.Query {
		req.Data[k] = v
	}
	if r.Body != nil {
		// Vault decodes request bodies with UseNumber.
		raw, err := json.Marshal(r.Body)
		if err != nil {
			return nil, fmt.Errorf("encoding body: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&req.Data); err != nil {
			return nil, fmt.Errorf("decoding body: %w", err)
		}
	}
	resp, err := c.B.HandleRequest(ctx, req)
	out := &Response{Errors: []string{}}
	var coded logical.HTTPCodedError
	switch {
	case errors.Is(err, logical.ErrUnsupportedPath):
		out.Status, out.Errors = http.StatusNotFound, []string{"unsupported path"}
		return out, nil
	case errors.Is(err, logical.ErrUnsupportedOperation):
		out.Status, out.Errors = http.StatusMethodNotAllowed, []string{"unsupported operation"}
		return out, nil
	case errors.As(err, &coded):
		out.Status, out.Errors = coded.Code(), []string{coded.Error()}
		return out, nil
	case resp != nil && resp.IsError():
		out.Status, out.Errors = http.StatusBadRequest, []string{resp.Error().Error()}
		return out, nil
	case err != nil:
		out.Status, out.Errors = http.StatusInternalServerError, []string{err.Error()}
		return out, nil
	case resp == nil && (r.Op == Read || r.Op == List):
		out.Status = http.StatusNotFound
		return out, nil
	case resp == nil:
		out.Status = http.StatusNoContent
		return out, nil
	}
	raw, err := json.Marshal(resp.Data)
	if err != nil {
		return nil, fmt.Errorf("encoding response data: %w", err)
	}
	if err := json.Unmarshal(raw, &out.Data); err != nil {
		return nil, fmt.Errorf("decoding response data: %w", err)
	}
	out.Warnings = resp.Warnings
	out.Status = http.StatusOK
	if keys, ok := out.Data["keys"].([]any); r.Op == List && (!ok || len(keys) == 0) {
		out.Status, out.Data = http.StatusNotFound, nil
	}
	return out, nil
}

// HTTP runs requests against a real Vault server where the plugin is
// mounted at Mount (e.g. "secret/oauth").
type HTTP struct {
	Addr   string // e.g. "http://127.0.0.1:8201"
	Token  string
	Mount  string
	Client *http.Client // nil means a client with a 30 s timeout
}

// Do implements Client.
func (c *HTTP) Do(ctx context.Context, r Request) (*Response, error) {
	u := strings.TrimRight(c.Addr, "/") + "/v1/" + strings.Trim(c.Mount, "/") + "/" + r.Path
	var body io.Reader
	method := http.MethodGet
	q := url.Values{}
	switch r.Op {
	case Read:
		keys := make([]string, 0, len(r.Query))
		for k := range r.Query {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			q.Set(k, r.Query[k])
		}
	case List:
		q.Set("list", "true")
	case Delete:
		method = http.MethodDelete
	case Write:
		method = http.MethodPut
		raw, err := json.Marshal(r.Body)
		if err != nil {
			return nil, fmt.Errorf("encoding body: %w", err)
		}
		body = bytes.NewReader(raw)
	default:
		return nil, fmt.Errorf("unknown operation %q", r.Op)
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("X-Vault-Token", c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("vault request: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("reading vault answer: %w", err)
	}
	out := &Response{Status: resp.StatusCode, Errors: []string{}}
	if len(bytes.TrimSpace(raw)) == 0 {
		return out, nil
	}
	var env struct {
		Data     map[string]any `json:"data"`
		Errors   []string       `json:"errors"`
		Warnings []string       `json:"warnings"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("decoding vault answer (HTTP %d): %w", resp.StatusCode, err)
	}
	out.Data, out.Warnings = env.Data, env.Warnings
	if env.Errors != nil {
		out.Errors = env.Errors
	}
	return out, nil
}
