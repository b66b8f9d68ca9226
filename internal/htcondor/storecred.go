package htcondor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultStoreCredCommand is the tool StoreCred runs.
const DefaultStoreCredCommand = "condor_store_cred"

// storeCredDirs are searched for condor_store_cred after $PATH.
var storeCredDirs = []string{"/usr/sbin"}

// noCredentialLine is what condor_store_cred query-oauth prints on stdout
// when it reached the credd and the credd has no such credential.
const noCredentialLine = "No credential is stored."

// Errors matched by the errors of StoreCred and BuildPayload.
var (
	// ErrInvalidName: a credential name that the credd would refuse.
	ErrInvalidName = errors.New("invalid credential name")
	// ErrInvalidUser: a -u user that is not of the form user@domain.
	ErrInvalidUser = errors.New("invalid credential user, want user@domain")
	// ErrInvalidPayload: a token or URL that cannot be put into the JSON
	// payload without escaping, or a missing URL.
	ErrInvalidPayload = errors.New("invalid credential payload")
)

// ValidName reports whether s is acceptable to the credd as a user,
// service or handle name (okay_for_oauth_filename): non-empty, and only
// ASCII letters, digits and - + = _ .
func ValidName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '+' || c == '=' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// SplitList splits an HTCondor list value (such as
// VAULT_CREDMON_PROVIDER_NAMES) on commas and white space, dropping empty
// items.
func SplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
	})
}

// BuildPayload returns the credential document the storer pipes to
// condor_store_cred add-oauth: exactly
//
//	{
//	  "vault_token": "<token>",
//	  "vault_url": "<url>"
//	}
//
// with a trailing newline, 2-space indent and no escaping; the vault_token
// line is left out when token is empty (3 lines). Vault tokens and URLs
// never contain characters that JSON would need escaped, so a token or URL
// that does (a double quote, a backslash, a control character) or that is
// not valid UTF-8 is refused with ErrInvalidPayload rather than producing
// invalid JSON; so is an empty url. The error never contains the token.
func BuildPayload(token, url string) ([]byte, error) {
	if url == "" {
		return nil, fmt.Errorf("%w: empty vault URL", ErrInvalidPayload)
	}
	if i := unsafeJSONChar(token); i >= 0 {
		return nil, fmt.Errorf("%w: the vault token has a character that JSON would need escaped at byte %d", ErrInvalidPayload, i)
	}
	if i := unsafeJSONChar(url); i >= 0 {
		return nil, fmt.Errorf("%w: the vault URL has a character that JSON would need escaped at byte %d", ErrInvalidPayload, i)
	}
	var b bytes.Buffer
	b.WriteString("{\n")
	if token != "" {
		b.WriteString(`  "vault_token": "` + token + "\",\n")
	}
	b.WriteString(`  "vault_url": "` + url + "\"\n")
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// unsafeJSONChar returns the byte offset of the first character of s that
// cannot appear unescaped in a JSON string, or -1.
func unsafeJSONChar(s string) int {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r < 0x20 || r == '"' || r == '\\' {
			return i
		}
		i += size
	}
	return -1
}

// QueryResult is the answer of condor_store_cred query-oauth.
type QueryResult int

// Query results. QueryUnknown comes only with a non-nil error.
const (
	QueryUnknown QueryResult = iota
	Stored                   // exit 0: the credd has the credential
	NotStored                // exit 1 and "No credential is stored."
	Mismatch                 // exit 2: stored with other scopes or audience
)

// String names the result.
func (r QueryResult) String() string {
	switch r {
	case Stored:
		return "stored"
	case NotStored:
		return "not stored"
	case Mismatch:
		return "mismatch"
	default:
		return "unknown"
	}
}

// QueryError reports that condor_store_cred query-oauth could not tell
// whether the credential is stored: the credd was unreachable or refused
// the request. The state is unknown; it is NOT "not stored".
type QueryError struct {
	// Name is the credential name asked about (-s).
	Name string
	// ExitCode is condor_store_cred's exit status.
	ExitCode int
	// Stdout and Stderr are the captured output.
	Stdout, Stderr []byte
}

// Error describes the failure with a one-line summary of the output.
func (e *QueryError) Error() string {
	msg := fmt.Sprintf("could not ask the credd about credential %q (credd unreachable or refused): condor_store_cred query-oauth exit status %d", e.Name, e.ExitCode)
	if s := summarize(e.Stderr, e.Stdout); s != "" {
		msg += ": " + s
	}
	return msg
}

// StoreError reports that condor_store_cred add-oauth failed.
type StoreError struct {
	// Name is the credential name (-s).
	Name string
	// ExitCode is condor_store_cred's exit status.
	ExitCode int
	// Stdout and Stderr are the captured output (any copy of the vault
	// token in them is replaced by "[redacted]").
	Stdout, Stderr []byte
}

// Error describes the failure with a one-line summary of the output.
func (e *StoreError) Error() string {
	msg := fmt.Sprintf("storing credential %q failed: condor_store_cred add-oauth exit status %d", e.Name, e.ExitCode)
	if s := summarize(e.Stderr, e.Stdout); s != "" {
		msg += ": " + s
	}
	return msg
}

