package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/integration/condor"
	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

// client is a program run by a user against Vault through a proxy.
type client struct {
	name string
	// run runs it once through the proxy at hostport.
	run func(t *testing.T) harness.Result
	// files are the token files it keeps; each must stay whole, and the
	// ones in keep must survive a failed run unchanged.
	files, keep []string
	// secrets are the tokens that must appear in no output.
	secrets func() []string
	// logs are extra logs to scan for tokens.
	logs []string
	// complaint checks a failed run's output (default oneClearLine).
	complaint func(*testing.T, harness.Result)
}

// storerComplaint: the storer keeps the original's failure format (the
// step's progress lines, one "htgettoken: " line with the cause, its own
// line and the hint to run with -v); exactly one cause line.
func storerComplaint(t *testing.T, r harness.Result) {
	t.Helper()
	if n := strings.Count(r.Stderr, "\nhtgettoken: ") + strings.Count(r.Stdout, "\nhtgettoken: "); n != 1 {
		t.Errorf("want exactly one htgettoken: cause line, got %d:\n%v", n, r)
	}
}

// oneClearLine checks a failed run's complaint: exactly one line on
// standard error (no stack trace, no repetition) that names a cause, and
// nothing half-written.
func oneClearLine(t *testing.T, r harness.Result) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(r.Stderr), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Errorf("a failed run must say why in one line, got %d:\n%v", len(lines), r)
	}
}

// clientFault runs c through a proxy for each fault: once with the fault
// injected before the run, once with it injected while the run is in
// flight (the proxy slowed to 100 ms each way so that the run is still
// talking to Vault), then once after it ended, which must succeed.
func clientFault(t *testing.T, c client, p *stack.LatencyProxy, f vaultFault) {
	before := map[string]string{}
	for _, k := range c.keep {
		before[k] = readText(k)
	}
	var runs, fails int
	var outs []harness.Result
	check := func(r harness.Result) {
		runs++
		outs = append(outs, r)
		if r.Code != 0 {
			fails++
			if c.complaint != nil {
				c.complaint(t, r)
			} else {
				oneClearLine(t, r)
			}
			for _, k := range c.keep {
				if readText(k) != before[k] {
					t.Errorf("%s changed after a failed run", k)
				}
			}
		}
	}
	ended := false
	end := func() {
		if !ended {
			ended = true
			f.end(t, p)
		}
	}
	t.Cleanup(end)

	// Mid-run: start the run through a slow proxy and inject the fault
	// as soon as the program has connected.
	p.SetDelay(100 * time.Millisecond)
	accepted := p.Accepted()
	res := make(chan harness.Result, 1)
	go func() { res <- c.run(t) }()
	if !waitUntil(30*time.Second, func() bool { return p.Accepted() > accepted }) {
		t.Fatal("the program never connected to Vault")
	}
	f.inject(t, p)
	check(<-res)
	if f.fails {
		p.SetDelay(0) // (a slow Vault's fault is the delay itself)
	}
	// Fault in place before the run.
	check(c.run(t))
	if f.fails && fails == 0 {
		t.Errorf("no run failed during the fault:\n%v", outs[len(outs)-1])
	}
	end()
	t0 := time.Now()
	r := c.run(t)
	rec := time.Since(t0)
	runs++
	outs = append(outs, r)
	if r.Code != 0 {
		t.Errorf("the first run after the fault failed:\n%v", r)
		fails++
	}
	partial := 0
	for _, fp := range c.files {
		if b, err := os.ReadFile(fp); err == nil {
			if strings.Count(string(b), "\n") > 1 || (len(b) > 0 && !strings.HasSuffix(string(b), "\n") && !strings.HasPrefix(string(b), "{")) {
				partial++
				t.Errorf("%s is not one whole token", fp)
			}
		}
	}
	texts := map[string]string{}
	for i, o := range outs {
		texts[fmt.Sprintf("run %d's output", i+1)] = o.Stdout + o.Stderr
	}
	for _, l := range c.logs {
		texts[l] = readText(l)
	}
	noPanic(t, texts)
	noSecrets(t, c.secrets(), texts)
	record(t, row{Scenario: c.name + ": " + f.name + " mid-run", Requests: runs, Failures: fails, Partial: partial,
		Recovery: rec, Note: "the next run, whole"})
}

// TestGettokenVaultFaults runs gettoken (a user with a vault token, no
// terminal, as in a batch job) through each Vault fault.
func TestGettokenVaultFaults(t *testing.T) {
	for _, f := range vaultFaults() {
		t.Run(f.name, func(t *testing.T) {
			p := startProxy(t, vaultTarget(), 0)
			u := env.NewUser(t)
			if r := u.OIDC(stack.Alice.Name, true, "gettoken", "--web-open-command="); r.Code != 0 {
				t.Fatalf("login:\n%v", r)
			}
			bt := filepath.Join(u.Run, fmt.Sprintf("bt_u%d", env.UID))
			port := p.Addr[strings.LastIndexByte(p.Addr, ':')+1:]
			c := client{name: "gettoken",
				run: func(t *testing.T) harness.Result {
					os.Remove(bt) // make it ask Vault
					return u.Exec("gettoken", "", "-a", "localhost:"+port)
				},
				files: []string{bt, u.VT}, keep: []string{u.VT},
				secrets: func() []string { return []string{readText(u.VT), readText(bt)} },
			}
			clientFault(t, c, p, f)
		})
	}
}

// TestStorerVaultFaults runs condor_vault_storer as condor_submit does,
// for a submitter whose vault token is stored, through each Vault fault.
func TestStorerVaultFaults(t *testing.T) {
	p := startProxy(t, vaultTarget(), 0)
	port := p.Addr[strings.LastIndexByte(p.Addr, ':')+1:]
	dir, err := os.MkdirTemp("", "faults-condor-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	// The credd lives as long as the context given to Start.
	cnd, err := condor.Start(context.Background(), dir, env.Stack.LogDir, map[string]string{
		"SEC_CREDENTIAL_GETTOKEN_OPTS": "-a localhost:" + port + " --cafile " + env.CAFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cnd.Stop() })
	for _, f := range vaultFaults() {
		t.Run(f.name, func(t *testing.T) {
			p.SetFault(stack.Fault{})
			p.SetDelay(0)
			s := env.NewSubmitter(t, cnd)
			if r := s.StorerTTY(stack.Alice.Name, "default"); r.Code != 0 {
				t.Fatalf("first store:\n%v", r)
			}
			top := s.File("default.top")
			c := client{name: "condor_vault_storer",
				run: func(t *testing.T) harness.Result {
					os.Remove(s.BTFile("default"))
					return s.Storer("default")
				},
				files: []string{s.VTFile("default"), s.BTFile("default")}, keep: []string{s.VTFile("default"), top},
				secrets: func() []string {
					return []string{readText(s.VTFile("default")), readText(s.BTFile("default")), topToken(readText(top))}
				},
				logs:      []string{cnd.LogFile},
				complaint: storerComplaint,
			}
			clientFault(t, c, p, f)
		})
	}
}

// topToken is the vault_token in a .top.
func topToken(top string) string {
	const k = `"vault_token": "`
	i := strings.Index(top, k)
	if i < 0 {
		return ""
	}
	rest := top[i+len(k):]
	if j := strings.IndexByte(rest, '"'); j > 0 {
		return rest[:j]
	}
	return ""
}
