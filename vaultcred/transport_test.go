package vaultcred

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/internal/testcert"
)

// tlsServer starts an httptest TLS server (certificate for 127.0.0.1 and
// example.com) and writes its CA certificate to dir/ca.pem.
func tlsServer(t *testing.T, dir string) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(dir, "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return srv, ca
}

func get(t *testing.T, c *http.Client, url string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func TestTLSTrust(t *testing.T) {
	dir := t.TempDir()
	srv, ca := tlsServer(t, dir)
	capath := filepath.Join(dir, "capath")
	os.Mkdir(capath, 0o755)
	os.WriteFile(filepath.Join(capath, "readme.txt"), []byte("not a cert"), 0o644)
	other := filepath.Join(dir, "other.pem")
	os.WriteFile(other, testcert.UnrelatedCAPEM(t), 0o644)
	b, _ := os.ReadFile(ca)
	os.WriteFile(filepath.Join(capath, "server.pem"), b, 0o644)

	cases := []struct {
		name    string
		tls     TLSConfig
		wantErr string
	}{
		{"cafile", TLSConfig{CAFile: ca, ServerName: "example.com"}, ""},
		{"capath only", TLSConfig{CAPath: capath, ServerName: "example.com"}, ""},
		{"union: wrong file, right dir", TLSConfig{CAFile: other, CAPath: capath, ServerName: "example.com"}, ""},
		{"wrong CA", TLSConfig{CAFile: other, ServerName: "example.com"}, "unknown authority"},
		{"wrong CA, missing dir", TLSConfig{CAFile: other, CAPath: filepath.Join(dir, "nope"), ServerName: "example.com"}, "unknown authority"},
		{"name not in certificate", TLSConfig{CAFile: ca, ServerName: "vault.example.org"}, "vault.example.org"},
		{"system roots", TLSConfig{ServerName: "example.com"}, "unknown authority"},
		{"CA file missing", TLSConfig{CAFile: filepath.Join(dir, "missing.pem")}, "no such file"},
		{"CA file without certificates", TLSConfig{CAFile: filepath.Join(capath, "readme.txt")}, "no PEM certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := get(t, NewHTTPClient(HTTPClientConfig{TLS: tc.tls}), srv.URL)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// blackhole listens on ip:port with a backlog of 0 and fills its accept
// queue, so further connection attempts are dropped by the kernel and time
// out, like a server that never answers.
func blackhole(t *testing.T, ip string, port int) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	sa := &syscall.SockaddrInet4{Port: port}
	copy(sa.Addr[:], net.ParseIP(ip).To4())
	if err := syscall.Bind(fd, sa); err != nil {
		t.Fatalf("bind %s:%d: %v", ip, port, err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(ip, fmt.Sprint(port))
	for i := 0; i < 2; i++ {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			return // the queue is full already
		}
		t.Cleanup(func() { c.Close() })
	}
}

func TestRoundRobinFailOverOnConnectTimeout(t *testing.T) {
	dir := t.TempDir()
	srv, ca := tlsServer(t, dir)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	blackhole(t, "127.0.0.2", port)

	var lookups int
	var mu sync.Mutex
	var logs []string
	c := NewHTTPClient(HTTPClientConfig{
		TLS: TLSConfig{CAFile: ca, ServerName: "example.com"},
		Logf: func(f string, a ...any) {
			mu.Lock()
			logs = append(logs, fmt.Sprintf(f, a...))
			mu.Unlock()
		},
		LookupIPAddr: func(ctx context.Context, host string) ([]net.IPAddr, error) {
			lookups++
			return []net.IPAddr{
				{IP: net.ParseIP("::1")}, // IPv6 is ignored while IPv4 exists
				{IP: net.ParseIP("127.0.0.2")},
				{IP: net.ParseIP("127.0.0.1")},
			}, nil
		},
	})
	url := fmt.Sprintf("https://rr.test:%d/", port)
	if err := get(t, c, url); err != nil {
		t.Fatal(err)
	}
	want := "Connection timeout on rr.test ip 127.0.0.2, trying 127.0.0.1"
	if len(logs) != 1 || logs[0] != want {
		t.Fatalf("logs %q, want [%q]", logs, want)
	}
	// Sticky: a new connection goes straight to the working address.
	c.Transport.(*http.Transport).CloseIdleConnections()
	if err := get(t, c, url); err != nil {
		t.Fatal(err)
	}
	if len(logs) != 1 || lookups != 1 {
		t.Errorf("second request: logs %q, %d lookups; want no fail-over and one lookup", logs, lookups)
	}
}

func TestRoundRobinRefusedIsNotRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // now refused
	tried := 0
	c := NewHTTPClient(HTTPClientConfig{LookupIPAddr: func(context.Context, string) ([]net.IPAddr, error) {
		tried++
		return []net.IPAddr{{IP: net.ParseIP("127.0.0.1")}, {IP: net.ParseIP("127.0.0.3")}}, nil
	}})
	err = get(t, c, fmt.Sprintf("https://rr.test:%d/", port))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("got %v, want connection refused without fail-over", err)
	}
}

func TestResolveTTL(t *testing.T) {
	now := time.Unix(1000, 0)
	n := 0
	d := &rrDialer{lookup: func(context.Context, string) ([]net.IPAddr, error) {
		n++
		return []net.IPAddr{{IP: net.IPv4(127, 0, 0, byte(n))}}, nil
	}, logf: func(string, ...any) {}, addrs: map[string][]net.IP{}, resolved: map[string]time.Time{},
		ttl: 5 * time.Minute, now: func() time.Time { return now }}
	ctx := context.Background()
	a, _ := d.resolve(ctx, "v.test")
	now = now.Add(4 * time.Minute)
	b, _ := d.resolve(ctx, "v.test")
	now = now.Add(2 * time.Minute)
	c, _ := d.resolve(ctx, "v.test")
	if n != 2 || !a[0].Equal(b[0]) || a[0].Equal(c[0]) {
		t.Errorf("lookups %d, addresses %v %v %v: want a new lookup only after the TTL", n, a, b, c)
	}
}

func TestIPv6OnlyName(t *testing.T) {
	d := &rrDialer{lookup: func(context.Context, string) ([]net.IPAddr, error) {
		return []net.IPAddr{{IP: net.ParseIP("::1")}, {IP: net.ParseIP("2001:db8::1")}}, nil
	}, logf: func(string, ...any) {}, addrs: map[string][]net.IP{}, resolved: map[string]time.Time{}, now: time.Now}
	ips, err := d.resolve(context.Background(), "v6.test")
	if err != nil || len(ips) != 2 || !ips[0].Equal(net.ParseIP("::1")) {
		t.Fatalf("resolve = %v, %v", ips, err)
	}
}

// A connect timeout while another request re-resolves the name (its
// ResolveTTL expired, so its addresses are being looked up again) fails
// that dial with the timeout; it used to index an empty address list and
// crash the process (the credmon's refreshes share one dialer).
func TestRoundRobinTimeoutDuringReResolve(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	blackhole(t, "127.0.0.2", port)

	var mu sync.Mutex
	now := time.Unix(1000, 0)
	calls := 0
	inSecond := make(chan struct{})
	release := make(chan struct{})
	d := &rrDialer{
		lookup: func(context.Context, string) ([]net.IPAddr, error) {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			if n > 1 {
				close(inSecond)
				<-release
			}
			return []net.IPAddr{{IP: net.ParseIP("127.0.0.2")}, {IP: net.ParseIP("127.0.0.1")}}, nil
		},
		logf:     func(string, ...any) {},
		addrs:    map[string][]net.IP{},
		resolved: map[string]time.Time{},
		ttl:      5 * time.Minute,
		now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return now
		},
	}
	ctx := context.Background()
	addr := net.JoinHostPort("rr.test", fmt.Sprint(port))
	dialed := make(chan error, 1)
	go func() {
		c, err := d.DialContext(ctx, "tcp", addr)
		if c != nil {
			c.Close()
		}
		dialed <- err
	}()
	// Once the first dial has resolved the name (it then spends its 2 s
	// connect timeout on 127.0.0.2), the TTL expires and another request
	// starts re-resolving it.
	for {
		d.mu.Lock()
		stored := d.addrs["rr.test"] != nil
		d.mu.Unlock()
		if stored {
			break
		}
		runtime.Gosched()
	}
	mu.Lock()
	now = now.Add(6 * time.Minute)
	mu.Unlock()
	resolved := make(chan error, 1)
	go func() {
		_, err := d.resolve(ctx, "rr.test")
		resolved <- err
	}()
	<-inSecond
	err = <-dialed
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("dial during a re-resolution = %v, want its connect timeout", err)
	}
	close(release)
	if err := <-resolved; err != nil {
		t.Errorf("re-resolution: %v", err)
	}
}

