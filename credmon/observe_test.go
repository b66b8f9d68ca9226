package credmon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is an Observer keeping what it was told (on the daemon's
// goroutine; the tests read it after a pass).
type recorder struct {
	mu      sync.Mutex
	events  []RefreshEvent
	reports []PassReport
	states  [][]CredState
}

func (r *recorder) Refreshed(e RefreshEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) WatchEvent(bool) {}

func (r *recorder) PassComplete(p PassReport) {
	var st []CredState
	for s := range p.Creds {
		st = append(st, s)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p.Creds = nil
	r.reports = append(r.reports, p)
	r.states = append(r.states, st)
}

func (r *recorder) last() (PassReport, map[string]CredState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]CredState{}
	for _, s := range r.states[len(r.states)-1] {
		m[s.User+"/"+s.Name] = s
	}
	return r.reports[len(r.reports)-1], m
}

func (r *recorder) outcomes() map[Outcome]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[Outcome]int{}
	for _, e := range r.events {
		m[e.Outcome]++
	}
	return m
}

func TestObserverSeesOutcomesAndStates(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	h.prov[ClassVault] = vp
	rec := &recorder{}
	h.cfg.Observer = rec
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	jwt := strings.TrimSpace(string(jwtWithExp(exp.Unix())))
	vp.setAnswer(func(_ context.Context, c Cred, _ []byte) (Refreshed, error) {
		switch c.User {
		case "bad":
			return Refreshed{}, fmt.Errorf("%w: no vault_url", ErrInvalid)
		case "down":
			return Refreshed{}, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
		}
		return Refreshed{Use: []byte(jwt + "\n")}, nil
	})
	for _, u := range []string{"alice", "bob", "bad", "down"} {
		h.writeTop(u, "dune", topVault)
	}
	h.start()
	rep, st := rec.last()
	if got := rec.outcomes(); got[OutcomeOK] != 2 || got[OutcomeInvalid] != 1 || got[OutcomeFailed] != 1 {
		t.Errorf("outcomes %v", got)
	}
	if !rep.Changed || rep.Credentials != 4 || !rep.Deep {
		t.Errorf("report %+v", rep)
	}
	want := map[string]State{"alice/dune": StateFresh, "bob/dune": StateFresh, "bad/dune": StateFailing, "down/dune": StateBackingOff}
	for k, w := range want {
		if st[k].State != w {
			t.Errorf("%s: state %s, want %s", k, st[k].State, w)
		}
	}
	if a := st["alice/dune"]; !a.UseExpiry.Equal(exp) || a.Provider != "VAULT" || a.LastError != "" || a.NextRefresh.IsZero() {
		t.Errorf("alice: %+v (want expiry %v)", a, exp)
	}
	if d := st["down/dune"]; d.Failures != 1 || d.Backoff != backoffBase || !strings.Contains(d.LastError, "connection refused") {
		t.Errorf("down: %+v", d)
	}
	if k := ErrorKind("VAULT", errors.New(st["down/dune"].LastError)); k != "vault" {
		t.Errorf("kind of a plain Vault error text: %s", k)
	}
	// An idle pass (before down's retry): nothing changed.
	h.clock.Advance(10 * time.Second)
	h.rescan()
	if rep, _ := rec.last(); rep.Changed {
		t.Error("an idle pass reports a change")
	}
	// After the back-off: retried, and a change.
	h.clock.Advance(time.Minute)
	h.rescan()
	if rep, _ := rec.last(); !rep.Changed || rec.outcomes()[OutcomeFailed] != 2 {
		t.Errorf("after the back-off: changed %v, outcomes %v", rep.Changed, rec.outcomes())
	}
}

func TestErrorKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", ErrInvalid), "invalid"},
		{fmt.Errorf("x: %w", ErrDelete), "revoked"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), "timeout"},
		{&TokenEndpointError{}, "idp"},
		{&DiscoveryError{Err: errors.New("x")}, "discovery"},
		{fmt.Errorf("read: %w", &net.OpError{Op: "dial", Err: errors.New("refused")}), "network"},
		{errors.New("tls: failed to verify certificate: x509: unknown authority"), "tls"},
		{fmt.Errorf("w: %w", &os.PathError{Op: "open", Path: "/x", Err: os.ErrPermission}), "file"},
		{errors.New("read from https://v/v1/x failed: Forbidden"), "vault"},
	} {
		p := "VAULT"
		if c.want == "other" {
			p = "OAUTH"
		}
		if got := ErrorKind(p, c.err); got != c.want {
			t.Errorf("ErrorKind(%v) = %s, want %s", c.err, got, c.want)
		}
	}
	if got := ErrorKind("OAUTH", errors.New("x")); got != "other" {
		t.Errorf("other: %s", got)
	}
}

