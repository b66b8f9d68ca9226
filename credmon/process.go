package credmon

// The condor_credmon_vault process: flags, configuration, log, pid
// file, signals, exit statuses.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/vaultcred/gettoken/internal/htcondor"
	"github.com/vaultcred/gettoken/internal/tokenfile"
)

// DefaultName is the daemon name when -n is not given: the master's
// CREDMON_OAUTH, which prefixes the knobs CREDMON_OAUTH_LOG,
// MAX_CREDMON_OAUTH_LOG and CREDMON_OAUTH_DEBUG.
const DefaultName = "CREDMON_OAUTH"

// Exit statuses of Main.
const (
	// ExitOK: stopped by SIGTERM, SIGINT or SIGQUIT (or -h).
	ExitOK = 0
	// ExitFailure: configuration, credential directory, pid file or
	// provider set-up failed.
	ExitFailure = 1
	// ExitUsage: bad command line (as Python's argparse).
	ExitUsage = 2
	// ExitLog: the log file cannot be opened (and -v is not given); tells
	// the condor_master about a logging error.
	ExitLog = 44
	// ExitNoRestart: a provider list names an invalid provider
	// (DAEMON_NO_RESTART: the master does not restart the daemon).
	ExitNoRestart = 99
)

// ErrCredDir is matched by the errors about an unusable credential
// directory.
var ErrCredDir = errors.New("unusable credential directory")

// ProviderEnv is what a ProviderFactory gets to build its provider.
type ProviderEnv struct {
	// Name is the daemon name (-n).
	Name string
	// CredDir is the credential directory.
	CredDir string
	// Knobs holds the HTCondor configuration; the factory's Knobs are
	// loaded already.
	Knobs *Knobs
	// Log is the daemon's logger with the provider's prefix.
	Log *slog.Logger
	// Classifier is the daemon's (provider names, local and client
	// lists); see PerName.
	Classifier *Classifier
}

// ProviderFactory builds the provider of one class at start-up.
type ProviderFactory struct {
	// Class served by the provider.
	Class Class
	// Knobs the provider reads: fetched in the daemon's one start-up
	// batch of configuration lookups.
	Knobs []string
	// New builds the provider. An error stops the daemon (exit 1).
	New func(ctx context.Context, env ProviderEnv) (Provider, error)
}

// MainOptions are Main's dependencies; the zero value is the real process.
type MainOptions struct {
	// Stdout receives -h; default os.Stdout.
	Stdout io.Writer
	// Stderr receives usage errors, start-up errors and, with -v, the
	// log; default os.Stderr.
	Stderr io.Writer
	// Config supplies the knobs; default: _CONDOR_ environment overrides
	// and condor_config_val, all knobs undefined when condor_config_val is
	// not installed.
	Config Source
	// Providers; default DefaultProviders().
	Providers []ProviderFactory
	// NoWatch disables inotify.
	NoWatch bool
	// AfterPass is passed to the Daemon (tests).
	AfterPass func(PassStats)
	// Program describes the daemon; the zero value is
	// condor_credmon_vault (VaultProgram).
	Program Program
}

// Program is what differs between the credmons built on this core: a
// second daemon passes its own Program and Providers to Main and gets the
// same process (flags, one knob batch, log, credential directory checks,
// pid file, signals, CREDMON_COMPLETE, exit statuses).
type Program struct {
	// Name is the program's name in messages when args[0] is empty.
	Name string
	// Usage is the one-line description in --help.
	Usage string
	// DefaultName is the daemon name (-n) by default: the prefix of the
	// <NAME>_LOG, MAX_<NAME>_LOG and <NAME>_DEBUG knobs.
	DefaultName string
	// CredDirKnobs name the credential directory, first defined wins
	// (-c overrides them).
	CredDirKnobs []string
}

// VaultProgram is condor_credmon_vault.
var VaultProgram = Program{
	Name:         "condor_credmon_vault",
	Usage:        "HTCondor credential monitor for Vault, OAuth, local-issuer and client-credentials tokens",
	DefaultName:  DefaultName,
	CredDirKnobs: []string{"SEC_CREDENTIAL_DIRECTORY_OAUTH", "SEC_CREDENTIAL_DIRECTORY"},
}

type mainFlags struct {
	name, credDir, logFile string
	debug, verbose         bool
}

