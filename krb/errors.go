package krb

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Every error returned by this package that a caller may
// act on matches one of these with errors.Is.
var (
	// ErrNoCredentials means there is no credentials cache, or it holds no
	// ticket-granting ticket. htgettoken treats this as "Kerberos is not in
	// use" and silently moves on to the next authentication method.
	ErrNoCredentials = errors.New("no Kerberos credentials")

	// ErrTGTExpired means the credentials cache holds a ticket-granting
	// ticket whose end time has passed (the user must run kinit again).
	ErrTGTExpired = errors.New("expired Kerberos ticket-granting ticket")

	// ErrUnsupportedCCache means the credentials cache named by KRB5CCNAME or
	// default_ccache_name has a type other than FILE, DIR, KEYRING or KCM
	// (or a KEYRING process/thread cache, private to its process). The concrete
	// error is an *UnsupportedCCacheError.
	ErrUnsupportedCCache = errors.New("unsupported Kerberos credentials cache type")

	// ErrCCacheUnreadable means a credentials cache exists but cannot be
	// read or is not in the MIT file format (version 3 or 4).
	ErrCCacheUnreadable = errors.New("unreadable Kerberos credentials cache")

	// ErrPrincipalMismatch means an explicit principal was requested
	// (htgettoken's --kerbprincipal) and no credentials cache for it exists.
	ErrPrincipalMismatch = errors.New("no Kerberos credentials for the requested principal")

	// ErrConfig means krb5.conf could not be parsed or holds a value that
	// cannot be used. The concrete error is a *ConfigError.
	ErrConfig = errors.New("invalid Kerberos configuration")

	// ErrKDCUnreachable means no KDC answered (none configured or found,
	// connection refused, timeout, or the context deadline passed).
	ErrKDCUnreachable = errors.New("unreachable Kerberos KDC")

	// ErrKDCRefused means a KDC answered with a Kerberos error, for example
	// because the service principal is unknown.
	ErrKDCRefused = errors.New("request refused by the Kerberos KDC")

	// ErrClosed is returned by NegotiateHeader after Close.
	ErrClosed = errors.New("use of closed Kerberos client")

	// ErrInvalidServicePrincipal means the service principal given to
	// NegotiateHeader is not of the form service/host.
	ErrInvalidServicePrincipal = errors.New("invalid Kerberos service principal")
)

// Error is the error type returned by this package for credential, cache and
// KDC failures. Kind is one of the sentinel errors above; errors.Is matches
// both Kind and the underlying cause.
type Error struct {
	// Kind is the sentinel error describing the class of failure.
	Kind error
	// Msg is a one-line description of what was attempted; it never holds
	// ticket or key material.
	Msg string
	// Err is the underlying cause, if any.
	Err error
}

// Error returns a single-line message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return oneLine(b.String())
}

// Unwrap returns the sentinel kind and the cause, so errors.Is works for both.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

func newError(kind error, msg string, cause error) *Error {
	return &Error{Kind: kind, Msg: msg, Err: cause}
}

// UnsupportedCCacheError reports a credentials cache type this package cannot
// read (for example KEYRING, KCM, MEMORY or API).
type UnsupportedCCacheError struct {
	// Type is the cache type prefix as written, without the colon.
	Type string
	// Source says where the cache name came from (KRB5CCNAME or
	// default_ccache_name).
	Source string
}

// Error returns a single-line message naming the type and the supported ones.
func (e *UnsupportedCCacheError) Error() string {
	return oneLine("unsupported Kerberos credentials cache type " + e.Type + " (from " + e.Source +
		"); supported are FILE:<path>, DIR:<directory>, KEYRING:<anchor>:<collection>, KCM: and a plain file path")
}

// Is makes errors.Is(err, ErrUnsupportedCCache) true.
func (e *UnsupportedCCacheError) Is(target error) bool { return target == ErrUnsupportedCCache }

// ConfigError reports a problem in a krb5.conf file.
type ConfigError struct {
	// Path is the file in which the problem was found (may be empty when the
	// problem is not tied to one file).
	Path string
	// Line is the 1-based line number, or 0 when unknown.
	Line int
	// Msg describes the problem.
	Msg string
	// Err is the underlying cause, if any.
	Err error
}

// Error returns a single-line message of the form "krb5 config PATH:LINE: MSG".
func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("krb5 config")
	if e.Path != "" {
		b.WriteString(" ")
		b.WriteString(e.Path)
		if e.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Line))
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return oneLine(b.String())
}

// Is makes errors.Is(err, ErrConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Unwrap returns the underlying cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// oneLine collapses line breaks so every message is a single line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}
