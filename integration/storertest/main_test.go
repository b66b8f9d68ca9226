// Package storertest runs condor_vault_storer, built from the main module,
// the way condor_submit runs it: as the submitting (unprivileged) user,
// stdin closed, stdout and stderr on the user's terminal, with the
// stand-in HTCondor tools (package condor) on PATH, against the real stack.
package storertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// submitter is a user who submits jobs: the storer's environment as
// condor_submit gives it (no HTGETTOKENOPTS), its own storer ID so its
// /tmp/vt_<ID>* files are its own, and an empty credd directory.
type submitter struct {
	*harness.User
	id string
}

func newSubmitter(t *testing.T) *submitter {
	u := env.NewUser(t)
	var env2 []string
	for _, e := range u.Environ {
		if !strings.HasPrefix(e, "HTGETTOKENOPTS=") {
			env2 = append(env2, e)
		}
	}
	b := make([]byte, 4)
	rand.Read(b)
	s := &submitter{User: u, id: "it" + hex.EncodeToString(b)}
	u.Environ = append(append(env2, cnd.Env...), "CONDOR_VAULT_STORER_ID="+s.id)
	// One uid for all tests: start each from an empty credd directory.
	os.RemoveAll(s.credDir())
	t.Cleanup(func() {
		os.RemoveAll(s.credDir())
		m, _ := filepath.Glob("/tmp/vt_" + s.id + "*")
		for _, f := range m {
			os.Remove(f)
		}
	})
	return s
}

// credDir is the user's directory in the credential directory (the
// credd names a uid without a passwd entry u<uid>).
func (s *submitter) credDir() string {
	return filepath.Join(cnd.CredDir, fmt.Sprintf("u%d", env.UID))
}

func (s *submitter) top(name string) string { return filepath.Join(s.credDir(), name+".top") }

func (s *submitter) vt(service string) string {
	if service == "" {
		return "/tmp/vt_" + s.id
	}
	return "/tmp/vt_" + s.id + "-" + service
}

func (s *submitter) bt(suffix string) string {
	p := filepath.Join(s.Run, "bt_"+s.id)
	if suffix != "" {
		p += "-" + suffix
	}
	return p
}

// storer runs condor_vault_storer without a terminal (Kerberos, ssh or
// an existing token only: DAGMan or a script).
func (s *submitter) storer(args ...string) harness.Result {
	s.T.Helper()
	return s.Exec("condor_vault_storer", "", args...)
}

// storerTTY runs it as condor_submit does on a terminal, approving the
// login at the IdP as account.
func (s *submitter) storerTTY(account string, args ...string) harness.Result {
	s.T.Helper()
	r := s.OIDC(account, false, "condor_vault_storer", args...)
	r.Stdout = strings.ReplaceAll(r.Stdout, "\r\n", "\n")
	return r
}