// StoreCred runs condor_store_cred. The zero value is usable.
type StoreCred struct {
	// Command is the condor_store_cred to run: a name searched on PATH and
	// then /usr/sbin, or a path. Default "condor_store_cred".
	Command string
	// User, when set, is passed as -u (user@domain; the caller must be in
	// CRED_SUPER_USERS). From CONDOR_VAULT_STORER_USER.
	User string
	// ExtraArgs are appended after -s NAME (the words of the
	// SEC_CREDENTIAL_STORECRED_OPTS environment variable).
	ExtraArgs []string
	// Runner runs the command. Default: Exec{ExtraDirs: /usr/sbin}.RunInput.
	Runner StdinRunner
	// Stdout, when set (verbose mode), receives the tool's stdout.
	Stdout io.Writer
	// Stderr, when set, receives the tool's stderr (the original storer let
	// it reach the terminal).
	Stderr io.Writer
	// Timeout bounds each run. Default DefaultTimeout.
	Timeout time.Duration
}

// args builds [-u U] -s name [extra] [-S scopes] [-A audience].
func (s *StoreCred) args(action, name, scopes, audience string) ([]string, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%w: %q (only letters, digits and - + = _ . are allowed)", ErrInvalidName, name)
	}
	args := []string{action}
	if s.User != "" {
		at := strings.IndexByte(s.User, '@')
		if at <= 0 || at == len(s.User)-1 {
			return nil, fmt.Errorf("%w: %q", ErrInvalidUser, s.User)
		}
		args = append(args, "-u", s.User)
	}
	args = append(args, "-s", name)
	args = append(args, s.ExtraArgs...)
	if scopes != "" {
		args = append(args, "-S", scopes)
	}
	if audience != "" {
		args = append(args, "-A", audience)
	}
	return args, nil
}

func (s *StoreCred) run(ctx context.Context, stdin []byte, args []string) ([]byte, []byte, int, error) {
	cmd := s.Command
	if cmd == "" {
		cmd = DefaultStoreCredCommand
	}
	run := s.Runner
	if run == nil {
		run = Exec{ExtraDirs: storeCredDirs}.RunInput
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stdout, stderr, code, err := run(ctx, stdin, cmd, args...)
	if err != nil {
		return nil, nil, code, fmt.Errorf("running condor_store_cred %s: %w", args[0], err)
	}
	return stdout, stderr, code, nil
}

// echo copies the tool's output to the configured writers. Write errors
// (a closed terminal) do not change the outcome.
func (s *StoreCred) echo(stdout, stderr []byte) {
	if s.Stdout != nil && len(stdout) > 0 {
		_, _ = s.Stdout.Write(stdout)
	}
	if s.Stderr != nil && len(stderr) > 0 {
		_, _ = s.Stderr.Write(stderr)
	}
}

// AddOAuth stores a credential under name with
//
//	condor_store_cred add-oauth [-u U] -s name [extra] [-S scopes] [-A audience] -i -
//
// writing payload (see BuildPayload) to its stdin. A non-zero exit status
// gives a *StoreError.
func (s *StoreCred) AddOAuth(ctx context.Context, name, scopes, audience string, payload []byte) error {
	args, err := s.args("add-oauth", name, scopes, audience)
	if err != nil {
		return err
	}
	args = append(args, "-i", "-")
	if payload == nil {
		payload = []byte{}
	}
	stdout, stderr, code, err := s.run(ctx, payload, args)
	if err != nil {
		return err
	}
	if secret := payloadToken(payload); len(secret) >= minRedact {
		stdout = redact(stdout, secret)
		stderr = redact(stderr, secret)
	}
	s.echo(stdout, stderr)
	if code != 0 {
		return &StoreError{Name: name, ExitCode: code, Stdout: stdout, Stderr: stderr}
	}
	return nil
}

// QueryOAuth asks whether a credential is stored under name with
//
//	condor_store_cred query-oauth [-u U] -s name [extra] [-S scopes] [-A audience]
//
// Exit 0 gives Stored, 2 Mismatch, 1 with a "No credential is stored."
// line on stdout NotStored; any other outcome is a *QueryError (credd
// unreachable or refused), never NotStored.
func (s *StoreCred) QueryOAuth(ctx context.Context, name, scopes, audience string) (QueryResult, error) {
	args, err := s.args("query-oauth", name, scopes, audience)
	if err != nil {
		return QueryUnknown, err
	}
	stdout, stderr, code, err := s.run(ctx, nil, args)
	if err != nil {
		return QueryUnknown, err
	}
	s.echo(stdout, stderr)
	switch code {
	case 0:
		return Stored, nil
	case 2:
		return Mismatch, nil
	case 1:
		if hasLine(stdout, noCredentialLine) {
			return NotStored, nil
		}
	}
	return QueryUnknown, &QueryError{Name: name, ExitCode: code, Stdout: stdout, Stderr: stderr}
}

// hasLine reports whether out has a line equal to want, ignoring
// surrounding white space.
func hasLine(out []byte, want string) bool {
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}

// payloadToken returns the vault_token of a JSON payload, if any.
func payloadToken(payload []byte) string {
	var doc struct {
		VaultToken string `json:"vault_token"`
	}
	if json.Unmarshal(payload, &doc) != nil {
		return ""
	}
	return doc.VaultToken
}

// minRedact is the shortest vault token that is redacted from tool output;
// shorter strings (only seen in tests) would garble it. Real tokens are
// about a hundred characters.
const minRedact = 8

// redact replaces every copy of secret in out.
func redact(out []byte, secret string) []byte {
	return bytes.ReplaceAll(out, []byte(secret), []byte("[redacted]"))
}
