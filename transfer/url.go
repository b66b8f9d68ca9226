package transfer

import (
	"fmt"
	"net/url"
	"strings"
)

// Target is what a submit-file URL resolves to.
type Target struct {
	// URL is what is fetched: https or http.
	URL *url.URL
	// Method is the scheme HTCondor chose the plugin by (after the last
	// '+'), e.g. "davs", "https" or a service name.
	Method string
	// CredName is the token file's name without ".use" ("" for none).
	CredName string
	// WebDAV is true for dav/davs URLs (MKCOL of missing parents).
	WebDAV bool
}

// ParamError is an input the plugin cannot act on (a Parameter error).
type ParamError struct{ Msg string }

func (e *ParamError) Error() string { return e.Msg }

func isSchemeWord(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func isWebScheme(s string) bool {
	switch s {
	case "http", "https", "dav", "davs":
		return true
	}
	return false
}

// Methods lists the schemes the plugin serves, for SupportedMethods.
func (c Config) Methods() []string {
	m := []string{"https", "davs"}
	if c.AllowHTTP {
		m = append(m, "http", "dav")
	}
	return append(m, c.Services...)
}

// Resolve maps a submit-file URL to the request URL and the token file:
//
//	https://h/p, davs://h/p               no token (or discovery)
//	<svc>+https://h/p, <svc>+davs://h/p   <svc>.use, every '.' in <svc> as '_'
//	a.b+davs://h/p                         a_b.use
//	<svc>://h/p                            <svc>.use, fetched as https://h/p
//	<handle>+<svc>://h/p                   <svc>_<handle>.use
//
// <svc> in the last two forms must be one of the configured Services;
// the credential is the text before the last '+' in the curl form.
func (c Config) Resolve(raw string) (Target, error) {
	i := strings.Index(raw, "://")
	if i <= 0 || i+3 >= len(raw) {
		return Target{}, &ParamError{"not a URL"}
	}
	full := raw[:i]
	for j := 0; j < len(full); j++ {
		if b := full[j]; !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '+' || b == '-' || b == '.' || b == '_' || b == '=') {
			return Target{}, &ParamError{"not a URL: bad character in the scheme"}
		}
	}
	prefix, method := "", full
	if k := strings.LastIndexByte(full, '+'); k >= 0 {
		prefix, method = full[:k], full[k+1:]
	}
	method = strings.ToLower(method)
	t := Target{Method: method}
	var scheme string
	switch {
	case isWebScheme(method):
		t.WebDAV = method == "dav" || method == "davs"
		scheme = map[string]string{"http": "http", "dav": "http", "https": "https", "davs": "https"}[method]
		if prefix != "" {
			t.CredName = strings.ReplaceAll(prefix, ".", "_")
		}
	case c.isService(method):
		scheme = "https"
		t.CredName = method
		if prefix != "" {
			if strings.Contains(prefix, "+") {
				return Target{}, &ParamError{fmt.Sprintf("more than one handle in the %s:// URL", method)}
			}
			t.CredName = method + "_" + prefix
		}
	default:
		return Target{}, &ParamError{fmt.Sprintf("unsupported URL scheme %q (this plugin serves %s)", method, strings.Join(c.Methods(), ", "))}
	}
	if t.CredName != "" && !validCredName(t.CredName) {
		return Target{}, &ParamError{"bad credential name in the URL scheme"}
	}
	if scheme == "http" && !c.AllowHTTP {
		return Target{}, &ParamError{"plain http URLs are not allowed here (allow_http)"}
	}
	if scheme == "http" && t.CredName != "" && !c.TokenOverHTTP {
		return Target{}, &ParamError{"refusing to send a token over plain http"}
	}
	u, err := url.Parse(scheme + raw[i:])
	if err != nil {
		return Target{}, &ParamError{"malformed URL"}
	}
	if u.Host == "" || u.Hostname() == "" {
		return Target{}, &ParamError{"URL has no host"}
	}
	if u.User != nil {
		return Target{}, &ParamError{"user information in URLs is not supported"}
	}
	u.Fragment, u.RawFragment = "", ""
	t.URL = u
	return t, nil
}

func (c Config) isService(m string) bool {
	for _, s := range c.Services {
		if s == m {
			return true
		}
	}
	return false
}

func validCredName(n string) bool {
	if n == "" || n == "." || n == ".." || len(n) > 200 {
		return false
	}
	return !strings.ContainsAny(n, "/\x00")
}

// Redacted returns u without its query (which may hold a pre-signed
// credential) for logs and errors.
func Redacted(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		c.RawQuery = "..."
	}
	c.User = nil
	return c.String()
}
