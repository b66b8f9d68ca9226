package credmon

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fuzz targets of the credmon: everything in a user's credential
// directory (.top, .meta, .use), what Vault and token endpoints answer,
// and the knob values condor_config_val prints.

// fzResponse is one canned HTTP answer of fzTransport.
type fzResponse struct {
	status int
	body   []byte
}

// fzTransport answers every request from a list (the last entry repeats)
// and records the requests.
type fzTransport struct {
	mu    sync.Mutex
	resps []fzResponse
	reqs  []*http.Request
	forms []string
}

func (f *fzTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	form := ""
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		form = string(b)
	}
	f.reqs = append(f.reqs, r)
	f.forms = append(f.forms, form)
	resp := f.resps[min(len(f.reqs)-1, len(f.resps)-1)]
	status := resp.status
	if status < 100 || status > 999 {
		status = 200
	}
	return &http.Response{
		StatusCode: status,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(bytes.NewReader(resp.body)),
		Request:    r,
	}, nil
}

// fzCredDir is a credential directory for user "alice", made once per
// fuzz target (a directory per input makes the fuzzer crawl). Inputs run
// one after the other in a process, so each rewrites the files it needs.
type fzCredDir struct{ root string }

func newFzCredDir(f *testing.F) fzCredDir {
	root := f.TempDir()
	if err := os.Mkdir(filepath.Join(root, "alice"), 0o700); err != nil {
		f.Fatal(err)
	}
	return fzCredDir{root: root}
}

