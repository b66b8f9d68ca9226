// Command condor_credd is the test stand-in for HTCondor's condor_credd:
// it serves STORE_CRED for OAuth credentials (package credd) on the Unix
// socket named by the CREDD_SOCKET knob, authenticating each client by
// SO_PEERCRED. It must run as root to write root-owned credential files.
//
// Knobs (from CONDOR_CONFIG and _CONDOR_ variables): CREDD_SOCKET
// (required), SEC_CREDENTIAL_DIRECTORY_OAUTH, TRUSTED_VAULT_HOSTS,
// CRED_SUPER_USERS, UID_DOMAIN, SEC_CREDENTIAL_SWEEP_INTERVAL,
// SEC_CREDENTIAL_SWEEP_DELAY, and CREDD_LOG (default $(LOG)/CredLog, else
// stderr). SIGHUP re-reads the configuration; SIGTERM, SIGINT and SIGQUIT
// stop the daemon. The options -f and -t of HTCondor daemons are accepted
// and ignored.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/vaultcred/gettoken/integration/condor/config"
	"github.com/vaultcred/gettoken/integration/condor/credd"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "condor_credd: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	for _, a := range os.Args[1:] {
		if a != "-f" && a != "-t" {
			return fmt.Errorf("unknown option %q", a)
		}
	}
	syscall.Umask(0o022)
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	set, err := credd.SettingsFrom(cfg)
	if err != nil {
		return err
	}
	socket, ok := cfg.Get("CREDD_SOCKET")
	if !ok {
		return errors.New("CREDD_SOCKET is not defined")
	}
	logw, closeLog, err := openLog(cfg)
	if err != nil {
		return err
	}
	defer closeLog()
	srv := credd.New(set, logw)

	ln, err := listen(socket)
	if err != nil {
		return err
	}
	defer os.Remove(socket)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	go func() {
		for s := range sigs {
			if s != syscall.SIGHUP {
				srv.Logf("Got signal %v, shutting down", s)
				cancel()
				return
			}
			c, err := config.Load()
			if err == nil {
				var ns credd.Settings
				if ns, err = credd.SettingsFrom(c); err == nil {
					srv.Reconfigure(ns)
					continue
				}
			}
			srv.Logf("reconfig failed, keeping the old configuration: %v", err)
		}
	}()
	srv.Logf("condor_credd (stand-in) pid %d serving on %s, SEC_CREDENTIAL_DIRECTORY_OAUTH=%s", os.Getpid(), socket, set.CredDir)
	return srv.Serve(ctx, ln)
}

// listen binds a fresh socket under a temporary name, opens it to every
// user (0666: the credd authenticates peers itself) and only then renames
// it to socket, so a client never finds a socket it may not use.
func listen(socket string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(socket); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", socket)
		}
		if err := os.Remove(socket); err != nil {
			return nil, fmt.Errorf("removing the stale socket: %w", err)
		}
	}
	tmp := filepath.Join(filepath.Dir(socket), "."+filepath.Base(socket)+"."+strconv.Itoa(os.Getpid()))
	_ = os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", socket, err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o666); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, socket); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("renaming the socket into place: %w", err)
	}
	return ln, nil
}

// openLog opens CREDD_LOG (default $(LOG)/CredLog) for appending, or
// returns stderr when neither knob is set.
func openLog(cfg *config.Config) (io.Writer, func(), error) {
	path, ok := cfg.Get("CREDD_LOG")
	if !ok {
		dir, ok := cfg.Get("LOG")
		if !ok {
			return os.Stderr, func() {}, nil
		}
		path = filepath.Join(dir, "CredLog")
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the log: %w", err)
	}
	return f, func() { f.Close() }, nil
}
