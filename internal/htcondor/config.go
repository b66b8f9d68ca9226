package htcondor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// DefaultConfigCommand is the tool Config runs.
const DefaultConfigCommand = "condor_config_val"

// configDirs are searched for condor_config_val after $PATH.
var configDirs = []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin"}

// envPrefix starts the name of an environment variable that overrides a
// configuration knob (matched case-insensitively).
const envPrefix = "_CONDOR_"

// ErrInvalidKnob is matched by the error Get returns for a knob name that
// HTCondor would not accept.
var ErrInvalidKnob = errors.New("invalid HTCondor configuration knob name")

// Options configure a Config. Every field is optional.
type Options struct {
	// LookupEnv looks up one environment variable (PATH, and _CONDOR_
	// overrides when Environ is nil). nil: the process environment.
	LookupEnv func(string) (string, bool)
	// Environ lists the environment as "NAME=value" strings and is used
	// to match _CONDOR_<KNOB> overrides case-insensitively. When nil and
	// LookupEnv is set, overrides are looked up only under the spellings
	// _CONDOR_<knob>, _CONDOR_<KNOB>, _condor_<knob> and _condor_<knob in
	// lower case>; when both are nil, os.Environ is used.
	Environ func() []string
	// Command is the condor_config_val to run: a name searched on PATH and
	// then /usr/bin, /usr/sbin, /bin, /sbin, or a path. Default
	// "condor_config_val".
	Command string
	// Runner runs the command. Default: Exec{LookupEnv, those dirs}.Run.
	Runner Runner
	// Timeout bounds each run of the command. Default DefaultTimeout.
	Timeout time.Duration
}

// Config reads HTCondor configuration knobs: _CONDOR_ environment
// overrides first, then condor_config_val. The zero value is usable and
// behaves like New(Options{}).
type Config struct {
	opts Options
}

// New returns a Config using opts.
func New(opts Options) *Config {
	return &Config{opts: opts}
}

// ConfigError reports that condor_config_val failed or gave output that
// could not be interpreted. Its message carries stderr, never stdout
// (configuration values).
type ConfigError struct {
	// Command is the command that was run.
	Command string
	// Knobs are the knobs asked for.
	Knobs []string
	// ExitCode is the command's exit status.
	ExitCode int
	// Stderr is the command's captured standard error.
	Stderr []byte
	// Reason says what was wrong with the output, if the status was fine.
	Reason string
}

// Error describes the failure in one line.
func (e *ConfigError) Error() string {
	msg := fmt.Sprintf("%s %s: exit status %d", e.Command, strings.Join(e.Knobs, " "), e.ExitCode)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if s := summarize(e.Stderr, nil); s != "" {
		msg += ": " + s
	}
	return msg
}

func (c *Config) command() string {
	if c.opts.Command != "" {
		return c.opts.Command
	}
	return DefaultConfigCommand
}

func (c *Config) runner() Runner {
	if c.opts.Runner != nil {
		return c.opts.Runner
	}
	return Exec{LookupEnv: c.opts.LookupEnv, ExtraDirs: configDirs}.Run
}

func (c *Config) timeout() time.Duration {
	if c.opts.Timeout > 0 {
		return c.opts.Timeout
	}
	return DefaultTimeout
}

