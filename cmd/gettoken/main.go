// Command gettoken gets a Vault token and an OIDC bearer token from an
// htvault-config Vault (or OpenBao) server. It is a drop-in replacement for
// htgettoken 2.6: same options, option sources, files, messages and exit
// statuses (0 success, 1 fatal error, 2 usage error).
//
// # Program name
//
// Messages, the usage line and the help use the name "htgettoken" when the
// program runs under that name (the compatibility symlink), and "gettoken"
// under any other name, so scripts that match "htgettoken: ..." keep
// working and odd binary names (gettoken-linux-amd64) do not leak into
// messages. Names that are part of the contract do not change with it:
// $HTGETTOKENOPTS, the optserver file htgettokenopts.txt, the configuration
// directory ~/.config/htgettoken and the --version output "2.6".
//
// # Streams
//
// Help and --version go to stdout. Parse and usage errors go to stderr.
// Progress goes to stdout unless stdout carries data (the vault token file
// is /dev/stdout, or --showbearerurl), then to stderr. Fatal errors go to
// stderr as "<name>: <message>", preceded in the default (neither -v nor -q)
// mode by an empty line on the progress stream; -q silences them.
//
// # Front end and full program
//
// The installed gettoken is this package built with the tag
// gettoken_front (front.go): it starts as fast as a minimal Go program,
// finishes --help, --version, option errors and a --reuse-bearer hit
// itself, and replaces itself with the full program,
// ../libexec/gettoken/gettoken relative to its executable (start.go), for
// every run that needs Vault. See docs/gettoken.md, "Performance".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/vaultcred/gettoken/internal/optparse"
	"github.com/vaultcred/gettoken/vaultcred"
)

func main() {
	os.Exit(gettokenMain())
}

// invocation is everything a run depends on.
type invocation struct {
	args           []string // including the program name
	stdout, stderr io.Writer
	env            vaultcred.Environ
	width          int // help width
	httpClient     func(*vaultcred.Options) (*http.Client, error)
}

// run performs the Vault flow with fully derived options, printing the
// bearer URL (--showbearerurl) last: after any vault token written to
// /dev/stdout, because HTCondor's storer reads the token line first.
func run(ctx context.Context, inv invocation, opts *vaultcred.Options, log *vaultcred.Logger) error {
	res, err := vaultcred.Get(ctx, opts, vaultcred.Deps{
		Log: log,
		OpenURL: func(ctx context.Context, command, url string) error {
			return vaultcred.OpenURL(ctx, inv.stdout, command, url)
		},
	})
	if res.BearerURL != "" {
		fmt.Fprintln(inv.stdout, res.BearerURL)
	}
	return err
}

// Test hooks, set only by TestMain: testOnlyDump, when it returns true,
// replaces the flow (it prints the derived options), and testOnlyEnviron
// adjusts the process environment.
var (
	testOnlyDump    func(opts *vaultcred.Options) bool
	testOnlyEnviron func(env *vaultcred.Environ)
)

// programName returns the name used in messages: "htgettoken" when run as
// htgettoken, otherwise "gettoken".
func programName(argv0 string) string {
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	if base == "htgettoken" {
		return "htgettoken"
	}
	return "gettoken"
}

// runMain parses the options, derives the settings, runs the flow and
// reports errors the way htgettoken does. It returns the exit status.
func runMain(ctx context.Context, inv invocation) int {
	argv0 := "gettoken"
	var args []string
	if len(inv.args) > 0 {
		argv0, args = inv.args[0], inv.args[1:]
	}
	prog := programName(argv0)
	fe := optparse.Frontend{Prog: prog, Env: inv.env, Width: inv.width, HTTPClient: inv.httpClient, Log: inv.stderr}
	p, opts, err := fe.Setup(ctx, args)
	if err != nil {
		p.WriteSetupError(inv.stdout, inv.stderr, opts, err)
		return exitCode(err)
	}

	logw := inv.stderr
	if opts.LogToStdout {
		logw = inv.stdout
	}
	if opts.OIDCDisabledInBackground && opts.Verbose {
		fmt.Fprintln(logw, "Disabling oidc because running in the background")
	}

	log := &vaultcred.Logger{W: logw, Quiet: opts.Quiet, Verbose: opts.Verbose, Debug: opts.Debug}
	if testOnlyDump != nil && testOnlyDump(opts) {
		return exitOK
	}
	if err := run(ctx, inv, opts, log); err != nil {
		if !opts.Quiet {
			if opts.ShowProgress {
				fmt.Fprintln(logw)
			}
			fmt.Fprintf(inv.stderr, "%s: %s\n", prog, err)
		}
		return exitCode(err)
	}
	return exitOK
}

// Exit statuses, htgettoken's.
const (
	exitOK    = 0 // success, also -h and --version
	exitFatal = 1 // any fatal error: setup, Vault, IdP, files
	exitUsage = 2 // a usage or option parsing error

	// exitHandOff is no exit status: the front end build returns it when
	// the request needs the full program (see front.go).
	exitHandOff = -1
)

// exitCode is gettoken's one mapping of error kinds to exit statuses (the
// libraries return errors that say what they are, never a status).
func exitCode(err error) int {
	var perr *optparse.Error
	var oerr *vaultcred.OptionError
	switch {
	case err == nil, errors.Is(err, optparse.ErrHelp), errors.Is(err, optparse.ErrVersion):
		return exitOK
	case errors.Is(err, vaultcred.ErrHandOff):
		return exitHandOff
	case errors.As(err, &perr), errors.As(err, &oerr) && oerr.Usage:
		return exitUsage
	default:
		return exitFatal
	}
}
