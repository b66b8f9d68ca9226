package transfer

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/adler32"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
)

// Failure is one failed attempt, in the terms of HTCondor's
// TransferErrorData.
type Failure struct {
	Type          string // Parameter, Resolution, Contact, Authorization, Specification, Transfer, or ""
	FailureType   string // per Type, e.g. Authentication, TooSlow, NoSpace
	Code          int    // HTTP status, else a libcurl-like code
	Status        int    // HTTP status, 0 if none
	Msg           string
	Server        string
	FailedName    string
	Retry         bool          // worth another attempt
	RetryAfter    time.Duration // server-requested pause, if HasRetryAfter
	HasRetryAfter bool
	ShouldRefresh bool
}

func (f *Failure) Error() string { return f.Msg }

// Result is the outcome of one file.
type Result struct {
	URL, LocalFile string
	Upload         bool
	Method, Host   string
	OK             bool
	Failures       []*Failure // every failed attempt, in order
	FileBytes      int64
	TotalBytes     int64
	Start, End     time.Time
	Tries          int
	Status         int
	Resumed        bool
	Checksum       string // algorithm of the checksum verified, if any
}

// Err is the message for TransferError.
func (r *Result) Err() string {
	if r.OK || len(r.Failures) == 0 {
		return ""
	}
	m := r.Failures[len(r.Failures)-1].Msg
	if r.Tries > 1 {
		m += fmt.Sprintf(" (after %d attempts)", r.Tries)
	}
	return m
}

// Transfer moves one file: a download into local, or with upload the
// local file to rawURL.
func (c *Client) Transfer(ctx context.Context, rawURL, local string, upload bool) *Result {
	r := &Result{URL: rawURL, LocalFile: local, Upload: upload, Start: time.Now()}
	defer func() {
		r.End = time.Now()
		for _, f := range r.Failures {
			f.Msg = c.scrub(f.Msg)
		}
	}()
	t, err := c.cfg.Resolve(rawURL)
	if err != nil {
		r.Failures = append(r.Failures, &Failure{Type: "Parameter", Code: 3, Msg: err.Error()})
		return r
	}
	r.Method, r.Host = t.Method, t.URL.Host
	if err := c.waitForToken(ctx, t); err != nil {
		r.Failures = append(r.Failures, c.classify(err, t.URL))
		return r
	}
	if upload {
		c.upload(ctx, t, r)
	} else {
		c.download(ctx, t, r)
	}
	return r
}

// waitForToken checks the token before the first request; an expired
// token file is watched for up to TokenWait, since the credmon replaces
// it in the job's directory while the job runs.
func (c *Client) waitForToken(ctx context.Context, t Target) error {
	_, where, err := c.tokens.Token(t)
	var ce *CredError
	if !errors.As(err, &ce) || !ce.Expired || c.cfg.TokenWait <= 0 {
		return err
	}
	c.logf("the token in %s has expired; waiting up to %s for a fresh one", where, c.cfg.TokenWait)
	deadline := time.Now().Add(c.cfg.TokenWait)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if _, _, err = c.tokens.Token(t); !errors.As(err, &ce) || !ce.Expired {
			if err == nil {
				c.logf("a fresh token appeared in %s", where)
			}
			return err
		}
	}
	return err
}

// attempt runs fn up to Attempts times with back-off, recording failures.
func (c *Client) attempt(ctx context.Context, t Target, r *Result, fn func(ctx context.Context) error) bool {
	for k := 1; k <= c.cfg.Attempts; k++ {
		if k > 1 {
			last := r.Failures[len(r.Failures)-1]
			d := c.cfg.Backoff << (k - 2)
			if d > c.cfg.MaxBackoff || d <= 0 {
				d = c.cfg.MaxBackoff
			}
			if last.HasRetryAfter {
				d = last.RetryAfter
			}
			c.logf("%s: %s; retrying in %s", Redacted(t.URL), c.scrub(last.Msg), d.Round(time.Millisecond))
			select {
			case <-ctx.Done():
				r.Failures = append(r.Failures, &Failure{Type: "Transfer", Code: 42, Msg: "interrupted"})
				return false
			case <-time.After(d):
			}
		}
		r.Tries = k
		actx, cancel := context.WithCancelCause(ctx)
		err := fn(actx)
		cause := context.Cause(actx)
		cancel(nil)
		if err == nil {
			return true
		}
		f := c.classify(err, t.URL)
		if errors.Is(cause, errStalled) {
			f = &Failure{Type: "Transfer", FailureType: "TooSlow", Code: 42, Server: t.URL.Host, Retry: true,
				Msg: fmt.Sprintf("no data moved for %s; aborted", c.cfg.StallTimeout)}
		} else if ctx.Err() != nil {
			f = &Failure{Type: "Transfer", Code: 42, Msg: "interrupted"}
		}
		if f.HasRetryAfter && f.RetryAfter > c.cfg.MaxRetryAfter {
			f.Retry = false
		}
		r.Failures = append(r.Failures, f)
		if fs := f.Status; fs != 0 {
			r.Status = fs
		}
		if !f.Retry {
			return false
		}
	}
	return false
}

