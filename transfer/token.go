package transfer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vaultcred/gettoken/internal/jwtdecode"
	"github.com/vaultcred/gettoken/internal/tokenfile"
)

// CredError is a problem with the job's token: the message names the file
// but never holds its content.
type CredError struct {
	Msg     string
	Expired bool // the token is a JWT past its "exp"
}

func (e *CredError) Error() string { return e.Msg }

// TokenSource finds the token for a Target; it reads the file afresh on
// every call.
type TokenSource struct {
	Env       func(string) string
	Discovery bool // also for URLs that name no credential
	Now       func() time.Time
}

// Token returns the bearer token for t ("" for none) and a description of
// where it came from (a path or a variable name, never the token).
func (s TokenSource) Token(t Target) (string, string, error) {
	if t.CredName == "" {
		if !s.Discovery && s.Env("_CONDOR_CREDS") != "" {
			return "", "", nil
		}
		return s.discover()
	}
	dir := s.Env("_CONDOR_CREDS")
	if dir == "" {
		return "", "", &CredError{Msg: fmt.Sprintf("credential %s requested but $_CONDOR_CREDS is not set (add it to use_oauth_services)", t.CredName)}
	}
	path := filepath.Join(dir, t.CredName+".use")
	b, err := tokenfile.Read(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", path, &CredError{Msg: fmt.Sprintf("no credential file %s (is %q in use_oauth_services?)", path, strings.SplitN(t.CredName, "_", 2)[0])}
		}
		return "", path, &CredError{Msg: fmt.Sprintf("cannot read credential file: %v", err)}
	}
	tok, err := ParseTokenFile(b)
	if err != nil {
		return "", path, &CredError{Msg: fmt.Sprintf("credential file %s: %v", path, err)}
	}
	if err := s.checkExpiry(tok, path); err != nil {
		return "", path, err
	}
	return tok, path, nil
}

func (s TokenSource) checkExpiry(tok, where string) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if exp, ok := jwtdecode.Expiry(tok); ok && !now().Before(exp) {
		return &CredError{Msg: fmt.Sprintf("the token in %s expired at %s", where, exp.UTC().Format(time.RFC3339)), Expired: true}
	}
	return nil
}

// ParseTokenFile extracts the token from a .use file: a JSON object
// (one line or pretty-printed) with a string "access_token", or a bare
// token; blank lines and lines starting with '#' are skipped and the
// token is trimmed. The token must be RFC 6750 b64token characters.
func ParseTokenFile(b []byte) (string, error) {
	var body []string
	for _, l := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		body = append(body, t)
	}
	if len(body) == 0 {
		return "", errors.New("the file holds no token")
	}
	text := strings.Join(body, "\n")
	if text[0] == '{' {
		var obj map[string]json.RawMessage
		if json.Unmarshal([]byte(text), &obj) != nil {
			return "", errors.New("unable to parse the token as JSON")
		}
		var tok string
		found := false
		for k, v := range obj {
			if strings.EqualFold(k, "access_token") && json.Unmarshal(v, &tok) == nil {
				found = true
				break
			}
		}
		if !found {
			return "", errors.New("no string \"access_token\" in the JSON object")
		}
		text = strings.TrimSpace(tok)
	} else if len(body) > 1 {
		return "", errors.New("more than one line of token")
	}
	if !ValidToken(text) {
		return "", errors.New("the token has characters not allowed in a bearer token")
	}
	return text, nil
}

// ValidToken reports whether t is an RFC 6750 b64token:
// [A-Za-z0-9-._~+/]+=*.
func ValidToken(t string) bool {
	i := 0
	for i < len(t) {
		c := t[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0 {
			i++
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(t); i++ {
		if t[i] != '=' {
			return false
		}
	}
	return true
}

// discover is WLCG Bearer Token Discovery: BEARER_TOKEN, the file
// BEARER_TOKEN_FILE, $XDG_RUNTIME_DIR/bt_u<uid>, /tmp/bt_u<uid>. An empty
// value moves on; an invalid one stops with an error.
func (s TokenSource) discover() (string, string, error) {
	check := func(tok, where string) (string, string, bool, error) {
		tok = strings.Trim(tok, " \f\n\r\t\v")
		if tok == "" {
			return "", "", false, nil
		}
		if !ValidToken(tok) {
			return "", where, true, &CredError{Msg: fmt.Sprintf("discovered token in %s has characters not allowed in a bearer token", where)}
		}
		if err := s.checkExpiry(tok, where); err != nil {
			return "", where, true, err
		}
		return tok, where, true, nil
	}
	if tok, where, done, err := check(s.Env("BEARER_TOKEN"), "$BEARER_TOKEN"); done {
		return tok, where, err
	}
	uid := strconv.Itoa(os.Geteuid())
	var files []string
	if f := s.Env("BEARER_TOKEN_FILE"); f != "" {
		files = append(files, f)
	}
	if d := s.Env("XDG_RUNTIME_DIR"); d != "" {
		files = append(files, filepath.Join(d, "bt_u"+uid))
	}
	files = append(files, filepath.Join(os.TempDir(), "bt_u"+uid))
	for i, f := range files {
		b, err := tokenfile.Read(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && (i > 0 || s.Env("BEARER_TOKEN_FILE") == "") {
				continue
			}
			return "", f, &CredError{Msg: fmt.Sprintf("cannot read discovered token file: %v", err)}
		}
		if tok, where, done, err := check(string(b), f); done {
			return tok, where, err
		}
	}
	return "", "", nil
}
