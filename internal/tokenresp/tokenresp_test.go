package tokenresp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestCapture(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token": "AT",  "x": 1}`)
	})
	mux.HandleFunc("/refused", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error": "invalid_grant"}`)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", MaxBody+1))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(c *Capture, path string) (int, string, error) {
		resp, err := c.Client().Post(srv.URL+path, "application/x-www-form-urlencoded", strings.NewReader("code=c"))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	c := New(srv.Client())
	if code, body, err := get(c, "/ok"); err != nil || code != 200 || body != `{"access_token": "AT",  "x": 1}` {
		t.Fatalf("ok: %d %q %v", code, body, err)
	}
	if code, body, err := get(c, "/refused"); err != nil || code != 400 || !strings.Contains(body, "invalid_grant") {
		t.Fatalf("refused: %d %q %v", code, body, err)
	}
	if data, ctype := c.Body(); string(data) != `{"access_token": "AT",  "x": 1}` || ctype != "application/json" {
		t.Errorf("Body keeps the last 2xx answer exactly: %q %q", data, ctype)
	}
	if code, _, err := get(New(nil), "/moved"); err != nil || code != http.StatusTemporaryRedirect {
		t.Errorf("redirect followed: %d %v", code, err)
	}
	if _, _, err := get(c, "/huge"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge answer: %v", err)
	}
	if data, _ := New(nil).Body(); data != nil {
		t.Errorf("Body before any answer: %q", data)
	}
}

func TestScrubShorten(t *testing.T) {
	if got := Scrub("bad secret SECRET1 and abc", "SECRET1", "abc", ""); got != "bad secret [redacted] and abc" {
		t.Errorf("Scrub: %q", got)
	}
	if got := Shorten("a\nb\x00cdef", 5); got != "a b c..." {
		t.Errorf("Shorten: %q", got)
	}
	if got := Shorten("héllo", 5); got != "héllo" {
		t.Errorf("Shorten counts runes: %q", got)
	}
}

func TestRedactURL(t *testing.T) {
	u, _ := url.Parse("https://user:pw@idp.example.org:8443/token?client_secret=S#frag")
	if got := RedactURL(u); got != "https://idp.example.org:8443/token" {
		t.Errorf("RedactURL: %q", got)
	}
	if u.User == nil || u.RawQuery == "" {
		t.Error("RedactURL changed its argument")
	}
}