// Main is the condor_credmon_vault process (see the package
// documentation): it parses args (args[0] is the program name), sets up
// logging, the credential directory, the pid file and the signal handlers,
// and runs the daemon until SIGTERM, SIGINT or SIGQUIT, or until ctx is
// done. It returns the exit status.
func Main(ctx context.Context, args []string, o MainOptions) int {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	pr := o.Program
	if pr.Name == "" {
		pr = VaultProgram
	}
	prog := pr.Name
	if len(args) > 0 && args[0] != "" {
		prog = filepath.Base(args[0])
	}
	fl, code, ok := parseArgs(prog, pr, args, o.Stdout, o.Stderr)
	if !ok {
		return code
	}
	if !ValidKnobName(fl.name) {
		fmt.Fprintf(o.Stderr, "%s: invalid daemon name %q: only letters, digits and _ are allowed\n", prog, fl.name)
		return ExitUsage
	}
	factories := o.Providers
	if factories == nil {
		factories = DefaultProviders()
	}

	// One batch for every static knob.
	src := o.Config
	var missing *notInstalled
	if src == nil {
		missing = &notInstalled{}
		src = defaultSource(missing)
	}
	knobs := NewKnobs(src)
	name := fl.name
	static := []string{
		name + "_LOG", "LOG", "MAX_" + name + "_LOG", "MAX_DEFAULT_LOG", name + "_DEBUG",
		knobMaxConcurrent,
	}
	static = append(static, pr.CredDirKnobs...)
	static = append(static, ClassifierKnobs...)
	for _, f := range factories {
		static = append(static, f.Knobs...)
	}
	lctx, cancel := context.WithTimeout(ctx, 2*knobTimeout)
	err := knobs.Load(lctx, static...)
	cancel()
	if err != nil {
		fmt.Fprintf(o.Stderr, "%s: %v\n", prog, err)
		return ExitFailure
	}

	logger, closeLog, code, ok := setupLogging(prog, fl, knobs, o.Stderr)
	if !ok {
		return code
	}
	defer closeLog()
	logger.Info("Starting", "program", prog, "name", name, "pid", os.Getpid())
	if missing != nil && missing.get() != nil {
		logger.Warn("Only _CONDOR_ environment settings and the command line are used", "error", missing.get())
	}

	cls, err := NewClassifier(knobs)
	if err != nil {
		logger.Error("Invalid configuration", "error", err)
		return ExitFailure
	}
	warnings, err := cls.Check()
	if err != nil {
		logger.Error("Invalid provider lists", "error", err)
		fmt.Fprintf(o.Stderr, "%s: %v\n", prog, err)
		return ExitNoRestart
	}
	for _, w := range warnings {
		logger.Warn("Provider lists", "warning", w)
	}

	dir := fl.credDir
	for _, k := range pr.CredDirKnobs {
		if dir == "" {
			dir = knobs.String(k, "")
		}
	}
	if dir == "" {
		err = fmt.Errorf("%w: none given (-c, %s)", ErrCredDir, strings.Join(pr.CredDirKnobs, " or "))
	} else {
		err = prepareCredDir(dir)
	}
	if err != nil {
		logger.Error("Unusable credential directory", "error", err)
		fmt.Fprintf(o.Stderr, "%s: %v\n", prog, err)
		return ExitFailure
	}

	providers := map[Class]Provider{}
	for _, f := range factories {
		if f.New == nil || f.Class == ClassNone || f.Class >= classCount {
			continue
		}
		if providers[f.Class] != nil {
			logger.Error("Two providers for one class", "class", f.Class.String())
			return ExitFailure
		}
		p, err := f.New(ctx, ProviderEnv{Name: name, CredDir: dir, Knobs: knobs, Log: prefixLogger(logger, f.Class.String()), Classifier: cls})
		if err != nil {
			logger.Error("Cannot set up a provider", "class", f.Class.String(), "error", err)
			return ExitFailure
		}
		providers[f.Class] = p
	}
	conc, err := knobs.Int(knobMaxConcurrent, defaultConcurrency)
	if err != nil || conc < 1 || conc > maxConcurrency {
		logger.Warn("Knob out of range: must be an integer from 1 to 1024; using the default", "knob", knobMaxConcurrent, "default", defaultConcurrency)
		conc = defaultConcurrency
	}

	d, err := New(Config{
		CredDir: dir, Providers: providers, Classifier: cls, Knobs: knobs, Log: logger,
		Concurrency: int(conc), NoWatch: o.NoWatch, AfterPass: o.AfterPass,
	})
	if err != nil {
		logger.Error("Cannot set up the daemon", "error", err)
		return ExitFailure
	}

	// As the original: signal handlers, then the pid file, then the loop.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := writePid(dir); err != nil {
		logger.Error("Cannot write the pid file", "error", err)
		fmt.Fprintf(o.Stderr, "%s: %v\n", prog, err)
		return ExitFailure
	}
	if err := os.Remove(filepath.Join(dir, completeFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		logger.Warn("Cannot remove the completion file", "file", filepath.Join(dir, completeFile), "error", err)
	}

	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(runCtx) }()
	parent := ctx.Done()
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGHUP {
				logger.Info("Got SIGHUP: Triggering READ of Credential Directory")
				d.Rescan()
				continue
			}
			logger.Info("Got a stop signal: finishing the refreshes in progress, then terminating", "signal", s.String())
			stop()
		case <-parent:
			parent = nil
			stop()
		case err := <-runErr:
			if err != nil {
				logger.Error("The daemon stopped", "error", err)
				return ExitFailure
			}
			logger.Info("Exiting")
			return ExitOK
		}
	}
}

