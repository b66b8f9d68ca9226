package credmon

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/vaultcred/gettoken/internal/tokenresp"
)

const (
	oaRefreshToken = "rt-secret-0001-abcdef"
	oaRotatedToken = "rt-secret-0002-ghijkl"
	oaClientSecret = "client-secret-xyz-123"
	oaAccessToken  = "at-secret-0001-mnopqr"
)

// fakeTokenEndpoint is a scripted token endpoint that records the requests.
type fakeTokenEndpoint struct {
	*httptest.Server
	mu       sync.Mutex
	forms    []url.Values
	auths    []string
	respond  func(w http.ResponseWriter, r *http.Request)
	requests int
}

func newFakeTokenEndpoint(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *fakeTokenEndpoint {
	ts := &fakeTokenEndpoint{respond: respond}
	ts.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		ts.mu.Lock()
		ts.forms = append(ts.forms, form)
		ts.auths = append(ts.auths, r.Header.Get("Authorization"))
		ts.requests++
		ts.mu.Unlock()
		ts.respond(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *fakeTokenEndpoint) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.requests
}

func (ts *fakeTokenEndpoint) lastForm() (url.Values, string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.forms) == 0 {
		return nil, ""
	}
	return ts.forms[len(ts.forms)-1], ts.auths[len(ts.auths)-1]
}

func tokenReply(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// oauthCred makes a credential directory with a .meta (nil: none).
func oauthCred(t *testing.T, name string, meta map[string]any) Cred {
	t.Helper()
	c := Cred{Root: t.TempDir(), User: "alice", Name: name}
	if err := os.Mkdir(c.DirPath(), 0o700); err != nil {
		t.Fatal(err)
	}
	if meta != nil {
		b, _ := json.Marshal(meta)
		if err := os.WriteFile(c.Meta(), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func oauthTestTop() []byte {
	return []byte(`{"refresh_token": "` + oaRefreshToken + `", "scopes": "read:/a", "audience": "https://aud"}`)
}

func decodeJSONObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("not a JSON object: %v", err)
	}
	return m
}

// assertNoTestSecrets fails if any test secret appears in s.
func assertNoTestSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, sec := range []string{oaRefreshToken, oaRotatedToken, oaClientSecret, oaAccessToken} {
		if strings.Contains(s, sec) {
			t.Errorf("%s contains a secret: %s", what, s)
		}
	}
}

func TestOAuthRefreshWithRotation(t *testing.T) {
	ts := newFakeTokenEndpoint(t, tokenReply(200, `{"access_token":"`+oaAccessToken+`","expires_in":3600,"token_type":"Bearer",`+
		`"scope":"read:/a","refresh_token":"`+oaRotatedToken+`","id_token":"x.y.z"}`))
	c := oauthCred(t, "box", map[string]any{"client_id": "cid", "client_secret": oaClientSecret, "token_url": ts.URL + "/token", "use_refresh_token": true})
	p := NewOAuthProvider(OAuthConfig{HTTPClient: ts.Client()})
	out, err := p.Refresh(context.Background(), c, oauthTestTop())
	if err != nil {
		t.Fatal(err)
	}
	form, auth := ts.lastForm()
	want := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {oaRefreshToken}, "client_id": {"cid"}, "client_secret": {oaClientSecret}}
	if !reflect.DeepEqual(form, want) || auth != "" {
		t.Errorf("request form %v auth %q; want %v and no Authorization", form, auth, want)
	}
	use := decodeJSONObject(t, out.Use)
	wantUse := map[string]any{"access_token": oaAccessToken, "expires_in": json.Number("3600"), "token_type": "Bearer", "scope": "read:/a", "id_token": "x.y.z"}
	if !reflect.DeepEqual(use, wantUse) {
		t.Errorf(".use %v, want %v", use, wantUse)
	}
	top := decodeJSONObject(t, out.Top)
	wantTop := map[string]any{"refresh_token": oaRotatedToken, "scopes": "read:/a", "audience": "https://aud"}
	if !reflect.DeepEqual(top, wantTop) {
		t.Errorf(".top %v, want %v", top, wantTop)
	}
}

