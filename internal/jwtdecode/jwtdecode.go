// Package jwtdecode shows the content of a JSON Web Token the way
// htdecodetoken does: it base64url-decodes the header or payload segment
// and prints the JSON as "jq ." would, without checking the signature.
//
// The output keeps the key order of the token, indents by two spaces,
// writes strings in jq's escaping (raw UTF-8, \uXXXX for other control
// characters) and keeps number literals as written (as jq 1.7 does; jq 1.6
// rounds them through a double). With HumanDates, every number written
// with digits only is replaced by its date in the format of date(1) in the
// C locale, such as "Sun Nov 22 05:50:25 UTC 2026".
//
// Error messages never contain the token or the decoded content.
package jwtdecode

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Part is a segment of a JWT.
type Part int

const (
	// Header is the first segment: the signing algorithm and key id.
	Header Part = iota
	// Payload is the second segment: the claims.
	Payload
)

// String returns "header" or "payload".
func (p Part) String() string {
	if p == Header {
		return "header"
	}
	return "payload"
}

// ErrNotJWT reports a token without a "." separating header and payload.
var ErrNotJWT = errors.New(`token is not a JWT (no "." separator)`)

// DecodeError reports a segment that is not base64url-encoded JSON.
type DecodeError struct {
	// Part is the segment that failed.
	Part Part
	// Err is the cause; it names byte offsets, never content.
	Err error
}

// Error returns "cannot decode the JWT <part>: <cause>".
func (e *DecodeError) Error() string {
	return "cannot decode the JWT " + e.Part.String() + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// MaxDateSeconds is the largest number HumanDates turns into a date: the
// last second of the year 9999. Larger numbers are left as they are.
const MaxDateSeconds = 253402300799

// Segment returns the decoded bytes of one part of token: the
// dot-separated segment, decoded as base64url with or without padding.
// Like the bash original (tr '_-' '/+' | base64 --decode), it also accepts
// the standard base64 alphabet. It does not check that the result is JSON.
func Segment(token string, p Part) ([]byte, error) {
	parts := strings.Split(token, ".")
	if len(parts) < 2 {
		return nil, ErrNotJWT
	}
	if p != Header && p != Payload {
		return nil, fmt.Errorf("jwtdecode: no such part %d", int(p))
	}
	seg := parts[p]
	seg = strings.TrimRight(seg, "=")
	seg = strings.NewReplacer("+", "-", "/", "_").Replace(seg)
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			return nil, &DecodeError{Part: p, Err: fmt.Errorf("invalid base64url data at byte %d", int64(ce))}
		}
		return nil, &DecodeError{Part: p, Err: errors.New("invalid base64url data")}
	}
	return b, nil
}

// FormatOptions control Format.
type FormatOptions struct {
	// HumanDates replaces every digits-only number (up to MaxDateSeconds)
	// by a date string.
	HumanDates bool
	// Location is the time zone of the dates; nil means time.Local.
	Location *time.Location
}

// Decode returns the JSON of one part of token formatted by Format.
func Decode(token string, p Part, o FormatOptions) ([]byte, error) {
	b, err := Segment(token, p)
	if err != nil {
		return nil, err
	}
	out, err := Format(b, o)
	if err != nil {
		return nil, &DecodeError{Part: p, Err: err}
	}
	return out, nil
}

// Format renders the JSON values in data as "jq ." prints them, each value
// followed by a newline. Empty input, or input that is not a sequence of
// JSON values, is an error whose message gives only a byte offset.
func Format(data []byte, o FormatOptions) ([]byte, error) {
	// Decode checks each value and reports errors at their position;
	// parseValue then reads the checked value keeping key order.
	dec := json.NewDecoder(bytes.NewReader(data))
	var out bytes.Buffer
	n := 0
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			if n == 0 {
				return nil, errors.New("no JSON content")
			}
			return out.Bytes(), nil
		}
		if err != nil {
			return nil, syntaxError(err)
		}
		vdec := json.NewDecoder(bytes.NewReader(raw))
		vdec.UseNumber()
		v, err := parseValue(vdec)
		if err != nil {
			return nil, syntaxError(err)
		}
		n++
		w := writer{buf: &out, o: o}
		w.value(v, 0)
		out.WriteByte('\n')
	}
}

// syntaxError describes a JSON error by its position only: the messages
// of encoding/json quote the offending character.
func syntaxError(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("not valid JSON (error at byte %d)", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("not valid JSON (unexpected end)")
	}
	return errors.New("not valid JSON")
}

// kind is the type of a parsed JSON value.
type kind int

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kArray
	kObject
)

// value is a JSON value that keeps object key order, as jq does.
type value struct {
	kind kind
	str  string // string content, number literal, or "true"/"false"
	keys []string
	vals []value // object values (parallel to keys) or array elements
}

