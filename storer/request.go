package storer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vaultcred/gettoken/internal/htcondor"
)

// Request is one condor_submit argument:
// <service>[&handle=<h>][&scopes=<s>][&audience=<a>][&options=<o>].
type Request struct {
	// Raw is the argument as given.
	Raw string
	// Service is the bare service, e.g. "dune" or "dune_production".
	Service string
	// Issuer and Role are the service split at its underscore; Role is
	// empty for a service without one.
	Issuer, Role string
	// Handle, Scopes, Audience and Options are the request's parts; empty
	// when absent.
	Handle, Scopes, Audience, Options string
}

// HandleService is the credential name of the handle, "<service>_<handle>",
// or "" without a handle.
func (r Request) HandleService() string {
	if r.Handle == "" {
		return ""
	}
	return r.Service + "_" + r.Handle
}

// Reduced reports whether reduced scopes or an audience were asked for.
func (r Request) Reduced() bool { return r.Scopes != "" || r.Audience != "" }

// OptionWords splits &options= on white space. Unlike the original (an
// unquoted shell expansion), words are never glob-expanded.
func (r Request) OptionWords() []string { return strings.Fields(r.Options) }

// Errors of ParseRequest, with the original storer's messages.
var (
	ErrUnderscores = errors.New("Only one underscore allowed in use_oauth_services name")
	ErrReduced     = errors.New("reduced scopes or audience require a handle")
	ErrNoService   = errors.New("empty service name in request")
	ErrBadName     = errors.New("invalid credential name")
)

// ParseRequest parses one argument. Unknown keys are ignored, as by the
// original; "scope=" is accepted as well as "scopes=" (the original's usage
// text advertises "&scope=" but only "&scopes=" worked).
func ParseRequest(arg string) (Request, error) {
	parts := strings.Split(arg, "&")
	r := Request{Raw: arg, Service: parts[0]}
	if r.Service == "" {
		return r, ErrNoService
	}
	r.Issuer = r.Service
	if i := strings.IndexByte(r.Service, '_'); i >= 0 {
		r.Issuer, r.Role = r.Service[:i], r.Service[i+1:]
	}
	for _, p := range parts[1:] {
		key, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		switch key {
		case "handle":
			r.Handle = val
		case "scopes", "scope":
			r.Scopes = val
		case "audience":
			r.Audience = val
		case "options":
			r.Options = val
		}
	}
	if r.Reduced() && r.Handle == "" {
		return r, ErrReduced
	}
	// The credd refuses other names; say so before any login.
	for _, n := range []string{r.Service, r.Handle} {
		if n != "" && !htcondor.ValidName(n) {
			return r, fmt.Errorf("%w: %q may contain only letters, digits and - + = _ .", ErrBadName, n)
		}
	}
	// Last, so that every other check is done and the request is complete
	// when only this one fails: the pelican mode has no underscore rule.
	if strings.Contains(r.Role, "_") {
		return r, ErrUnderscores
	}
	return r, nil
}
