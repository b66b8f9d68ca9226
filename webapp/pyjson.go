package webapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The credential files are written as Python's json.dump writes them
// (what HTCondor's Python credmon and web app produce): one line, ", "
// and ": " separators, keys in their original order, non-ASCII escaped
// as \uXXXX, no trailing newline.

// member is one key/value of an ordered JSON object; Value is raw JSON.
type member struct {
	Key   string
	Value json.RawMessage
}

// pyObject encodes members as one Python-style JSON object.
func pyObject(ms []member) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteString(", ")
		}
		pyString(&b, m.Key)
		b.WriteString(": ")
		if err := pyValue(&b, json.NewDecoder(bytes.NewReader(m.Value))); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// str is a raw JSON string value.
func str(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// orderedObject decodes a JSON object keeping its members' order; a
// duplicate key keeps its first position and its last value, as Python's
// json.loads does.
func orderedObject(data []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var out []member
	idx := map[string]int{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if i, ok := idx[k]; ok {
			out[i].Value = v
			continue
		}
		idx[k] = len(out)
		out = append(out, member{k, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return out, nil
}

// pyValue copies one JSON value from dec in Python's format.
func pyValue(b *bytes.Buffer, dec *json.Decoder) error {
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return fmt.Errorf("encoding JSON: %w", err)
	}
	switch v := t.(type) {
	case json.Delim:
		closer := byte('}')
		if v == '[' {
			closer = ']'
		}
		b.WriteByte(byte(v))
		for n := 0; dec.More(); n++ {
			if n > 0 {
				b.WriteString(", ")
			}
			if v == '{' {
				kt, err := dec.Token()
				if err != nil {
					return fmt.Errorf("encoding JSON: %w", err)
				}
				k, _ := kt.(string)
				pyString(b, k)
				b.WriteString(": ")
			}
			if err := pyValue(b, dec); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("encoding JSON: %w", err)
		}
		b.WriteByte(closer)
	case string:
		pyString(b, v)
	case json.Number:
		b.WriteString(v.String())
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
		b.WriteString("null")
	}
	return nil
}

// pyString writes s as Python's json.dumps (ensure_ascii) does.
func pyString(b *bytes.Buffer, s string) {
	const hexd = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r > 0x7f:
			if r == utf8.RuneError {
				r = 0xfffd
			}
			units := []uint16{uint16(r)}
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				units = []uint16{uint16(r1), uint16(r2)}
			}
			for _, u := range units {
				b.WriteString(`\u`)
				b.WriteByte(hexd[u>>12&0xf])
				b.WriteByte(hexd[u>>8&0xf])
				b.WriteByte(hexd[u>>4&0xf])
				b.WriteByte(hexd[u&0xf])
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