// errBadToken is returned for a token stream that is not a value (a stray
// closing delimiter).
var errBadToken = errors.New("unexpected delimiter")

func parseValue(dec *json.Decoder) (value, error) {
	tok, err := dec.Token()
	if err != nil {
		return value{}, err
	}
	switch t := tok.(type) {
	case nil:
		return value{kind: kNull}, nil
	case bool:
		return value{kind: kBool, str: strconv.FormatBool(t)}, nil
	case json.Number:
		return value{kind: kNumber, str: string(t)}, nil
	case string:
		return value{kind: kString, str: t}, nil
	case json.Delim:
		switch t {
		case '[':
			v := value{kind: kArray}
			for dec.More() {
				e, err := parseValue(dec)
				if err != nil {
					return value{}, unexpectedEOF(err)
				}
				v.vals = append(v.vals, e)
			}
			if _, err := dec.Token(); err != nil {
				return value{}, unexpectedEOF(err)
			}
			return v, nil
		case '{':
			v := value{kind: kObject}
			index := map[string]int{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return value{}, unexpectedEOF(err)
				}
				k, ok := kt.(string)
				if !ok {
					return value{}, errBadToken
				}
				e, err := parseValue(dec)
				if err != nil {
					return value{}, unexpectedEOF(err)
				}
				// A repeated key keeps its first position and takes the
				// last value, as in jq.
				if i, dup := index[k]; dup {
					v.vals[i] = e
					continue
				}
				index[k] = len(v.keys)
				v.keys = append(v.keys, k)
				v.vals = append(v.vals, e)
			}
			if _, err := dec.Token(); err != nil {
				return value{}, unexpectedEOF(err)
			}
			return v, nil
		}
	}
	return value{}, errBadToken
}

// unexpectedEOF turns an EOF inside a value into io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

type writer struct {
	buf *bytes.Buffer
	o   FormatOptions
}

func (w writer) indent(n int) {
	for i := 0; i < n; i++ {
		w.buf.WriteString("  ")
	}
}

func (w writer) value(v value, depth int) {
	switch v.kind {
	case kNull:
		w.buf.WriteString("null")
	case kBool:
		w.buf.WriteString(v.str)
	case kNumber:
		if d, ok := w.date(v.str); ok {
			writeString(w.buf, d)
		} else {
			w.buf.WriteString(v.str)
		}
	case kString:
		writeString(w.buf, v.str)
	case kArray:
		if len(v.vals) == 0 {
			w.buf.WriteString("[]")
			return
		}
		w.buf.WriteString("[\n")
		for i, e := range v.vals {
			w.indent(depth + 1)
			w.value(e, depth+1)
			if i < len(v.vals)-1 {
				w.buf.WriteByte(',')
			}
			w.buf.WriteByte('\n')
		}
		w.indent(depth)
		w.buf.WriteByte(']')
	case kObject:
		if len(v.keys) == 0 {
			w.buf.WriteString("{}")
			return
		}
		w.buf.WriteString("{\n")
		for i, k := range v.keys {
			w.indent(depth + 1)
			writeString(w.buf, k)
			w.buf.WriteString(": ")
			w.value(v.vals[i], depth+1)
			if i < len(v.keys)-1 {
				w.buf.WriteByte(',')
			}
			w.buf.WriteByte('\n')
		}
		w.indent(depth)
		w.buf.WriteByte('}')
	}
}

// date returns the date string for a digits-only number literal when
// HumanDates is on.
func (w writer) date(lit string) (string, bool) {
	if !w.o.HumanDates || lit == "" || strings.Trim(lit, "0123456789") != "" {
		return "", false
	}
	n, err := strconv.ParseInt(lit, 10, 64)
	if err != nil || n > MaxDateSeconds {
		return "", false
	}
	loc := w.o.Location
	if loc == nil {
		loc = time.Local
	}
	return DateString(time.Unix(n, 0).In(loc)), true
}

// DateString formats t as htdecodetoken -H shows it: date(1)'s default
// format in the C locale with runs of spaces collapsed (the bash original
// re-split its output into words), for example "Sun Nov 2 05:50:25 UTC
// 2026".
func DateString(t time.Time) string {
	return strings.Join(strings.Fields(t.Format(time.UnixDate)), " ")
}

// writeString writes s as a JSON string with jq's escaping.
func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// Expiry returns the exp claim of a JWT, without verifying the token (the
// callers decide when to refresh a token they obtained themselves). ok is
// false for a token that is not a JWT or has no positive numeric exp.
func Expiry(token string) (exp time.Time, ok bool) {
	b, err := Segment(strings.TrimSpace(token), Payload)
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(b, &claims) != nil {
		return time.Time{}, false
	}
	f, err := claims.Exp.Float64()
	if err != nil || f <= 0 || f > MaxDateSeconds {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}
