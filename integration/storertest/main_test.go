// Package storertest runs condor_vault_storer, built from the main module,
// the way condor_submit runs it: as the submitting (unprivileged) user,
// stdin closed, stdout and stderr on the user's terminal, with the
// stand-in HTCondor tools (package condor) on PATH, against the real stack.
package storertest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/integration/condor"
	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

var (
	env *harness.Env
	st  *stack.Stack
	cnd *condor.Condor
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	flag.Parse()
	if missing := stack.MissingPrereqs(); missing != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "storertest: prerequisites missing in CI: %v\n", missing)
			return 1
		}
		fmt.Fprintf(os.Stderr, "storertest: SKIPPING all tests, prerequisites missing (run make prereqs): %v\n", missing)
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var cleanup func() error
	var err error
	env, cleanup, err = harness.Setup(ctx, stack.Options{PollInterval: 1}, "condor_vault_storer")
	if err != nil {
		fmt.Fprintln(os.Stderr, "storertest:", err)
		return 1
	}
	st = env.Stack
	dir, err := os.MkdirTemp("", "condor-")
	if err == nil {
		cnd, err = condor.Start(ctx, dir, st.LogDir, map[string]string{
			"SEC_CREDENTIAL_GETTOKEN_OPTS": "-a " + env.VaultHostPort() + " --cafile " + env.CAFile,
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "storertest:", err)
		cleanup()
		return 1
	}
	code := m.Run()
	cnd.Stop()
	os.RemoveAll(dir)
	if err := cleanup(); err != nil {
		fmt.Fprintln(os.Stderr, "storertest:", err)
		code = 1
	}
	return code
}

type submitter struct{ *harness.Submitter }

func newSubmitter(t *testing.T) *submitter { return &submitter{env.NewSubmitter(t, cnd)} }

func (s *submitter) top(name string) string               { return s.File(name + ".top") }
func (s *submitter) vt(service string) string             { return s.VTFile(service) }
func (s *submitter) bt(suffix string) string              { return s.BTFile(suffix) }
func (s *submitter) storer(args ...string) harness.Result { return s.Storer(args...) }
func (s *submitter) storerTTY(account string, args ...string) harness.Result {
	return s.StorerTTY(account, args...)
}