// classify turns an error into a Failure, never quoting a URL query.
func (c *Client) classify(err error, u *url.URL) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	var ce *CredError
	if errors.As(err, &ce) {
		return &Failure{Type: "Authorization", FailureType: "Authentication", Code: 1, Msg: ce.Msg, ShouldRefresh: ce.Expired}
	}
	var pe *ParamError
	if errors.As(err, &pe) {
		return &Failure{Type: "Parameter", Code: 3, Msg: pe.Msg}
	}
	host := u.Host
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var dns *net.DNSError
	var cve *tls.CertificateVerificationError
	var hne x509.HostnameError
	var uae x509.UnknownAuthorityError
	var cie x509.CertificateInvalidError
	var op *net.OpError
	switch {
	case errors.As(err, &dns):
		ft := "PreContact"
		if dns.IsNotFound {
			ft = "Definitive"
		}
		return &Failure{Type: "Resolution", FailureType: ft, FailedName: u.Hostname(), Code: 6, Retry: !dns.IsNotFound,
			Msg: fmt.Sprintf("cannot resolve host %s", u.Hostname())}
	case errors.As(err, &cve), errors.As(err, &hne), errors.As(err, &uae), errors.As(err, &cie):
		return &Failure{Type: "Authorization", FailureType: "Authentication", Server: host, Code: 60,
			Msg: fmt.Sprintf("TLS certificate of %s not trusted: %v", host, err)}
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return &Failure{Type: "Transfer", FailureType: "TimedOut", Server: host, Code: 28, Retry: true,
			Msg: fmt.Sprintf("timed out talking to %s", host)}
	case errors.As(err, &op) && op.Op == "dial":
		return &Failure{Type: "Contact", Server: host, Code: 7, Retry: true, Msg: fmt.Sprintf("cannot connect to %s: %v", host, op.Err)}
	case errors.Is(err, syscall.ENOSPC):
		return &Failure{Type: "Transfer", FailureType: "NoSpace", Code: 23, Msg: "no space left on the device for the download"}
	case errors.Is(err, syscall.EDQUOT):
		return &Failure{Type: "Transfer", FailureType: "Quota", Code: 23, Msg: "disk quota exceeded for the download"}
	}
	var le *localError
	if errors.As(err, &le) {
		return &Failure{Type: "Specification", Code: 37, Msg: le.Error()}
	}
	return &Failure{Type: "Transfer", Server: host, Code: 56, Retry: true, Msg: fmt.Sprintf("transfer with %s failed: %v", host, err)}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// localError is a problem with the sandbox file.
type localError struct {
	msg string
	err error
}

func (e *localError) Error() string { return e.msg }
func (e *localError) Unwrap() error { return e.err }

// statusFailure maps an HTTP error status to a Failure, with a short,
// printable excerpt of the body (servers explain refusals there).
func statusFailure(resp *http.Response, u *url.URL, now time.Time) *Failure {
	st := resp.StatusCode
	excerpt := bodyExcerpt(resp)
	f := &Failure{Code: st, Status: st, Server: u.Host}
	f.Msg = fmt.Sprintf("HTTP %d %s from %s", st, http.StatusText(st), u.Host)
	if excerpt != "" {
		f.Msg += ": " + excerpt
	}
	switch {
	case st == 401:
		f.Type, f.FailureType, f.ShouldRefresh = "Authorization", "Authentication", true
		f.Msg += " (the token was refused)"
	case st == 403:
		f.Type, f.FailureType = "Authorization", "Authorization"
		f.Msg += " (the token does not allow this)"
	case st == 507:
		f.Type, f.FailureType = "Transfer", "NoSpace"
	case st == 413:
		f.Type, f.FailureType = "Transfer", "Quota"
	case st == 408 || st == 429 || st >= 500:
		f.Type, f.Retry = "Transfer", true
		if st == 504 || st == 408 {
			f.FailureType = "TimedOut"
		}
		f.RetryAfter, f.HasRetryAfter = retryAfter(resp.Header, now)
	default:
		f.Type = "Specification"
	}
	return f
}

