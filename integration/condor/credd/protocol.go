// Package credd is the logic of the condor_credd stand-in: the STORE_CRED
// command for OAuth credentials (add, query, delete), exactly as HTCondor's
// credd carries it out on the credential directory, served on a Unix
// socket whose peers are authenticated by SO_PEERCRED. It also holds the
// client side of that socket, used by the condor_store_cred stand-in.
//
// The wire format is the stand-in's own (one JSON request, one JSON reply
// per connection); what is faithful to HTCondor is what each side does with
// it. See the package doc of integration/condor for the list of deviations.
package credd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// MaxCredential is the largest credential the stand-in accepts (1 MiB,
// the limit condor_store_cred documents for -i).
const MaxCredential = 1 << 20

// maxRequest bounds one encoded request (base64 of MaxCredential plus the
// other fields).
const maxRequest = 2 << 20

// Mode is the STORE_CRED operation.
type Mode string

// The three operations of condor_store_cred.
const (
	ModeAdd    Mode = "add"
	ModeQuery  Mode = "query"
	ModeDelete Mode = "delete"
	// ModeCheck is CREDD_CHECK_CREDS, condor_submit's check for the
	// OAuth tokens a job needs (see Request.Checks and Reply.Message).
	ModeCheck Mode = "check"
)

// Result is a STORE_CRED answer: one of the codes below, or, when greater
// than 100, a Unix timestamp meaning success (the mtime of the credential
// file), as in HTCondor.
type Result int64

// HTCondor's STORE_CRED result codes (store_cred.h), plus
// FailureUntrustedHost.
const (
	Failure                 Result = 0
	Success                 Result = 1
	FailureBadPassword      Result = 2
	FailureNoImpersonate    Result = 3
	FailureNotSecure        Result = 4
	FailureNotFound         Result = 5
	SuccessPending          Result = 6
	FailureNotAllowed       Result = 7
	FailureBadArgs          Result = 8
	FailureProtocolMismatch Result = 9
	FailureCredmonTimeout   Result = 10
	FailureConfigError      Result = 11
	FailureJSONParse        Result = 12
	FailureCredMismatch     Result = 13
	FailureUntrustedHost    Result = 14
)

var resultNames = [...]string{
	"FAILURE", "SUCCESS", "FAILURE_BAD_PASSWORD", "FAILURE_NO_IMPERSONATE",
	"FAILURE_NOT_SECURE", "FAILURE_NOT_FOUND", "SUCCESS_PENDING",
	"FAILURE_NOT_ALLOWED", "FAILURE_BAD_ARGS", "FAILURE_PROTOCOL_MISMATCH",
	"FAILURE_CREDMON_TIMEOUT", "FAILURE_CONFIG_ERROR", "FAILURE_JSON_PARSE",
	"FAILURE_CRED_MISMATCH", "FAILURE_UNTRUSTED_HOST",
}

// errStrings are the messages HTCondor's store_cred_failed() gives for
// each failure code (condor_store_cred prints them on stderr).
var errStrings = [...]string{
	"Operation failed",
	"Operation succeeded",
	"A credential is stored, but it is invalid",
	"Operation failed because the target daemon is not running as SYSTEM",
	"Operation aborted because communiction was not secure",
	"No credential is stored",
	"A credential is stored, but it has not yet been processed",
	"Operation failed because it is not allowed",
	"Operation aborted due to missing or bad arguments",
	"Arguments are missing, client and server my be mismatched",
	"The credmon did not process credentials within the timeout period",
	"Operation failed because of a configuration error",
	"Failure parsing credential as JSON",
	"Credential was found but it did not match requested scopes or audience",
	"Credential requires interacting with an untrusted host",
}

// String names the code (or "timestamp N").
func (r Result) String() string {
	if r.IsTimestamp() {
		return fmt.Sprintf("timestamp %d", int64(r))
	}
	if r >= 0 && int(r) < len(resultNames) {
		return resultNames[r]
	}
	return fmt.Sprintf("result %d", int64(r))
}