// parseArgs parses the command line with urfave/cli. ok is false when
// Main must return code at once (-h, or a usage error).
func parseArgs(prog string, pr Program, args []string, stdout, stderr io.Writer) (fl mainFlags, code int, ok bool) {
	ran := false
	app := &cli.App{
		Name:                   prog,
		Usage:                  pr.Usage,
		HideHelpCommand:        true,
		HideVersion:            true,
		UseShortOptionHandling: true,
		Writer:                 stdout,
		ErrWriter:              stderr,
		ExitErrHandler:         func(*cli.Context, error) {},
		OnUsageError:           func(_ *cli.Context, err error, _ bool) error { return err },
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Value: pr.DefaultName, Usage: "daemon `NAME`: prefix of the knobs NAME_LOG, MAX_NAME_LOG, NAME_DEBUG", Destination: &fl.name},
			&cli.StringFlag{Name: "cred-dir", Aliases: []string{"c"}, Usage: "credential `DIR` (default " + strings.Join(pr.CredDirKnobs, ", else ") + ")", Destination: &fl.credDir},
			&cli.StringFlag{Name: "log-file", Aliases: []string{"l"}, Usage: "log `FILE` (default NAME_LOG, else $(LOG)/<CamelName>Log)", Destination: &fl.logFile},
			&cli.BoolFlag{Name: "debug", Aliases: []string{"d"}, Usage: "log debug messages", Destination: &fl.debug},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log to stderr too", Destination: &fl.verbose},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q", c.Args().First())
			}
			ran = true
			return nil
		},
	}
	if len(args) == 0 {
		args = []string{prog}
	}
	if err := app.Run(args); err != nil {
		fmt.Fprintf(stderr, "%s: %v\nusage: %s [-n NAME] [-c DIR] [-l FILE] [-d] [-v]\n", prog, err, prog)
		return fl, ExitUsage, false
	}
	if !ran {
		return fl, ExitOK, false
	}
	return fl, 0, true
}