func bodyExcerpt(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	var out []rune
	for _, r := range strings.ToValidUTF8(string(b), "?") {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			r = ' '
		}
		out = append(out, r)
		if len(out) >= 200 {
			break
		}
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

// wantDigest is sent on downloads when checksums are enabled.
const (
	wantReprDigest = "sha-256=10, sha-512=8, md5=3, adler32=2"
	// adler32 first: XRootD (5.5) answers with its configured checksum
	// under the first name asked for; q-values keep sha-256 preferred
	// by servers that read them.
	wantDigest = "adler32;q=0.5, sha-256;q=1, sha-512;q=0.8, md5;q=0.3"
)

// download GETs t into r.LocalFile through a temporary file in the same
// directory, renamed into place only when complete and checked, so a
// failed or partial download never appears under the final name.
func (c *Client) download(ctx context.Context, t Target, r *Result) {
	dir, base := filepath.Split(r.LocalFile)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".part-*")
	if err != nil {
		r.Failures = append(r.Failures, &Failure{Type: "Specification", Code: 23,
			Msg: fmt.Sprintf("could not create a file next to %s: %v", r.LocalFile, unwrapPath(err))})
		return
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var have int64 // bytes of the file already on disk (for resume)
	var validator string
	ok := c.attempt(ctx, t, r, func(ctx context.Context) error {
		n, v, err := c.getOnce(ctx, t, tmp, have, validator, r)
		have, validator = n, v
		return err
	})
	if !ok {
		return
	}
	if err := tmp.Chmod(0o644); err != nil {
		r.Failures = append(r.Failures, c.classify(err, t.URL))
		return
	}
	if err := tmp.Close(); err != nil {
		r.Failures = append(r.Failures, c.classify(&localError{msg: "closing the download: " + unwrapPath(err).Error(), err: err}, t.URL))
		return
	}
	if err := os.Rename(tmp.Name(), r.LocalFile); err != nil {
		r.Failures = append(r.Failures, &Failure{Type: "Specification", Code: 23, Msg: fmt.Sprintf("could not move the download to %s: %v", r.LocalFile, unwrapPath(err))})
		return
	}
	done = true
	r.OK = true
	r.FileBytes = have
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// getOnce is one GET attempt, resuming at have when the server supports
// ranges. It returns the bytes now in f and the validator for If-Range.
func (c *Client) getOnce(ctx context.Context, t Target, f *os.File, have int64, validator string, r *Result) (int64, string, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wd := newWatchdog(c.cfg.StallTimeout, cancel)
	defer wd.stop()
	h := http.Header{}
	if have > 0 {
		h.Set("Range", fmt.Sprintf("bytes=%d-", have))
		if validator != "" {
			h.Set("If-Range", validator)
		}
	}
	askDigest := c.cfg.Checksum && !c.noDigestFor(t.URL.Host)
	if askDigest {
		h.Set("Want-Repr-Digest", wantReprDigest)
		h.Set("Want-Digest", wantDigest)
	}
	resp, cur, err := c.do(ctx, t, request{method: http.MethodGet, header: h})
	if err == nil && askDigest && resp.StatusCode == http.StatusMethodNotAllowed {
		// XRootD without a configured checksum answers a Want-Digest
		// with 405: ask again without it, and stop asking this host.
		drain(resp)
		c.setNoDigest(t.URL.Host)
		h.Del("Want-Repr-Digest")
		h.Del("Want-Digest")
		resp, cur, err = c.do(ctx, t, request{method: http.MethodGet, header: h})
	}
	if err != nil {
		return have, validator, withStall(ctx, err)
	}
	r.Status = resp.StatusCode
	r.Host = cur.Host
	offset := int64(0)
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusPartialContent:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			drain(resp)
			return 0, "", &Failure{Type: "Transfer", Code: 18, Retry: true, Server: cur.Host, Msg: "server resumed at the wrong offset"}
		}
		offset = have
		r.Resumed = true
	case http.StatusRequestedRangeNotSatisfiable:
		drain(resp)
		return 0, "", &Failure{Type: "Transfer", Code: 18, Retry: true, Server: cur.Host, Msg: "server refused to resume the download"}
	default:
		return have, validator, statusFailure(resp, cur, time.Now())
	}
	defer resp.Body.Close()
	if v := resp.Header.Get("ETag"); v != "" && !strings.HasPrefix(v, "W/") {
		validator = v
	} else if v := resp.Header.Get("Last-Modified"); v != "" {
		validator = v
	} else {
		validator = ""
	}
	if err := f.Truncate(offset); err != nil {
		return 0, "", c.localWrite(err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, "", c.localWrite(err)
	}
	algo, want := pickDigest(resp.Header)
	var hs hash.Hash
	if algo != "" && offset == 0 {
		hs = newHash(algo)
	}
	var moved atomic.Int64
	body := &progressReader{r: resp.Body, w: wd, n: &moved}
	var dst io.Writer = f
	if hs != nil {
		dst = io.MultiWriter(f, hs)
	}
	limit := int64(-1)
	if resp.ContentLength >= 0 {
		limit = resp.ContentLength
	}
	var src io.Reader = body
	if limit >= 0 {
		src = io.LimitReader(body, limit)
	}
	n, err := copyBuffer(dst, src)
	r.TotalBytes += moved.Load()
	total := offset + n
	if err != nil {
		var we *writeErr
		if errors.As(err, &we) {
			return 0, "", c.localWrite(we.err)
		}
		return total, validator, withStall(ctx, err)
	}
	if limit >= 0 && n != limit {
		return total, validator, &Failure{Type: "Transfer", Code: 18, Retry: true, Server: cur.Host,
			Msg: fmt.Sprintf("%s sent %d of %d bytes", cur.Host, n, limit)}
	}
	if algo != "" {
		var got []byte
		if hs != nil {
			got = hs.Sum(nil)
		} else if got, err = hashFile(f, algo); err != nil {
			return 0, "", c.localWrite(err)
		}
		if string(got) != string(want) {
			return 0, "", &Failure{Type: "Transfer", Code: 61, Retry: true, Server: cur.Host,
				Msg: fmt.Sprintf("%s checksum of the download does not match the server's", algo)}
		}
		r.Checksum = algo
	}
	return total, validator, nil
}

func withStall(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errStalled) {
		return &Failure{Type: "Transfer", FailureType: "TooSlow", Code: 42, Retry: true, Msg: "no data moved; aborted"}
	}
	return err
}

