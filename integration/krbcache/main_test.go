// Package krbcache proves that gettoken, condor_vault_storer and
// cred_producer_krb use the Kerberos credentials caches EL8/EL9 users
// have: MIT kinit, run as the (unprivileged) user, fills a DIR collection,
// KEYRING:persistent:<uid>, KEYRING:user:<name>, or KCM: served by a real
// Heimdal kcm and a real sssd_kcm; the commands then renew an expired
// vault token through Vault's kerberos auth with no browser, pick the
// --kerbprincipal member of a collection, and explain an empty cache or a
// missing principal in one line.
//
// The KCM daemons run as root in private mount namespaces (Heimdal's kcm
// ignores --socket-path): a scratch directory is bind-mounted over /run
// (and, for SSSD, over its database, secrets and log directories), so the
// socket appears in the scratch directory, which clients name in
// krb5.conf's kcm_socket, and the host's real KCM socket is never touched.
package krbcache

import (
	"context"

	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"testing"

	"github.com/vaultcred/gettoken/integration/condor"
	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

var (
	env *harness.Env
	cnd *condor.Condor
	// kcms are the running KCM servers by name ("heimdal", "sssd").
	kcms = map[string]*kcmServer{}
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
			k.proc.Stop(2 * time.Second)
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

// kcmServer is one KCM daemon and the krb5.conf that points clients at it.
type kcmServer struct {
	proc *stack.Proc
	// conf is a world-readable krb5.conf list (KRB5_CONFIG value): a file
	// setting kcm_socket, then the stack's krb5.conf.
	conf string
}

const (
	heimdalKCM = "/usr/sbin/kcm"
	sssdKCM    = "/usr/libexec/sssd/sssd_kcm"
)

func startKCMs(dir string, e *harness.Env) error {
	var missing []string
	for _, p := range []string{heimdalKCM, sssdKCM} {
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
		k, err := startKCM(dir, name, e)
		if err != nil {
			return err
		}
		kcms[name] = k
	}
	return nil
}

func startKCM(base, name string, e *harness.Env) (*kcmServer, error) {
	d := filepath.Join(base, "kcm-"+name)
	run := filepath.Join(d, "run")
	for _, p := range []string{d, run, filepath.Join(d, "db"), filepath.Join(d, "secrets"), filepath.Join(d, "log")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, err
		}
		os.Chmod(p, 0o755)
	}
	sock := filepath.Join(run, ".heim_org.h5l.kcm-socket")
	var script string
	var envv []string
	switch name {
	case "heimdal":
		kconf := filepath.Join(d, "kcm.conf")
		if err := os.WriteFile(kconf, []byte("[logging]\n kcm = STDERR\n"), 0o644); err != nil {
			return nil, err
		}
		envv = []string{"KRB5_CONFIG=" + kconf}
		script = fmt.Sprintf("mount --bind %s /run && exec %s", run, heimdalKCM)
	case "sssd":
		script = fmt.Sprintf("mount --bind %[1]s/run /run && mount --bind %[1]s/db /var/lib/sss/db && "+
			"mount --bind %[1]s/secrets /var/lib/sss/secrets && mount --bind %[1]s/log /var/log/sssd && "+
			"exec %[2]s --uid 0 --gid 0 --logger=stderr -d 2", d, sssdKCM)
	}
	p, err := stack.StartProc(e.Stack.LogDir, "kcm-"+name, envv, d, "unshare", "-m", "--propagation", "private", "sh", "-c", script)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.WaitFor(ctx, "its socket", func(ctx context.Context) error {
		c, err := net.Dial("unix", sock)
		if err != nil {
			return err
		}
		return c.Close()
	}); err != nil {
		p.Stop(time.Second)
		return nil, err
	}
	conf := filepath.Join(d, "kcm-client.conf")
	if err := os.WriteFile(conf, []byte("[libdefaults]\n kcm_socket = "+sock+"\n"), 0o644); err != nil {
		p.Stop(time.Second)
		return nil, err
	}
	return &kcmServer{proc: p, conf: conf + ":" + e.Krb5Conf}, nil
}
