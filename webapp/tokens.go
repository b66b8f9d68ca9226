package webapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/oauth2"
)

// maxTokenResponse is the most of a token endpoint's answer that is read.
const maxTokenResponse = 1 << 20

// TokenError is a failed or unusable answer of a provider's token
// endpoint. Its message never holds the response body, a token or a
// secret.
type TokenError struct {
	// URL is the token endpoint without query.
	URL string
	// Status is the HTTP status (0 when there was no answer).
	Status int
	// Code is the RFC 6749 error code, if any; Reason says what is wrong.
	Code, Reason string
}

// Error describes the failure in one line.
func (e *TokenError) Error() string {
	msg := "the token endpoint " + e.URL
	if e.Status != 0 {
		msg += " answered HTTP " + strconv.Itoa(e.Status)
	}
	if e.Code != "" {
		msg += " " + strconv.Quote(e.Code)
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// oauthConfig is the x/oauth2 client for r.
func oauthConfig(r Request) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     r.ClientID,
		ClientSecret: r.ClientSecret,
		Endpoint: oauth2.Endpoint{AuthURL: r.AuthURL, TokenURL: r.TokenURL,
			// client_secret_post, as the original (requests-oauthlib) does.
			AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: r.ReturnURL,
		Scopes:      r.ScopeList(),
	}
}

// tokenAnswer is a validated token endpoint answer.
type tokenAnswer struct {
	members      []member // in the provider's order, refresh_token removed
	refreshToken string
	expiresIn    int64 // 0: not given
}

// exchange trades code for tokens at r's token endpoint (with the PKCE
// verifier and any extra parameters) and validates the answer.
func exchange(ctx context.Context, hc *http.Client, r Request, code, verifier string, extra url.Values) (*tokenAnswer, error) {
	tokenURL := redactURL(r.TokenURL)
	capt := newCapture(hc)
	ctx = context.WithValue(ctx, oauth2.HTTPClient, capt.client)
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}
	for k, vs := range extra {
		for _, v := range vs {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
	}
	_, err := oauthConfig(r).Exchange(ctx, code, opts...)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			e := &TokenError{URL: tokenURL, Code: clean(re.ErrorCode, 64, r.ClientSecret), Reason: clean(re.ErrorDescription, 200, r.ClientSecret)}
			if re.Response != nil {
				e.Status = re.Response.StatusCode
			}
			if e.Reason == "" && e.Code == "" {
				e.Reason = "the request was refused"
			}
			return nil, e
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &TokenError{URL: tokenURL, Reason: "no answer in time"}
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, &TokenError{URL: tokenURL, Reason: clean(ue.Err.Error(), 200, r.ClientSecret, code)}
		}
		// x/oauth2's own complaints ("server response missing
		// access_token", a bad expires_in) hold no secret.
		return nil, &TokenError{URL: tokenURL, Reason: clean(strings.TrimPrefix(err.Error(), "oauth2: "), 200, r.ClientSecret, code)}
	}
	data, ctype := capt.result()
	return parseTokenAnswer(tokenURL, data, ctype)
}

// parseTokenAnswer validates a successful token endpoint answer: a JSON
// object (or a form-encoded one, as a few providers send) with a
// non-empty string access_token, a string token_type and refresh_token
// when present, and a positive expires_in when present.
func parseTokenAnswer(tokenURL string, data []byte, ctype string) (*tokenAnswer, error) {
	bad := func(why string) error { return &TokenError{URL: tokenURL, Status: http.StatusOK, Reason: why} }
	var ms []member
	if strings.HasPrefix(ctype, "application/x-www-form-urlencoded") || strings.HasPrefix(ctype, "text/plain") {
		vals, err := url.ParseQuery(string(data))
		if err != nil {
			return nil, bad("the answer is not form-encoded")
		}
		for _, k := range []string{"access_token", "token_type", "expires_in", "refresh_token", "scope"} {
			if v, ok := vals[k]; ok {
				raw := str(v[0])
				if k == "expires_in" {
					if n, err := strconv.ParseInt(v[0], 10, 64); err == nil {
						raw = json.RawMessage(strconv.FormatInt(n, 10))
					}
				}
				ms = append(ms, member{k, raw})
			}
		}
	} else {
		var err error
		if ms, err = orderedObject(data); err != nil {
			return nil, bad("the answer is not a JSON object")
		}
	}
	a := &tokenAnswer{}
	var haveAccess bool
	for _, m := range ms {
		switch m.Key {
		case "access_token", "token_type", "refresh_token":
			var s string
			if json.Unmarshal(m.Value, &s) != nil {
				return nil, bad(m.Key + " is not a string")
			}
			switch m.Key {
			case "access_token":
				haveAccess = s != ""
			case "refresh_token":
				a.refreshToken = s
				continue
			}
		case "expires_in":
			n, ok := positiveInt(m.Value)
			if !ok {
				return nil, bad("expires_in is not a positive number")
			}
			a.expiresIn = n
		case "expires_at":
			// Replaced below, as requests-oauthlib does.
			continue
		}
		a.members = append(a.members, m)
	}
	if !haveAccess {
		return nil, bad("no access_token in the answer")
	}
	return a, nil
}

