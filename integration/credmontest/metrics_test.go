package credmontest

// Observability: the Prometheus endpoint (off unless configured, counts
// matching what the log says happened) and the status view.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listeners returns the TCP sockets in LISTEN state that process pid
// holds (local addresses, as /proc/net/tcp{,6} print them).
func listeners(t *testing.T, pid int) []string {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) > 9 && fs[3] == "0A" && inodes[fs[9]] {
				out = append(out, fs[1])
			}
		}
	}
	return out
}

// metricsAddr is the address the credmon logged serving metrics on.
func (s *site) metricsAddr() string {
	for _, l := range s.logLines("Serving metrics address=") {
		if m := regexp.MustCompile(`address=(\S+)`).FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	return ""
}

// scrape reads the credmon's metrics: the values of the series whose
// line starts with prefix, by their full name and labels.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q", l)
		}
		out[l[:i]] = v
	}
	return out
}

func TestMetricsOffUnlessConfigured(t *testing.T) {
	s := newSite(t, nil)
	if l := listeners(t, s.proc.Pid()); len(l) != 0 {
		t.Errorf("the credmon listens on %v without a metrics address", l)
	}
	if a := s.metricsAddr(); a != "" {
		t.Errorf("metrics served on %s", a)
	}
	on := newSite(t, map[string]string{"CREDMON_OAUTH_METRICS_ADDRESS": "0"})
	a := on.metricsAddr()
	if !strings.HasPrefix(a, "127.0.0.1:") {
		t.Fatalf("metrics address %q: a port alone must be loopback", a)
	}
	if l := listeners(t, on.proc.Pid()); len(l) != 1 {
		t.Errorf("listening sockets %v, want the metrics one", l)
	}
}

func TestMetricsMatchWhatHappened(t *testing.T) {
	s := newSite(t, map[string]string{"CREDMON_METRICS_ADDRESS": "127.0.0.1:0"})
	addr := s.metricsAddr()
	if addr == "" {
		t.Fatal("no metrics address logged")
	}
	w := s.watch()
	sub := submitted(t, s, "default")
	w.WaitFor(t, 5*time.Second, "default.use", func() bool { return exists(sub.File("default.use")) }, s.proc)
	// A refused .top (not JSON) and one for a Vault that is not there.
	dir := sub.CredDir()
	writeAtomic(t, filepath.Join(dir, "broken.top"), []byte("not json"))
	writeAtomic(t, filepath.Join(dir, "gone.top"), []byte(`{"vault_url":"https://127.0.0.1:1/v1/secret/x","vault_token":"hvs.NOTHING"}`))
	// Wait for one refresh beyond the first of default (tokens live 30 s).
	w.WaitFor(t, 60*time.Second, "a second refresh and both failures", func() bool {
		return len(s.logLines("Successfully refreshed token")) >= 2 && len(s.logLines("Not refreshing token until its .top changes")) >= 1 &&
			len(s.logLines("Failed to refresh token")) >= 1
	}, s.proc)
	// A pass completes (the states gauge is set at the end of passes).
	complete := filepath.Join(s.condor.CredDir, "CREDMON_COMPLETE")
	before, err := os.Stat(complete)
	if err != nil {
		t.Fatal(err)
	}
	s.hup()
	w.WaitFor(t, 20*time.Second, "a pass", func() bool {
		fi, err := os.Stat(complete)
		return err == nil && fi.ModTime().After(before.ModTime())
	}, s.proc)
	m := scrape(t, addr)
	ok, failed, invalid := len(s.logLines("Successfully refreshed token")), len(s.logLines("Failed to refresh token")), len(s.logLines("Not refreshing token until"))
	const d = `daemon="CREDMON_OAUTH"`
	for name, want := range map[string]int{
		`credmon_refreshes_total{` + d + `,outcome="ok",provider="VAULT"}`:      ok,
		`credmon_refreshes_total{` + d + `,outcome="failed",provider="VAULT"}`:  failed,
		`credmon_refreshes_total{` + d + `,outcome="invalid",provider="VAULT"}`: invalid,
		`credmon_errors_total{` + d + `,kind="invalid",provider="VAULT"}`:       invalid,
		`credmon_errors_total{` + d + `,kind="network",provider="VAULT"}`:       failed,
		`credmon_refresh_duration_seconds_count{` + d + `,provider="VAULT"}`:    ok + failed + invalid,
		`credmon_credentials{` + d + `,state="failing"}`:                        1,
		`credmon_credentials{` + d + `,state="backing_off"}`:                    1,
	} {
		// Another refresh may finish between the scrape and the log read.
		if got := m[name]; got != float64(want) && !(strings.Contains(name, "ok") && got == float64(want-1)) {
			t.Errorf("%s = %v, want %d (from the log)", name, got, want)
		}
	}
	if m[`credmon_inotify_events_total{`+d+`}`] < 2 {
		t.Errorf("inotify events %v, want at least the two .top files", m[`credmon_inotify_events_total{`+d+`}`])
	}
	if m[`credmon_pass_duration_seconds_count{`+d+`,pass="deep"}`] < 1 {
		t.Error("no deep pass counted")
	}
	if n := m[`credmon_next_refresh_seconds{`+d+`}`]; n < 0 || n > 60 {
		t.Errorf("next refresh in %v s", n)
	}
}

