// Package tokenresp is what the credmon and the OAuth web application
// share about an OAuth token endpoint's response: [Capture] keeps its body
// exactly as sent (golang.org/x/oauth2 exposes only chosen fields, and
// the .use and .top files hold the provider's JSON), and [Scrub] and
// [Shorten] make a remote server's text (a token endpoint's error code
// and description, a library's message quoting them, a Vault or
// discovery error) safe to show and log.
package tokenresp

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"unicode"
)

// MaxBody is the most of a token endpoint's response that is read; a
// larger one is an error.
const MaxBody = 1 << 20

// Capture is an http.RoundTripper around a client's transport that keeps
// the body of the last successful (2xx) response. Every response body is
// read at once (at most MaxBody bytes) and handed on as a copy.
type Capture struct {
	client *http.Client
	base   http.RoundTripper
	mu     sync.Mutex
	data   []byte
	ctype  string
}

// New wraps hc (nil: a default client). Unless hc sets its own
// CheckRedirect, redirects are not followed: a 307 or 308 would resend
// the code, the client secret or the refresh token in the form body to
// wherever it points.
func New(hc *http.Client) *Capture {
	c := &Capture{}
	cl := &http.Client{}
	if hc != nil {
		*cl = *hc
	}
	if cl.CheckRedirect == nil {
		cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	c.base = cl.Transport
	if c.base == nil {
		c.base = http.DefaultTransport
	}
	cl.Transport = c
	c.client = cl
	return c
}

// Client is the client to hand to x/oauth2 (context value
// oauth2.HTTPClient).
func (c *Capture) Client() *http.Client { return c.client }

// RoundTrip implements http.RoundTripper.
func (c *Capture) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the token endpoint's response: %w", err)
	}
	if len(data) > MaxBody {
		return nil, fmt.Errorf("the token endpoint's response is larger than %d bytes", MaxBody)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		c.mu.Lock()
		c.data, c.ctype = data, resp.Header.Get("Content-Type")
		c.mu.Unlock()
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, nil
}

// Body returns the last successful response's body and Content-Type
// (nil if there was none).
func (c *Capture) Body() ([]byte, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data, c.ctype
}

// Scrub replaces every secret of at least 4 bytes in s with "[redacted]"
// (shorter ones would match by chance).
func Scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// Shorten keeps the first n runes of s, with control characters replaced
// by spaces, and marks a cut with "...".
func Shorten(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "..."
	}
	return s
}

// RedactURL shows a token endpoint's (or any) URL without user info,
// query or fragment, where credentials may hide.
func RedactURL(u *url.URL) string {
	v := *u
	v.User, v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = nil, "", false, "", ""
	return v.String()
}