// A dial error without an address (the resolver's failure, as net.Dialer
// reports it) is described without panicking.
func TestConnectionErrorWithoutAddress(t *testing.T) {
	err := &ConnectionError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("address 99999: invalid port")}}
	if got, want := err.Error(), "ConnectionError: dial tcp: address 99999: invalid port"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestTLSVerifiesDialledIP checks that a URL naming an IP address is
// verified against that address: a certificate for another name or another
// IP is refused even from a trusted CA, and only the right IP SAN (or an
// explicit --vaultcertname that the certificate carries) is accepted.
func TestTLSVerifiesDialledIP(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	cases := []struct {
		name       string
		hosts      []string // the certificate's SANs
		listen     string   // the IP dialled
		serverName string   // TLSConfig.ServerName
		wantErr    string
	}{
		{"DNS name only", []string{"vault.example.org"}, "127.0.0.1", "", "127.0.0.1"},
		{"another IP", []string{"127.0.0.2"}, "127.0.0.1", "", "127.0.0.1"},
		{"right IP", []string{"127.0.0.1"}, "127.0.0.1", "", ""},
		{"right IP of two", []string{"vault.example.org", "127.0.0.3"}, "127.0.0.3", "", ""},
		{"IPv6 dialled, IPv4 SAN", []string{"127.0.0.1"}, "::1", "", "::1"},
		{"certname given and carried", []string{"vault.example.org"}, "127.0.0.1", "vault.example.org", ""},
		{"certname given, not carried", []string{"127.0.0.1"}, "127.0.0.1", "vault.example.org", "vault.example.org"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := testcert.NewServer(t, tc.hosts...)
			srv := s.StartTLS(t, tc.listen, ok)
			ca := filepath.Join(t.TempDir(), "ca.pem")
			if err := os.WriteFile(ca, s.CAPEM, 0o644); err != nil {
				t.Fatal(err)
			}
			c := NewHTTPClient(HTTPClientConfig{TLS: TLSConfig{CAFile: ca, ServerName: tc.serverName}})
			err := get(t, c, srv.URL)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("GET %s: %v", srv.URL, err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("GET %s: got %v, want a certificate error naming %q", srv.URL, err, tc.wantErr)
			}
		})
	}
}

// TestTLSHTTP2 checks that the TLS dialer still negotiates HTTP/2 with a
// server that offers it.
func TestTLSHTTP2(t *testing.T) {
	s := testcert.NewServer(t, "127.0.0.1")
	proto := make(chan string, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case proto <- r.Proto:
		default:
		}
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{s.Cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, s.CAPEM, 0o644)
	if err := get(t, NewHTTPClient(HTTPClientConfig{TLS: TLSConfig{CAFile: ca}}), srv.URL); err != nil {
		t.Fatal(err)
	}
	if p := <-proto; p != "HTTP/2.0" {
		t.Errorf("protocol %s, want HTTP/2.0", p)
	}
}