// fakeJWT is an unsigned JWT-shaped token expiring at exp, with marker in
// its payload.
func fakeJWT(exp time.Time, marker string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(fmt.Sprintf(`{"exp":%d,"sub":"%s"}`, exp.Unix(), marker))) + ".c2ln"
}

type statusDoc struct {
	Pass        uint64 `json:"pass"`
	Credentials []struct {
		User, Name, Provider, State string
		UseExpiry                   *time.Time `json:"use_expiry"`
		NextRefresh                 *time.Time `json:"next_refresh"`
		Failures                    int
		LastError                   string `json:"last_error"`
		ErrorKind                   string `json:"error_kind"`
	} `json:"credentials"`
}

func TestStatusOfAThousandUsers(t *testing.T) {
	s := newSite(t, map[string]string{"CREDMON_OAUTH_TOKEN_MINIMUM": "2400"})
	if err := s.proc.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	root := s.condor.CredDir
	os.Remove(filepath.Join(root, "CREDMON_COMPLETE"))
	os.Remove(filepath.Join(root, "CREDMON_STATUS")) // the first run's
	exp := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	const users = 1000
	want := map[string]string{}
	for i := range users {
		u := fmt.Sprintf("user%04d", i)
		dir := filepath.Join(root, u)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		top := fmt.Sprintf(`{"vault_url":"https://127.0.0.1:1/v1/secret/oauth/creds/x","vault_token":"hvs.SECRET%04d"}`, i)
		switch {
		case i < 900: // a fresh .use: nothing to do
			writeAtomic(t, filepath.Join(dir, "dune.top"), []byte(top))
			writeAtomic(t, filepath.Join(dir, "dune.use"), []byte(fakeJWT(exp, fmt.Sprintf("TOKEN%04d", i))+"\n"))
			want[u] = "fresh"
		case i < 950: // refused until it changes
			writeAtomic(t, filepath.Join(dir, "dune.top"), []byte("SECRET-not-json"))
			want[u] = "failing"
		default: // Vault unreachable: backing off
			writeAtomic(t, filepath.Join(dir, "dune.top"), []byte(top))
			want[u] = "backing_off"
		}
	}
	s.start()
	statusPath := filepath.Join(root, "CREDMON_STATUS")
	w := s.watch()
	w.WaitFor(t, 10*time.Second, "the status file", func() bool { return exists(statusPath) }, s.proc)
	if fi, err := os.Stat(statusPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("status file: %v %v", fi, err)
	}
	bin := filepath.Join(env.Bin, "condor_credmon_vault")
	out, err := exec.Command(bin, "-c", root, "status", "--json").Output()
	if err != nil {
		t.Fatalf("status --json: %v", err)
	}
	table, err := exec.Command(bin, "-c", root, "status").CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, table)
	}
	for _, b := range [][]byte{out, table} {
		if bytes.Contains(b, []byte("SECRET")) || bytes.Contains(b, []byte("hvs.")) || bytes.Contains(b, []byte(fakeJWT(exp, "TOKEN0000")[:20])) {
			t.Fatal("token text in the status output")
		}
	}
	var doc statusDoc
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Credentials) != users {
		t.Fatalf("%d credentials listed, want %d", len(doc.Credentials), users)
	}
	for _, c := range doc.Credentials {
		if c.Name != "dune" || c.Provider != "VAULT" || c.State != want[c.User] {
			t.Errorf("%s/%s: %s %s, want %s", c.User, c.Name, c.Provider, c.State, want[c.User])
			continue
		}
		switch c.State {
		case "fresh":
			if c.UseExpiry == nil || !c.UseExpiry.Equal(exp) || c.NextRefresh == nil || !c.NextRefresh.Before(exp) || c.NextRefresh.Before(time.Now()) {
				t.Errorf("%s: expiry %v next %v, want expiry %v", c.User, c.UseExpiry, c.NextRefresh, exp)
			}
		case "failing":
			if c.ErrorKind != "invalid" || !strings.Contains(c.LastError, "could not parse as JSON") {
				t.Errorf("%s: %s %q", c.User, c.ErrorKind, c.LastError)
			}
		case "backing_off":
			if c.Failures != 1 || c.ErrorKind != "network" || c.NextRefresh == nil {
				t.Errorf("%s: failures %d kind %s next %v", c.User, c.Failures, c.ErrorKind, c.NextRefresh)
			}
		}
	}
	if !bytes.Contains(table, []byte("1000 credentials: 900 fresh, 50 backing_off, 50 failing")) || bytes.Count(table, []byte("\n")) != users+2 {
		t.Errorf("table:\n%.1500s", table)
	}
	// Not for other users.
	u := env.NewUser(t)
	if r := u.Exec(bin, "", "-c", root, "status"); r.Code != 1 || !strings.Contains(r.Stderr, "run it as root") {
		t.Errorf("status as a user:\n%v", r)
	}
}
