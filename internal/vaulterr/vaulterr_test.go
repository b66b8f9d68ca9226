package vaulterr

import (
	"strings"
	"testing"
)

func TestFromResponse(t *testing.T) {
	long := strings.Repeat("x", 300)
	cases := []struct {
		status int
		body   string
		msg    string
	}{
		{403, `{"errors":["permission denied"]}`, "HTTPError: Forbidden: permission denied"},
		{400, `{"errors":["a","b"]}`, "HTTPError: Bad Request: a b"},
		{404, `{"errors":[]}`, "HTTPError: Not Found:"},
		{502, "<html>bad gateway</html>\n", "HTTPError: Bad Gateway: <html>bad gateway</html>"},
		{500, long, "HTTPError: Internal Server Error: " + long[:MaxBody] + "..."},
		{500, `{"data":{}}`, `HTTPError: Internal Server Error: {"data":{}}`},
		{599, "", "HTTPError: Status 599:"},
		{302, "", "HTTPError: Found:"},
	}
	for _, tc := range cases {
		if got := FromResponse(tc.status, []byte(tc.body)).Error(); got != tc.msg {
			t.Errorf("%d %q: %q, want %q", tc.status, tc.body, got, tc.msg)
		}
	}
	e := FromResponse(400, []byte(`{"errors":["slow_down"]}`))
	if !e.Has("slow_down") || e.Has("slow") {
		t.Errorf("Has: %v", e.Errors)
	}
	if e := FromResponse(502, []byte(long)); e.Body != long {
		t.Errorf("Body is not kept whole")
	}
}

func FuzzFromResponse(f *testing.F) {
	f.Add(403, []byte(`{"errors":["permission denied"]}`))
	f.Add(502, []byte("<html></html>"))
	f.Add(500, []byte(`{"errors":[1,2]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := FromResponse(status, body)
		msg := e.Error()
		if !strings.HasPrefix(msg, "HTTPError: ") {
			t.Fatalf("message %q", msg)
		}
		if len(e.Errors) == 0 && len(msg) > len("HTTPError: ")+len(e.Reason())+2+MaxBody+3 {
			t.Fatalf("body not truncated: %d bytes", len(msg))
		}
	})
}
