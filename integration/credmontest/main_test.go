// Package credmontest runs condor_credmon_vault, built from the main
// module, as condor_master runs it (as root, knobs through the stand-in
// condor_config_val, the credd stand-in signalling the pid in
// <creddir>/pid), against the real stack, with the storer writing the
// .top files through condor_store_cred as in production.
package credmontest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/integration/condor"
	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

var (
	env *harness.Env
	// accessTTL is the IdP's access token lifetime here: short, so that
	// refreshes happen within a test.
	accessTTL = 30 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, "credmontest", &env, stack.Options{PollInterval: 1, AccessTokenTTL: accessTTL}, nil,
		"condor_vault_storer", "condor_credmon_vault", "condor_credmon_vault_keygen"))
}

// site is one access point: HTCondor stand-ins with their own credential
// directory, and a credmon running on it.
type site struct {
	t      *testing.T
	condor *condor.Condor
	proc   *stack.Proc
	log    string
	env    []string
}

// newSite starts the HTCondor stand-ins with knobs (added to the
// defaults) and a credmon, with extra environment entries.
func newSite(t *testing.T, knobs map[string]string, extraEnv ...string) *site {
	t.Helper()
	dir, err := os.MkdirTemp("", "condor-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	all := map[string]string{
		"SEC_CREDENTIAL_GETTOKEN_OPTS": "-a " + env.VaultHostPort() + " --cafile " + env.CAFile + " --minsecs=10",
		"AUTH_SSL_CLIENT_CAFILE":       env.CAFile,
		// Vault's tokens here live 30 s: ask for 10 s, refresh at 5 s left.
		"CREDMON_OAUTH_TOKEN_MINIMUM": "10",
		"CREDMON_OAUTH_LOG":           filepath.Join(dir, "CredmonOauthLog"),
	}
	for k, v := range knobs {
		all[k] = v
	}
	c, err := condor.Start(t.Context(), dir, env.Stack.LogDir, all)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	s := &site{t: t, condor: c, log: all["CREDMON_OAUTH_LOG"], env: extraEnv}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(s.log)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("credmon log:\n%s", b)
		}
	})
	s.start()
	return s
}

func (s *site) start() {
	s.t.Helper()
	complete := filepath.Join(s.condor.CredDir, "CREDMON_COMPLETE")
	w := watch(s.t, s.condor.CredDir)
	p, err := stack.StartProc(env.Stack.LogDir, "credmon-"+filepath.Base(s.condor.Dir), append(append([]string{}, s.condor.Env...), s.env...), s.condor.Dir,
		filepath.Join(env.Bin, "condor_credmon_vault"))
	if err != nil {
		s.t.Fatal(err)
	}
	s.proc = p
	s.t.Cleanup(func() { p.Stop(5 * time.Second) })
	w.WaitFor(s.t, 10*time.Second, "the first CREDMON_COMPLETE", func() bool { return exists(complete) }, p)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// watch watches dirs for the tests' waits (harness.Watcher).
func watch(t *testing.T, dirs ...string) *harness.Watcher { return harness.Watch(t, dirs...) }

// logLines returns the credmon log's lines containing substr.
func (s *site) logLines(substr string) []string {
	f, err := os.Open(s.log)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// watch watches the credential directory tree and the log's directory.
func (s *site) watch() *harness.Watcher {
	return watch(s.t, s.condor.CredDir, filepath.Dir(s.log))
}

func (s *site) hup() {
	if err := syscall.Kill(s.proc.Pid(), syscall.SIGHUP); err != nil {
		s.t.Fatal(err)
	}
}

// userDir is the credd's directory for the test uid.
func (s *site) userDir() string {
	return filepath.Join(s.condor.CredDir, fmt.Sprintf("u%d", env.UID))
}
