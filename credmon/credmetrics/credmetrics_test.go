package credmetrics

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vaultcred/gettoken/credmon"
)

func TestListenAddress(t *testing.T) {
	for in, want := range map[string]string{
		"9464":           "127.0.0.1:9464",
		":9464":          "127.0.0.1:9464",
		" 9464 ":         "127.0.0.1:9464",
		"0.0.0.0:9464":   "0.0.0.0:9464",
		"[::1]:9464":     "[::1]:9464",
		"node1:9464":     "node1:9464",
		"127.0.0.2:http": "127.0.0.2:http",
	} {
		if got, err := ListenAddress(in); err != nil || got != want {
			t.Errorf("ListenAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a:b:c", "host:", "9464x", "host:-1"} {
		if got, err := ListenAddress(bad); err == nil {
			t.Errorf("ListenAddress(%q) = %q, want an error", bad, got)
		}
	}
}

func TestMetricsCountWhatHappened(t *testing.T) {
	m := New("CREDMON_OAUTH")
	for range 3 {
		m.Refreshed(credmon.RefreshEvent{Provider: "VAULT", Outcome: credmon.OutcomeOK, Latency: 20 * time.Millisecond})
	}
	m.Refreshed(credmon.RefreshEvent{Provider: "VAULT", Outcome: credmon.OutcomeFailed, Latency: time.Second, Err: errors.New("read from x failed: Bad Gateway:")})
	m.Refreshed(credmon.RefreshEvent{Provider: "OAUTH", Outcome: credmon.OutcomeInvalid, Err: fmt.Errorf("%w: x", credmon.ErrInvalid)})
	m.Refreshed(credmon.RefreshEvent{Provider: "VAULT", Outcome: credmon.OutcomeDeleted, Err: fmt.Errorf("%w: x", credmon.ErrDelete)})
	m.WatchEvent(false)
	m.WatchEvent(false)
	m.WatchEvent(true)
	m.PassComplete(credmon.PassReport{PassStats: credmon.PassStats{Listing: time.Millisecond}, Deep: true, Duration: 2 * time.Second,
		Now: time.Now(), NextDue: time.Now().Add(time.Hour),
		Counts: func() map[credmon.State]int {
			return map[credmon.State]int{credmon.StateFresh: 5, credmon.StateBackingOff: 2, credmon.StateFailing: 1}
		}})

	want := `
# HELP credmon_refreshes_total Refreshes finished, by provider and outcome (ok, failed, invalid, deleted).
# TYPE credmon_refreshes_total counter
credmon_refreshes_total{daemon="CREDMON_OAUTH",outcome="deleted",provider="VAULT"} 1
credmon_refreshes_total{daemon="CREDMON_OAUTH",outcome="failed",provider="VAULT"} 1
credmon_refreshes_total{daemon="CREDMON_OAUTH",outcome="invalid",provider="OAUTH"} 1
credmon_refreshes_total{daemon="CREDMON_OAUTH",outcome="ok",provider="VAULT"} 3
# HELP credmon_errors_total Failed refreshes by provider and kind (timeout, network, tls, idp, discovery, vault, invalid, revoked, file, other).
# TYPE credmon_errors_total counter
credmon_errors_total{daemon="CREDMON_OAUTH",kind="invalid",provider="OAUTH"} 1
credmon_errors_total{daemon="CREDMON_OAUTH",kind="vault",provider="VAULT"} 1
# HELP credmon_credentials Credentials by state at the end of the last full pass.
# TYPE credmon_credentials gauge
credmon_credentials{daemon="CREDMON_OAUTH",state="backing_off"} 2
credmon_credentials{daemon="CREDMON_OAUTH",state="due"} 0
credmon_credentials{daemon="CREDMON_OAUTH",state="failing"} 1
credmon_credentials{daemon="CREDMON_OAUTH",state="fresh"} 5
credmon_credentials{daemon="CREDMON_OAUTH",state="unserved"} 0
# HELP credmon_inotify_events_total inotify events about credential files and user directories.
# TYPE credmon_inotify_events_total counter
credmon_inotify_events_total{daemon="CREDMON_OAUTH"} 2
# HELP credmon_inotify_overflows_total inotify queue overflows (each one forces a deep pass).
# TYPE credmon_inotify_overflows_total counter
credmon_inotify_overflows_total{daemon="CREDMON_OAUTH"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "credmon_refreshes_total", "credmon_errors_total",
		"credmon_credentials", "credmon_inotify_events_total", "credmon_inotify_overflows_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.latency); n != 1 {
		t.Errorf("latency series: %d (the invalid refresh had no provider call)", n)
	}
	next, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range next {
		if f.GetName() == "credmon_next_refresh_seconds" {
			if v := f.GetMetric()[0].GetGauge().GetValue(); v < 3500 || v > 3600 {
				t.Errorf("next refresh in %v s", v)
			}
		}
		if f.GetName() == "credmon_pass_duration_seconds" {
			h := f.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 1 || h.GetSampleSum() != 2 {
				t.Errorf("pass histogram %v", h)
			}
		}
	}
}

func TestServe(t *testing.T) {
	obs, stop, err := Serve("CREDMON_X", "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if obs == nil {
		t.Fatal("no observer")
	}
	if _, _, err := Serve("CREDMON_X", "bad:address:x", slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a bad address was accepted")
	}
}

func TestServeScrape(t *testing.T) {
	var addr string
	h := slog.New(slog.NewTextHandler(&addrSink{&addr}, nil))
	obs, stop, err := Serve("CREDMON_X", "127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	obs.Refreshed(credmon.RefreshEvent{Provider: "VAULT", Outcome: credmon.OutcomeOK})
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), `credmon_refreshes_total{daemon="CREDMON_X",outcome="ok",provider="VAULT"} 1`) || !strings.Contains(string(b), "go_goroutines") {
		t.Errorf("scrape:\n%.2000s", b)
	}
}

// addrSink takes the address from the "Serving metrics" log line.
type addrSink struct{ addr *string }

func (s *addrSink) Write(p []byte) (int, error) {
	if _, rest, ok := strings.Cut(string(p), "address="); ok {
		*s.addr, _, _ = strings.Cut(rest, " ")
	}
	return len(p), nil
}
