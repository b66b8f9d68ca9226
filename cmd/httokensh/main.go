// Command httokensh runs a command (by default the user's shell) with
// $BEARER_TOKEN_FILE set to a bearer token that it keeps fresh in the
// background until the command exits. It replaces htgettoken 2.6's bash
// script of the same name.
//
//	Usage: httokensh [-h|--help] gettoken-options -- [command [args...]]
//
// The options before "--" are gettoken's (htgettoken's), read together with
// $HTGETTOKENOPTS and an -s optserver exactly as gettoken reads them. At
// least one must be given on the command line itself. httokensh then:
//
//  1. picks the token file: the -o/--outfile given, else $BEARER_TOKEN_FILE,
//     else ${XDG_RUNTIME_DIR:-/tmp}/bt_u<euid>.sh-<pid>, and exports it to
//     the command as $BEARER_TOKEN_FILE;
//  2. without --vaulttokenfile, keeps the vault token in
//     /tmp/vt_u<euid>.sh-<md5 of the options joined by spaces and a
//     newline>, so that sessions started with the same options share it;
//  3. without --vaulttokenttl or --vaulttokenminttl, asks for a vault token
//     with at least 6 days left (--vaulttokenminttl=6d): the vault token is
//     not renewed, so a session lasts about 6 days;
//  4. gets the tokens as gettoken does, interactively if needed (OIDC on
//     the terminal);
//  5. runs the command, and in the background, --minsecs (default 60)
//     seconds before the bearer token expires, gets a new one with the
//     same options but verbose, without --vaulttokenminttl, and with
//     --nooidc --nokerberos --nossh (only the stored vault token is used).
//     The renewals are logged to $BEARER_TOKEN_FILE.log; "Renewal log is
//     at $BEARER_TOKEN_FILE.log" says so on stderr;
//  6. when the command exits, stops renewing, removes the token file and
//     the log, and exits with the command's status. The vault token is
//     kept.
//
// While the command runs, SIGINT and SIGQUIT are left to it (a shell's
// Ctrl-C reaches the command, not httokensh); SIGTERM and SIGHUP sent to
// httokensh are passed on to the command, and httokensh exits once it has.
//
// # Differences from the bash original
//
//   - The renewals run in-process, through the same library as gettoken,
//     instead of a background shell loop re-running htgettoken and
//     htdecodetoken; no background process can outlive the command.
//   - Options are recognised however gettoken accepts them (abbreviations,
//     "--opt value", in $HTGETTOKENOPTS or the optserver file), not only
//     in the exact forms "--minsecs=N" and "--vaulttokenfile=...".
//   - The command sees $BEARER_TOKEN_FILE pointing at the file the token is
//     written to even when both $BEARER_TOKEN_FILE and -o were given.
//   - -h prints the help on stdout and exits 0.
//   - When the renewal fails, its log is kept so that the message
//     "Renewal background process failed, see <log>" can be followed.
package main

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vaultcred/gettoken/internal/jwtdecode"
	"github.com/vaultcred/gettoken/internal/optparse"
	"github.com/vaultcred/gettoken/vaultcred"
)

// prog is the name in messages.
const prog = "httokensh"

// Exit statuses of httokensh itself. Once the command has run, httokensh
// exits with the command's status (128+N when signal N killed it), unless
// the renewal failed.
const (
	exitOK = 0
	// exitFailed: a usage error (no "--", no options), a token whose
	// expiry cannot be read or is too close, a command that cannot be
	// started, or a renewal that failed while the command ran.
	exitFailed = 1
	// exitUsage: a usage error in the gettoken options, as gettoken.
	exitUsage = 2
	// Failures to get the first token exit with gettoken's status: 1
	// (fatal) or 2 (usage error in the gettoken options).
	exitSignalBase = 128
)

// Renewal constants of the original.
const (
	// vaultTokenMinTTL is the vault token lifetime asked for when neither
	// --vaulttokenttl nor --vaulttokenminttl is given.
	vaultTokenMinTTL = 6 * 24 * time.Hour
	// renewSlack is added to the renewal time (exp - minsecs + slack), so
	// that the token left then has less than --minsecs and Vault gives a
	// new one.
	renewSlack = 2 * time.Second
	// firstMinWait and laterMinWait are the least renewal waits accepted
	// for the first and later tokens; shorter means --minsecs is too close
	// to the token lifetime, and renewing would loop.
	firstMinWait = 1 * time.Second
	laterMinWait = 60 * time.Second
)