// setupLogging opens the log: --log-file, else <NAME>_LOG, else
// $(LOG)/<CamelName>Log, rotated at MAX_<NAME>_LOG (else MAX_DEFAULT_LOG,
// else 10 MiB). -v adds stderr; without -v a log that cannot be opened is
// exit 44. With no file at all (no LOG knob either), the log goes to
// stderr.
func setupLogging(prog string, fl mainFlags, knobs *Knobs, stderr io.Writer) (*slog.Logger, func(), int, bool) {
	path := fl.logFile
	if path == "" {
		path = knobs.String(fl.name+"_LOG", "")
	}
	if path == "" {
		if dir := knobs.String("LOG", ""); dir != "" {
			path = filepath.Join(dir, camelName(fl.name)+"Log")
		}
	}
	// Notes are logged once the logger exists.
	type note struct {
		msg  string
		args []any
	}
	var notes []note
	maxLog := int64(defaultMaxLog)
	for _, k := range []string{"MAX_" + fl.name + "_LOG", "MAX_DEFAULT_LOG"} {
		if v, ok := knobs.Lookup(k); ok {
			n, err := parseSize(v)
			if err != nil {
				notes = append(notes, note{"Invalid log size; using the default", []any{"knob", k, "error", err, "default", defaultMaxLog}})
			} else {
				maxLog = n
			}
			break
		}
	}
	var ws []io.Writer
	closeLog := func() {}
	if path != "" {
		lf, err := openLog(path, maxLog)
		if err != nil {
			if !fl.verbose {
				fmt.Fprintf(stderr, "%s: cannot open the log file %s: %v\n", prog, path, err)
				return nil, nil, ExitLog, false
			}
			notes = append(notes, note{"Cannot open the log file; logging to stderr only", []any{"file", path, "error", err}})
		} else {
			ws = append(ws, lf)
			closeLog = func() { lf.Close() }
		}
	}
	if fl.verbose || len(ws) == 0 {
		ws = append(ws, stderr)
	}
	level := slog.LevelInfo
	if fl.debug || debugKnob(knobs.String(fl.name+"_DEBUG", "")) {
		level = slog.LevelDebug
	}
	logger := slog.New(NewHandler(lineWriter(ws...), level))
	if path == "" {
		notes = append(notes, note{"No log file (-l, <NAME>_LOG or LOG): logging to stderr", []any{"name", fl.name}})
	}
	for _, n := range notes {
		logger.Warn(n.msg, n.args...)
	}
	return logger, closeLog, 0, true
}

// debugKnob reports whether a <NAME>_DEBUG value asks for debug messages.
func debugKnob(v string) bool {
	for _, w := range SplitList(v) {
		w, _, _ = strings.Cut(strings.ToUpper(w), ":")
		if w == "D_FULLDEBUG" || w == "D_ALL" || w == "D_ANY" {
			return true
		}
	}
	return false
}

// prepareCredDir creates the credential directory (mode 02770) if it is
// missing and refuses one that others may read, write or search, or that
// the daemon cannot read, write and search.
func prepareCredDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("%w: creating %s: %w", ErrCredDir, dir, err)
		}
		if err := os.Mkdir(dir, 0o770|os.ModeSetgid); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: creating %s: %w", ErrCredDir, dir, err)
		}
		if err := os.Chmod(dir, 0o770|os.ModeSetgid); err != nil {
			return fmt.Errorf("%w: %w", ErrCredDir, err)
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCredDir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrCredDir, dir)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		return fmt.Errorf("%w: the credential directory %s is readable and/or writable by others (mode %04o)", ErrCredDir, dir, fi.Mode().Perm())
	}
	if err := unix.Access(dir, unix.R_OK|unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("%w: the credential directory %s is not readable, writable and searchable: %w", ErrCredDir, dir, err)
	}
	return nil
}

// writePid writes <dir>/pid: the decimal pid, no newline, atomically.
func writePid(dir string) error {
	path := filepath.Join(dir, pidFile)
	if err := tokenfile.Write(path, []byte(strconv.Itoa(os.Getpid())), tokenfile.Options{Mode: 0o644, AllowForeign: true}); err != nil {
		return fmt.Errorf("writing the pid file: %w", err)
	}
	return nil
}

// notInstalled records that condor_config_val could not be found.
type notInstalled struct{ err atomic.Pointer[error] }

func (n *notInstalled) get() error {
	if p := n.err.Load(); p != nil {
		return *p
	}
	return nil
}

// defaultSource is the production configuration: _CONDOR_ overrides and
// condor_config_val (searched on PATH, then /usr/bin, /usr/sbin, /bin,
// /sbin). When condor_config_val is missing, every knob it would be asked
// is undefined, and missing records why.
func defaultSource(missing *notInstalled) Source {
	ex := htcondor.Exec{ExtraDirs: []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin"}}
	run := func(ctx context.Context, name string, args ...string) ([]byte, []byte, int, error) {
		out, errb, code, err := ex.Run(ctx, name, args...)
		if errors.Is(err, htcondor.ErrNotInstalled) {
			missing.err.Store(&err)
			var b strings.Builder
			for _, a := range args {
				b.WriteString("Not defined: " + strings.ToUpper(a) + "\n")
			}
			return nil, []byte(b.String()), 1, nil
		}
		return out, errb, code, err
	}
	return htcondor.New(htcondor.Options{Runner: run})
}
