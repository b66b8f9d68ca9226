package stack

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFaultProxyModes(t *testing.T) {
	certs, err := MakeCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "backend")
	}))
	kp, err := tls.LoadX509KeyPair(certs.CertFile, certs.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	backend.TLS = &tls.Config{Certificates: []tls.Certificate{kp}}
	backend.StartTLS()
	defer backend.Close()
	p, err := StartLatencyProxy(strings.TrimPrefix(backend.URL, "https://"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.EnableTLS(certs); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certs.Pool, ServerName: "localhost"}}}
	get := func() (*http.Response, string, error) {
		resp, err := hc.Get("https://" + p.Addr + "/v1/x")
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b), nil
	}
	if resp, body, err := get(); err != nil || resp.StatusCode != 200 || body != "backend" {
		t.Fatalf("pass-through: %v %q", err, body)
	}
	p.SetFault(Fault{Kind: FaultStatus, Status: 429, RetryAfter: 7})
	resp, body, err := get()
	if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || !strings.Contains(body, `"errors"`) {
		t.Fatalf("status: %v %v %q", err, resp, body)
	}
	p.SetFault(Fault{Kind: FaultReset})
	if _, _, err := get(); err == nil {
		t.Fatal("a reset connection answered")
	}
	p.SetFault(Fault{})
	if resp, body, err := get(); err != nil || resp.StatusCode != 200 || body != "backend" {
		t.Fatalf("after the faults: %v %q", err, body)
	}
	if resets, answered := p.FaultCounts(); resets == 0 || answered != 1 {
		t.Errorf("counts: %d resets, %d answered", resets, answered)
	}
}
