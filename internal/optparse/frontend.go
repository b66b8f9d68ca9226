package optparse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/vaultcred/gettoken/vaultcred"
)

// Frontend is the htgettoken front end that gettoken, htdestroytoken and
// the HTCondor storer share: parse the htgettoken options, load the option
// sources (-s/--optserver and $HTGETTOKENOPTS), derive the settings, and
// report a setup error the way htgettoken does.
type Frontend struct {
	// Prog is the program name in the usage line and messages.
	Prog string
	// Env is the process environment.
	Env vaultcred.Environ
	// Width is the help width; 0 means the default.
	Width int
	// HTTPClient fetches the optserver file; nil means OptServerClient.
	HTTPClient func(o *vaultcred.Options) (*http.Client, error)
	// Log receives the messages printed while the sources are loaded
	// ("Fetching options from ..."); nil discards them.
	Log io.Writer
	// Defaults, when set, changes htgettoken's defaults; the option
	// sources and the command line may override what it sets.
	Defaults func(o *vaultcred.Options)
	// Adjust, when set, is called after the option sources are loaded with
	// a report of which options (long names without dashes) any of them
	// gave: defaults that depend on other options being absent.
	Adjust func(o *vaultcred.Options, given func(name string) bool)
	// Fixed, when set, is applied to the parsed options before Derive: the
	// settings a caller imposes whatever the command line says.
	Fixed func(o *vaultcred.Options)
}

// Setup parses args with the option sources and derives the options. It
// returns the parser (for the help and error texts), the options (nil or
// partly filled on some errors) and any error: ErrHelp, ErrVersion, *Error,
// *SourceError or *vaultcred.OptionError, or another fatal error.
func (f Frontend) Setup(ctx context.Context, args []string) (*Parser, *vaultcred.Options, error) {
	p := HTGetToken(f.Prog, vaultcred.DefaultCAFile(f.Env))
	if f.Width > 0 {
		p.Width = f.Width
	}
	hc := f.HTTPClient
	if hc == nil {
		hc = OptServerClient
	}
	opts, err := Load(ctx, p, args, Sources{Env: f.Env, HTTPClient: hc, Log: f.Log, Defaults: f.Defaults, Adjust: f.Adjust})
	if err == nil {
		if f.Fixed != nil {
			f.Fixed(opts)
		}
		err = opts.Derive(f.Env)
	}
	return p, opts, err
}

// WriteSetupError prints a Setup error as htgettoken does: the help and
// --version on stdout, parse and usage errors (with the usage or help) on
// stderr, and other errors as "<prog>: <message>" on stderr, preceded in
// the default mode by an empty line on the log stream (stdout when the
// options send the log there) except for option source errors, which
// happen before the mode is known; -q silences those last ones. opts may
// be nil.
func (p *Parser) WriteSetupError(stdout, stderr io.Writer, opts *vaultcred.Options, err error) {
	var perr *Error
	var oerr *vaultcred.OptionError
	var serr *SourceError
	switch {
	case errors.Is(err, ErrHelp):
		io.WriteString(stdout, p.Help())
		return
	case errors.Is(err, ErrVersion):
		io.WriteString(stdout, Version+"\n")
		return
	case errors.As(err, &perr):
		io.WriteString(stderr, p.FormatError(perr))
		return
	case errors.As(err, &oerr) && oerr.Usage:
		io.WriteString(stderr, p.Prog+": "+oerr.Msg+"\n\n"+p.Help())
		return
	}
	if opts != nil && opts.Quiet {
		return
	}
	if opts != nil && !errors.As(err, &serr) && !opts.Verbose && !opts.Debug {
		w := stderr
		if opts.LogToStdout {
			w = stdout
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(stderr, "%s: %s\n", p.Prog, err)
}