func TestOAuthRefreshWithoutRotation(t *testing.T) {
	for name, body := range map[string]string{
		"no refresh_token":   `{"access_token":"` + oaAccessToken + `","expires_in":60}`,
		"same refresh_token": `{"access_token":"` + oaAccessToken + `","expires_in":60,"refresh_token":"` + oaRefreshToken + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			ts := newFakeTokenEndpoint(t, tokenReply(200, body))
			c := oauthCred(t, "svc", map[string]any{"client_id": "cid", "client_secret": oaClientSecret, "token_url": ts.URL})
			out, err := NewOAuthProvider(OAuthConfig{HTTPClient: ts.Client()}).Refresh(context.Background(), c, oauthTestTop())
			if err != nil {
				t.Fatal(err)
			}
			if out.Top != nil {
				t.Errorf(".top rewritten: %s", out.Top)
			}
			if got := decodeJSONObject(t, out.Use); got["access_token"] != oaAccessToken || got["refresh_token"] != nil {
				t.Errorf(".use %v", got)
			}
		})
	}
}

func TestOAuthFormEncodedResponse(t *testing.T) {
	ts := newFakeTokenEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		io.WriteString(w, "access_token="+oaAccessToken+"&expires_in=120&token_type=bearer")
	})
	c := oauthCred(t, "svc", map[string]any{"client_id": "cid", "token_url": ts.URL})
	out, err := NewOAuthProvider(OAuthConfig{HTTPClient: ts.Client()}).Refresh(context.Background(), c, oauthTestTop())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"access_token": oaAccessToken, "expires_in": json.Number("120"), "token_type": "bearer"}
	if got := decodeJSONObject(t, out.Use); !reflect.DeepEqual(got, want) {
		t.Errorf(".use %v, want %v", got, want)
	}
	if form, _ := ts.lastForm(); form.Has("client_secret") {
		t.Error("empty client secret sent")
	}
}

func TestOAuthKnobsFillTheMeta(t *testing.T) {
	ts := newFakeTokenEndpoint(t, tokenReply(200, `{"access_token":"a","expires_in":60}`))
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte(oaClientSecret+"\n"), 0o600)
	knobs := knobMap(map[string]string{
		"BOX_CLIENT_ID":          "knob-cid",
		"BOX_CLIENT_SECRET_FILE": secretFile,
		"BOX_TOKEN_URL":          ts.URL + "/knob",
	})
	p := NewOAuthProvider(OAuthConfig{HTTPClient: ts.Client(), Lookup: withCtx(knobs)})

	// No .meta at all, a handle: the knobs of the part before "_".
	c := oauthCred(t, "box_h1", nil)
	if _, err := p.Refresh(context.Background(), c, oauthTestTop()); err != nil {
		t.Fatal(err)
	}
	form, _ := ts.lastForm()
	if form.Get("client_id") != "knob-cid" || form.Get("client_secret") != oaClientSecret {
		t.Errorf("form %v", form)
	}

	// The .meta's fields win over the knobs.
	c = oauthCred(t, "box", map[string]any{"client_id": "meta-cid", "client_secret": "meta-secret"})
	if _, err := p.Refresh(context.Background(), c, oauthTestTop()); err != nil {
		t.Fatal(err)
	}
	form, _ = ts.lastForm()
	if form.Get("client_id") != "meta-cid" || form.Get("client_secret") != "meta-secret" {
		t.Errorf("form %v", form)
	}
}

func TestOAuthAuthStyleHeader(t *testing.T) {
	ts := newFakeTokenEndpoint(t, tokenReply(200, `{"access_token":"a","expires_in":60}`))
	c := oauthCred(t, "svc", map[string]any{"client_id": "cid", "client_secret": oaClientSecret, "token_url": ts.URL})
	p := NewOAuthProvider(OAuthConfig{HTTPClient: ts.Client(), AuthStyle: oauth2.AuthStyleInHeader})
	if _, err := p.Refresh(context.Background(), c, oauthTestTop()); err != nil {
		t.Fatal(err)
	}
	form, auth := ts.lastForm()
	if form.Has("client_secret") || !strings.HasPrefix(auth, "Basic ") {
		t.Errorf("form %v auth %q", form, auth)
	}
}