// usageText is the help; the gettoken options follow it.
const usageText = `Usage: httokensh [-h|--help] gettoken-options -- [command [args...]]

Runs command (default $SHELL) with $BEARER_TOKEN_FILE set to a bearer token
that is renewed in the background --minsecs seconds before it expires, until
the command exits; then removes the token and exits with the command's status.
The gettoken options (at least one; $HTGETTOKENOPTS is read too) are those
of gettoken/htgettoken, with other defaults: the token file is
${XDG_RUNTIME_DIR:-/tmp}/bt_u<uid>.sh-<pid> unless -o or $BEARER_TOKEN_FILE
says otherwise, the vault token file /tmp/vt_u<uid>.sh-<hash of the options>,
and --vaulttokenminttl=6d unless a vault token lifetime is given. Renewals
use only the stored vault token and are logged to $BEARER_TOKEN_FILE.log.
Exit status: the command's (128+N if signal N killed it); 1 for a usage
error, a renewal that failed, or a token without a usable expiry; gettoken's
status when the first token cannot be had.
`

func main() {
	os.Exit(run(os.Args[1:], vaultcred.SystemEnviron(), os.Stdout, os.Stderr))
}

// Help returns the full help: the usage text and gettoken's options.
func help(p *optparse.Parser) string {
	h := p.Help()
	if _, opts, ok := strings.Cut(h, "\nOptions:\n"); ok {
		h = opts
	}
	return usageText + "\ngettoken options:\n" + h
}

// parser returns the gettoken option parser under httokensh's name.
func parser(env vaultcred.Environ) *optparse.Parser {
	return optparse.HTGetToken(prog, vaultcred.DefaultCAFile(env))
}

// splitArgs separates the gettoken options from the command.
func splitArgs(args []string) (opts, command []string, help, ok bool) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:], false, true
		}
		if a == "-h" || a == "--help" {
			return nil, nil, true, false
		}
	}
	return nil, nil, false, false
}

func run(args []string, env vaultcred.Environ, stdout, stderr io.Writer) int {
	p := parser(env)
	gtArgs, command, wantHelp, ok := splitArgs(args)
	switch {
	case wantHelp:
		io.WriteString(stdout, help(p))
		return exitOK
	case !ok:
		fmt.Fprintf(stderr, "%s: No -- separator given\n%s", prog, usageText)
		return exitFailed
	case len(gtArgs) == 0:
		fmt.Fprintf(stderr, "%s: No htgettoken options given\n%s", prog, usageText)
		return exitFailed
	}
	if len(command) == 0 {
		sh := env.Getenv("SHELL")
		if sh == "" {
			sh = "/bin/sh"
		}
		command = []string{sh}
	}

	// Ctrl-C while getting the first token (an OIDC login) ends httokensh.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	s, code, ok := setup(ctx, p, gtArgs, env, stdout, stderr)
	stop()
	if !ok {
		return code
	}
	return s.run(command, stderr)
}

// setup loads the options, applies httokensh's defaults and gets the first
// token. ok false means exit with code.
func setup(ctx context.Context, p *optparse.Parser, gtArgs []string, env vaultcred.Environ, stdout, stderr io.Writer) (s *session, code int, ok bool) {
	opts, err := optparse.Load(ctx, p, gtArgs, optparse.Sources{
		Env: env,
		HTTPClient: func(o *vaultcred.Options) (*http.Client, error) {
			return vaultcred.NewHTTPClient(vaultcred.HTTPClientConfig{
				TLS: vaultcred.TLSConfig{CAFile: o.CAFile, CAPath: o.CAPath},
			}), nil
		},
		Log: stderr,
	})
	if err == nil {
		applyDefaults(p, opts, gtArgs, env)
		err = opts.Derive(env)
	}
	if err != nil {
		return nil, reportSetupError(p, opts, err, stderr), false
	}
	logw := stderr
	if opts.LogToStdout {
		logw = stdout
	}
	log := &vaultcred.Logger{W: logw, Quiet: opts.Quiet, Verbose: opts.Verbose, Debug: opts.Debug}
	res, err := vaultcred.Get(ctx, opts, vaultcred.Deps{
		Log: log,
		OpenURL: func(ctx context.Context, command, url string) error {
			return vaultcred.OpenURL(ctx, stdout, command, url)
		},
	})
	if err != nil {
		if !opts.Quiet {
			if opts.ShowProgress {
				fmt.Fprintln(logw)
			}
			fmt.Fprintf(stderr, "%s: %s\n", prog, err)
		}
		fmt.Fprintln(stderr, "htgettoken failed, not running command")
		return nil, exitCode(err), false
	}
	s = &session{opts: opts, env: env}
	wait, err := s.renewWait(res.BearerToken, time.Now(), firstMinWait)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v, not running command\n", prog, err)
		os.Remove(opts.OutFile)
		return nil, exitFailed, false
	}
	s.firstWait = wait
	return s, exitOK, true
}

