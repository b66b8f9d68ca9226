package transfer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxCAFile bounds each file read from X509_CERT_DIR.
const maxCAFile = 1 << 20

// Client moves files over one keep-alive HTTP client.
type Client struct {
	cfg    Config
	hc     *http.Client
	tokens TokenSource
	logf   func(format string, args ...any)
	debug  bool
	ua     string

	mu       sync.Mutex
	secrets  []string        // tokens sent, scrubbed from every message
	noDigest map[string]bool // hosts that refuse Want-Digest
}

func (c *Client) noDigestFor(host string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.noDigest[host]
}

func (c *Client) setNoDigest(host string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.noDigest == nil {
		c.noDigest = map[string]bool{}
	}
	c.noDigest[host] = true
}

// NewClient builds the HTTP client: TLS verified against the system CAs
// plus the files in $X509_CERT_DIR, HTTP/2 when the server offers it,
// connection and header timeouts from cfg, no transparent compression (so
// sizes and checksums are those of the file), and redirects handled by
// the client itself (see do).
func NewClient(cfg Config, env func(string) string, logf func(string, ...any), version string) (*Client, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if dir := env("X509_CERT_DIR"); dir != "" {
		if err := addCertDir(roots, dir); err != nil {
			return nil, err
		}
	}
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    cfg.ConnectTimeout,
		ResponseHeaderTimeout:  cfg.StallTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConnsPerHost:    cfg.Parallel + 2,
		IdleConnTimeout:        90 * time.Second,
		ForceAttemptHTTP2:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 256 << 10,
		WriteBufferSize:        128 << 10,
		ReadBufferSize:         128 << 10,
	}
	hc := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	ts := TokenSource{Env: env, Discovery: cfg.Discovery}
	return &Client{cfg: cfg, hc: hc, tokens: ts, logf: logf, ua: "gettoken_transfer_plugin/" + version}, nil
}

// Close drops idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// addCertDir adds every PEM certificate in dir (OpenSSL hash links and
// plain .pem/.crt files alike); unreadable or non-PEM files are skipped.
func addCertDir(pool *x509.CertPool, dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("X509_CERT_DIR: %w", err)
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxCAFile {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			pool.AppendCertsFromPEM(b)
		}
	}
	return nil
}

func (c *Client) remember(tok string) {
	if tok == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.secrets {
		if s == tok {
			return
		}
	}
	c.secrets = append(c.secrets, tok)
}

// scrub removes every token this client has sent from s.
func (c *Client) scrub(s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.secrets {
		s = strings.ReplaceAll(s, t, "[token]")
	}
	return s
}

func sameHost(a, b *url.URL) bool {
	return strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "http" {
		return "80"
	}
	return "443"
}

// tokenAllowed reports whether u may receive the token of a request for
// orig: the same host and port, or an administrator-listed host; https
// only unless TokenOverHTTP.
func (c *Client) tokenAllowed(orig, u *url.URL) bool {
	if u.Scheme != "https" && !c.cfg.TokenOverHTTP {
		return false
	}
	if sameHost(orig, u) {
		return true
	}
	for _, h := range c.cfg.TokenHosts {
		if strings.EqualFold(h, u.Hostname()) || strings.EqualFold(h, u.Host) {
			return true
		}
	}
	return false
}

// request describes one HTTP exchange before redirects.
type request struct {
	method  string
	header  http.Header
	body    func() io.Reader // nil for no body; called again on redirect
	size    int64
	noToken bool
}

