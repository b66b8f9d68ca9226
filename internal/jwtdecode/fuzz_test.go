package jwtdecode

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// errText is every error message the package can give: fixed texts and
// byte offsets, never anything taken from the token.
var errText = regexp.MustCompile(`^(token is not a JWT \(no "\." separator\)|cannot decode the JWT (header|payload): (invalid base64url data( at byte [0-9]+)?|not valid JSON( \(error at byte [0-9]+\)| \(unexpected end\))?|no JSON content))$`)

// decodeAll decodes a JSON sequence into generic values (numbers kept as
// literals), or returns ok false.
func decodeAll(b []byte) ([]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out []any
	for dec.More() {
		var v any
		if dec.Decode(&v) != nil {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

// FuzzFormat checks that no input makes Format panic; that whatever it
// accepts it prints as valid JSON with the same content (without
// HumanDates), which formats to itself again; and that its errors quote
// nothing of the input.
func FuzzFormat(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":null}]}`, `"\ud800"`, `[`, `{"a":1,"a":2}`, "\xff", `1 2 3`, `{"exp":1795000000,"iat":1.5e9,"s":"\u0007\t"}`, `]`, `{"a" 1}`} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, human bool) {
		out, err := Format(data, FormatOptions{HumanDates: human, Location: time.UTC})
		if err != nil {
			if !errText.MatchString("cannot decode the JWT payload: " + err.Error()) {
				t.Fatalf("Format error %q is not one of the fixed messages", err)
			}
			return
		}
		again, err := Format(out, FormatOptions{})
		if err != nil || string(again) != string(out) {
			t.Fatalf("output %q does not re-format to itself: %q, %v", out, again, err)
		}
		if human {
			return
		}
		in, ok1 := decodeAll(data)
		got, ok2 := decodeAll(out)
		if !ok1 || !ok2 || !reflect.DeepEqual(in, got) {
			t.Fatalf("Format changed the content: %q -> %q (%v %v)", data, out, ok1, ok2)
		}
	})
}

// FuzzDecode checks the token-level entry points on arbitrary tokens: no
// panic, errors that never contain any of the token, and agreement
// between Segment, Decode and Expiry.
func FuzzDecode(f *testing.F) {
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	h := seg(`{"alg":"ES256","kid":"k"}`)
	for _, tok := range []string{
		h + "." + seg(`{"exp":1795000000,"sub":"alice"}`) + ".sig",
		h + "." + seg(`{"exp":1.795e9}`) + ".",
		h + "." + seg(`{"exp":"soon"}`),
		h + "." + seg(`{"exp":1e300}`) + ".x",
		"opaque", "a.b", ".", "%%%.%%%", h + "==.e30=", "e30.W10.", "  " + h + "." + seg(`{"exp":5}`) + "\n",
	} {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		for _, p := range []Part{Header, Payload} {
			raw, serr := Segment(tok, p)
			out, derr := Decode(tok, p, FormatOptions{HumanDates: true, Location: time.UTC})
			for _, err := range []error{serr, derr} {
				if err != nil && !errText.MatchString(err.Error()) {
					t.Fatalf("error %q is not one of the fixed messages", err)
				}
			}
			if serr != nil && derr == nil {
				t.Fatalf("Decode accepted a %v Segment refused: %v", p, serr)
			}
			if derr == nil {
				if _, err := Format(raw, FormatOptions{}); err != nil {
					t.Fatalf("Decode accepted %q, Format of the segment fails: %v", raw, err)
				}
				if len(out) == 0 || out[len(out)-1] != '\n' {
					t.Fatalf("Decode output %q does not end in a newline", out)
				}
			}
		}
		exp, ok := Expiry(tok)
		if ok {
			if exp.Unix() <= 0 || exp.Unix() > MaxDateSeconds {
				t.Fatalf("Expiry(%q) = %v out of range", tok, exp)
			}
			if _, err := Segment(strings.TrimSpace(tok), Payload); err != nil {
				t.Fatalf("Expiry found a time in a token whose payload does not decode: %v", err)
			}
		}
	})
}