// IsTimestamp reports whether r is a success carrying a file mtime.
func (r Result) IsTimestamp() bool { return r > 100 }

// Failed reports whether r is a failure for an operation in mode, like
// HTCondor's store_cred_failed(); for a failure it also returns the
// message HTCondor associates with the code ("" if none).
func (r Result) Failed(mode Mode) (bool, string) {
	if mode != ModeDelete && r.IsTimestamp() {
		return false, ""
	}
	if r == Success || r == SuccessPending {
		return false, ""
	}
	if r >= 0 && int(r) < len(errStrings) {
		return true, errStrings[r]
	}
	return true, ""
}

// Request is one STORE_CRED command as condor_store_cred sends it.
type Request struct {
	// Mode is add, query or delete.
	Mode Mode `json:"mode"`
	// User is "" (the credd uses the authenticated user) or user@domain
	// from -u.
	User string `json:"user,omitempty"`
	// Service, Handle, Scopes and Audience come from -s, -H, -S and -A.
	Service  string `json:"service,omitempty"`
	Handle   string `json:"handle,omitempty"`
	Scopes   string `json:"scopes,omitempty"`
	Audience string `json:"audience,omitempty"`
	// Plain is -P: the credential is an access token, stored as .use
	// (HTCondor's NeedRefresh = false).
	Plain bool `json:"plain,omitempty"`
	// Credential is the bytes of -i (add only).
	Credential []byte `json:"credential,omitempty"`
	// DaemonName is -n (logged only; the stand-in has no schedds).
	DaemonName string `json:"daemon_name,omitempty"`
	// Checks are the request ads of CREDD_CHECK_CREDS (ModeCheck).
	Checks []CheckRequest `json:"checks,omitempty"`
}

// CheckRequest is one request ad of CREDD_CHECK_CREDS as condor_submit
// builds it: Service, optional Handle, Scopes, Audience.
type CheckRequest struct {
	Service  string `json:"service"`
	Handle   string `json:"handle,omitempty"`
	Scopes   string `json:"scopes,omitempty"`
	Audience string `json:"audience,omitempty"`
}

// Attr is one attribute of the reply's info ClassAd.
type Attr struct {
	Name string `json:"name"`
	// Value is the attribute value; Quoted says it is a string (printed
	// in double quotes) rather than an integer.
	Value  string `json:"value"`
	Quoted bool   `json:"quoted,omitempty"`
}

// Reply is the credd's answer: the result and HTCondor's return ClassAd.
type Reply struct {
	Result Result `json:"result"`
	Info   []Attr `json:"info,omitempty"`
	// Message is CREDD_CHECK_CREDS's reply string: "" when every token
	// is present, "<prefix>/key/<key>" when some must be fetched, else an
	// error text.
	Message string `json:"message,omitempty"`
}

// UnreachableError is a failure to talk to the credd at all (not running,
// socket missing, connection dropped): condor_store_cred treats it as
// FAILURE.
type UnreachableError struct {
	Socket string
	Err    error
}

// Error names the socket and the cause.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot talk to the condor_credd on %s: %v", e.Socket, e.Err)
}

// Unwrap returns the cause.
func (e *UnreachableError) Unwrap() error { return e.Err }

// Do sends req to the credd listening on socket and returns its reply.
// The whole exchange is bounded by ctx (and by 30 s if ctx has no
// deadline).
func Do(ctx context.Context, socket string, req Request) (Reply, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return Reply{}, &UnreachableError{Socket: socket, Err: err}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return Reply{}, &UnreachableError{Socket: socket, Err: fmt.Errorf("sending the request: %w", err)}
	}
	var rep Reply
	dec := json.NewDecoder(io.LimitReader(conn, maxRequest))
	if err := dec.Decode(&rep); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Reply{}, &UnreachableError{Socket: socket, Err: fmt.Errorf("reading the reply: %w", err)}
	}
	return rep, nil
}