func TestStatusFileHasEveryCredentialAndNoToken(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	h.prov[ClassVault] = vp
	vp.setAnswer(func(_ context.Context, c Cred, _ []byte) (Refreshed, error) {
		if c.User == "down" {
			return Refreshed{}, errors.New("read from https://vault.test/v1/x failed: Service Unavailable:")
		}
		return Refreshed{Use: []byte("AT-SECRET-" + c.User + "\n")}, nil
	})
	sw, err := NewStatusWriter(h.root, "CREDMON_OAUTH", nil)
	if err != nil {
		t.Fatal(err)
	}
	h.cfg.Observer = sw
	h.writeTop("alice", "dune", topVault)
	h.writeTop("down", "dune", topVault)
	h.start()
	h.stop()
	sw.Close()
	fi, err := os.Stat(h.path(StatusFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	raw, _ := os.ReadFile(h.path(StatusFile))
	if bytes.Contains(raw, []byte("SECRET")) {
		t.Errorf("a token or secret in the status file:\n%s", raw)
	}
	doc, err := ReadStatus(h.root)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Daemon != "CREDMON_OAUTH" || doc.Pid != os.Getpid() || len(doc.Credentials) != 2 {
		t.Fatalf("doc %+v", doc)
	}
	a, d := doc.Credentials[0], doc.Credentials[1]
	if a.User != "alice" || a.State != StateFresh || a.NextRefresh == nil || a.Failures != 0 {
		t.Errorf("alice %+v", a)
	}
	if d.User != "down" || d.State != StateBackingOff || d.Failures != 1 || d.BackoffSeconds != 30 || d.ErrorKind != "vault" ||
		!strings.Contains(d.LastError, "Service Unavailable") {
		t.Errorf("down %+v", d)
	}
	// Read later than written: a fresh credential past its refresh time is due.
	doc.Current(a.NextRefresh.Add(time.Second))
	if doc.Credentials[0].State != StateDue {
		t.Errorf("state later: %s", doc.Credentials[0].State)
	}
	var out bytes.Buffer
	if err := PrintStatus(&out, doc, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"USER", "alice", "dune", "VAULT", "backing_off", "30s (failures: 1)", "vault: read from"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, out.String())
		}
	}
}

func TestStatusRefusesAForeignFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("/etc/passwd", dir+"/"+StatusFile); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadStatus(dir); err == nil {
		t.Error("a symlinked status file was read")
	}
	os.Remove(dir + "/" + StatusFile)
	if err := os.WriteFile(dir+"/"+StatusFile, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadStatus(dir); err == nil || strings.Contains(err.Error(), "not json") {
		t.Errorf("bad JSON: %v", err)
	}
}

func TestUseExpiry(t *testing.T) {
	w := time.Unix(1_800_000_000, 0)
	exp := w.Add(time.Hour)
	j := strings.TrimSpace(string(jwtWithExp(exp.Unix())))
	for _, c := range []struct {
		use  string
		want int64
	}{
		{j + "\n", exp.Unix()},
		{`{"access_token":"` + j + `","expires_in":10}`, exp.Unix()},
		{`{"access_token":"opaque","expires_in":10}`, w.Unix() + 10},
		{"opaque\n", 0},
		{"", 0},
		{"{", 0},
	} {
		if got := useExpiry([]byte(c.use), w); got != c.want {
			t.Errorf("useExpiry(%.20q) = %d, want %d", c.use, got, c.want)
		}
	}
}

func TestStatusCommand(t *testing.T) {
	dir := t.TempDir()
	doc := `{"daemon":"CREDMON_OAUTH","pid":0,"written":"2026-01-02T03:04:05Z","pass":7,"credentials":[` +
		`{"user":"alice","name":"dune","provider":"VAULT","state":"fresh","next_refresh":"2026-01-02T03:14:05Z"}]}`
	if err := os.WriteFile(dir+"/"+StatusFile, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"condor_credmon_vault", "-c", dir, "status", "--json"}, MainOptions{Stdout: &out, Stderr: &errb}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	// Read after its next refresh: due.
	if !strings.Contains(out.String(), `"state": "due"`) || !strings.Contains(out.String(), `"pass": 7`) {
		t.Errorf("json:\n%s", out.String())
	}
	out.Reset()
	if code := Main(context.Background(), []string{"condor_credmon_vault", "status", "-c", dir}, MainOptions{Stdout: &out, Stderr: &errb}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "pid 0, not running") || !strings.Contains(out.String(), "1 credentials: 1 due") {
		t.Errorf("table:\n%s", out.String())
	}
	errb.Reset()
	if code := Main(context.Background(), []string{"condor_credmon_vault", "status", "-c", t.TempDir()}, MainOptions{Stdout: &out, Stderr: &errb}); code != ExitFailure ||
		!strings.Contains(errb.String(), "has not completed a pass") {
		t.Errorf("no status file: exit %d, %s", code, errb.String())
	}
}

func FuzzReadStatus(f *testing.F) {
	f.Add([]byte(`{"daemon":"X","pid":1,"written":"2026-01-02T03:04:05Z","pass":1,"credentials":[{"user":"a","name":"b","state":"fresh"}]}`))
	f.Add([]byte(`{"credentials":[{"use_expiry":"bad"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(dir+"/"+StatusFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
		doc, err := ReadStatus(dir)
		if err != nil {
			return
		}
		doc.Current(time.Now())
		PrintStatus(io.Discard, doc, time.Now())
	})
}
