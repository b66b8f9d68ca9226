package faults

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/integration/stack"
)

// credSite is a credential directory of users with one Vault .top each
// (as condor_vault_storer and the credd leave them) and an old, due .use,
// served by a condor_credmon_vault running as root the way condor_master
// runs it (knobs from the environment).
type credSite struct {
	t                 *testing.T
	dir, creddir, log string
	users             []string
	old               map[string][]byte
	secrets           []string
	env               []string
	proc              *stack.Proc
	mon               *monitor
	starts            int
	wrap              []string
}

// siteOptions shape a credSite.
type siteOptions struct {
	users int
	// base is the Vault URL the .top files name (https://host:port).
	base string
	// ca is the CA file the credmon trusts (default: the stack's).
	ca string
	// concurrency is CREDMON_MAX_CONCURRENT_REFRESHES (default 4).
	concurrency int
	// fixture is the Vault content the .top files point at.
	fixture vaultFixture
	// creddir, when set, is used as the credential directory (it must
	// exist).
	creddir string
	env     []string
	// fresh makes the initial .use files not due (two hours left,
	// written now) instead of due.
	fresh bool
	// wrap is prepended to the credmon's command line (e.g. a private
	// mount namespace with its own /etc/hosts).
	wrap []string
}

func newCredSite(t *testing.T, o siteOptions) *credSite {
	t.Helper()
	if o.ca == "" {
		o.ca = env.Stack.Certs.CAFile
	}
	if o.concurrency == 0 {
		o.concurrency = 4
	}
	if o.fixture.token == "" {
		o.fixture = fix
	}
	dir, err := os.MkdirTemp("", "faults-site-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &credSite{t: t, dir: dir, creddir: o.creddir, log: filepath.Join(dir, "CredmonOauthLog"), old: map[string][]byte{},
		secrets: []string{o.fixture.token}, wrap: o.wrap}
	if s.creddir == "" {
		s.creddir = filepath.Join(dir, "oauth_credentials")
		if err := os.Mkdir(s.creddir, 0o770); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(s.creddir, 0o770|os.ModeSetgid)
	exp := time.Now().Add(5 * time.Minute).Unix()
	old := time.Now().Add(-time.Hour)
	if o.fresh {
		exp, old = time.Now().Add(2*time.Hour).Unix(), time.Now()
	}
	var later []func()
	for i := 0; i < o.users; i++ {
		u := fmt.Sprintf("user%05d", i)
		ud := filepath.Join(s.creddir, u)
		if err := os.Mkdir(ud, 0o700); err != nil {
			t.Fatal(err)
		}
		top := fmt.Sprintf("{\n  \"vault_token\": \"%s\",\n  \"vault_url\": \"%s/v1/%s\"\n}\n", o.fixture.token, o.base, o.fixture.paths[i%len(o.fixture.paths)])
		writeTop := func() {
			if err := os.WriteFile(filepath.Join(ud, "default.top"), []byte(top), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if o.fresh {
			writeTop()
		}
		use := oldToken(u, exp)
		p := filepath.Join(ud, "default.use")
		if err := os.WriteFile(p, use, 0o400); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, old, old)
		if !o.fresh {
			later = append(later, writeTop)
		}
		s.users = append(s.users, u)
		s.old[u] = use
	}
	// A .use older (ctime) than its .top is due now: the credmon goes by
	// the ctime, which only the order of the writes sets, and the file
	// system's clock is coarse: the .top files are written once it has
	// moved on from the last .use's ctime.
	if len(later) > 0 {
		last := ctime(t, s.use(s.users[len(s.users)-1]))
		probe := filepath.Join(s.creddir, ".probe")
		if !waitUntil(10*time.Second, func() bool { os.WriteFile(probe, nil, 0o600); return ctime(t, probe) > last }) {
			t.Fatal("the file system's clock does not move")
		}
		os.Remove(probe)
		for _, w := range later {
			w()
		}
	}
	s.env = append([]string{
		"PATH=/usr/bin:/bin",
		"_CONDOR_AUTH_SSL_CLIENT_CAFILE=" + o.ca,
		fmt.Sprintf("_CONDOR_CREDMON_MAX_CONCURRENT_REFRESHES=%d", o.concurrency),
	}, o.env...)
	s.mon = startMonitor(s)
	t.Cleanup(s.mon.stop)
	t.Cleanup(func() {
		if t.Failed() {
			b := readText(s.log)
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			t.Logf("credmon log (tail):\n%s", b)
		}
	})
	return s
}

// oldToken is an unsigned JWT-shaped token marking a user's old .use.
func oldToken(user string, exp int64) []byte {
	enc := base64.RawURLEncoding.EncodeToString
	h := enc([]byte(`{"alg":"none","typ":"JWT"}`))
	p := enc([]byte(fmt.Sprintf(`{"sub":"%s","exp":%d,"old":true}`, user, exp)))
	return []byte(h + "." + p + ".old-" + user + "\n")
}

// start runs the credmon (again, after a kill).
func (s *credSite) start() {
	s.t.Helper()
	s.starts++
	argv := append(append([]string{}, s.wrap...), filepath.Join(env.Bin, "condor_credmon_vault"), "-c", s.creddir, "-l", s.log)
	p, err := stack.StartProc(s.dir, fmt.Sprintf("credmon-%d", s.starts), s.env, s.dir, argv...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.proc = p
	s.t.Cleanup(func() { p.Stop(10 * time.Second) })
}

func (s *credSite) use(u string) string { return filepath.Join(s.creddir, u, "default.use") }

// count is how many log lines contain substr.
func (s *credSite) count(substr string) int { return strings.Count(readText(s.log), substr) }

// refreshes and failures are the credmon's own counts, from its log
// ("VAULT: Refreshing token user=… token=default" and the like).
func (s *credSite) refreshes() int { return s.count("Refreshing token user=") }
func (s *credSite) successes() int { return s.count("Successfully refreshed token user=") }
func (s *credSite) failures() int  { return s.count("Failed to refresh token user=") }

// waitLog waits until f() reaches n, failing when the credmon exits.
func (s *credSite) waitLog(what string, timeout time.Duration, f func() int, n int) {
	s.t.Helper()
	if !waitUntil(timeout, func() bool { return f() >= n || s.proc.Exited() }) || s.proc.Exited() {
		s.t.Fatalf("waiting for %s (%d of %d seen, credmon exited: %v)", what, f(), n, s.proc.Exited())
	}
}

// current reports whether user's .use is a new, whole, unexpired token.
func (s *credSite) current(u string) bool {
	b, err := os.ReadFile(s.use(u))
	if err != nil || bytes.Equal(b, s.old[u]) {
		return false
	}
	exp, ok := wholeToken(b)
	return ok && exp > time.Now().Unix()
}

func (s *credSite) allCurrent() bool {
	for _, u := range s.users {
		if !s.current(u) {
			return false
		}
	}
	return true
}

func (s *credSite) notCurrent() int {
	n := 0
	for _, u := range s.users {
		if !s.current(u) {
			n++
		}
	}
	return n
}

// waitRecovered waits until every credential is current and returns how
// long that took from since.
func (s *credSite) waitRecovered(since time.Time, timeout time.Duration) time.Duration {
	s.t.Helper()
	if !waitUntil(timeout, func() bool { return s.allCurrent() || s.proc.Exited() }) || s.proc.Exited() {
		s.t.Fatalf("%d of %d credentials not current %v after the fault ended (credmon exited: %v)",
			s.notCurrent(), len(s.users), timeout, s.proc.Exited())
	}
	return time.Since(since)
}

// wholeToken reports whether b is exactly one JWT line, and its exp.
func wholeToken(b []byte) (int64, bool) {
	if len(b) == 0 || b[len(b)-1] != '\n' || bytes.Count(b, []byte("\n")) != 1 {
		return 0, false
	}
	parts := strings.Split(strings.TrimSpace(string(b)), ".")
	if len(parts) != 3 || parts[2] == "" {
		return 0, false
	}
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return 0, false
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(p, &c) != nil || c.Exp == 0 {
		return 0, false
	}
	return c.Exp, true
}

// finish checks the invariants once the scenario is over and returns the
// lost and partial counts for the table: no .use was ever missing or
// partial (the monitor), no temporary file is left, every .use is
// root-owned 0400, no token is in the logs, nothing crashed, and the
// credmon is the one started (no restart needed) unless restarts says
// otherwise.
func (s *credSite) finish(restarts int) (lost, partial int) {
	s.t.Helper()
	s.mon.stop()
	lost, partial = len(s.mon.lost), len(s.mon.partial)
	if lost > 0 {
		s.t.Errorf("%d .use files went missing (e.g. %s)", lost, s.mon.example(s.mon.lost))
	}
	if partial > 0 {
		s.t.Errorf("%d .use files were seen partial (e.g. %s)", partial, s.mon.example(s.mon.partial))
	}
	for _, u := range s.users {
		ents, err := os.ReadDir(filepath.Join(s.creddir, u))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if n := e.Name(); n != "default.top" && n != "default.use" {
				partial++
				s.t.Errorf("left behind: %s/%s", u, n)
			}
		}
		if fi, err := os.Stat(s.use(u)); err == nil && (fi.Mode().Perm() != 0o400 || fi.Sys().(*syscall.Stat_t).Uid != 0) {
			s.t.Errorf("%s: mode %v uid %d, want 0400 root", s.use(u), fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid)
		}
	}
	if s.proc.Exited() {
		s.t.Errorf("the credmon exited (status %d)", s.proc.ExitCode())
	}
	if s.starts != restarts+1 {
		s.t.Errorf("the credmon was started %d times", s.starts)
	}
	texts := map[string]string{"the credmon log": readText(s.log)}
	for i := 1; i <= s.starts; i++ {
		texts[fmt.Sprintf("the credmon's output (start %d)", i)] = readText(filepath.Join(s.dir, fmt.Sprintf("credmon-%d.log", i)))
	}
	noPanic(s.t, texts)
	noSecrets(s.t, append(s.secrets, s.mon.tokens()...), texts)
	return lost, partial
}

// monitor reads every .use of a site every 50 ms while a scenario runs,
// recording any that is missing or not one whole token, and the tokens
// seen (which must then appear in no log).
type monitor struct {
	s       *credSite
	mu      sync.Mutex
	lost    map[string]bool
	partial map[string]bool
	seen    map[string]bool
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func startMonitor(s *credSite) *monitor {
	m := &monitor{s: s, lost: map[string]bool{}, partial: map[string]bool{}, seen: map[string]bool{},
		quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			m.check()
			select {
			case <-m.quit:
				m.check()
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *monitor) check() {
	for _, u := range m.s.users {
		b, err := os.ReadFile(m.s.use(u))
		m.mu.Lock()
		switch {
		case err != nil:
			m.lost[u] = true
		case bytes.Equal(b, m.s.old[u]):
		default:
			if _, ok := wholeToken(b); !ok {
				m.partial[u] = true
			} else if len(m.seen) < 200 {
				m.seen[strings.TrimSpace(string(b))] = true
			}
		}
		m.mu.Unlock()
	}
}

func (m *monitor) stop() {
	m.once.Do(func() { close(m.quit) })
	<-m.done
}

func (m *monitor) tokens() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for t := range m.seen {
		out = append(out, t)
	}
	return out
}

func (m *monitor) example(set map[string]bool) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for u := range set {
		return u
	}
	return ""
}

// startProxy puts a proxy with one-way delay in front of the stack's
// Vault, able to answer errors with the Vault's own certificate.
func startProxy(t *testing.T, target string, oneWay time.Duration) *stack.LatencyProxy {
	t.Helper()
	p, err := stack.StartLatencyProxy(target, oneWay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.EnableTLS(env.Stack.Certs); err != nil {
		t.Fatal(err)
	}
	return p
}

func vaultTarget() string { return fmt.Sprintf("127.0.0.1:%d", env.Stack.Vault.Port) }

func proxyBase(p *stack.LatencyProxy) string {
	return "https://localhost:" + p.Addr[strings.LastIndexByte(p.Addr, ':')+1:]
}

func ctime(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Ctim.Nano()
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}