func (c *Client) localWrite(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return err
	}
	return &localError{msg: "writing the download: " + unwrapPath(err).Error(), err: err}
}

// writeErr marks an error from the destination of copyBuffer.
type writeErr struct{ err error }

func (e *writeErr) Error() string { return e.err.Error() }

// copyBufs recycles copy buffers: with many small files a fresh 256 KiB
// buffer per file is most of the plugin's work (allocation and GC).
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copyBuffer copies with a large buffer, telling write errors apart.
func copyBuffer(dst io.Writer, src io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var n int64
	for {
		k, rerr := src.Read(buf)
		if k > 0 {
			w, werr := dst.Write(buf[:k])
			n += int64(w)
			if werr != nil {
				return n, &writeErr{werr}
			}
			if w < k {
				return n, &writeErr{io.ErrShortWrite}
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

func contentRangeStart(v string) (int64, bool) {
	v = strings.TrimSpace(v)
	if !strings.HasPrefix(v, "bytes ") {
		return 0, false
	}
	v = strings.TrimPrefix(v, "bytes ")
	dash := strings.IndexByte(v, '-')
	if dash <= 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:dash], 10, 64)
	return n, err == nil && n >= 0
}

// pickDigest returns the strongest known checksum the server sent, from
// Repr-Digest (RFC 9530) or Digest (RFC 3230), decoded to bytes.
func pickDigest(h http.Header) (string, []byte) {
	found := map[string][]byte{}
	for _, v := range h.Values("Repr-Digest") {
		for _, item := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(item), "=")
			if !ok || len(val) < 2 || val[0] != ':' || val[len(val)-1] != ':' {
				continue
			}
			if b, err := base64.StdEncoding.DecodeString(val[1 : len(val)-1]); err == nil {
				found[strings.ToLower(k)] = b
			}
		}
	}
	for _, v := range h.Values("Digest") {
		for _, item := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(item), "=")
			if !ok {
				continue
			}
			k = strings.ToLower(k)
			if _, dup := found[k]; dup {
				continue
			}
			if k == "adler32" {
				if b, err := hex.DecodeString(val); err == nil && len(b) == 4 {
					found[k] = b
				} else if b, err := base64.StdEncoding.DecodeString(val); err == nil && len(b) == 4 {
					found[k] = b
				}
			} else if b, err := base64.StdEncoding.DecodeString(val); err == nil {
				found[k] = b
			}
		}
	}
	sizes := map[string]int{"sha-512": 64, "sha-256": 32, "md5": 16, "adler32": 4}
	for _, k := range []string{"sha-512", "sha-256", "md5", "adler32"} {
		if b, ok := found[k]; ok && len(b) == sizes[k] {
			return k, b
		}
	}
	return "", nil
}

