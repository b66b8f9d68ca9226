package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/internal/classad"
)

const testToken = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.c2ln"

func TestResolve(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Services = []string{"cloudstore"}
	for _, c := range []struct{ in, url, cred, err string }{
		{"https://h/p", "https://h/p", "", ""},
		{"davs://h/p", "https://h/p", "", ""},
		{"scitokens+https://h/p", "https://h/p", "scitokens", ""},
		{"mytokens.personal+https://h/p", "https://h/p", "mytokens_personal", ""},
		{"mytokens.personal+davs://h:2880/p?x=1#f", "https://h:2880/p?x=1", "mytokens_personal", ""},
		{"a+b+https://h/p", "https://h/p", "a+b", ""},
		{"cloudstore://h/p", "https://h/p", "cloudstore", ""},
		{"personal+cloudstore://h/p", "https://h/p", "cloudstore_personal", ""},
		{"a+b+cloudstore://h/p", "", "", "more than one handle"},
		{"ftp://h/p", "", "", "unsupported URL scheme"},
		{"x+http://h/p", "", "", "not allowed"},
		{"http://h/p", "", "", "not allowed"},
		{"https://", "", "", "not a URL"},
		{"https:///p", "", "", "no host"},
		{"https://u:pw@h/p", "", "", "user information"},
		{"a/b+https://h/p", "", "", "bad character"},
	} {
		tg, err := cfg.Resolve(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if tg.URL.String() != c.url || tg.CredName != c.cred {
			t.Errorf("%s: %s %q, want %s %q", c.in, tg.URL, tg.CredName, c.url, c.cred)
		}
	}
	cfg.AllowHTTP = true
	if _, err := cfg.Resolve("x+dav://h/p"); err == nil || !strings.Contains(err.Error(), "token over plain http") {
		t.Errorf("token over http: %v", err)
	}
	if tg, err := cfg.Resolve("dav://h/p"); err != nil || tg.URL.Scheme != "http" || !tg.WebDAV {
		t.Errorf("dav: %v %v", tg, err)
	}
}

func TestParseTokenFile(t *testing.T) {
	for in, want := range map[string]string{
		testToken + "\n":                        testToken,
		testToken + "\r\n":                      testToken,
		"  " + testToken:                        testToken,
		"# comment\n" + testToken + "\n":        testToken,
		`{"access_token": "` + testToken + `"}`: testToken,
		"{\n  \"Access_Token\": \"abc\",\n  \"expires_in\": 3\n}\n": "abc",
		`{"expires_in": 3}`:        "error:no string",
		"":                         "error:no token",
		"{not json":                "error:unable to parse",
		"a b":                      "error:characters",
		"a\nb":                     "error:more than one",
		`{"access_token": "a\nb"}`: "error:characters",
	} {
		got, err := ParseTokenFile([]byte(in))
		if strings.HasPrefix(want, "error:") {
			if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(want, "error:")) {
				t.Errorf("%q: %q %v, want %s", in, got, err, want)
			}
			if err != nil && strings.Contains(err.Error(), "sec ret") {
				t.Errorf("error quotes the token: %v", err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
}

func TestDiscovery(t *testing.T) {
	dir := t.TempDir()
	btf := filepath.Join(dir, "btf")
	env := map[string]string{"BEARER_TOKEN_FILE": btf, "XDG_RUNTIME_DIR": dir}
	ts := TokenSource{Env: func(k string) string { return env[k] }}
	tok, _, err := ts.Token(Target{})
	if err == nil {
		t.Errorf("missing BEARER_TOKEN_FILE: %q %v", tok, err)
	}
	os.WriteFile(btf, []byte("  \n"), 0o600)
	os.WriteFile(filepath.Join(dir, "bt_u"+strconv.Itoa(os.Geteuid())), []byte(" xdg-token \n"), 0o600)
	if tok, where, err := ts.Token(Target{}); err != nil || tok != "xdg-token" || !strings.HasSuffix(where, "bt_u"+strconv.Itoa(os.Geteuid())) {
		t.Errorf("xdg: %q %q %v", tok, where, err)
	}
	os.WriteFile(btf, []byte("bad token"), 0o600)
	if _, _, err := ts.Token(Target{}); err == nil {
		t.Error("invalid token accepted")
	}
	env["BEARER_TOKEN"] = "env-token"
	if tok, _, _ := ts.Token(Target{}); tok != "env-token" {
		t.Errorf("BEARER_TOKEN: %q", tok)
	}
	// In a job, plain URLs get no token unless discovery is enabled.
	env["_CONDOR_CREDS"] = dir
	if tok, _, _ := ts.Token(Target{}); tok != "" {
		t.Errorf("token for a plain URL in a job: %q", tok)
	}
	ts.Discovery = true
	if tok, _, _ := ts.Token(Target{}); tok != "env-token" {
		t.Errorf("discovery enabled: %q", tok)
	}
}

func TestCapabilityAd(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Services = []string{"cloudstore"}
	out, err := CapabilityAd(cfg, func(k string) string {
		if k == "https_proxy" {
			return `http://p"x:3128`
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := classad.ParseOldAd(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if m, _ := a.GetString("SupportedMethods"); m != "https,davs,cloudstore" {
		t.Errorf("SupportedMethods %q", m)
	}
	if v, _ := a.GetInt("ProtocolVersion"); v != 4 {
		t.Errorf("ProtocolVersion %d", v)
	}
	if p, _ := a.GetString("https_proxy"); p != `http://p"x:3128` {
		t.Errorf("proxy %q", p)
	}
}

func TestReadJobs(t *testing.T) {
	in := `[ PluginData = [ a = 1; ] ]
// comment
[ Url = "https://h/" "a"; /* c */ LocalFileName = "/iwd/caf\303\251" ][ Url = 3; LocalFileName = "/x" ][ LocalFileName = "/y" ]`
	jobs, err := ReadJobs([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 3 {
		t.Fatalf("%d jobs", len(jobs))
	}
	if jobs[0].URL != "https://h/a" || jobs[0].LocalFile != "/iwd/café" || jobs[0].Bad != "" {
		t.Errorf("job 0: %+v", jobs[0])
	}
	if jobs[1].Bad == "" || jobs[2].Bad == "" {
		t.Errorf("bad ads accepted: %+v", jobs[1:])
	}
	if _, err := ReadJobs([]byte(`[ Url = "x"`)); err == nil {
		t.Error("malformed input accepted")
	}
}

// server is an httptest TLS server trusted through X509_CERT_DIR.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
	hits  atomic.Int32
}

func newServer(t *testing.T, h func(s *server, w http.ResponseWriter, r *http.Request)) *server {
	s := &server{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		s.mu.Unlock()
		h(s, w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) authSeen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auths...)
}

type fixture struct {
	t     *testing.T
	dir   string
	creds string
	env   map[string]string
	cfg   Config
	log   bytes.Buffer
	logMu sync.Mutex
}

func newFixture(t *testing.T, servers ...*server) *fixture {
	f := &fixture{t: t, dir: t.TempDir(), cfg: DefaultConfig()}
	f.creds = filepath.Join(f.dir, "creds")
	os.Mkdir(f.creds, 0o700)
	cadir := filepath.Join(f.dir, "ca")
	os.Mkdir(cadir, 0o755)
	for i, s := range servers {
		pemb := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
		os.WriteFile(filepath.Join(cadir, fmt.Sprintf("s%d.pem", i)), pemb, 0o644)
	}
	f.env = map[string]string{"_CONDOR_CREDS": f.creds, "X509_CERT_DIR": cadir}
	f.cfg.Backoff = 10 * time.Millisecond
	f.cfg.StallTimeout = 2 * time.Second
	os.WriteFile(filepath.Join(f.creds, "tok.use"), []byte(`{"access_token":"`+testToken+`"}`), 0o600)
	return f
}

func (f *fixture) client() *Client {
	c, err := NewClient(f.cfg, func(k string) string { return f.env[k] }, func(format string, a ...any) {
		f.logMu.Lock()
		defer f.logMu.Unlock()
		fmt.Fprintf(&f.log, format+"\n", a...)
	}, "test")
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(c.Close)
	return c
}

func (f *fixture) get(u string) (*Result, string) {
	local := filepath.Join(f.dir, "dl")
	os.Remove(local)
	r := f.client().Transfer(context.Background(), u, local, false)
	b, _ := os.ReadFile(local)
	return r, string(b)
}

func last(r *Result) *Failure {
	if len(r.Failures) == 0 {
		return &Failure{}
	}
	return r.Failures[len(r.Failures)-1]
}

func TestRedirects(t *testing.T) {
	other := newServer(t, func(s *server, w http.ResponseWriter, r *http.Request) { io.WriteString(w, "other") })
	origin := newServer(t, func(s *server, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/data", http.StatusFound)
		case "/here":
			http.Redirect(w, r, "/data", http.StatusTemporaryRedirect)
		case "/down":
			http.Redirect(w, r, "http://"+strings.TrimPrefix(other.URL, "https://")+"/data", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/noloc":
			w.WriteHeader(http.StatusMovedPermanently)
		default:
			io.WriteString(w, "origin")
		}
	})
	f := newFixture(t, origin, other)
	f.cfg.MaxRedirects = 5
	base := "tok+" + origin.URL
	if r, body := f.get(base + "/away"); !r.OK || body != "other" {
		t.Fatalf("redirect to another host: %v %q", r.Err(), body)
	}
	if got := other.authSeen(); len(got) != 1 || got[0] != "" {
		t.Errorf("token sent to another host: %q", got)
	}
	if r, body := f.get(base + "/here"); !r.OK || body != "origin" {
		t.Fatalf("same host: %v", r.Err())
	}
	if got := origin.authSeen(); got[len(got)-1] != "Bearer "+testToken {
		t.Errorf("token not kept on the same host")
	}
	if r, _ := f.get(base + "/down"); r.OK || !strings.Contains(r.Err(), "plain http") {
		t.Errorf("https to http: %v", r.Err())
	}
	if r, _ := f.get(base + "/loop"); r.OK || !strings.Contains(r.Err(), "more than 5 redirects") {
		t.Errorf("loop: %v", r.Err())
	}
	if r, _ := f.get(base + "/noloc"); r.OK || !strings.Contains(r.Err(), "without a Location") {
		t.Errorf("no Location: %v", r.Err())
	}
	f.cfg.TokenHosts = []string{strings.TrimPrefix(other.URL, "https://")}
	if r, _ := f.get(base + "/away"); !r.OK {
		t.Fatal(r.Err())
	}
	if got := other.authSeen(); got[len(got)-1] != "Bearer "+testToken {
		t.Errorf("token_hosts not honoured: %q", got)
	}
}

func TestStatusMapping(t *testing.T) {
	var n503 atomic.Int32
	s := newServer(t, func(s *server, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/401":
			w.WriteHeader(401)
		case "/403":
			http.Error(w, "Insufficient privileges "+r.Header.Get("Authorization"), 403)
		case "/404":
			w.WriteHeader(404)
		case "/429":
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
		case "/429long":
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(429)
		case "/503once":
			if n503.Add(1) == 1 {
				w.WriteHeader(503)
				return
			}
			io.WriteString(w, "ok")
		case "/500":
			w.WriteHeader(500)
		}
	})
	f := newFixture(t, s)
	f.cfg.Attempts = 3
	u := "tok+" + s.URL
	r, _ := f.get(u + "/401")
	if l := last(r); l.Type != "Authorization" || l.FailureType != "Authentication" || !l.ShouldRefresh || r.Tries != 1 {
		t.Errorf("401: %+v tries %d", l, r.Tries)
	}
	r, _ = f.get(u + "/403")
	if l := last(r); l.Type != "Authorization" || l.FailureType != "Authorization" || strings.Contains(l.Msg, testToken) || !strings.Contains(l.Msg, "Insufficient privileges Bearer [token]") {
		t.Errorf("403: %+v", l)
	}
	r, _ = f.get(u + "/404")
	if l := last(r); l.Type != "Specification" || r.Tries != 1 {
		t.Errorf("404: %+v", l)
	}
	start := time.Now()
	r, _ = f.get(u + "/429")
	if l := last(r); l.Type != "Transfer" || r.Tries != 3 || time.Since(start) < 2*time.Second {
		t.Errorf("429: %+v tries %d after %s", l, r.Tries, time.Since(start))
	}
	if ad := ResultAd(r); !strings.Contains(ad.String(), "Retryable = 1") {
		t.Errorf("429 Retryable: %s", ad)
	}
	r, _ = f.get(u + "/429long")
	if r.Tries != 1 || !strings.Contains(ResultAd(r).String(), "Retryable = 3600") {
		t.Errorf("long Retry-After retried or not reported: tries %d %s", r.Tries, ResultAd(r))
	}
	if r, body := f.get(u + "/503once"); !r.OK || body != "ok" || r.Tries != 2 {
		t.Errorf("503 then ok: %v tries %d", r.Err(), r.Tries)
	}
	r, _ = f.get(u + "/500")
	if r.OK || r.Tries != 3 || len(r.Failures) != 3 {
		t.Errorf("500: tries %d failures %d", r.Tries, len(r.Failures))
	}
	if ad := ResultAd(r); strings.Count(ad.String(), "ErrorCode = 500") != 3 {
		t.Errorf("one TransferErrorData per attempt: %s", ad)
	}
}

func TestStallTimesOut(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s := newServer(t, func(s *server, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	f := newFixture(t, s)
	f.cfg.StallTimeout = 300 * time.Millisecond
	f.cfg.Attempts = 2
	start := time.Now()
	r, _ := f.get("tok+" + s.URL + "/f")
	if l := last(r); r.OK || l.FailureType != "TooSlow" || r.Tries != 2 {
		t.Errorf("stall: %+v tries %d", l, r.Tries)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stall took %s", d)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "dl")); err == nil {
		t.Error("partial file under the final name")
	}
	if ents, _ := filepath.Glob(filepath.Join(f.dir, ".dl.part-*")); len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestResumeAndChecksum(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	sum := sha256.Sum256(content)
	var first atomic.Bool
	first.Store(true)
	s := newServer(t, func(s *server, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
		if r.URL.Path == "/bad" {
			w.Header().Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(make([]byte, 32))+":")
		}
		if first.Swap(false) && r.URL.Path == "/cut" {
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(200)
			w.Write(content[:len(content)/2])
			w.(http.Flusher).Flush()
			hj, _ := w.(http.Hijacker)
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(content))
	})
	f := newFixture(t, s)
	f.cfg.Attempts = 3
	r, body := f.get("tok+" + s.URL + "/cut")
	if !r.OK || body != string(content) || !r.Resumed || r.Checksum != "sha-256" {
		t.Fatalf("resume: ok=%v resumed=%v checksum=%q err=%s len=%d", r.OK, r.Resumed, r.Checksum, r.Err(), len(body))
	}
	if r.TotalBytes >= int64(len(content))*3/2+1 || r.TotalBytes < int64(len(content)) {
		t.Errorf("TotalBytes %d", r.TotalBytes)
	}
	f.cfg.Attempts = 1
	r, _ = f.get("tok+" + s.URL + "/bad")
	if r.OK || !strings.Contains(r.Err(), "checksum") {
		t.Errorf("bad checksum accepted: %v", r.Err())
	}
}

func TestHostileResponses(t *testing.T) {
	s := newServer(t, func(s *server, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/short":
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(200)
			io.WriteString(w, "tiny")
		case "/headers":
			for i := range 300 {
				w.Header().Set(fmt.Sprintf("X-Junk-%d", i), strings.Repeat("j", 1000))
			}
			w.WriteHeader(200)
		case "/gzip":
			w.Header().Set("Content-Encoding", "gzip")
			io.WriteString(w, "not really gzip")
		}
	})
	f := newFixture(t, s)
	f.cfg.Attempts = 2
	if r, _ := f.get("tok+" + s.URL + "/short"); r.OK {
		t.Error("short body accepted")
	}
	if r, _ := f.get("tok+" + s.URL + "/headers"); r.OK {
		t.Error("huge headers accepted")
	}
	// No transparent decompression: the bytes are stored as sent.
	if r, body := f.get("tok+" + s.URL + "/gzip"); !r.OK || body != "not really gzip" {
		t.Errorf("gzip: %v %q", r.Err(), body)
	}
}

func TestUntrustedTLS(t *testing.T) {
	s := newServer(t, func(s *server, w http.ResponseWriter, r *http.Request) {})
	f := newFixture(t) // no CA for s
	r, _ := f.get("tok+" + s.URL + "/f")
	if l := last(r); r.OK || l.Type != "Authorization" || l.FailureType != "Authentication" || r.Tries != 1 {
		t.Errorf("untrusted server: %+v", l)
	}
	if s.hits.Load() != 0 {
		t.Error("request reached an untrusted server")
	}
}

func TestUploadRedirectAndMkcol(t *testing.T) {
	var mu sync.Mutex
	files := map[string][]byte{}
	dirs := map[string]bool{"/": true}
	target := newServer(t, func(s *server, w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		files[r.URL.Path] = b
		mu.Unlock()
		w.WriteHeader(201)
	})
	dav := newServer(t, func(s *server, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		parent := r.URL.Path[:strings.LastIndex(strings.TrimSuffix(r.URL.Path, "/"), "/")+1]
		switch {
		case r.Method == "MKCOL":
			if !dirs[parent] {
				w.WriteHeader(409)
				return
			}
			dirs[r.URL.Path] = true
			w.WriteHeader(201)
		case r.Method == "PUT" && strings.HasPrefix(r.URL.Path, "/elsewhere/"):
			http.Redirect(w, r, target.URL+"/stored", http.StatusTemporaryRedirect)
		case r.Method == "PUT":
			if !dirs[parent] {
				w.WriteHeader(409)
				return
			}
			b, _ := io.ReadAll(r.Body)
			files[r.URL.Path] = b
			w.WriteHeader(201)
		}
	})
	f := newFixture(t, dav, target)
	local := filepath.Join(f.dir, "up")
	content := bytes.Repeat([]byte("x"), 3<<20)
	os.WriteFile(local, content, 0o644)
	c := f.client()
	r := c.Transfer(context.Background(), "tok+"+strings.Replace(dav.URL, "https", "davs", 1)+"/a/b/c/up", local, true)
	if !r.OK || !bytes.Equal(files["/a/b/c/up"], content) {
		t.Fatalf("mkcol upload: %v", r.Err())
	}
	r = c.Transfer(context.Background(), "tok+"+dav.URL+"/elsewhere/up", local, true)
	if !r.OK || !bytes.Equal(files["/stored"], content) {
		t.Fatalf("307 upload: %v (%d bytes)", r.Err(), len(files["/stored"]))
	}
	if got := target.authSeen(); len(got) != 1 || got[0] != "" {
		t.Errorf("token sent to the redirect target: %q", got)
	}
	r = c.Transfer(context.Background(), "tok+"+dav.URL+"/x", filepath.Join(f.dir, "missing"), true)
	if r.OK || !strings.Contains(r.Err(), "could not open local file") {
		t.Errorf("missing local file: %v", r.Err())
	}
}

func TestRunWritesIntoPreallocatedOutput(t *testing.T) {
	s := newServer(t, func(s *server, w http.ResponseWriter, r *http.Request) { io.WriteString(w, "data") })
	f := newFixture(t, s)
	conf := filepath.Join(f.dir, "conf")
	os.WriteFile(conf, []byte("backoff = 0.01\nattempts = 1\n"), 0o644)
	f.env["GETTOKEN_TRANSFER_CONFIG"] = conf
	in, out := filepath.Join(f.dir, "in"), filepath.Join(f.dir, "out")
	os.WriteFile(in, []byte(fmt.Sprintf(`[ Url = "tok+%s/a"; LocalFileName = "%s/a" ][ PluginData = 1 ][ Url = "ftp://h/x"; LocalFileName = "%s/b" ][ Url = "tok+%s/c"; LocalFileName = "%s/c" ]`,
		s.URL, f.dir, f.dir, s.URL, f.dir)), 0o644)
	os.WriteFile(out, bytes.Repeat([]byte{' '}, 19264), 0o644)
	ok, err := Run(context.Background(), Options{InFile: in, OutFile: out}, func(k string) string { return f.env[k] }, io.Discard, nil)
	if err != nil || ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	data, _ := os.ReadFile(out)
	if len(data) != 19264 {
		t.Errorf("output size %d", len(data))
	}
	ads, err := classad.ParseNew(data)
	if err != nil || len(ads) != 3 {
		t.Fatalf("%d ads, %v", len(ads), err)
	}
	want := []bool{true, false, true}
	for i, a := range ads {
		if got, _ := a.GetBool("TransferSuccess"); got != want[i] {
			t.Errorf("ad %d: %s", i, a)
		}
	}
	if !strings.Contains(ads[1].String(), `ErrorType = "Parameter"`) {
		t.Errorf("unknown scheme: %s", ads[1])
	}
	// A malformed input file still gives one explanatory result ad.
	os.WriteFile(in, []byte(`[ Url = "x"; `), 0o644)
	if _, err := Run(context.Background(), Options{InFile: in, OutFile: out}, func(k string) string { return f.env[k] }, io.Discard, nil); err == nil {
		t.Fatal("malformed input accepted")
	}
	data, _ = os.ReadFile(out)
	ads, err = classad.ParseNew(data)
	if err != nil || len(ads) != 1 || !strings.Contains(ads[0].String(), "cannot parse the plugin input file") {
		t.Errorf("malformed input result: %v %v", ads, err)
	}
}

// The shipped example configuration parses, with every setting enabled.
func TestShippedConfig(t *testing.T) {
	b, err := os.ReadFile("../configs/transfer-plugin.conf")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if len(l) > 1 && l[0] == '#' && l[1] >= 'a' && l[1] <= 'z' && strings.Contains(l, " = ") {
			l = l[1:]
			n++
		}
		lines = append(lines, l)
	}
	cfg, err := ParseConfig([]byte(strings.Join(lines, "\n")))
	if err != nil || n < 15 {
		t.Fatalf("%d settings: %v", n, err)
	}
	if len(cfg.TokenHosts) != 2 || cfg.Services[0] != "cloudstore" || cfg.StallTimeout != time.Minute {
		t.Errorf("%+v", cfg)
	}
	if _, err := ParseConfig([]byte("nonsense = 1")); err == nil {
		t.Error("unknown setting accepted")
	}
	if _, err := ParseConfig([]byte("services = https")); err == nil {
		t.Error("https as a service accepted")
	}
}
