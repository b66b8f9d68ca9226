package stack

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestLeaderRetry(t *testing.T) {
	var calls atomic.Int32
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		switch n := calls.Add(1); {
		case r.URL.Path == "/other":
			w.WriteHeader(500)
			io.WriteString(w, `{"errors":["internal error"]}`)
		case n <= 2:
			w.WriteHeader(500)
			io.WriteString(w, `{"errors":["1 error occurred:\n\t* failed to generate default key: node is not the leader\n\n"]}`)
		default:
			io.WriteString(w, "ok")
		}
	}))
	defer srv.Close()
	c := &http.Client{Transport: leaderRetry{next: http.DefaultTransport}}
	resp, err := c.Post(srv.URL+"/v1/sys/mounts/x", "application/json", strings.NewReader(`{"type":"oauth"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "ok" || calls.Load() != 3 {
		t.Errorf("status %d body %q after %d calls, want 200 ok after 3", resp.StatusCode, b, calls.Load())
	}
	for i, got := range bodies {
		if got != `{"type":"oauth"}` {
			t.Errorf("try %d sent %q", i+1, got)
		}
	}
	calls.Store(0)
	resp, err = c.Get(srv.URL + "/other")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 500 || !strings.Contains(string(b), "internal error") || calls.Load() != 1 {
		t.Errorf("another 500: status %d body %q after %d calls, want it returned at once", resp.StatusCode, b, calls.Load())
	}
}