func newHash(algo string) hash.Hash {
	switch algo {
	case "sha-512":
		return sha512.New()
	case "sha-256":
		return sha256.New()
	case "md5":
		return md5.New()
	}
	return adler32.New()
}

func hashFile(f *os.File, algo string) ([]byte, error) {
	h := newHash(algo)
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// upload PUTs r.LocalFile to t, creating missing parent collections
// (MKCOL) once when a WebDAV server answers 409 Conflict.
func (c *Client) upload(ctx context.Context, t Target, r *Result) {
	f, err := os.Open(r.LocalFile)
	if err != nil {
		r.Failures = append(r.Failures, &Failure{Type: "Specification", Code: 37, Msg: fmt.Sprintf("could not open local file %s: %v", r.LocalFile, unwrapPath(err))})
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		r.Failures = append(r.Failures, &Failure{Type: "Specification", Code: 37, Msg: fmt.Sprintf("local file %s is not a regular file", r.LocalFile)})
		return
	}
	size := fi.Size()
	r.FileBytes = size
	triedMkcol := false
	r.OK = c.attempt(ctx, t, r, func(ctx context.Context) error {
		for {
			st, err := c.putOnce(ctx, t, f, size, r)
			if err == nil {
				return nil
			}
			if st == http.StatusConflict && t.WebDAV && c.cfg.MkCol && !triedMkcol {
				triedMkcol = true
				if merr := c.mkcolParents(ctx, t); merr != nil {
					return merr
				}
				continue
			}
			return err
		}
	})
}

func (c *Client) putOnce(ctx context.Context, t Target, f *os.File, size int64, r *Result) (int, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wd := newWatchdog(c.cfg.StallTimeout, cancel)
	defer wd.stop()
	var moved atomic.Int64
	h := http.Header{}
	if size > 1<<20 {
		h.Set("Expect", "100-continue")
	}
	resp, cur, err := c.do(ctx, t, request{method: http.MethodPut, header: h, size: size, body: func() io.Reader {
		return &progressReader{r: io.NewSectionReader(f, 0, size), w: wd, n: &moved}
	}})
	r.TotalBytes += moved.Load()
	if err != nil {
		return 0, withStall(ctx, err)
	}
	r.Status = resp.StatusCode
	r.Host = cur.Host
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated, http.StatusNoContent:
		drain(resp)
		return resp.StatusCode, nil
	}
	return resp.StatusCode, statusFailure(resp, cur, time.Now())
}

// mkcolParents creates the parent collections of t's path from the top;
// "already exists" answers (405, 301) are fine, and only the deepest
// parent's failure is reported.
func (c *Client) mkcolParents(ctx context.Context, t Target) error {
	dir := path.Dir(t.URL.Path)
	var parts []string
	for _, p := range strings.Split(strings.Trim(dir, "/"), "/") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	var last error
	for i := range parts {
		u := *t.URL
		u.Path = "/" + strings.Join(parts[:i+1], "/") + "/"
		u.RawPath, u.RawQuery = "", ""
		tt := t
		tt.URL = &u
		resp, cur, err := c.do(ctx, tt, request{method: "MKCOL"})
		if err != nil {
			last = err
			continue
		}
		switch resp.StatusCode {
		case http.StatusCreated, http.StatusOK, http.StatusNoContent, http.StatusMethodNotAllowed, http.StatusMovedPermanently:
			drain(resp)
			last = nil
		default:
			last = statusFailure(resp, cur, time.Now())
			last.(*Failure).Msg = "creating the parent collection: " + last.(*Failure).Msg
		}
	}
	return last
}
