package classad

import (
	"fmt"
	"strings"
)

// ParseOld reads old-syntax ads: one `Name = value` per line, an empty
// line between ads, lines starting with `#` ignored. A string value
// follows HTCondor's old rules: a backslash is literal, except that `\"`
// is a quote inside the string unless it ends the line, where it is a
// backslash followed by the closing quote. Other values are read as in
// the new syntax (literals, lists, nested ads, expressions kept as text).
func ParseOld(data []byte) ([]*Ad, error) { return ParseOldLimits(data, DefaultLimits) }

// ParseOldLimits is ParseOld with explicit limits.
func ParseOldLimits(data []byte, lim Limits) ([]*Ad, error) {
	lim = lim.norm()
	if len(data) > lim.MaxBytes {
		return nil, &SyntaxError{Msg: "input size exceeds the limit", Err: ErrLimit}
	}
	var ads []*Ad
	var cur *Ad
	for n, line := range strings.Split(string(data), "\n") {
		lineNo := n + 1
		line = strings.TrimSpace(line)
		if line == "" {
			if cur != nil {
				ads = append(ads, cur)
				cur = nil
			}
			continue
		}
		if line[0] == '#' {
			continue
		}
		name, v, err := parseOldLine(line, lim)
		if err != nil {
			if se, ok := err.(*SyntaxError); ok {
				se.Line, se.Offset = lineNo, 0
				return nil, se
			}
			return nil, &SyntaxError{Line: lineNo, Msg: err.Error()}
		}
		if cur == nil {
			if len(ads) >= lim.MaxAds {
				return nil, &SyntaxError{Line: lineNo, Msg: "number of ads exceeds the limit", Err: ErrLimit}
			}
			cur = New()
		}
		if _, dup := cur.Get(name); !dup && cur.Len() >= lim.MaxAttrs {
			return nil, &SyntaxError{Line: lineNo, Msg: "number of attributes exceeds the limit", Err: ErrLimit}
		}
		cur.Set(name, v)
	}
	if cur != nil {
		ads = append(ads, cur)
	}
	return ads, nil
}

// ParseOldAd reads exactly one old-syntax ad (blank lines are not
// separators here: the `-classad` output of a plugin is one ad).
func ParseOldAd(data []byte) (*Ad, error) {
	ads, err := ParseOld(data)
	if err != nil {
		return nil, err
	}
	a := New()
	for _, x := range ads {
		for i, n := range x.names {
			a.Set(n, x.values[i])
		}
	}
	return a, nil
}

// ParseOldLine reads one `Name = value` line of old syntax.
func ParseOldLine(line string) (string, Value, error) {
	return parseOldLine(strings.TrimSpace(line), DefaultLimits)
}

func parseOldLine(line string, lim Limits) (string, Value, error) {
	eq := strings.IndexByte(line, '=')
	if eq < 0 {
		return "", Value{}, fmt.Errorf("expected Name = value")
	}
	name := strings.TrimSpace(line[:eq])
	if name == "" || !isNameStart(name[0]) || reserved[fold(name)] {
		return "", Value{}, fmt.Errorf("bad attribute name")
	}
	for i := 0; i < len(name); i++ {
		if !isNameChar(name[i]) {
			return "", Value{}, fmt.Errorf("bad attribute name")
		}
	}
	rhs := strings.TrimSpace(line[eq+1:])
	if rhs == "" {
		return "", Value{}, fmt.Errorf("missing value")
	}
	if rhs[0] == '"' {
		if s, ok := oldString(rhs); ok {
			if len(s) > lim.MaxString {
				return "", Value{}, &SyntaxError{Msg: "string length exceeds the limit", Err: ErrLimit}
			}
			if strings.IndexByte(s, 0) >= 0 {
				return "", Value{}, fmt.Errorf("NUL byte in string")
			}
			return name, String(s), nil
		}
	}
	p := &parser{src: rhs, lim: lim}
	v, err := p.wholeValue()
	if err != nil {
		return "", Value{}, err
	}
	return name, v, nil
}

// oldString decodes rhs if it is exactly one old-syntax string literal.
func oldString(rhs string) (string, bool) {
	var b strings.Builder
	for i := 1; i < len(rhs); i++ {
		c := rhs[i]
		if c == '\\' && i+1 < len(rhs) && rhs[i+1] == '"' {
			if i+2 == len(rhs) {
				b.WriteByte('\\')
				return b.String(), true
			}
			b.WriteByte('"')
			i++
			continue
		}
		if c == '"' {
			return b.String(), i == len(rhs)-1
		}
		b.WriteByte(c)
	}
	return "", false
}
