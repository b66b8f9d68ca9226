package vaultcred

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Deps are the parts of the outside world the flow uses. Every field may
// be nil; the zero value uses the real ones.
type Deps struct {
	// HTTPClient makes every request; nil builds one with NewHTTPClient
	// from the options (CA file and directory, certificate name).
	HTTPClient *http.Client
	// Log receives the progress and verbose messages; nil discards them.
	Log *Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx ends; nil uses a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// OpenURL runs the web open command on the login URL; nil runs
	// "<command> <url>" with its stderr discarded and waits for it.
	OpenURL func(ctx context.Context, command, url string) error
	// Kerberos returns a Negotiate header for a service principal such as
	// "host/vault.example.org"; nil uses package krb with the environment.
	// Its error wrapping ErrNoKerberos means "no usable credentials".
	Kerberos func(ctx context.Context, principal, service string) (string, error)
	// SSHAgent connects to the user's ssh-agent; nil dials $SSH_AUTH_SOCK.
	SSHAgent func() (SSHAgent, error)
	// QR renders a URL as a QR code for --qr; nil draws it with text blocks.
	QR func(w io.Writer, url string) error
	// RequestTimeout bounds each Vault request in addition to the connect
	// and read timeouts; 0 means 30 s.
	RequestTimeout time.Duration

	// The hooks below let an in-process caller (the HTCondor storer) move
	// tokens through memory instead of files and pipes.

	// VaultTokenIn, when set, supplies the existing vault token instead of
	// VaultTokenInFile (as if it were piped on /dev/stdin).
	VaultTokenIn func() (string, error)
	// VaultTokenOut, when set, receives every vault token the flow would
	// write to VaultTokenFile, instead of the file.
	VaultTokenOut func(token string) error
	// BearerOut, when set, receives the bearer token instead of OutFile.
	BearerOut func(token string) error
}

// Result is what a run obtained.
type Result struct {
	// VaultToken is the vault token that was used last (read, exchanged or
	// newly obtained); empty when none worked.
	VaultToken string
	// BearerToken is the access token; empty with NoBearerToken.
	BearerToken string
	// BearerURL is the full URL the bearer token is read from, set when
	// ShowBearerURL asked for it and the flow got as far as the read. The
	// caller prints it to stdout last, after any vault token written to
	// /dev/stdout (HTCondor's storer counts the lines in that order).
	BearerURL string
	// CredKey is the credential key used in the secret path.
	CredKey string
	// Method says how the vault token was obtained: "existing",
	// "exchange", "kerberos", "ssh", "oidc", or "local" for a bearer token
	// reused from disk without any request.
	Method string
}

// Fatal errors of the flow. Their messages are htgettoken's, which the
// command prints after "<program>: ".
var (
	// ErrNoToken is "Failure getting token from <V>": every method was
	// tried or skipped and none gave a bearer token.
	ErrNoToken = errors.New("failure getting token")
	// ErrHandOff is returned only by gettoken's front end build (build
	// tag gettoken_front), which leaves the Vault flow out: the request
	// needs it, and the command runs the full program instead.
	ErrHandOff = errors.New("the Vault flow is in the full gettoken program")
)

// FlowError is a fatal error of the flow with htgettoken's message.
type FlowError struct {
	Msg string
	Err error
}

func (e *FlowError) Error() string { return e.Msg }
func (e *FlowError) Unwrap() error { return e.Err }

func fatalf(err error, format string, args ...any) error {
	return &FlowError{Msg: fmt.Sprintf(format, args...), Err: err}
}

// flow is one run of Get.
type flow struct {
	o   *Options
	d   Deps
	log *Logger
	v   *vaultAPI
	res *Result
	// method is how the vault token being tried was obtained; it becomes
	// Result.Method when the run succeeds with it.
	method string
}

// Get runs htgettoken's flow (see the package documentation) with derived
// options. The Result is never nil; on error it holds what was obtained
// before the error (BearerURL in particular).
func Get(ctx context.Context, o *Options, d Deps) (*Result, error) {
	res := &Result{}
	if !o.Derived() {
		return res, errors.New("vaultcred: options not derived (call Options.Derive first)")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Sleep == nil {
		d.Sleep = sleepCtx
	}
	if d.RequestTimeout == 0 {
		d.RequestTimeout = 30 * time.Second
	}
	f := &flow{o: o, d: d, log: d.Log, res: res}
	if o.ReuseBearer {
		if ok := f.localReuse(); ok {
			return res, nil
		}
	}
	err := f.remote(ctx)
	return res, err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
