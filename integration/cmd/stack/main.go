// Command stack runs the real test stack in the foreground for `make demo`:
// a Vault server configured like htvault-config, an MIT KDC, slapd and the
// OpenID provider, all on loopback with state in a temporary directory. It
// prints how to point a client at the stack, walks through one device-flow
// login through the IdP's own pages, and stops everything on Ctrl-C.
//
// Without a terminal (a CI shell, "ssh host make demo", an editor's task
// runner) nobody can log in through a browser, so the login is approved
// at the IdP's test route by itself, as -auto does, and it says so. The
// state directory is removed on every exit it can see: Ctrl-C, SIGTERM,
// SIGHUP (the terminal or ssh session went away), an error, and the death
// of the parent process (make or go run killed). A directory left by a
// demo killed with SIGKILL is removed by the next demo.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/vaultcred/gettoken/integration/stack"
)

// pidFile marks a state directory made by this command, with its pid.
const pidFile = "demo.pid"

func main() {
	port := flag.Int("port", 8200, "Vault TLS port (0: any free port)")
	dir := flag.String("dir", "", "state directory (default: a new temporary directory, removed on exit)")
	auto := flag.Bool("auto", false, "approve the demo login at the IdP's test route instead of waiting for a browser")
	noLogin := flag.Bool("nologin", false, "skip the demo login; just run the stack")
	bin := flag.String("bin", "", "directory of the gettoken binaries: the demo login runs gettoken from there")
	flag.Parse()

	// make or go run killed: this process is told with SIGTERM, and cleans
	// up as for any SIGTERM.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	sweepStaleDirs()
	if !*auto && !*noLogin && !term.IsTerminal(int(os.Stdin.Fd())) {
		fmt.Println("No terminal: the demo login is approved at the IdP's test route by itself (as with -auto).")
		fmt.Println("Run `make demo` from a terminal to log in through the IdP's pages yourself.")
		*auto = true
	}
	if err := run(ctx, *dir, *port, *auto, *noLogin, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, port int, auto, noLogin bool, bin string) error {
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	s, err := stack.Start(startCtx, stack.Options{Dir: dir, VaultPort: port, Logf: func(f string, a ...any) {
		fmt.Printf(f+"\n", a...)
	}})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("stopping the stack ...")
		s.Stop()
	}()
	if dir == "" {
		if err := os.WriteFile(filepath.Join(s.Dir, pidFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
			return err
		}
	}
	fmt.Printf(`
The stack is up (%v, builds excluded). State and logs: %s

  Vault     %s   (admin: %s, root token in %s/root-token)
  CA file   %s
  IdP       %s   users alice / %s, bob / %s
  Issuers   default, cilogon   roles default, readonly
  Kerberos  realm %s; export KRB5_CONFIG=%s; kinit alice (password %s)

Point a client at it:
  export KRB5_CONFIG=%s
  htgettoken -a %s --cafile %s -i default

`, s.StartupTime.Round(time.Millisecond), s.Dir,
		s.Vault.Addr, s.Vault.AdminAddr, s.Dir, s.Certs.CAFile,
		s.IdP.URL, stack.Alice.Password, stack.Bob.Password,
		stack.Realm, s.KDC.Krb5Conf, stack.Alice.Password,
		s.KDC.Krb5Conf, strings.TrimPrefix(s.Vault.Addr, "https://"), s.Certs.CAFile)
	if err := os.WriteFile(s.Dir+"/root-token", []byte(s.Vault.RootToken+"\n"), 0o600); err != nil {
		return err
	}
	if !noLogin {
		login := demoLogin
		if bin != "" {
			login = func(ctx context.Context, s *stack.Stack, auto bool) error { return gettokenDemo(ctx, s, auto, bin) }
		}
		if err := login(ctx, s, auto); err != nil {
			return err
		}
	}
	fmt.Println("Press Ctrl-C to stop.")
	select {
	case <-ctx.Done():
	case <-anyExit(s):
		return fmt.Errorf("a stack process exited; see the logs in %s", s.LogDir)
	}
	return nil
}

// gettokenDemo runs the real client against the stack on the user's
// terminal: a first login through the IdP's pages, then a second run that
// reuses the vault token (one request), then htdecodetoken.
func gettokenDemo(ctx context.Context, s *stack.Stack, auto bool, bin string) error {
	home := filepath.Join(s.Dir, "demo-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	env := append(os.Environ(), "HOME="+home, "XDG_RUNTIME_DIR="+home, "KRB5_CONFIG="+s.KDC.Krb5Conf,
		"HTGETTOKENOPTS=-a "+strings.TrimPrefix(s.Vault.Addr, "https://")+" --cafile "+s.Certs.CAFile+" --vaulttokenfile "+filepath.Join(home, "vt"))
	gettoken := func(args ...string) error {
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "gettoken"), args...)
		cmd.Env = env
		cmd.Stdin = os.Stdin
		cmd.Stderr = os.Stderr
		if auto && !term.IsTerminal(int(os.Stdin.Fd())) {
			// With no terminal gettoken (like htgettoken) skips the OIDC
			// login; give it one so -auto works unattended.
			ptmx, tty, err := pty.Open()
			if err != nil {
				return err
			}
			defer ptmx.Close()
			defer tty.Close()
			cmd.Stdin = tty
		}
		if !auto {
			cmd.Stdout = os.Stdout
			return cmd.Run()
		}
		// Approve at the IdP's test route as soon as the code shows.
		pr, pw := io.Pipe()
		cmd.Stdout = io.MultiWriter(os.Stdout, pw)
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				if i := strings.Index(sc.Text(), "user_code="); i >= 0 {
					code := strings.TrimSpace(sc.Text()[i+len("user_code="):])
					if err := s.IdP.Approve(ctx, code, stack.Alice.Name); err == nil {
						fmt.Println("  (approved as alice through the IdP's test route)")
					}
				}
			}
		}()
		err := cmd.Run()
		pw.Close()
		return err
	}
	fmt.Println("$ gettoken -i default        # first run: log in through the IdP's pages as alice / " + stack.Alice.Password)
	if err := gettoken("-i", "default", "--web-open-command="); err != nil {
		return fmt.Errorf("gettoken: %w", err)
	}
	fmt.Println("\n$ gettoken -i default        # second run: the vault token is reused, one request")
	if err := gettoken("-i", "default"); err != nil {
		return fmt.Errorf("gettoken: %w", err)
	}
	fmt.Println("\n$ htdecodetoken")
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "htdecodetoken"))
	cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("htdecodetoken: %w", err)
	}
	fmt.Println()
	return nil
}