// cred writes (or, for nil content, removes) the given files and returns
// the Cred of name.
func (d fzCredDir) cred(t *testing.T, name string, files map[string][]byte) Cred {
	for n, b := range files {
		p := filepath.Join(d.root, "alice", n)
		if b == nil {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return Cred{Root: d.root, User: "alice", Name: name}
}

func fzErrText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzVaultRefresh feeds a .top and Vault's answers (to the token read and
// to the lookup-self that confirms a "permission denied") to the Vault
// provider: no panic; requests only to the https /v1/ URL of the .top,
// with the .top's vault token; the vault token never in an error; ErrDelete
// only when lookup-self refused the token too; on success, the .use is the
// access token and a newline.
func FuzzVaultRefresh(f *testing.F) {
	top := `{"vault_token":"hvs.CAESIVAULTTOKENFUZZ","vault_url":"https://vault.example:8200/v1/secret/oauth/creds/dune/alice:default","scopes":"read:/","audience":"aud"}`
	for _, c := range []struct {
		top          string
		status       int
		body         string
		lookupStatus int
	}{
		{top, 200, `{"data":{"access_token":"eyJ.eyJ.sig"}}`, 200},
		{top, 403, `{"errors":["permission denied"]}`, 403},
		{top, 403, `{"errors":["1 error occurred:\n\t* permission denied\n\n"]}`, 200},
		{top, 500, "<html>oops</html>", 200},
		{top, 200, `{"data":{"access_token":""}}`, 200},
		{top, 200, `not json`, 200},
		{`{"vault_token":"t","vault_url":"http://v/v1/x"}`, 200, "", 200},
		{`{"vault_url":"https://v/v1/sts/x"}`, 200, "", 200},
		{`{"vault_token":5}`, 200, "", 200},
		{`{"vault_token":"hvs.x","vault_url":"https://u:p@v/v1/x?q#f"}`, 200, "", 200},
		{`[`, 200, "", 200},
	} {
		f.Add([]byte(c.top), c.status, []byte(c.body), c.lookupStatus)
	}
	dir := newFzCredDir(f)
	f.Fuzz(func(t *testing.T, top []byte, status int, body []byte, lookupStatus int) {
		c := dir.cred(t, "dune", map[string][]byte{"dune.top": top})
		tr := &fzTransport{resps: []fzResponse{{status, body}, {lookupStatus, nil}}}
		v := NewVault(VaultConfig{HTTPClient: &http.Client{Transport: tr}})
		r, err := v.Refresh(context.Background(), c, top)

		var parsed vaultTop
		_ = json.Unmarshal(top, &parsed)
		token := ""
		if parsed.VaultToken != nil {
			token = *parsed.VaultToken
		}
		url := ""
		if parsed.VaultURL != nil {
			url = *parsed.VaultURL
		}
		for _, req := range tr.reqs {
			if req.URL.Scheme != "https" || !strings.HasPrefix(req.URL.Path, "/v1/") || req.URL.User != nil {
				t.Fatalf("request to %s", req.URL.Redacted())
			}
			if !strings.HasPrefix(url, "https://"+req.URL.Host) {
				t.Fatalf("request to host %q, .top says %q", req.URL.Host, url)
			}
			if got := req.Header.Get("X-Vault-Token"); got != token {
				t.Fatalf("X-Vault-Token %q, .top has %q", got, token)
			}
		}
		if len(tr.reqs) > 2 {
			t.Fatalf("%d requests for one refresh", len(tr.reqs))
		}
		if err != nil {
			msg := err.Error()
			if len(token) >= 4 && strings.Contains(msg, token) && !strings.Contains(url, token) && !bytes.Contains(body, []byte(token)) {
				t.Fatalf("the vault token is in the error %q", msg)
			}
			if errors.Is(err, ErrDelete) && (len(tr.reqs) != 2 || (lookupStatus != 401 && lookupStatus != 403)) {
				t.Fatalf("credential deleted after %d requests, lookup-self status %d: %v", len(tr.reqs), lookupStatus, err)
			}
			if r.Use != nil || r.Top != nil {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		var doc struct {
			Data struct {
				AccessToken string `json:"access_token"`
			} `json:"data"`
		}
		if status != 200 && status >= 100 && status <= 999 || json.Unmarshal(body, &doc) != nil || doc.Data.AccessToken == "" ||
			string(r.Use) != doc.Data.AccessToken+"\n" || r.Top != nil {
			t.Fatalf("status %d body %q gave .use %q", status, body, r.Use)
		}
	})
}

// The site's client secret, which must never be in an error or a .use.
const fzSiteSecret = "site-client-secret-0123456789"

// FuzzOAuthRefresh feeds a .top, a .meta and the token endpoint's answer
// to the OAuth provider: no panic; requests only over https; neither the
// refresh token nor a client secret in an error or the .use; the .use
// never holds the refresh token; a rotated refresh token is written back
// as the .top's refresh_token, with the other fields kept.
func FuzzOAuthRefresh(f *testing.F) {
	top := `{"refresh_token":"rt-FUZZ-refresh-token-1","scopes":"openid"}`
	meta := `{"client_id":"cid","client_secret":"meta-secret-abcdefgh","token_url":"https://idp.example/token","use_refresh_token":true}`
	for _, c := range []struct {
		top, meta string
		status    int
		body      string
	}{
		{top, meta, 200, `{"access_token":"at","token_type":"Bearer","expires_in":3600}`},
		{top, meta, 200, `{"access_token":"at","refresh_token":"rt-new-rotated","expires_in":"60"}`},
		{top, meta, 400, `{"error":"invalid_grant","error_description":"rt-FUZZ-refresh-token-1 is revoked"}`},
		{top, meta, 401, `{"error":"invalid_client","error_description":"bad meta-secret-abcdefgh"}`},
		{top, meta, 500, `<html>down</html>`},
		{top, "", 200, `{"access_token":"at"}`},
		{top, `{"token_url":"http://idp.example/t"}`, 200, `{}`},
		{top, `{"token_url":"https://u:p@idp.example/t?x=1"}`, 200, `{"access_token":5}`},
		{`{"refresh_token":""}`, meta, 200, `{}`},
		{`{"refresh_token":5}`, meta, 200, `{}`},
		{`null`, meta, 200, `{}`},
		{top, `{"client_id":`, 200, `{}`},
	} {
		f.Add([]byte(c.top), []byte(c.meta), c.status, []byte(c.body))
	}
	dir := newFzCredDir(f)
	secretFile := filepath.Join(f.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(fzSiteSecret+"\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, top, meta []byte, status int, body []byte) {
		files := map[string][]byte{"dune.top": top, "dune.meta": nil}
		if len(meta) > 0 {
			files["dune.meta"] = meta
		}
		c := dir.cred(t, "dune", files)
		knobs := map[string]string{"DUNE_CLIENT_ID": "site-client", "DUNE_TOKEN_URL": "https://idp.example/token", "DUNE_CLIENT_SECRET_FILE": secretFile}
		tr := &fzTransport{resps: []fzResponse{{status, body}}}
		p := NewOAuthProvider(OAuthConfig{
			Lookup: func(_ context.Context, k string) (string, bool) {
				v, ok := knobs[strings.ToUpper(k)]
				return v, ok
			},
			HTTPClient: &http.Client{Transport: tr},
			Log:        slog.New(slog.DiscardHandler),
		})
		r, err := p.Refresh(context.Background(), c, top)

		var tv struct {
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.Unmarshal(top, &tv)
		var mv oauthMeta
		_ = json.Unmarshal(meta, &mv)
		for _, req := range tr.reqs {
			if req.URL.Scheme != "https" {
				t.Fatalf("token request over %s", req.URL.Scheme)
			}
		}
		if len(tr.reqs) > 1 {
			t.Fatalf("%d token requests for one refresh", len(tr.reqs))
		}
		msg := fzErrText(err)
		for _, s := range []string{tv.RefreshToken, mv.ClientSecret, fzSiteSecret} {
			if len(s) < 8 {
				continue
			}
			if strings.Contains(msg, s) && !bytes.Contains(meta, []byte(s+"@")) && !strings.Contains(mv.TokenURL, s) && !strings.Contains(mv.ClientID, s) {
				t.Fatalf("secret %q in the error %q", s, msg)
			}
			if bytes.Contains(r.Use, []byte(s)) && !bytes.Contains(body, []byte(s)) {
				t.Fatalf("secret %q in the .use %q", s, r.Use)
			}
		}
		if err != nil {
			if r.Use != nil || r.Top != nil {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		var use map[string]json.RawMessage
		if json.Unmarshal(r.Use, &use) != nil {
			t.Fatalf(".use %q is not a JSON object", r.Use)
		}
		if _, ok := use["refresh_token"]; ok {
			t.Fatalf(".use %q holds a refresh token", r.Use)
		}
		if r.Top != nil {
			var old, nt map[string]json.RawMessage
			if json.Unmarshal(top, &old) != nil || json.Unmarshal(r.Top, &nt) != nil || len(old) != len(nt) {
				t.Fatalf("rotated .top %q from %q", r.Top, top)
			}
			var rt string
			if json.Unmarshal(nt["refresh_token"], &rt) != nil || rt == "" || rt == tv.RefreshToken {
				t.Fatalf("rotated .top %q has refresh_token %q", r.Top, rt)
			}
		}
	})
}

// FuzzNextRefresh feeds .use files to the providers' refresh schedules
// (the daemon reads existing .use files at start-up): no panic, and a
// refresh never scheduled before the file was written when the lifetime
// in it is sane (below 30 years).
func FuzzNextRefresh(f *testing.F) {
	for _, s := range []string{
		"eyJhbGciOiJub25lIn0.eyJleHAiOjE3OTUwMDAwMDAsImlhdCI6MTc5NDk5NjQwMH0.sig\n",
		`{"access_token":"at","expires_in":3600}`, `{"access_token":"at","expires_in":"1200"}`,
		`{"access_token":"at","expires_in":1.5e3}`, `{"access_token":"at","expires_in":-5}`,
		`{"access_token":"eyJhbGciOiJub25lIn0.eyJleHAiOjF9.x"}`, "opaque-token\n", "", "{", `{"expires_in":{}}`,
	} {
		f.Add([]byte(s), int64(1794996400))
	}
	vault := NewVault(VaultConfig{HTTPClient: &http.Client{Transport: &fzTransport{}}})
	oauth := NewOAuthProvider(OAuthConfig{HTTPClient: &http.Client{Transport: &fzTransport{}}})
	f.Fuzz(func(t *testing.T, use []byte, writtenUnix int64) {
		written := time.Unix(writtenUnix%(1<<34), 0)
		c := Cred{Root: "/nonexistent-fuzz", User: "alice", Name: "dune"}
		if due := vault.NextRefresh(c, use, written); due.Before(written) {
			t.Fatalf("VAULT: refresh at %v, before the write at %v", due, written)
		}
		sane := true
		var u map[string]json.RawMessage
		if json.Unmarshal(bytes.TrimSpace(use), &u) == nil {
			if n, ok := numberField(u["expires_in"]); ok && (n > 30*365*86400 || n < -30*365*86400) {
				sane = false
			}
		}
		due := oauth.NextRefresh(c, use, written)
		if sane && due.Before(written) {
			t.Fatalf("OAUTH: refresh at %v, before the write at %v", due, written)
		}
		due = issuedNextRefresh(use, written, 20*time.Minute)
		if sane && due.Before(written) {
			t.Fatalf("LOCAL: refresh at %v, before the write at %v", due, written)
		}
	})
}

// fzKnobSource answers knob lookups from a map.
type fzKnobSource map[string]string

func (s fzKnobSource) Get(_ context.Context, knobs ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range knobs {
		if v, ok := s[strings.ToUpper(k)]; ok {
			out[k] = v
		}
	}
	return out, nil
}

// FuzzClassify feeds provider-list knob values and a token name to the
// classifier: no panic, and the decision follows the rules: a served
// token has no reason and a reason-less token is served; the provider is
// the name or its part before '_'; a local or client provider wins.
func FuzzClassify(f *testing.F) {
	f.Add("", "", "", "", "", "", "dune", false)
	f.Add("dune, cms", "box", "scitokens", "", "ligo", "false", "dune_production", true)
	f.Add("*", "*", "", "mytokens", "", "true", "weird@name_", false)
	f.Add("a b\tc", "", "x,,y", "", "c", "1", "c_h", true)
	f.Add("", "", "", "", "", "maybe", "n", false)
	f.Add("dune", "", "", "", "", "", "_", true)
	f.Fuzz(func(t *testing.T, vault, oauth2, local, localOne, client, allow, name string, hasID bool) {
		k := NewKnobs(fzKnobSource{
			KnobVaultProviders: vault, KnobOAuth2Providers: oauth2, KnobLocalProviders: local,
			KnobLocalProvider: localOne, KnobClientProviders: client, KnobAllowSpecialChars: allow,
		})
		if err := k.Load(context.Background(), ClassifierKnobs...); err != nil {
			t.Fatal(err)
		}
		c, err := NewClassifier(k)
		if err != nil {
			if !errors.Is(err, ErrBadValue) {
				t.Fatalf("NewClassifier: %v", err)
			}
			return
		}
		if _, err := c.Check(); err != nil && !errors.Is(err, ErrBadProviderName) {
			t.Fatalf("Check: %v", err)
		}
		calls := 0
		d := c.Classify(name, func(string) bool { calls++; return hasID })
		if calls > 1 {
			t.Fatalf("clientID called %d times", calls)
		}
		if (d.Class == ClassNone) != (d.Why != "") {
			t.Fatalf("decision %+v", d)
		}
		if d.Why != "" && strings.Contains(d.Why, "\n") && !strings.Contains(name+vault, "\n") {
			t.Fatalf("multi-line reason %q", d.Why)
		}
		if d.Class == ClassNone && d.Provider == "" {
			return
		}
		if d.Provider != name && !strings.HasPrefix(name, d.Provider+"_") {
			t.Fatalf("provider %q of token %q", d.Provider, name)
		}
		for _, n := range c.LocalNames() {
			if n == d.Provider && d.Class != ClassLocal {
				t.Fatalf("local provider %q classified %v", n, d.Class)
			}
		}
		if d.Class == ClassOAuth && !hasID {
			t.Fatalf("OAUTH without %s", ClientIDKnob(d.Provider))
		}
	})
}

// FuzzKnobValues checks the parsers of knob values: integers, booleans
// and sizes print back to what they parsed, errors match ErrBadValue, and
// list items hold no separators.
func FuzzKnobValues(f *testing.F) {
	for _, s := range []string{"0", " 42 ", "-7", "true", "FALSE", "1", "yes", "10M", "64 Kb", "1g", "-1k", "9223372036854775807", "3x", "", "a, b\tc", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := parseInt(s); err == nil {
			if m, err := parseInt(strconv.FormatInt(n, 10)); err != nil || m != n {
				t.Fatalf("parseInt(%q) = %d does not round-trip", s, n)
			}
		} else if !errors.Is(err, ErrBadValue) {
			t.Fatalf("parseInt(%q): %v", s, err)
		}
		if b, err := parseBool(s); err == nil {
			if b2, err := parseBool(strconv.FormatBool(b)); err != nil || b2 != b {
				t.Fatalf("parseBool(%q) = %v does not round-trip", s, b)
			}
		} else if !errors.Is(err, ErrBadValue) {
			t.Fatalf("parseBool(%q): %v", s, err)
		}
		if n, err := parseSize(s); err == nil {
			if m, err := parseSize(strconv.FormatInt(n, 10)); err != nil || m != n {
				t.Fatalf("parseSize(%q) = %d does not round-trip", s, n)
			}
			if n > 1<<62 || n < -(1<<62) {
				t.Fatalf("parseSize(%q) = %d out of range", s, n)
			}
		} else if !errors.Is(err, ErrBadValue) {
			t.Fatalf("parseSize(%q): %v", s, err)
		}
		items := SplitList(s)
		for _, it := range items {
			if it == "" || strings.ContainsAny(it, ", \t\n\r\v\f") {
				t.Fatalf("SplitList(%q) item %q", s, it)
			}
		}
		if again := SplitList(strings.Join(items, ",")); strings.Join(again, ",") != strings.Join(items, ",") {
			t.Fatalf("SplitList is not idempotent on %q", s)
		}
	})
}

// FuzzLogRecord checks that a log record stays one line whatever its
// message and attribute values hold (token names, errors from servers):
// no log injection.
func FuzzLogRecord(f *testing.F) {
	f.Add("refreshed", "alice/dune", "ok")
	f.Add("bad\nINJECTED 01/01/70 00:00:00 fake", "x\r\ny", "\x00\x7f\u2028")
	f.Add("", "", "\"quoted\" = yes")
	f.Fuzz(func(t *testing.T, msg, cred, errText string) {
		var buf bytes.Buffer
		l := prefixLogger(slog.New(NewHandler(&buf, slog.LevelDebug)), "VAULT")
		l.With("user", cred).Warn(msg, "cred", cred, "error", errors.New(errText), slog.Group("g", "v", errText))
		out := buf.String()
		if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") || strings.Contains(out, "\r") {
			t.Fatalf("record %q is not one line", out)
		}
		if !strings.Contains(out, " WARNING: VAULT: ") {
			t.Fatalf("record %q lacks its level and prefix", out)
		}
	})
}

// FuzzParsePrivateKeyPEM checks the signing key reader: no panic, and an
// accepted key marshals and parses back to the same public key. The seed
// corpus holds EC and RSA keys in PKCS #8, SEC 1 and PKCS #1 form (test
// keys made with openssl for this corpus only).
func FuzzParsePrivateKeyPEM(f *testing.F) {
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte("not a key"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParsePrivateKeyPEM(data)
		if err != nil {
			return
		}
		if _, err := SigningAlgorithm(key.Public()); err != nil {
			return
		}
		again, err := marshalPrivateKeyPEM(key)
		if err != nil {
			t.Fatalf("MarshalPrivateKeyPEM of a parsed key: %v", err)
		}
		key2, err := ParsePrivateKeyPEM(again)
		if err != nil {
			t.Fatalf("re-parsing a marshalled key: %v", err)
		}
		if pk, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pk.Equal(key2.Public()) {
			t.Fatalf("key changed in a round trip")
		}
	})
}