// validKnob reports whether k is a name condor_config_val takes as a knob
// and never as an option or keyword.
func validKnob(k string) bool {
	if k == "" || strings.EqualFold(k, "use") {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// envOverride returns the _CONDOR_ override of knob, if any.
func (c *Config) envOverride(knob string, environ []string) (string, bool) {
	if environ != nil {
		val, found := "", false
		for _, kv := range environ {
			name, v, ok := strings.Cut(kv, "=")
			if !ok || len(name) <= len(envPrefix) {
				continue
			}
			if strings.EqualFold(name[:len(envPrefix)], envPrefix) && strings.EqualFold(name[len(envPrefix):], knob) {
				val, found = v, true // the last match wins
			}
		}
		return val, found
	}
	lower := strings.ToLower(envPrefix)
	for _, name := range []string{envPrefix + knob, envPrefix + strings.ToUpper(knob), lower + knob, lower + strings.ToLower(knob)} {
		if v, ok := c.opts.LookupEnv(name); ok {
			return v, true
		}
	}
	return "", false
}

func (c *Config) environ() []string {
	switch {
	case c.opts.Environ != nil:
		env := c.opts.Environ()
		if env == nil {
			env = []string{}
		}
		return env
	case c.opts.LookupEnv != nil:
		return nil
	default:
		return os.Environ()
	}
}

// Get returns the values of knobs, keyed by each knob exactly as given.
// Undefined knobs (and knobs defined as empty) are absent. Environment
// overrides are applied first; the remaining knobs are asked of
// condor_config_val in one invocation (see the package documentation for
// the exact contract). Errors: a name that is not a valid knob
// (ErrInvalidKnob), the tool missing (ErrNotInstalled), a *ConfigError, or
// the context's error.
func (c *Config) Get(ctx context.Context, knobs ...string) (map[string]string, error) {
	for _, k := range knobs {
		if !validKnob(k) {
			return nil, fmt.Errorf("%w: %q", ErrInvalidKnob, k)
		}
	}
	out := make(map[string]string, len(knobs))
	environ := c.environ()
	var ask []string
	asked := map[string]bool{}
	overridden := map[string]bool{}
	for _, k := range knobs {
		if v, ok := c.envOverride(k, environ); ok {
			overridden[k] = true
			if v = strings.TrimSpace(v); v != "" {
				out[k] = v
			}
			continue
		}
		if u := strings.ToUpper(k); !asked[u] {
			asked[u] = true
			ask = append(ask, k)
		}
	}
	if len(ask) == 0 {
		return out, nil
	}
	vals, err := c.query(ctx, ask)
	if err != nil {
		return nil, err
	}
	for _, k := range knobs {
		if overridden[k] {
			continue
		}
		if v, ok := vals[strings.ToUpper(k)]; ok && v != "" {
			out[k] = v
		}
	}
	return out, nil
}

// run runs the command once with its own timeout.
func (c *Config) run(ctx context.Context, knobs []string) ([]byte, []byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	stdout, stderr, code, err := c.runner()(ctx, c.command(), knobs...)
	if err != nil {
		return nil, nil, code, fmt.Errorf("reading HTCondor configuration: %w", err)
	}
	return stdout, stderr, code, nil
}

// notDefined returns the upper-cased knobs that stderr reports as
// "Not defined: KNOB".
func notDefined(stderr []byte) map[string]bool {
	nd := map[string]bool{}
	for _, l := range strings.Split(string(stderr), "\n") {
		l = strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(l, "Not defined:"); ok {
			if name := strings.TrimSpace(rest); name != "" {
				nd[strings.ToUpper(name)] = true
			}
		}
	}
	return nd
}

// splitLines splits stdout into lines without their "\n" or "\r\n"; a
// final newline does not start another line.
func splitLines(s []byte) []string {
	if len(s) == 0 {
		return nil
	}
	str := strings.TrimSuffix(string(s), "\n")
	lines := strings.Split(str, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// query asks condor_config_val for knobs (distinct case-insensitively) and
// returns the defined values keyed by upper-cased knob.
func (c *Config) query(ctx context.Context, knobs []string) (map[string]string, error) {
	stdout, stderr, code, err := c.run(ctx, knobs)
	if err != nil {
		return nil, err
	}
	nd := notDefined(stderr)
	if code != 0 && code != 1 || code == 1 && len(nd) == 0 {
		return nil, &ConfigError{Command: c.command(), Knobs: knobs, ExitCode: code, Stderr: stderr}
	}
	var defined []string
	for _, k := range knobs {
		if !nd[strings.ToUpper(k)] {
			defined = append(defined, k)
		}
	}
	vals := make(map[string]string, len(defined))
	switch lines := splitLines(stdout); {
	case len(defined) == 0:
	case len(defined) == 1:
		vals[strings.ToUpper(defined[0])] = strings.TrimSpace(string(stdout))
	case len(lines) == len(defined):
		for i, k := range defined {
			vals[strings.ToUpper(k)] = strings.TrimSpace(lines[i])
		}
	default:
		// A multi-line value (or stray output): ask one knob at a time.
		for _, k := range defined {
			v, ok, err := c.queryOne(ctx, k)
			if err != nil {
				return nil, err
			}
			if ok {
				vals[strings.ToUpper(k)] = v
			}
		}
	}
	return vals, nil
}

// queryOne asks condor_config_val for one knob; its whole stdout is the
// value.
func (c *Config) queryOne(ctx context.Context, knob string) (string, bool, error) {
	stdout, stderr, code, err := c.run(ctx, []string{knob})
	if err != nil {
		return "", false, err
	}
	switch {
	case code == 0:
		return strings.TrimSpace(string(stdout)), true, nil
	case code == 1 && notDefined(stderr)[strings.ToUpper(knob)]:
		return "", false, nil
	default:
		return "", false, &ConfigError{Command: c.command(), Knobs: []string{knob}, ExitCode: code, Stderr: stderr}
	}
}
