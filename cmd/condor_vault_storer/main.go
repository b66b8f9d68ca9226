// Command condor_vault_storer is HTCondor's SEC_CREDENTIAL_STORER for Vault
// tokens, a drop-in for the bash original: condor_submit runs it with one
// argument per Vault service,
//
//	condor_vault_storer [-v|-d] <service>[&handle=..][&scopes=..][&audience=..][&options=..] ...
//
// and it makes sure the credd holds a long-lived (28-day) vault token and
// the Vault URL for each service and handle, running the htgettoken flow
// in-process (package vaultcred: local token, Kerberos, ssh-agent, or the
// OIDC device flow on condor_submit's terminal) and storing through
// condor_store_cred add-oauth.
//
// It also answers to the newer name condor_credential_storer, and serves
// HTCondor 25.14's CONDOR_CREDENTIAL_STORER_MODE under either name:
// "vault", "pelican" (Pelican subject tokens through the pelican client's
// device-code login, for the credmon to exchange), or unset, when each
// service is routed by the credmon provider lists (PELICAN_CREDMON_PROVIDER_NAMES
// → pelican, the local, OAuth2 and client-credentials lists → skipped,
// anything else → vault).
//
// Exit status: 0 when every request was processed, 1 on a usage error or
// any fatal error ("<program>: <message>" on stderr, followed by a hint to
// rerun with -v unless verbose).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/vaultcred/gettoken/internal/htcondor"
	"github.com/vaultcred/gettoken/storer"
	"github.com/vaultcred/gettoken/vaultcred"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stderr, vaultcred.SystemEnviron())
	stop()
	os.Exit(code)
}

func run(ctx context.Context, argv []string, stderr io.Writer, env vaultcred.Environ) int {
	prog := "condor_vault_storer"
	var args []string
	if len(argv) > 0 {
		prog, args = filepath.Base(argv[0]), argv[1:]
	}
	storeCred := &htcondor.StoreCred{
		User:      env.Getenv("CONDOR_VAULT_STORER_USER"),
		ExtraArgs: strings.Fields(env.Getenv("SEC_CREDENTIAL_STORECRED_OPTS")),
	}
	s := &storer.Storer{
		Prog: prog,
		Condor: storer.HTCondor{
			Knobs:     htcondor.New(htcondor.Options{LookupEnv: env.LookupEnv, Environ: os.Environ}),
			StoreCred: storeCred,
		},
		Env:     env,
		Stderr:  stderr,
		Payload: htcondor.BuildPayload,
	}
	// With -v or -d, condor_store_cred's own output is shown, as the
	// original storer does.
	storeCred.Stdout = s.VerboseWriter()
	err := route(ctx, s, args, env)
	if errors.Is(err, errVaultRun) {
		err = s.Run(ctx, args)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, storer.ErrUsage):
		s.Newline()
		io.WriteString(stderr, storer.Usage(prog))
		return 1
	default:
		s.Newline()
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		if !s.Verbose() {
			var quoted strings.Builder
			for _, a := range args {
				quoted.WriteString(`"` + a + `" `)
			}
			fmt.Fprintf(stderr, "  More details might be available by running\n    %s -v %s\n", prog, quoted.String())
		}
		return 1
	}
}

// errVaultRun tells run to hand the whole command line to the Vault
// storer (no Pelican request: the common case, with no extra work).
var errVaultRun = errors.New("vault run")

// route serves the Pelican requests and the skipped ones, and runs the
// Vault storer on the rest. It returns errVaultRun when every request is a
// Vault one, so that the Vault storer sees the command line unchanged.
func route(ctx context.Context, s *storer.Storer, args []string, env vaultcred.Environ) error {
	mode := env.Getenv(storer.ModeEnv)
	if mode == storer.ModeVault {
		return errVaultRun
	}
	var flags, requests []string
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			requests = args[i:]
			break
		}
		flags = append(flags, a)
	}
	if len(requests) == 0 {
		return errVaultRun
	}
	if mode == "" {
		// One condor_config_val run for the lists and the Vault storer's
		// own knobs.
		pre, err := storer.Prefetch(ctx, s.Condor, append(slices.Clone(storer.RouteKnobs), storer.Knobs...)...)
		if err != nil {
			return &storer.FatalError{Msg: err.Error()}
		}
		s.Condor = pre
	}
	r, err := storer.RouteRequests(ctx, s.Condor, mode, requests)
	if err != nil {
		return err
	}
	if len(r.Pelican) == 0 && len(r.Skipped) == 0 {
		return errVaultRun
	}
	verbose := slices.Contains(flags, "-v") || slices.Contains(flags, "-d")
	for _, sk := range r.Skipped {
		if verbose {
			fmt.Fprintf(s.Stderr, "%s: skipping %s: %s\n", s.Prog, sk[0], sk[1])
		}
	}
	if len(r.Pelican) > 0 {
		p := &storer.Pelican{Prog: s.Prog, Condor: s.Condor, Getenv: env.Getenv, Stderr: s.Stderr, Stdin: os.Stdin, Verbose: verbose}
		if err := p.Store(ctx, r.Pelican); err != nil {
			return err
		}
	}
	if len(r.Vault) > 0 {
		return s.Run(ctx, append(flags, r.Vault...))
	}
	return nil
}
