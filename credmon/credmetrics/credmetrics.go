// Package credmetrics serves a credmon's Prometheus metrics: an
// Observer of the daemon core (package credmon) that counts refreshes,
// errors, inotify events and passes, and an HTTP server for /metrics.
//
// It is linked only by the programs that offer metrics
// (MainOptions.Metrics = credmetrics.Serve) and started only when the
// metrics address knob is set; with the knob unset nothing here runs but
// the library's package initialisation.
//
// The metrics (every one labelled daemon="<NAME>"):
//
//	credmon_refreshes_total{provider,outcome}     counter: ok, failed, invalid, deleted
//	credmon_refresh_duration_seconds{provider}    histogram: the provider's time per refresh
//	credmon_errors_total{provider,kind}           counter: failures by kind (see credmon.ErrorKind)
//	credmon_credentials{state}                    gauge: fresh, due, backing_off, failing, unserved
//	credmon_next_refresh_seconds                  gauge: time until the earliest due refresh (0: overdue)
//	credmon_pass_duration_seconds{pass}           histogram: deep or quick full passes, listing to completion
//	credmon_listing_duration_seconds              histogram: the directory listing of a full pass
//	credmon_last_pass_timestamp_seconds           gauge: completion time of the last full pass
//	credmon_inotify_events_total                  counter: inotify events about credentials
//	credmon_inotify_overflows_total               counter: inotify queue overflows (each forces a deep pass)
//
// plus the Go runtime's and the process's standard collectors (go_*,
// process_*).
package credmetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vaultcred/gettoken/credmon"
)

// Metrics is the Prometheus Observer. Its methods run on the daemon's
// goroutine; the label lookups are cached there, so a refresh costs a
// map lookup and a few atomic additions.
type Metrics struct {
	reg         *prometheus.Registry
	refreshes   *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	errs        *prometheus.CounterVec
	creds       *prometheus.GaugeVec
	pass        *prometheus.HistogramVec
	listing     prometheus.Histogram
	lastPass    prometheus.Gauge
	events      prometheus.Counter
	overflows   prometheus.Counter
	nextDue     atomic.Int64 // unix ns, 0 = none
	counters    map[[2]string]prometheus.Counter
	observers   map[string]prometheus.Observer
	errCounters map[[2]string]prometheus.Counter
	states      map[credmon.State]prometheus.Gauge
}

// New returns the metrics of the daemon name, registered in a registry of
// their own (with the Go and process collectors).
func New(name string) *Metrics {
	cl := prometheus.Labels{"daemon": name}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credmon_refreshes_total", ConstLabels: cl,
			Help: "Refreshes finished, by provider and outcome (ok, failed, invalid, deleted)."}, []string{"provider", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "credmon_refresh_duration_seconds", ConstLabels: cl,
			Help:    "Time the provider took for one refresh.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}}, []string{"provider"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credmon_errors_total", ConstLabels: cl,
			Help: "Failed refreshes by provider and kind (timeout, network, tls, idp, discovery, vault, invalid, revoked, file, other)."}, []string{"provider", "kind"}),
		creds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "credmon_credentials", ConstLabels: cl,
			Help: "Credentials by state at the end of the last full pass."}, []string{"state"}),
		pass: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "credmon_pass_duration_seconds", ConstLabels: cl,
			Help:    "Full passes (deep or quick), from the listing to the last refresh they made due.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600}}, []string{"pass"}),
		listing: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "credmon_listing_duration_seconds", ConstLabels: cl,
			Help:    "The directory listing of a full pass.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5}}),
		lastPass: prometheus.NewGauge(prometheus.GaugeOpts{Name: "credmon_last_pass_timestamp_seconds", ConstLabels: cl,
			Help: "When the last full pass completed (unix time)."}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "credmon_inotify_events_total", ConstLabels: cl,
			Help: "inotify events about credential files and user directories."}),
		overflows: prometheus.NewCounter(prometheus.CounterOpts{Name: "credmon_inotify_overflows_total", ConstLabels: cl,
			Help: "inotify queue overflows (each one forces a deep pass)."}),
		counters:    map[[2]string]prometheus.Counter{},
		observers:   map[string]prometheus.Observer{},
		errCounters: map[[2]string]prometheus.Counter{},
		states:      map[credmon.State]prometheus.Gauge{},
	}
	next := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "credmon_next_refresh_seconds", ConstLabels: cl,
		Help: "Seconds until the earliest scheduled refresh (0 when one is overdue; absent: nothing scheduled is reported as -1)."},
		func() float64 {
			n := m.nextDue.Load()
			if n == 0 {
				return -1
			}
			return max(time.Until(time.Unix(0, n)).Seconds(), 0)
		})
	m.reg.MustRegister(m.refreshes, m.latency, m.errs, m.creds, m.pass, m.listing, m.lastPass, m.events, m.overflows, next,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range credmon.States {
		m.states[s] = m.creds.WithLabelValues(string(s))
	}
	return m
}