// do sends r to t.URL with the job's token, following redirects itself:
// the token goes only where tokenAllowed says, never to a downgraded
// scheme; an upload follows only 307/308 (re-sending the whole body). It
// returns the response and the URL that answered.
func (c *Client) do(ctx context.Context, t Target, r request) (*http.Response, *url.URL, error) {
	cur := t.URL
	for hop := 0; ; hop++ {
		var body io.Reader
		if r.body != nil {
			body = r.body()
		}
		req, err := http.NewRequestWithContext(ctx, r.method, cur.String(), body)
		if err != nil {
			return nil, cur, &Failure{Type: "Parameter", Code: 3, Msg: "cannot build the request"}
		}
		if r.body != nil {
			req.ContentLength = r.size
			if r.size == 0 {
				req.Body = http.NoBody
			}
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(r.body()), nil }
		}
		for k, v := range r.header {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", c.ua)
		if !r.noToken && c.tokenAllowed(t.URL, cur) {
			tok, _, err := c.tokens.Token(t)
			if err != nil {
				return nil, cur, err
			}
			if tok != "" {
				c.remember(tok)
				req.Header.Set("Authorization", "Bearer "+tok)
			}
		}
		if c.debug {
			c.logf("%s %s (token %v)", r.method, Redacted(cur), req.Header.Get("Authorization") != "")
			req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
				GotConn: func(i httptrace.GotConnInfo) { c.logf("connection to %s reused %v", cur.Host, i.Reused) },
			}))
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, cur, err
		}
		if c.debug {
			c.logf("HTTP %d %s (%s) Content-Length %d Digest %q Repr-Digest %q", resp.StatusCode, Redacted(cur), resp.Proto,
				resp.ContentLength, resp.Header.Get("Digest"), resp.Header.Get("Repr-Digest"))
		}
		switch resp.StatusCode {
		case 301, 302, 303, 307, 308:
		default:
			return resp, cur, nil
		}
		loc := resp.Header.Get("Location")
		drain(resp)
		if loc == "" {
			return nil, cur, &Failure{Type: "Specification", Code: resp.StatusCode, Status: resp.StatusCode, Server: cur.Host,
				Msg: fmt.Sprintf("HTTP %d redirect without a Location from %s", resp.StatusCode, cur.Host)}
		}
		if hop >= c.cfg.MaxRedirects {
			return nil, cur, &Failure{Type: "Specification", Code: 47, Server: cur.Host, Msg: fmt.Sprintf("more than %d redirects", c.cfg.MaxRedirects)}
		}
		next, err := cur.Parse(loc)
		if err != nil || (next.Scheme != "https" && next.Scheme != "http") || next.Host == "" {
			return nil, cur, &Failure{Type: "Specification", Code: 47, Server: cur.Host, Msg: fmt.Sprintf("%s redirected to an unusable location", cur.Host)}
		}
		if next.Scheme == "http" && (cur.Scheme == "https" || !c.cfg.AllowHTTP) {
			return nil, cur, &Failure{Type: "Specification", Code: 47, Server: cur.Host, Msg: fmt.Sprintf("%s redirected from https to plain http; refused", cur.Host)}
		}
		if r.body != nil && resp.StatusCode != 307 && resp.StatusCode != 308 {
			return nil, cur, &Failure{Type: "Specification", Code: resp.StatusCode, Status: resp.StatusCode, Server: cur.Host,
				Msg: fmt.Sprintf("%s answered the upload with redirect %d, which does not keep the method", cur.Host, resp.StatusCode)}
		}
		if !c.tokenAllowed(t.URL, next) && c.tokenAllowed(t.URL, cur) {
			c.logf("redirected to %s: the token is not sent there (token_hosts)", next.Host)
		}
		next.Fragment = ""
		cur = next
	}
}

// drain reads a little of an unwanted body so the connection can be
// reused, then closes it.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// retryAfter parses Retry-After (seconds or an HTTP date); ok is false
// when absent or unparsable.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// errStalled is the cause of an attempt cancelled for lack of progress.
var errStalled = errors.New("no progress")

// watchdog cancels an attempt when poke has not been called for d.
type watchdog struct {
	t *time.Timer
	d time.Duration
}

func newWatchdog(d time.Duration, cancel context.CancelCauseFunc) *watchdog {
	return &watchdog{t: time.AfterFunc(d, func() { cancel(errStalled) }), d: d}
}

func (w *watchdog) poke() { w.t.Reset(w.d) }
func (w *watchdog) stop() { w.t.Stop() }

// progressReader pokes the watchdog on every read that moved bytes and
// counts them.
type progressReader struct {
	r io.Reader
	w *watchdog
	n *atomic.Int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.w.poke()
		if p.n != nil {
			p.n.Add(int64(n))
		}
	}
	return n, err
}