// demoLogin shows a device-flow login through Vault with plain API calls,
// the way htgettoken's OIDC stage does it.
func demoLogin(ctx context.Context, s *stack.Stack, auto bool) error {
	c, err := s.Vault.Client(s.Certs, "")
	if err != nil {
		return err
	}
	loginCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	d, err := stack.StartDeviceLogin(loginCtx, c, "default", "default")
	if err != nil {
		return err
	}
	fmt.Printf("Demo login (issuer default, role default) through the IdP's pages:\n  open %s\n  log in as alice / %s and approve.\n", d.AuthURL, stack.Alice.Password)
	if auto {
		if err := s.IdP.Approve(loginCtx, d.UserCode, stack.Alice.Name); err != nil {
			return err
		}
		fmt.Println("  (approved through the IdP's test route)")
	}
	sec, err := d.Wait(loginCtx)
	if err != nil {
		return fmt.Errorf("demo login: %w", err)
	}
	credkey := sec.Auth.Metadata["credkey"]
	c.SetToken(sec.Auth.ClientToken)
	path := "secret/oauth/creds/default/" + credkey + ":default"
	if _, err := c.Logical().WriteWithContext(loginCtx, path, map[string]any{
		"server": "default", "refresh_token": sec.Auth.Metadata["oauth2_refresh_token"],
	}); err != nil {
		return fmt.Errorf("store refresh token: %w", err)
	}
	r, err := c.Logical().ReadWithDataWithContext(loginCtx, path, map[string][]string{"minimum_seconds": {"60"}})
	if err != nil || r == nil {
		return fmt.Errorf("read %s: %v", path, err)
	}
	tok, _ := r.Data["access_token"].(string)
	fmt.Printf("Logged in: credkey %q, vault token valid %s; access token from %s/v1/%s has claims:\n  %s\n\n",
		credkey, time.Duration(sec.Auth.LeaseDuration)*time.Second, s.Vault.Addr, path, jwtClaims(tok))
	return nil
}

// jwtClaims returns a JWT's payload (not the token itself) for display.
func jwtClaims(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "(not a JWT)"
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "(undecodable)"
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return "(undecodable)"
	}
	out, _ := json.Marshal(m)
	return string(out)
}

// sweepStaleDirs removes the state directories of earlier demos that
// were killed too hard to clean up (SIGKILL): temporary gettoken-stack-*
// directories holding this command's pid file whose process is gone.
// Directories of test runs (no pid file) and of live demos are left alone.
func sweepStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "gettoken-stack-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, pidFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			fmt.Printf("removing %s, left by a demo that was killed\n", d)
			os.RemoveAll(d)
		}
	}
}

func anyExit(s *stack.Stack) <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	for _, p := range s.Procs() {
		go func() {
			<-p.Done()
			once.Do(func() { close(ch) })
		}()
	}
	return ch
}