// positiveInt reads a JSON number (or a string holding one) > 0, rounded
// down.
func positiveInt(raw json.RawMessage) (int64, bool) {
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		n = json.Number(strings.TrimSpace(s))
	}
	f, err := n.Float64()
	if err != nil || f <= 0 || f > 1e12 {
		return 0, false
	}
	return int64(f), true
}

// credFiles are the three files of one login, in the order they are
// written.
type credFiles struct {
	Meta, Use, Top []byte
}

// buildFiles makes the .use, .top and .meta of a login, byte for byte as
// HTCondor's web application writes them (Python json.dump), except that
// scopes and audience are kept exactly as requested (the credd compares
// them byte for byte) and the client secret is left out of .meta when
// withSecret is false.
func buildFiles(r Request, a *tokenAnswer, now time.Time, withSecret bool) (credFiles, error) {
	var f credFiles
	use := append([]member(nil), a.members...)
	if a.expiresIn > 0 {
		use = append(use, member{"expires_at", json.RawMessage(strconv.FormatInt(now.Unix()+a.expiresIn, 10))})
	}
	var err error
	if f.Use, err = pyObject(use); err != nil {
		return f, err
	}
	top := []member{{"refresh_token", str(a.refreshToken)}}
	if r.Scopes != "" {
		top = append(top, member{"scopes", str(r.Scopes)})
	}
	if r.Audience != "" {
		top = append(top, member{"audience", str(r.Audience)})
	}
	if f.Top, err = pyObject(top); err != nil {
		return f, err
	}
	meta := []member{{"client_id", str(r.ClientID)}}
	if withSecret {
		meta = append(meta, member{"client_secret", str(r.ClientSecret)})
	}
	useRefresh := json.RawMessage("false")
	if a.refreshToken != "" {
		useRefresh = json.RawMessage("true")
	}
	meta = append(meta, member{"token_url", str(r.TokenURL)}, member{"use_refresh_token", useRefresh})
	if f.Meta, err = pyObject(meta); err != nil {
		return f, err
	}
	return f, nil
}

// redactURL shows a URL without user info, query or fragment.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// clean shortens s to n runes, replaces control characters and removes
// every secret (of at least 4 bytes).
func clean(s string, n int, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
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

// capture wraps an HTTP client to keep the body of the successful token
// answer (x/oauth2 exposes only some fields) and never follows redirects
// (a 307 would resend the code and the client secret elsewhere).
type capture struct {
	client *http.Client
	base   http.RoundTripper
	mu     sync.Mutex
	data   []byte
	ctype  string
}

func newCapture(hc *http.Client) *capture {
	c := &capture{}
	cl := &http.Client{}
	if hc != nil {
		*cl = *hc
	}
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.base = cl.Transport
	if c.base == nil {
		c.base = http.DefaultTransport
	}
	cl.Transport = c
	c.client = cl
	return c
}

// RoundTrip implements http.RoundTripper.
func (c *capture) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(data) > maxTokenResponse {
		return nil, fmt.Errorf("the answer is larger than %d bytes", maxTokenResponse)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		c.mu.Lock()
		c.data, c.ctype = data, resp.Header.Get("Content-Type")
		c.mu.Unlock()
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, nil
}

func (c *capture) result() ([]byte, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data, c.ctype
}
