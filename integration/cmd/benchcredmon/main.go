// Command benchcredmon measures condor_credmon_vault against the real
// Vault with 20 ms of round-trip latency in between (a delaying proxy, as a
// remote Vault has) and prints a report: the first full pass over 10,000
// users' Vault .top files with the bounded pool, the same work done one
// request at a time (what HTCondor's Python credmon does), requests/s,
// peak RSS, start-up to the first CREDMON_COMPLETE, and an idle pass over
// 20,000 files with nothing due; with -metrics (the default) the first pass
// and the idle pass again with the Prometheus metrics on, as ratios.
//
// The Python original, measured this way on these machines: 227 s for the
// 10,000-user pass (44 requests/s), about 300 ms for the idle pass, 29.6
// MiB peak RSS, 0.47 s to the first CREDMON_COMPLETE. Goals: the pool at
// least 10x the sequential pass, the idle pass under 50 ms, peak RSS no
// more than 30 MiB, start-up under 0.1 s.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultcred/gettoken/integration/stack"
)

func main() {
	bin := flag.String("bin", "", "directory holding condor_credmon_vault (required)")
	users := flag.Int("users", 10000, "number of users, each with one Vault .top")
	creds := flag.Int("creds", 100, "distinct credentials in Vault the .top files point at")
	seq := flag.Bool("sequential", true, "also time the pass with one request at a time (takes minutes)")
	metrics := flag.Bool("metrics", true, "also time the pass and the idle pass with the Prometheus metrics on")
	flag.Parse()
	if err := run(*bin, *users, *creds, *seq, *metrics); err != nil {
		fmt.Fprintln(os.Stderr, "benchcredmon:", err)
		os.Exit(1)
	}
}

