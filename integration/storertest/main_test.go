// Package storertest runs condor_vault_storer, built from the main module,
// the way condor_submit runs it: as the submitting (unprivileged) user,
// stdin closed, stdout and stderr on the user's terminal, with the
// stand-in HTCondor tools (package condor) on PATH, against the real stack.
package storertest

import (
	"context"
	"os"
	"testing"

	"github.com/vaultcred/gettoken/integration/condor"
	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

var (
	env *harness.Env
	cnd *condor.Condor
)

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, "storertest", &env, stack.Options{PollInterval: 1}, startCondor, "condor_vault_storer"))
}

// startCondor starts the HTCondor stand-ins of the access point.
func startCondor(e *harness.Env) (func(), error) {
	dir, err := os.MkdirTemp("", "condor-")
	if err != nil {
		return nil, err
	}
	cnd, err = condor.Start(context.Background(), dir, e.Stack.LogDir, map[string]string{
		"SEC_CREDENTIAL_GETTOKEN_OPTS": "-a " + e.VaultHostPort() + " --cafile " + e.CAFile,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return func() { cnd.Stop(); os.RemoveAll(dir) }, nil
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