// applyDefaults sets httokensh's defaults for what the options leave
// unset: the token file, the vault token file and the vault token's
// least lifetime.
func applyDefaults(p *optparse.Parser, opts *vaultcred.Options, gtArgs []string, env vaultcred.Environ) {
	if opts.OutFile == "" && env.Getenv("BEARER_TOKEN_FILE") == "" {
		dir := env.Getenv("XDG_RUNTIME_DIR")
		if dir == "" {
			dir = "/tmp"
		}
		opts.OutFile = fmt.Sprintf("%s/bt_u%d.sh-%d", dir, env.Euid, os.Getpid())
	}
	if opts.VaultTokenFile == "" {
		sum := md5.Sum([]byte(strings.Join(gtArgs, " ") + "\n"))
		opts.VaultTokenFile = fmt.Sprintf("/tmp/vt_u%d.sh-%x", env.Euid, sum)
	}
	if !lifetimeGiven(p, gtArgs, env) {
		opts.VaultTokenMinTTL = vaultTokenMinTTL
	}
}

// lifetimeGiven reports whether --vaulttokenttl or --vaulttokenminttl is
// set in $HTGETTOKENOPTS or the command line. (Load has already accepted
// both, so errors cannot happen here.)
func lifetimeGiven(p *optparse.Parser, gtArgs []string, env vaultcred.Environ) bool {
	envArgs, err := optparse.Split(env.Getenv(optparse.EnvOpts))
	if err != nil {
		return false
	}
	res, err := p.Parse(append(envArgs, gtArgs...))
	if err != nil {
		return false
	}
	_, ttl := res.String("vaulttokenttl")
	_, minTTL := res.String("vaulttokenminttl")
	return ttl || minTTL
}

// reportSetupError prints an option error as gettoken does and returns
// the exit status.
func reportSetupError(p *optparse.Parser, opts *vaultcred.Options, err error, stderr io.Writer) int {
	var perr *optparse.Error
	var oerr *vaultcred.OptionError
	switch {
	case errors.Is(err, optparse.ErrHelp):
		io.WriteString(stderr, help(p))
		return exitUsage
	case errors.Is(err, optparse.ErrVersion):
		fmt.Fprintf(stderr, "%s: --version is not a session option\n", prog)
		return exitUsage
	case errors.As(err, &perr):
		io.WriteString(stderr, p.FormatError(perr))
		return exitUsage
	case errors.As(err, &oerr) && oerr.Usage:
		io.WriteString(stderr, p.Prog+": "+oerr.Msg+"\n\n"+help(p))
		return exitUsage
	}
	if opts == nil || !opts.Quiet {
		fmt.Fprintf(stderr, "%s: %s\n", prog, err)
	}
	return exitCode(err)
}

// exitCode maps an error of the first token to gettoken's status: 2 for
// an option error, else 1.
func exitCode(err error) int {
	var perr *optparse.Error
	var oerr *vaultcred.OptionError
	if errors.As(err, &perr) || errors.As(err, &oerr) && oerr.Usage {
		return exitUsage
	}
	return exitFailed
}

// session is one run of the command with its renewals.
type session struct {
	opts      *vaultcred.Options
	env       vaultcred.Environ
	firstWait time.Duration
}

