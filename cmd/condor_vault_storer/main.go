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
// It also answers to the newer name condor_credential_storer, for
// CONDOR_CREDENTIAL_STORER_MODE=vault (or unset); other modes are refused.
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
	if prog == "condor_credential_storer" {
		if mode := env.Getenv("CONDOR_CREDENTIAL_STORER_MODE"); mode != "" && mode != "vault" {
			fmt.Fprintf(stderr, "\n%s: CONDOR_CREDENTIAL_STORER_MODE=%s is not served by this storer, which stores Vault credentials only (mode vault)\n", prog, mode)
			return 1
		}
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
	err := s.Run(ctx, args)
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