func TestOAuthInvalidGrantKeepsAndIsInvalid(t *testing.T) {
	ts := newFakeTokenEndpoint(t, tokenReply(400, `{"error":"invalid_grant","error_description":"refresh token `+oaRefreshToken+` was revoked"}`))
	c := oauthCred(t, "svc", map[string]any{"client_id": "cid", "client_secret": oaClientSecret, "token_url": ts.URL})
	var logs bytes.Buffer
	p := NewOAuthProvider(OAuthConfig{HTTPClient: ts.Client(), Log: slog.New(slog.NewTextHandler(&logs, nil))})
	_, err := p.Refresh(context.Background(), c, oauthTestTop())
	if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrDelete) {
		t.Fatalf("err = %v, want ErrInvalid and not ErrDelete", err)
	}
	var te *TokenEndpointError
	if !errors.As(err, &te) || te.StatusCode != 400 || te.Code != "invalid_grant" {
		t.Fatalf("err = %#v", err)
	}
	if !strings.Contains(err.Error(), "was revoked") {
		t.Errorf("description lost: %v", err)
	}
	assertNoTestSecrets(t, "error", err.Error())
	if !strings.Contains(logs.String(), "keeping the credential") {
		t.Errorf("no warning logged: %q", logs.String())
	}
	assertNoTestSecrets(t, "log", logs.String())
}

func TestOAuthServerErrorIsRetryable(t *testing.T) {
	ts := newFakeTokenEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(500)
		io.WriteString(w, "<html>internal error for "+oaRefreshToken+" "+oaClientSecret+"</html>")
	})
	c := oauthCred(t, "svc", map[string]any{"client_id": "cid", "client_secret": oaClientSecret, "token_url": ts.URL + "/t?x=1"})
	_, err := NewOAuthProvider(OAuthConfig{HTTPClient: ts.Client()}).Refresh(context.Background(), c, oauthTestTop())
	var te *TokenEndpointError
	if !errors.As(err, &te) || te.StatusCode != 500 {
		t.Fatalf("err = %v, want a TokenEndpointError with status 500", err)
	}
	if errors.Is(err, ErrInvalid) || errors.Is(err, ErrDelete) {
		t.Error("a server error must be retried")
	}
	if strings.Contains(err.Error(), "<html>") || strings.Contains(err.Error(), "x=1") {
		t.Errorf("body or query in the error: %v", err)
	}
	assertNoTestSecrets(t, "error", err.Error())
}