// Registry is the registry holding the metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Refreshed implements credmon.Observer.
func (m *Metrics) Refreshed(e credmon.RefreshEvent) {
	k := [2]string{e.Provider, string(e.Outcome)}
	c := m.counters[k]
	if c == nil {
		c = m.refreshes.WithLabelValues(k[0], k[1])
		m.counters[k] = c
	}
	c.Inc()
	if e.Latency > 0 {
		o := m.observers[e.Provider]
		if o == nil {
			o = m.latency.WithLabelValues(e.Provider)
			m.observers[e.Provider] = o
		}
		o.Observe(e.Latency.Seconds())
	}
	if e.Err != nil && e.Outcome != credmon.OutcomeDeleted {
		k := [2]string{e.Provider, credmon.ErrorKind(e.Provider, e.Err)}
		c := m.errCounters[k]
		if c == nil {
			c = m.errs.WithLabelValues(k[0], k[1])
			m.errCounters[k] = c
		}
		c.Inc()
	}
}

// WatchEvent implements credmon.Observer.
func (m *Metrics) WatchEvent(overflow bool) {
	if overflow {
		m.overflows.Inc()
		return
	}
	m.events.Inc()
}

// PassComplete implements credmon.Observer.
func (m *Metrics) PassComplete(r credmon.PassReport) {
	counts := r.Counts()
	for _, s := range credmon.States {
		m.states[s].Set(float64(counts[s]))
	}
	kind := "quick"
	if r.Deep {
		kind = "deep"
	}
	m.pass.WithLabelValues(kind).Observe(r.Duration.Seconds())
	m.listing.Observe(r.Listing.Seconds())
	m.lastPass.Set(float64(r.Now.UnixNano()) / 1e9)
	if r.NextDue.IsZero() {
		m.nextDue.Store(0)
	} else {
		m.nextDue.Store(max(r.NextDue.UnixNano(), 1))
	}
}

// ListenAddress is the address to listen on for a metrics knob value: a
// port alone ("9464" or ":9464") is on the loopback interface
// (127.0.0.1); a host or IP with the port ("0.0.0.0:9464",
// "[::]:9464", "node1:9464") is used as given.
func ListenAddress(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", errors.New("empty metrics address")
	}
	if !strings.Contains(v, ":") {
		v = ":" + v
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("bad metrics address %q: %w", v, err)
	}
	if p, err := net.LookupPort("tcp", port); port == "" || err != nil || p < 0 {
		return "", fmt.Errorf("bad metrics address %q: bad port", v)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// Serve listens on addr (a metrics address knob's value, see
// ListenAddress) and serves the metrics of the daemon name at /metrics;
// it returns the Observer to give the daemon and a function that stops
// the server. It is a credmon.MainOptions.Metrics.
func Serve(name, addr string, log *slog.Logger) (credmon.Observer, func(), error) {
	la, err := ListenAddress(addr)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", la)
	if err != nil {
		return nil, nil, err
	}
	m := New(name)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: nil}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "credmon metrics: /metrics")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	go srv.Serve(ln)
	log.Info("Serving metrics", "address", ln.Addr().String(), "path", "/metrics")
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
	return m, stop, nil
}
