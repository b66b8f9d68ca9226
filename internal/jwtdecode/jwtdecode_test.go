package jwtdecode

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestFormat(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"key order kept", `{"b":1,"a":{"d":[true,false,null],"c":"x"}}`,
			"{\n  \"b\": 1,\n  \"a\": {\n    \"d\": [\n      true,\n      false,\n      null\n    ],\n    \"c\": \"x\"\n  }\n}\n"},
		{"empty containers", `{"o":{},"a":[ ],"n":[{}]}`,
			"{\n  \"o\": {},\n  \"a\": [],\n  \"n\": [\n    {}\n  ]\n}\n"},
		{"numbers as written", `[1.50,1e3,-0,100000000000000000000001]`,
			"[\n  1.50,\n  1e3,\n  -0,\n  100000000000000000000001\n]\n"},
		{"escapes like jq", `"\u0041\/\"\\\b\f\n\r\t\u0001\u001f\u007f\u00e9\u2028"`,
			"\"A/\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\\u007fé\u2028\"\n"},
		{"invalid utf-8 replaced", "\"a\xffb\"", "\"a\ufffdb\"\n"},
		{"duplicate key: first place, last value", `{"a":1,"b":2,"a":3}`,
			"{\n  \"a\": 3,\n  \"b\": 2\n}\n"},
		{"several values", `{"a":1} [2] "s"`, "{\n  \"a\": 1\n}\n[\n  2\n]\n\"s\"\n"},
		{"white space", " \n{ \"a\" :\t1 }\n", "{\n  \"a\": 1\n}\n"},
	}
	for _, tc := range tests {
		got, err := Format([]byte(tc.in), FormatOptions{})
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %q, %v\nwant %q", tc.name, got, err, tc.want)
		}
	}
}

func TestFormatErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "no JSON content"},
		{"  \n", "no JSON content"},
		{"secret", "not valid JSON (error at byte 1)"},
		{`{"a":1`, "not valid JSON (unexpected end)"},
		{`{"a":1,}`, "not valid JSON (error at byte 8)"},
		{`[1,2`, "not valid JSON (unexpected end)"},
		{`}`, "not valid JSON (error at byte 1)"},
		{`{"a" 1}`, "not valid JSON (error at byte 6)"},
		{`{"a":1}xyz`, "not valid JSON (error at byte 8)"},
		{`{1:2}`, "not valid JSON (error at byte 2)"},
	}
	for _, tc := range tests {
		got, err := Format([]byte(tc.in), FormatOptions{})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: got %q, %v; want error %q", tc.in, got, err, tc.want)
		}
	}
}

func TestHumanDates(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	in := `{"exp":1795326625,"iat":0,"n":-5,"f":1.5,"e":1e9,"s":"1795326625","big":253402300800,"max":253402300799,"a":[86400]}`
	want := `{
  "exp": "Sun Nov 22 06:50:25 CET 2026",
  "iat": "Thu Jan 1 01:00:00 CET 1970",
  "n": -5,
  "f": 1.5,
  "e": 1e9,
  "s": "1795326625",
  "big": 253402300800,
  "max": "Sat Jan 1 00:59:59 CET 10000",
  "a": [
    "Fri Jan 2 01:00:00 CET 1970"
  ]
}
`
	got, err := Format([]byte(in), FormatOptions{HumanDates: true, Location: loc})
	if err != nil || string(got) != want {
		t.Errorf("got %s, %v\nwant %s", got, err, want)
	}
	// Without HumanDates the numbers stay.
	got, _ = Format([]byte(`{"exp":1795326625}`), FormatOptions{Location: loc})
	if string(got) != "{\n  \"exp\": 1795326625\n}\n" {
		t.Errorf("got %s", got)
	}
}

func TestDateString(t *testing.T) {
	for sec, want := range map[int64]string{
		1795326625: "Sun Nov 22 05:50:25 UTC 2026",
		1793598625: "Mon Nov 2 05:50:25 UTC 2026", // date(1) pads the day; the original collapsed it
	} {
		if got := DateString(time.Unix(sec, 0).UTC()); got != want {
			t.Errorf("DateString(%d) = %q, want %q", sec, got, want)
		}
	}
}