// renewWait returns how long to wait before renewing token at now: until
// --minsecs (minus the slack) before its expiry. It must be at least min.
func (s *session) renewWait(token string, now time.Time, min time.Duration) (time.Duration, error) {
	exp, ok := jwtdecode.Expiry(token)
	if !ok {
		return 0, errors.New("cannot read the expiry (exp) of the bearer token")
	}
	wait := exp.Sub(now) - time.Duration(s.opts.MinSecs)*time.Second + renewSlack
	wait = wait.Truncate(time.Second)
	if wait < min {
		return 0, fmt.Errorf("Calculated renewal time of %d seconds is less than %d", int64(wait/time.Second), int64(min/time.Second))
	}
	return wait, nil
}

// run starts the command and the renewals, waits for the command, cleans
// up and returns the exit status.
func (s *session) run(command []string, stderr io.Writer) int {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env = append(withoutVar(os.Environ(), "BEARER_TOKEN_FILE"), "BEARER_TOKEN_FILE="+s.opts.OutFile)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr

	logPath := s.opts.OutFile + ".log"
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		fmt.Fprintf(stderr, "%s: cannot create the renewal log: %v, not running command\n", prog, err)
		os.Remove(s.opts.OutFile)
		return exitFailed
	}
	fmt.Fprintln(stderr, "Renewal log is at $BEARER_TOKEN_FILE.log")

	// From here on the terminal's Ctrl-C and Ctrl-\ are the command's
	// (the terminal sends them to it too): httokensh catches and drops
	// them. They are caught, not ignored, because an ignored signal would
	// stay ignored in the command. SIGTERM and SIGHUP sent to httokensh
	// are passed on.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT)
	defer signal.Stop(sigs)

	if err := cmd.Start(); err != nil {
		logf.Close()
		os.Remove(logPath)
		os.Remove(s.opts.OutFile)
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return exitFailed
	}
	ctx, cancel := context.WithCancel(context.Background())
	renewDone := make(chan error, 1)
	go func() { renewDone <- s.renewLoop(ctx, logf) }()

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var waitErr error
	var renewErr error
	renewRunning := true
wait:
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGTERM || sig == syscall.SIGHUP {
				cmd.Process.Signal(sig)
			}
		case renewErr = <-renewDone:
			renewRunning = false
		case waitErr = <-waited:
			break wait
		}
	}
	cancel()
	if renewRunning {
		renewErr = <-renewDone
	}
	logf.Close()
	os.Remove(s.opts.OutFile)
	if renewErr != nil {
		fmt.Fprintf(stderr, "Renewal background process failed, see %s\n", logPath)
		return exitFailed
	}
	os.Remove(logPath)
	return commandStatus(cmd, waitErr, stderr)
}

// commandStatus returns the command's exit status, 128+N for signal N.
func commandStatus(cmd *exec.Cmd, err error, stderr io.Writer) int {
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return exitFailed
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return exitSignalBase + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// withoutVar returns environ without the variable name.
func withoutVar(environ []string, name string) []string {
	out := environ[:0:0]
	for _, kv := range environ {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// renewLoop renews the token until ctx ends. It returns nil when stopped
// by ctx, or the error that ended the renewals (logged to logw).
func (s *session) renewLoop(ctx context.Context, logw io.Writer) error {
	o := *s.opts
	o.VaultTokenMinTTL = 0
	o.Verbose, o.ShowProgress, o.Quiet = true, false, false
	o.NoOIDC, o.NoKerberos, o.NoSSH = true, true, true
	log := &vaultcred.Logger{W: logw, Verbose: true, Debug: o.Debug}
	logf := func(format string, args ...any) {
		fmt.Fprintf(logw, time.Now().Format(time.UnixDate)+": "+format+"\n", args...)
	}
	wait := s.firstWait
	for {
		logf("Renewal scheduled in %d seconds", int64(wait/time.Second))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		logf("Renewing the bearer token")
		res, err := vaultcred.Get(ctx, &o, vaultcred.Deps{Log: log})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			logf("%s: %v", prog, err)
			return err
		}
		if wait, err = s.renewWait(res.BearerToken, time.Now(), laterMinWait); err != nil {
			logf("%v, exiting", err)
			return err
		}
	}
}
