package htcondor

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// call records one run of a fake tool.
type call struct {
	name     string
	args     []string
	stdin    []byte
	deadline time.Duration // time left on the context when called; 0: none
}

// reply is what a fake tool answers.
type reply struct {
	stdout, stderr string
	code           int
	err            error
}

// fake is a scripted Runner / StdinRunner that records its calls.
type fake struct {
	mu      sync.Mutex
	calls   []call
	respond func(args []string, stdin []byte) reply
}

func (f *fake) runInput(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, []byte, int, error) {
	c := call{name: name, args: append([]string(nil), args...)}
	if stdin != nil {
		c.stdin = append([]byte{}, stdin...)
	}
	if d, ok := ctx.Deadline(); ok {
		c.deadline = time.Until(d)
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	r := f.respond(args, stdin)
	return []byte(r.stdout), []byte(r.stderr), r.code, r.err
}

func (f *fake) run(ctx context.Context, name string, args ...string) ([]byte, []byte, int, error) {
	return f.runInput(ctx, nil, name, args...)
}

// configVal emulates condor_config_val's plain query mode for values
// (keys upper case): defined values on stdout, "Not defined: KNOB" on
// stderr, exit 1 if any knob is undefined.
func configVal(values map[string]string) func([]string, []byte) reply {
	return func(args []string, _ []byte) reply {
		var out, errb strings.Builder
		code := 0
		for _, a := range args {
			if v, ok := values[strings.ToUpper(a)]; ok && v != "" {
				out.WriteString(v + "\n")
			} else {
				errb.WriteString("Not defined: " + strings.ToUpper(a) + "\n")
				code = 1
			}
		}
		return reply{stdout: out.String(), stderr: errb.String(), code: code}
	}
}

// envList returns an Environ function over kv.
func envList(kv ...string) func() []string {
	return func() []string { return kv }
}

// noEnv is an Environ without any variable.
func noEnv() []string { return []string{} }

func argsEqual(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
		t.Errorf("%s: argv = %q, want %q", what, got, want)
	}
}
