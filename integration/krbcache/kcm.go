package krbcache

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/vaultcred/gettoken/integration/stack"
)

// Where Debian's KCM servers are installed.
const (
	HeimdalKCM = "/usr/sbin/kcm"
	SSSDKCM    = "/usr/libexec/sssd/sssd_kcm"
)

// KCMServer is one KCM daemon, run as root in a private mount namespace,
// and the krb5.conf list that points clients at it.
type KCMServer struct {
	proc *stack.Proc
	// Conf is a KRB5_CONFIG value: a file setting kcm_socket, then the
	// given krb5.conf. Both are world-readable.
	Conf string
	// Socket is the server's socket path.
	Socket string
}

// StartKCM starts the KCM server name ("heimdal" or "sssd") with its files
// under base/kcm-<name> and its log in logDir. Heimdal's kcm ignores
// --socket-path and SSSD wants its database directories, so a scratch
// directory is bind-mounted over /run (and, for SSSD, over
// /var/lib/sss/db, /var/lib/sss/secrets and /var/log/sssd) in a mount
// namespace of the daemon's own: the socket shows up in the scratch
// directory, and the host's real KCM socket and data are never touched.
func StartKCM(base, name, logDir, krb5Conf string) (*KCMServer, error) {
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
		script = fmt.Sprintf("mount --bind %s /run && exec %s", run, HeimdalKCM)
	case "sssd":
		script = fmt.Sprintf("mount --bind %[1]s/run /run && mount --bind %[1]s/db /var/lib/sss/db && "+
			"mount --bind %[1]s/secrets /var/lib/sss/secrets && mount --bind %[1]s/log /var/log/sssd && "+
			"exec %[2]s --uid 0 --gid 0 --logger=stderr -d 2", d, SSSDKCM)
	default:
		return nil, fmt.Errorf("unknown KCM server %q", name)
	}
	p, err := stack.StartProc(logDir, "kcm-"+name, envv, d, "unshare", "-m", "--propagation", "private", "sh", "-c", script)
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
	return &KCMServer{proc: p, Conf: conf + ":" + krb5Conf, Socket: sock}, nil
}

// Stop stops the daemon.
func (k *KCMServer) Stop() { k.proc.Stop(2 * time.Second) }
