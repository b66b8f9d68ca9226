package krbcache

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vaultcred/gettoken/integration/condor"
	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

var (
	env *harness.Env
	cnd *condor.Condor
	// kcms are the running KCM servers by name ("heimdal", "sssd").
	kcms = map[string]*KCMServer{}
	// kcmMissing says why KCM tests cannot run (outside CI only).
	kcmMissing string
)

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, "krbcache", &env, stack.Options{PollInterval: 1}, setup,
		"gettoken", "condor_vault_storer", "cred_producer_krb"))
}

func setup(e *harness.Env) (func(), error) {
	dir, err := os.MkdirTemp("", "krbcache-")
	if err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o755)
	cnd, err = condor.Start(context.Background(), filepath.Join(dir, "condor"), e.Stack.LogDir, map[string]string{
		"SEC_CREDENTIAL_GETTOKEN_OPTS": "-a " + e.VaultHostPort() + " --cafile " + e.CAFile,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	stop := func() {
		for _, k := range kcms {
			k.Stop()
		}
		cnd.Stop()
		os.RemoveAll(dir)
	}
	if err := startKCMs(dir, e); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

func startKCMs(dir string, e *harness.Env) error {
	var missing []string
	for _, p := range []string{HeimdalKCM, SSSDKCM} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		missing = append(missing, "unshare")
	}
	if os.Getuid() != 0 {
		missing = append(missing, "root (to run the KCM daemons in mount namespaces)")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") == "true" {
			return fmt.Errorf("KCM prerequisites missing in CI: %v", missing)
		}
		kcmMissing = fmt.Sprintf("KCM prerequisites missing (run make prereqs): %v", missing)
		return nil
	}
	for _, name := range []string{"heimdal", "sssd"} {
		k, err := StartKCM(dir, name, e.Stack.LogDir, e.Krb5Conf)
		if err != nil {
			return err
		}
		kcms[name] = k
	}
	return nil
}
