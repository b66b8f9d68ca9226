// Command benchclient measures gettoken's client fast paths against the
// real stack and prints a report: the median wall time of gettoken with a
// valid vault token (one Vault read), of curl doing that same single HTTPS
// GET, and of gettoken's local reuse of the bearer token on disk (no
// request at all), all timed by hyperfine in one run, with the ratios.
// Start-up cost is measured side by side with the program in ./minimal (a
// Go program that links net/http and prints a line), built with the same
// flags as the Makefile builds gettoken: gettoken --version and the local
// reuse against it.
//
// Goals: gettoken within 1.3x of curl; local reuse under 5 ms; gettoken
// --version and --reuse-bearer within 1.25x of the minimal program.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vaultcred/gettoken/integration/stack"
)

var storerBench bool

func main() {
	bin := flag.String("bin", "", "directory holding the gettoken binary (required)")
	runs := flag.Int("runs", 40, "hyperfine runs per command")
	flag.BoolVar(&storerBench, "storer", true, "also benchmark condor_vault_storer (with the HTCondor stand-ins)")
	flag.Parse()
	if err := run(*bin, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "benchclient:", err)
		os.Exit(1)
	}
}

func run(bin string, runs int) error {
	if bin == "" {
		return fmt.Errorf("-bin is required")
	}
	gettoken, err := filepath.Abs(filepath.Join(bin, "gettoken"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	minimal, err := buildMinimal(ctx)
	if err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(minimal))
	// Access tokens that outlive the benchmark, so Vault serves its cached
	// one to every run of both clients (htgettoken's minsecs=60 fast path).
	s, err := stack.Start(ctx, stack.Options{AccessTokenTTL: time.Hour})
	if err != nil {
		return err
	}
	defer s.Stop()

	dir := filepath.Join(s.Dir, "bench")
	home := filepath.Join(dir, "home")
	os.MkdirAll(filepath.Join(home, ".config", "htgettoken"), 0o700)
	vt, bt, hdr := filepath.Join(dir, "vt"), filepath.Join(dir, "bt"), filepath.Join(dir, "curl-header")

	tok, path, err := s.LoginAndStore(ctx, "default", "default", stack.Alice.Name)
	if err != nil {
		return err
	}
	files := map[string]string{
		vt:  tok + "\n",
		hdr: "X-Vault-Token: " + tok + "\n",
		filepath.Join(home, ".config", "htgettoken", "credkey-default-default"): "alice\n",
	}
	for p, content := range files {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			return err
		}
	}
	server := strings.TrimPrefix(s.Vault.Addr, "https://")
	gt := fmt.Sprintf("%s -a %s --cafile %s --vaulttokenfile %s -o %s --nokerberos --nossh", gettoken, server, s.Certs.CAFile, vt, bt)
	env := append(os.Environ(), "HOME="+home)
	// One run of each gettoken form first: the bearer file and the reuse
	// record exist before timing starts.
	for _, args := range []string{gt, gt + " --reuse-bearer"} {
		cmd := exec.Command("sh", "-c", args)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", args, err, out)
		}
	}
	curl := fmt.Sprintf("curl -sSf --cacert %s -H @%s -o /dev/null %s/v1/%s?minimum_seconds=60", s.Certs.CAFile, hdr, s.Vault.Addr, path)
	cmds := []command{
		{"curl (one HTTPS GET)", curl},
		{"gettoken (valid vault token, one read)", gt},
		{"gettoken --reuse-bearer (no request)", gt + " --reuse-bearer"},
		{"minimal Go program (links net/http)", minimal},
		{"gettoken --version", gettoken + " --version"},
	}
	med, err := hyperfine(filepath.Join(dir, "hyperfine.json"), runs, env, cmds)
	if err != nil {
		return err
	}
	curlMs := med[cmds[0].name]
	gtMs := med[cmds[1].name]
	reuseMs := med[cmds[2].name]
	minMs := med[cmds[3].name]
	versionMs := med[cmds[4].name]
	fmt.Printf("median of %d runs each (hyperfine -N, warm-up 5), Vault on loopback TLS:\n", runs)
	for _, c := range cmds {
		fmt.Printf("  %-42s %7.2f ms\n", c.name, med[c.name])
	}
	fmt.Printf("gettoken / curl = %.2f (goal <= 1.30): %s\n", gtMs/curlMs, verdict(gtMs/curlMs <= 1.3))
	fmt.Printf("local reuse = %.2f ms (goal < 5 ms): %s; %.1fx faster than curl\n", reuseMs, verdict(reuseMs < 5), curlMs/reuseMs)
	fmt.Printf("gettoken --version / minimal = %.2f (goal <= 1.25): %s\n", versionMs/minMs, verdict(versionMs/minMs <= 1.25))
	fmt.Printf("gettoken --reuse-bearer / minimal = %.2f (goal <= 1.25): %s\n", reuseMs/minMs, verdict(reuseMs/minMs <= 1.25))
	if storerBench {
		return benchStorer(ctx, s, bin, dir, runs)
	}
	return nil
}

// buildFlags are the Makefile's BUILDFLAGS: the minimal program is built
// the way gettoken is.
var buildFlags = []string{"-trimpath", "-ldflags=-s -w"}

// buildMinimal builds ./minimal into a temporary directory and returns the
// binary's path.
func buildMinimal(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "benchclient-minimal-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "minimal")
	args := append(append([]string{"build"}, buildFlags...), "-o", bin, "github.com/vaultcred/gettoken/integration/cmd/benchclient/minimal")
	if out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("building the minimal program: %v\n%s", err, out)
	}
	return bin, nil
}

type command struct{ name, cmd string }

// hyperfine times cmds in one run (no shell, 5 warm-ups) and returns each
// command's median in milliseconds.
func hyperfine(out string, runs int, env []string, cmds []command) (map[string]float64, error) {
	args := []string{"-N", "--warmup", "5", "--runs", fmt.Sprint(runs), "--export-json", out, "--style", "none"}
	for _, c := range cmds {
		args = append(args, "-n", c.name, c.cmd)
	}
	hf := exec.Command("hyperfine", args...)
	hf.Env = env
	if b, err := hf.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("hyperfine: %v\n%s", err, b)
	}
	return stack.HyperfineMedians(out)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
