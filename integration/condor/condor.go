package condor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vaultcred/gettoken/integration/stack"
)

// Condor is a running stand-in HTCondor: the three tools built into Bin,
// a configuration file, the credential directory and a condor_credd.
type Condor struct {
	// Dir is the state directory given to Start.
	Dir string
	// Bin holds condor_credd, condor_store_cred and condor_config_val.
	Bin string
	// ConfigFile is the file CONDOR_CONFIG names.
	ConfigFile string
	// CredDir is SEC_CREDENTIAL_DIRECTORY_OAUTH (root-owned, mode 02770).
	CredDir string
	// Socket is CREDD_SOCKET.
	Socket string
	// LogFile is the credd's request log (CREDD_LOG).
	LogFile string
	// Env are the environment entries a client process needs: PATH with
	// Bin first, and CONDOR_CONFIG.
	Env []string
	// Credd is the daemon process (its stdout and stderr are in
	// <logDir>/condor_credd.log).
	Credd *stack.Proc
}

// maxSocketPath is the longest path a Unix socket address holds.
const maxSocketPath = 107

// Start builds the stand-in tools into <dir>/bin, writes <dir>/condor_config
// with the defaults below overridden by knobs, creates the credential
// directory (mode 02770, owned by the caller, root in CI) and starts
// condor_credd, returning once its socket accepts connections.
//
// logDir (created if missing) receives the credd's CredLog and the
// process log condor_credd.log. Defaults: LOG = logDir, CREDD_LOG = $(LOG)/CredLog,
// CREDD_SOCKET = <dir>/credd.sock,
// SEC_CREDENTIAL_DIRECTORY_OAUTH = <dir>/oauth_credentials.
//
// dir must be searchable by every user (as must its parents, checked when
// running as root) so that an unprivileged uid can run the tools.
func Start(ctx context.Context, dir, logDir string, knobs map[string]string) (*Condor, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("condor: %w", err)
	}
	if logDir, err = filepath.Abs(logDir); err != nil {
		return nil, fmt.Errorf("condor: %w", err)
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("condor: log directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("condor: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("condor: %w", err)
	}
	if os.Geteuid() == 0 {
		if err := searchableByAll(dir); err != nil {
			return nil, err
		}
	}
	c := &Condor{
		Dir:        dir,
		Bin:        filepath.Join(dir, "bin"),
		ConfigFile: filepath.Join(dir, "condor_config"),
		CredDir:    filepath.Join(dir, "oauth_credentials"),
		Socket:     filepath.Join(dir, "credd.sock"),
		LogFile:    filepath.Join(logDir, "CredLog"),
	}
	all := map[string]string{
		"LOG":                            logDir,
		"CREDD_LOG":                      "$(LOG)/CredLog",
		"CREDD_SOCKET":                   c.Socket,
		"SEC_CREDENTIAL_DIRECTORY_OAUTH": c.CredDir,
	}
	for k, v := range knobs {
		if strings.ContainsAny(k+v, "\n\r") {
			return nil, fmt.Errorf("condor: knob %s: a value may not contain a newline", k)
		}
		all[strings.ToUpper(k)] = v
	}
	if err := writeConfig(c.ConfigFile, all); err != nil {
		return nil, err
	}
	// The paths as the tools will see them (knobs may use $(...)).
	c.Env = []string{"PATH=" + c.Bin + ":" + os.Getenv("PATH"), "CONDOR_CONFIG=" + c.ConfigFile}
	if err := c.build(ctx); err != nil {
		return nil, err
	}
	vals, err := c.configVals(ctx, "SEC_CREDENTIAL_DIRECTORY_OAUTH", "CREDD_SOCKET", "CREDD_LOG")
	if err != nil || len(vals) != 3 {
		return nil, fmt.Errorf("condor: reading back the configuration: %v", err)
	}
	c.CredDir, c.Socket, c.LogFile = vals[0], vals[1], vals[2]
	if len(c.Socket) > maxSocketPath {
		return nil, fmt.Errorf("condor: CREDD_SOCKET %s is longer than %d bytes; use a shorter state directory", c.Socket, maxSocketPath)
	}
	if err := os.MkdirAll(c.CredDir, 0o770); err != nil {
		return nil, fmt.Errorf("condor: credential directory: %w", err)
	}
	if err := os.Chmod(c.CredDir, 0o770|os.ModeSetgid); err != nil {
		return nil, fmt.Errorf("condor: credential directory: %w", err)
	}
	c.Credd, err = stack.StartProc(logDir, "condor_credd", []string{"CONDOR_CONFIG=" + c.ConfigFile}, dir,
		filepath.Join(c.Bin, "condor_credd"), "-f")
	if err != nil {
		return nil, fmt.Errorf("condor: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Credd.WaitFor(wctx, "its socket", func(ctx context.Context) error {
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		conn, err := d.DialContext(ctx, "unix", c.Socket)
		if err != nil {
			return err
		}
		return conn.Close()
	}); err != nil {
		c.Credd.Stop(time.Second)
		return nil, fmt.Errorf("condor: %w", err)
	}
	return c, nil
}

// build compiles the three commands into c.Bin (mode 0755).
func (c *Condor) build(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", c.Bin+"/", "./condor/cmd/...")
	cmd.Dir = stack.ModuleDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("condor: building the stand-in tools: %w\n%s", err, out)
	}
	if err := os.Chmod(c.Bin, 0o755); err != nil {
		return fmt.Errorf("condor: %w", err)
	}
	return nil
}

// configVals runs the built condor_config_val for knobs.
func (c *Condor) configVals(ctx context.Context, knobs ...string) ([]string, error) {
	bin := filepath.Join(c.Bin, "condor_config_val")
	cmd := exec.CommandContext(ctx, bin, knobs...)
	cmd.Env = append(os.Environ(), c.Env...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("condor_config_val: %w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("condor_config_val: %w", err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"), nil
}

// Command returns a command running one of the stand-in tools (or any
// program on c.Env's PATH) with c.Env added to the current environment.
func (c *Condor) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := name
	if !strings.Contains(name, "/") {
		if p := filepath.Join(c.Bin, name); fileExists(p) {
			path = p
		}
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), c.Env...)
	return cmd
}

// Stop stops condor_credd (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (c *Condor) Stop() error {
	if c == nil || c.Credd == nil {
		return nil
	}
	return c.Credd.Stop(5 * time.Second)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// writeConfig writes the knobs, sorted, to path (0644, via a temporary
// file and rename).
func writeConfig(path string, knobs map[string]string) error {
	names := make([]string, 0, len(knobs))
	for k := range knobs {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("# Written by integration/condor.Start for the HTCondor stand-ins.\n")
	for _, k := range names {
		fmt.Fprintf(&b, "%s = %s\n", k, knobs[k])
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("condor: writing the configuration: %w", err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("condor: writing the configuration: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("condor: writing the configuration: %w", err)
	}
	return nil
}

// searchableByAll checks that every directory from dir up to / lets other
// users through.
func searchableByAll(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("condor: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("condor: %s is not searchable by other users, so an unprivileged uid could not run the tools in %s", d, dir)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