func TestSegment(t *testing.T) {
	tok := b64(`{"alg":"ES256"}`) + "." + b64(`{"sub":"a"}`) + ".sig"
	if b, err := Segment(tok, Header); err != nil || string(b) != `{"alg":"ES256"}` {
		t.Errorf("header: %q, %v", b, err)
	}
	if b, err := Segment(tok, Payload); err != nil || string(b) != `{"sub":"a"}` {
		t.Errorf("payload: %q, %v", b, err)
	}
	// Padding and the standard alphabet, as base64 --decode accepted them.
	std := base64.StdEncoding.EncodeToString([]byte(`{"sub":">???"}`))
	if !strings.ContainsAny(std, "+/=") {
		t.Fatalf("test payload %q does not exercise the standard alphabet", std)
	}
	if b, err := Segment("x."+std, Payload); err != nil || string(b) != `{"sub":">???"}` {
		t.Errorf("standard alphabet: %q, %v", b, err)
	}
	// Two segments are enough; the payload may be empty.
	if b, err := Segment(b64("{}")+".", Payload); err != nil || len(b) != 0 {
		t.Errorf("empty payload: %q, %v", b, err)
	}
	if _, err := Segment("no-dots-here", Payload); !errors.Is(err, ErrNotJWT) {
		t.Errorf("no dot: %v", err)
	}
	if _, err := Segment("a.b", Part(7)); err == nil {
		t.Error("bad part: no error")
	}
}

func TestDecodeErrorsNeverShowContent(t *testing.T) {
	const secret = "c2VjcmV0LXNlY3JldA" // "secret-secret"
	for _, tok := range []string{
		"hdr." + secret + "!!.sig",
		"hdr." + secret + ".sig",
		"hdr." + secret + "x.sig", // length 1 mod 4
		b64(`{"a":"secret`) + "." + b64(`{"a":"secret"`) + ".sig",
	} {
		for _, p := range []Part{Header, Payload} {
			_, err := Decode(tok, p, FormatOptions{})
			var de *DecodeError
			if !errors.As(err, &de) || de.Part != p {
				t.Errorf("%q %v: error %v, want a *DecodeError for the part", tok, p, err)
				continue
			}
			if msg := err.Error(); strings.Contains(msg, "secret") || strings.Contains(msg, secret) || !strings.HasPrefix(msg, "cannot decode the JWT "+p.String()+": ") {
				t.Errorf("%q %v: message %q", tok, p, msg)
			}
		}
	}
}

func TestDecode(t *testing.T) {
	tok := b64(`{"alg":"none"}`) + "." + b64(`{"exp":86400}`) + "."
	got, err := Decode(tok, Payload, FormatOptions{HumanDates: true, Location: time.UTC})
	if err != nil || string(got) != "{\n  \"exp\": \"Fri Jan 2 00:00:00 UTC 1970\"\n}\n" {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestExpiry(t *testing.T) {
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	h := seg(`{"alg":"ES256"}`)
	cases := []struct {
		tok  string
		want int64
		ok   bool
	}{
		{h + "." + seg(`{"exp":1795000000}`) + ".sig\n", 1795000000, true},
		{h + "." + seg(`{"exp":1.795e9}`) + ".sig", 1795000000, true},
		{h + "." + seg(`{"sub":"x"}`) + ".sig", 0, false},
		{h + "." + seg(`{"exp":"soon"}`) + ".sig", 0, false},
		{h + "." + seg(`{"exp":-5}`) + ".sig", 0, false},
		{h + "." + seg(`{"exp":1e300}`) + ".sig", 0, false},
		{"opaque", 0, false},
		{h + ".%%%.sig", 0, false},
	}
	for _, tc := range cases {
		got, ok := Expiry(tc.tok)
		if ok != tc.ok || (ok && got.Unix() != tc.want) {
			t.Errorf("Expiry(%q) = %v, %v; want %d, %v", tc.tok, got.Unix(), ok, tc.want, tc.ok)
		}
	}
}