func run(bin string, users, ncreds int, sequential, metrics bool) error {
	if bin == "" {
		return fmt.Errorf("-bin is required")
	}
	credmon, err := filepath.Abs(filepath.Join(bin, "condor_credmon_vault"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{AccessTokenTTL: time.Hour})
	if err != nil {
		return err
	}
	defer s.Stop()
	token, paths, err := setupVault(ctx, s, ncreds)
	if err != nil {
		return err
	}
	proxy, err := stack.StartLatencyProxy(fmt.Sprintf("127.0.0.1:%d", s.Vault.Port), 10*time.Millisecond)
	if err != nil {
		return err
	}
	defer proxy.Close()
	port := strings.TrimPrefix(proxy.Addr, "127.0.0.1:")
	creddir := filepath.Join(s.Dir, "oauth_credentials")
	if err := makeCredDir(creddir, users, token, "https://localhost:"+port, paths); err != nil {
		return err
	}
	b := &bench{credmon: credmon, creddir: creddir, ca: s.Certs.CAFile, logDir: s.LogDir}

	fmt.Printf("%d users, one Vault .top each (%d distinct credentials), Vault behind a %v RTT proxy\n", users, ncreds, 2*proxy.Delay)
	full, rss, err := b.firstPass(ctx, 0)
	if err != nil {
		return err
	}
	fmt.Printf("  first full pass, pool (default size)   %8.2f s  %7.0f requests/s\n", full.Seconds(), float64(users)/full.Seconds())
	fmt.Printf("  peak RSS during that pass               %8.1f MiB (goal <= 30)\n", float64(rss)/1024)

	idle, err := b.idlePasses(ctx, 11)
	if err != nil {
		return err
	}
	fmt.Printf("  idle pass, %d files, nothing due        %8.1f ms median (goal < 50)\n", 2*users, float64(idle.Microseconds())/1000)
	if metrics {
		b.metrics = true
		fullM, _, err := b.firstPass(ctx, 0)
		if err != nil {
			return err
		}
		idleM, err := b.idlePasses(ctx, 11)
		if err != nil {
			return err
		}
		b.metrics = false
		fmt.Printf("  the same with metrics on: first pass    %8.2f s  (%.3fx; goal < 1.05)\n", fullM.Seconds(), fullM.Seconds()/full.Seconds())
		fmt.Printf("  the same with metrics on: idle pass     %8.1f ms (%.3fx; goal < 1.05)\n", float64(idleM.Microseconds())/1000, idleM.Seconds()/idle.Seconds())
	}
	start, err := b.startups(ctx, 5)
	if err != nil {
		return err
	}
	fmt.Printf("  start-up to the first CREDMON_COMPLETE  %8.1f ms median (goal < 100)\n", float64(start.Microseconds())/1000)
	if sequential {
		seqT, _, err := b.firstPass(ctx, 1)
		if err != nil {
			return err
		}
		fmt.Printf("  first full pass, one at a time          %8.2f s  %7.0f requests/s\n", seqT.Seconds(), float64(users)/seqT.Seconds())
		fmt.Printf("  pool / sequential speed-up              %8.1fx (goal >= 10)\n", seqT.Seconds()/full.Seconds())
	}
	fmt.Println("  Python original (same set-up, measured earlier): 227 s pass (44 requests/s), ~300 ms idle pass, 29.6 MiB, 0.47 s start-up")
	return nil
}

// setupVault makes a read-only token for the benchmark's credentials and
// stores a refresh token (from one real device login) under ncreds paths.
func setupVault(ctx context.Context, s *stack.Stack, ncreds int) (string, []string, error) {
	admin := s.Vault.Admin
	if err := admin.Sys().PutPolicyWithContext(ctx, "bench", `path "secret/oauth/creds/default/*" { capabilities = ["read"] }
path "auth/token/lookup-self" { capabilities = ["read"] }`); err != nil {
		return "", nil, err
	}
	sec, err := s.Login(ctx, "default", "default", stack.Alice.Name)
	if err != nil {
		return "", nil, err
	}
	rt := sec.Auth.Metadata["oauth2_refresh_token"]
	var paths []string
	for i := 0; i < ncreds; i++ {
		p := fmt.Sprintf("secret/oauth/creds/default/bench%d:default", i)
		if _, err := admin.Logical().WriteWithContext(ctx, p, map[string]any{"server": "default", "refresh_token": rt}); err != nil {
			return "", nil, err
		}
		paths = append(paths, p)
	}
	tok, err := admin.Auth().Token().CreateWithContext(ctx, &vaultapi.TokenCreateRequest{Policies: []string{"bench"}, TTL: "24h", NoDefaultPolicy: true})
	if err != nil {
		return "", nil, err
	}
	return tok.Auth.ClientToken, paths, nil
}

// makeCredDir writes <dir>/user<i>/default.top as the credd would.
func makeCredDir(dir string, users int, token, base string, paths []string) error {
	if err := os.MkdirAll(dir, 0o770); err != nil {
		return err
	}
	os.Chmod(dir, 0o770|os.ModeSetgid)
	for i := 0; i < users; i++ {
		ud := filepath.Join(dir, fmt.Sprintf("user%d", i))
		if err := os.Mkdir(ud, 0o700); err != nil {
			return err
		}
		top := fmt.Sprintf("{\n  \"vault_token\": \"%s\",\n  \"vault_url\": \"%s/v1/%s\"\n}\n", token, base, paths[i%len(paths)])
		if err := os.WriteFile(filepath.Join(ud, "default.top"), []byte(top), 0o600); err != nil {
			return err
		}
	}
	return nil
}

type bench struct {
	credmon, creddir, ca, logDir string
	// metrics: run the credmon with its Prometheus endpoint on.
	metrics bool
}

// start runs the credmon; concurrency 0 leaves its default.
func (b *bench) start(concurrency int) (*exec.Cmd, error) {
	cmd := exec.Command(b.credmon, "-c", b.creddir, "-l", filepath.Join(b.logDir, "bench-credmon.log"))
	cmd.Env = []string{"PATH=/usr/bin:/bin", "_CONDOR_AUTH_SSL_CLIENT_CAFILE=" + b.ca}
	if concurrency > 0 {
		cmd.Env = append(cmd.Env, "_CONDOR_CREDMON_MAX_CONCURRENT_REFRESHES="+strconv.Itoa(concurrency))
	}
	if b.metrics {
		cmd.Env = append(cmd.Env, "_CONDOR_CREDMON_METRICS_ADDRESS=127.0.0.1:0")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, cmd.Start()
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// waitComplete waits for CREDMON_COMPLETE to be created or touched.
func (b *bench) waitComplete(w *fsnotify.Watcher, cmd *exec.Cmd, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case ev := <-w.Events:
			if filepath.Base(ev.Name) == "CREDMON_COMPLETE" && ev.Op&(fsnotify.Create|fsnotify.Write|fsnotify.Chmod) != 0 {
				return nil
			}
		case err := <-w.Errors:
			return err
		case <-t.C:
			return fmt.Errorf("no CREDMON_COMPLETE after %v", timeout)
		}
	}
}

func (b *bench) watcher() (*fsnotify.Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return w, w.Add(b.creddir)
}

// removeUse deletes every .use so that the next pass refreshes everything.
func (b *bench) removeUse() error {
	m, err := filepath.Glob(filepath.Join(b.creddir, "*", "*.use"))
	if err != nil {
		return err
	}
	for _, f := range m {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	return nil
}

// firstPass times a start with no .use: the first CREDMON_COMPLETE comes
// after every credential was refreshed. It returns the time and peak RSS
// (KiB).
func (b *bench) firstPass(ctx context.Context, concurrency int) (time.Duration, int64, error) {
	if err := b.removeUse(); err != nil {
		return 0, 0, err
	}
	os.Remove(filepath.Join(b.creddir, "CREDMON_COMPLETE"))
	w, err := b.watcher()
	if err != nil {
		return 0, 0, err
	}
	defer w.Close()
	t0 := time.Now()
	cmd, err := b.start(concurrency)
	if err != nil {
		return 0, 0, err
	}
	defer stop(cmd)
	if err := b.waitComplete(w, cmd, 20*time.Minute); err != nil {
		return 0, 0, err
	}
	d := time.Since(t0)
	rss := vmHWM(cmd.Process.Pid)
	m, _ := filepath.Glob(filepath.Join(b.creddir, "*", "*.use"))
	if n, want := len(m), countDirs(b.creddir); n != want {
		return 0, 0, fmt.Errorf("after the first pass %d .use files, want %d (see %s)", n, want, filepath.Join(b.logDir, "bench-credmon.log"))
	}
	return d, rss, nil
}

func countDirs(dir string) int {
	ents, _ := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if e.IsDir() {
			n++
		}
	}
	return n
}

// idlePasses times SIGHUP-triggered passes with nothing due.
func (b *bench) idlePasses(ctx context.Context, n int) (time.Duration, error) {
	w, err := b.watcher()
	if err != nil {
		return 0, err
	}
	defer w.Close()
	cmd, err := b.start(0)
	if err != nil {
		return 0, err
	}
	defer stop(cmd)
	if err := b.waitComplete(w, cmd, time.Minute); err != nil {
		return 0, err
	}
	var ds []time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		cmd.Process.Signal(syscall.SIGHUP)
		if err := b.waitComplete(w, cmd, time.Minute); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t0))
	}
	return median(ds), nil
}

// startups times a start with every .use fresh.
func (b *bench) startups(ctx context.Context, n int) (time.Duration, error) {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		os.Remove(filepath.Join(b.creddir, "CREDMON_COMPLETE"))
		w, err := b.watcher()
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		cmd, err := b.start(0)
		if err != nil {
			w.Close()
			return 0, err
		}
		err = b.waitComplete(w, cmd, time.Minute)
		ds = append(ds, time.Since(t0))
		stop(cmd)
		w.Close()
		if err != nil {
			return 0, err
		}
	}
	return median(ds), nil
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// vmHWM is a process's peak resident set size in KiB.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
	}
	return -1
}
