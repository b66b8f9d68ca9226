package vaultcred

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// vreq is one request the fake Vault received.
type vreq struct {
	// Method is the HTTP method.
	Method string
	// Path is the API path without the leading "/v1/".
	Path string
	// Query is the parsed query; RawQuery the query as sent.
	Query    url.Values
	RawQuery string
	// Header holds the request headers.
	Header http.Header
	// Raw is the request body; JSON is it decoded (numbers as
	// json.Number), nil when the body is empty or not a JSON object.
	Raw  []byte
	JSON map[string]any
}

// Token is the X-Vault-Token header.
func (r vreq) Token() string { return r.Header.Get("X-Vault-Token") }

// Key is "METHOD path", the form of the scripts and of sequence checks.
func (r vreq) Key() string { return r.Method + " " + r.Path }

// answer is one scripted reply. fn, when set, computes the reply from the
// request instead.
type answer struct {
	status int
	body   string
	fn     func(r vreq) answer
}

// reply200 is a 200 answer with body.
func reply200(body string) answer { return answer{status: 200, body: body} }

// replyStatus is an answer with any status.
func replyStatus(status int, body string) answer { return answer{status: status, body: body} }

// replyJSON is an answer whose body is v marshalled.
func replyJSON(status int, v any) answer {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return answer{status: status, body: string(b)}
}

// replyErrors is Vault's error document {"errors":[...]} with status.
func replyErrors(status int, errs ...string) answer {
	return replyJSON(status, map[string]any{"errors": errs})
}

// fakeVault is an httptest TLS server that answers Vault API requests from
// per-path scripts and records every request. Each "METHOD path" has a
// queue of answers; the last one repeats. Unscripted paths get Vault's 404.
type fakeVault struct {
	t   *testing.T
	srv *httptest.Server
	// URL is the server's base URL as Derive normalises it
	// ("https://127.0.0.1:<port>").
	URL string
	// CA is a PEM file holding the server certificate, for --cafile.
	CA string

	mu     sync.Mutex
	script map[string][]answer
	reqs   []vreq
}

// newFakeVault starts a fake Vault, closed when the test ends.
func newFakeVault(t *testing.T) *fakeVault {
	t.Helper()
	f := &fakeVault{t: t, script: map[string][]answer{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.URL = f.srv.URL
	f.CA = filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	if err := os.WriteFile(f.CA, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// on scripts the answers to method and path (without "/v1/"), replacing
// any earlier script for them.
func (f *fakeVault) on(method, path string, answers ...answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[method+" "+path] = answers
}

// requests returns a copy of the requests received so far.
func (f *fakeVault) requests() []vreq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]vreq(nil), f.reqs...)
}

// keys returns "METHOD path" of every request so far, in order.
func (f *fakeVault) keys() []string {
	var ks []string
	for _, r := range f.requests() {
		ks = append(ks, r.Key())
	}
	return ks
}

// reset forgets the recorded requests (the scripts stay).
func (f *fakeVault) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = nil
}

// find returns the recorded requests with key "METHOD path".
func (f *fakeVault) find(key string) []vreq {
	var out []vreq
	for _, r := range f.requests() {
		if r.Key() == key {
			out = append(out, r)
		}
	}
	return out
}

// url is the full URL of an API path.
func (f *fakeVault) url(path string) string { return f.URL + "/v1/" + path }

func (f *fakeVault) serve(w http.ResponseWriter, hr *http.Request) {
	raw, _ := io.ReadAll(hr.Body)
	r := vreq{
		Method:   hr.Method,
		Path:     strings.TrimPrefix(hr.URL.Path, "/v1/"),
		Query:    hr.URL.Query(),
		RawQuery: hr.URL.RawQuery,
		Header:   hr.Header.Clone(),
		Raw:      raw,
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var m map[string]any
		if d.Decode(&m) == nil {
			r.JSON = m
		}
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, r)
	q := f.script[r.Key()]
	var a answer
	switch len(q) {
	case 0:
		a = replyErrors(404)
	case 1:
		a = q[0]
	default:
		a = q[0]
		f.script[r.Key()] = q[1:]
	}
	f.mu.Unlock()
	if a.fn != nil {
		a = a.fn(r)
	}
	if a.status == 0 {
		a.status = 200
	}
	if a.status == http.StatusNoContent {
		w.WriteHeader(a.status)
		return
	}
	if strings.HasPrefix(strings.TrimSpace(a.body), "<") {
		w.Header().Set("Content-Type", "text/html")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.status)
	fmt.Fprint(w, a.body)
}

// Secrets the fake hands out or accepts. None of them may appear in an
// error message or a log line outside -d.
const (
	tokLogin    = "hvs.LOGINc4f1e2d9a7"
	tokExch     = "hvs.EXCHb83e0f6a21"
	tokStored   = "hvs.STOREDd02c7719e5"
	tokKerb     = "hvs.KERBa917bc03f4"
	tokSSH      = "hvs.SSHe6d2048c1b"
	tokCondor   = "hvs.CONDOR28d5a0e3f7"
	refreshTok  = "RTrefresh9f3b2c71d0"
	negotiateB  = "YIIKERBEROSTICKETb64"
	bearerPlain = "eyJBEARERtokenPlain.x.y"
)

// secretStrings are checked against every error and non-debug log.
var secretStrings = []string{tokLogin, tokExch, tokStored, tokKerb, tokSSH, tokCondor, refreshTok, negotiateB, bearerPlain, "eyJhbGciOiJub25lIn0"}

// authAnswer is a login answer: client_token tok with lease seconds,
// policies and metadata.
func authAnswer(tok string, lease int, policies []string, md map[string]string) answer {
	return replyJSON(200, map[string]any{
		"request_id": "req-1",
		"auth": map[string]any{
			"client_token":   tok,
			"accessor":       "acc-1",
			"policies":       policies,
			"token_policies": policies,
			"metadata":       md,
			"lease_duration": lease,
			"renewable":      true,
		},
	})
}

// createAnswer is auth/token/create's answer with tok.
func createAnswer(tok string) answer {
	return authAnswer(tok, 604800, []string{"default"}, nil)
}

// bearerAnswer is a creds/sts read answer with the access token tok.
func bearerAnswer(tok string) answer {
	return replyJSON(200, map[string]any{"data": map[string]any{"access_token": tok, "type": "Bearer"}})
}

// authURLAnswer is the auth_url answer of the device flow.
func authURLAnswer(authURL, userCode, state, interval string) answer {
	data := map[string]any{"auth_url": authURL}
	if userCode != "" {
		data["user_code"] = userCode
	}
	if state != "" {
		data["state"] = state
	}
	if interval != "" {
		data["poll_interval"] = interval
	}
	return replyJSON(200, map[string]any{"data": data})
}