func TestOAuthTimeout(t *testing.T) {
	release := make(chan struct{})
	ts := newFakeTokenEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			panic(http.ErrAbortHandler) // answer nothing to a client that hung up
		case <-release:
		}
	})
	defer close(release)
	c := oauthCred(t, "svc", map[string]any{"client_id": "cid", "client_secret": oaClientSecret, "token_url": ts.URL})
	p := NewOAuthProvider(OAuthConfig{HTTPClient: ts.Client(), Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := p.Refresh(context.Background(), c, oauthTestTop())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	assertNoTestSecrets(t, "error", err.Error())

	// The caller's deadline applies as well.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p = NewOAuthProvider(OAuthConfig{HTTPClient: ts.Client(), Timeout: time.Hour})
	if _, err := p.Refresh(ctx, c, oauthTestTop()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("caller deadline: err = %v", err)
	}
}

func TestOAuthInvalidCredentials(t *testing.T) {
	good := map[string]any{"client_id": "cid", "client_secret": oaClientSecret, "token_url": "https://idp.example/token"}
	for name, tc := range map[string]struct {
		top  string
		meta any
	}{
		"top not json":          {"{", good},
		"top not object":        {`["x"]`, good},
		"top no refresh token":  {`{"scopes":"x"}`, good},
		"top refresh not str":   {`{"refresh_token":5}`, good},
		"meta not json":         {string(oauthTestTop()), "not json"},
		"meta no client id":     {string(oauthTestTop()), map[string]any{"token_url": "https://idp.example/token"}},
		"meta no token url":     {string(oauthTestTop()), map[string]any{"client_id": "cid"}},
		"meta http token url":   {string(oauthTestTop()), map[string]any{"client_id": "cid", "token_url": "http://idp.example/token"}},
		"meta relative token":   {string(oauthTestTop()), map[string]any{"client_id": "cid", "token_url": "/token"}},
		"meta unparsable token": {string(oauthTestTop()), map[string]any{"client_id": "cid", "token_url": "https://[::1"}},
	} {
		t.Run(name, func(t *testing.T) {
			c := oauthCred(t, "svc", nil)
			if s, ok := tc.meta.(string); ok {
				os.WriteFile(c.Meta(), []byte(s), 0o600)
			} else {
				b, _ := json.Marshal(tc.meta)
				os.WriteFile(c.Meta(), b, 0o600)
			}
			_, err := NewOAuthProvider(OAuthConfig{}).Refresh(context.Background(), c, []byte(tc.top))
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
			if err != nil {
				assertNoTestSecrets(t, "error", err.Error())
			}
		})
	}
}

func TestOAuthNextRefresh(t *testing.T) {
	written := time.Unix(1_700_000_000, 0)
	p := NewOAuthProvider(OAuthConfig{Peek: knobMap(map[string]string{"KNOB_TOKEN_URL": "https://api.box.com/oauth2/token"})})
	jwtExp := "eyJhbGciOiJub25lIn0." + b64urlString(`{"exp":1700000400}`) + ".sig"
	for name, tc := range map[string]struct {
		credName string
		meta     map[string]any
		use      string
		want     time.Time
	}{
		"half life":           {"svc", map[string]any{"token_url": "https://idp.example/token"}, `{"access_token":"a","expires_in":3600}`, written.Add(1800 * time.Second)},
		"box 95%":             {"svc", map[string]any{"token_url": "https://api.box.com/oauth2/token"}, `{"access_token":"a","expires_in":1000}`, written.Add(950 * time.Second)},
		"box from knob":       {"knob", map[string]any{}, `{"access_token":"a","expires_in":1000}`, written.Add(950 * time.Second)},
		"not box lookalike":   {"svc", map[string]any{"token_url": "https://box.com.evil.example/token"}, `{"access_token":"a","expires_in":1000}`, written.Add(500 * time.Second)},
		"box over http":       {"svc", map[string]any{"token_url": "http://api.box.com/token"}, `{"access_token":"a","expires_in":1000}`, written.Add(500 * time.Second)},
		"string expires_in":   {"svc", nil, `{"access_token":"a","expires_in":"600"}`, written.Add(300 * time.Second)},
		"never refresh":       {"svc", map[string]any{"use_refresh_token": false}, `{"access_token":"a","expires_in":60}`, oauthNever},
		"explicit true":       {"svc", map[string]any{"use_refresh_token": true}, `{"access_token":"a","expires_in":60}`, written.Add(60 * time.Second)},
		"use not json":        {"svc", map[string]any{"use_refresh_token": false}, `garbage`, written},
		"jwt exp":             {"svc", nil, `{"access_token":"` + jwtExp + `"}`, written.Add(200 * time.Second)},
		"fallback":            {"svc", nil, `{"access_token":"opaque"}`, written.Add(5 * time.Minute)},
		"short token floored": {"svc", nil, `{"access_token":"a","expires_in":30}`, written.Add(30 * time.Second)},
	} {
		c := oauthCred(t, tc.credName, tc.meta)
		if got := p.NextRefresh(c, []byte(tc.use), written); !got.Equal(tc.want) {
			t.Errorf("%s: NextRefresh = %v, want %v", name, got, tc.want)
		}
	}
}

func TestTokenEndpointErrorMessage(t *testing.T) {
	e := &TokenEndpointError{Kind: "OAUTH", URL: "https://idp/token", StatusCode: 401, Code: "invalid_client", Description: "bad"}
	if got := e.Error(); got != `token endpoint https://idp/token answered HTTP 401 "invalid_client": bad` {
		t.Errorf("Error() = %q", got)
	}
	if errors.Is(e, ErrInvalid) {
		t.Error("invalid_client must not be ErrInvalid")
	}
	if got := tokenresp.Shorten("a\nb"+strings.Repeat("x", 300), 10); got != "a b"+strings.Repeat("x", 7)+"..." {
		t.Errorf("shorten = %q", got)
	}
}

func b64urlString(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
