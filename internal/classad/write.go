package classad

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrNUL is returned when writing a string or name that contains a NUL
// byte, which ClassAds cannot represent.
var ErrNUL = errors.New("classad: NUL byte in a string")

// ErrOldSyntax is returned when a value cannot be written on one line of
// the old syntax (a string or expression with a line break).
var ErrOldSyntax = errors.New("classad: value cannot be written in old syntax")

// MarshalNew writes the ad in new syntax, `[ A = 1; B = "x" ]`, in
// attribute order. Strings escape `"`, `\` and control bytes (as named
// escapes or `\ooo`), and invalid UTF-8 bytes as `\ooo`; valid UTF-8 is
// written as is. Reals always carry a decimal point and an exponent.
func (a *Ad) MarshalNew() ([]byte, error) {
	var b strings.Builder
	if err := writeAd(&b, a); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// String returns the new-syntax text of the ad, or a placeholder if it
// cannot be written.
func (a *Ad) String() string {
	out, err := a.MarshalNew()
	if err != nil {
		return "[ /* " + err.Error() + " */ ]"
	}
	return string(out)
}

// MarshalOld writes the ad in old syntax: one `Name = value` line per
// attribute, each ending in a newline. Strings escape only `"`, as
// HTCondor's writer does; nested ads and lists use new syntax inside.
func (a *Ad) MarshalOld() ([]byte, error) {
	var b strings.Builder
	for i, n := range a.names {
		if err := writeName(&b, n); err != nil {
			return nil, err
		}
		b.WriteString(" = ")
		v := a.values[i]
		switch v.kind {
		case KindString:
			if strings.ContainsAny(v.s, "\n\r") {
				return nil, ErrOldSyntax
			}
			if strings.IndexByte(v.s, 0) >= 0 {
				return nil, ErrNUL
			}
			b.WriteByte('"')
			b.WriteString(strings.ReplaceAll(v.s, `"`, `\"`))
			b.WriteByte('"')
		default:
			var vb strings.Builder
			if err := writeValue(&vb, v); err != nil {
				return nil, err
			}
			if strings.ContainsAny(vb.String(), "\n\r") {
				return nil, ErrOldSyntax
			}
			b.WriteString(vb.String())
		}
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

// MarshalNewList writes ads back to back in new syntax, one per line, the
// form HTCondor reads from a plugin's output file.
func MarshalNewList(ads []*Ad) ([]byte, error) {
	var b strings.Builder
	for _, a := range ads {
		if err := writeAd(&b, a); err != nil {
			return nil, err
		}
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

// MarshalOldList writes ads in old syntax separated by one empty line,
// the form of the credd's key files.
func MarshalOldList(ads []*Ad) ([]byte, error) {
	var out []byte
	for i, a := range ads {
		if i > 0 {
			out = append(out, '\n')
		}
		b, err := a.MarshalOld()
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

func writeAd(b *strings.Builder, a *Ad) error {
	if a == nil || a.Len() == 0 {
		b.WriteString("[ ]")
		return nil
	}
	b.WriteString("[ ")
	for i, n := range a.names {
		if i > 0 {
			b.WriteString("; ")
		}
		if err := writeName(b, n); err != nil {
			return err
		}
		b.WriteString(" = ")
		if err := writeValue(b, a.values[i]); err != nil {
			return err
		}
	}
	b.WriteString(" ]")
	return nil
}

func writeName(b *strings.Builder, n string) error {
	plain := n != "" && isNameStart(n[0]) && !reserved[fold(n)]
	for i := 0; plain && i < len(n); i++ {
		plain = isNameChar(n[i])
	}
	if plain {
		b.WriteString(n)
		return nil
	}
	if n == "" {
		return errors.New("classad: empty attribute name")
	}
	return writeQuoted(b, n, '\'')
}

func writeValue(b *strings.Builder, v Value) error {
	switch v.kind {
	case KindUndefined:
		b.WriteString("undefined")
	case KindError:
		b.WriteString("error")
	case KindBool:
		b.WriteString(strconv.FormatBool(v.b))
	case KindInt:
		b.WriteString(strconv.FormatInt(v.i, 10))
	case KindReal:
		b.WriteString(formatReal(v.f))
	case KindString:
		return writeQuoted(b, v.s, '"')
	case KindList:
		b.WriteString("{ ")
		for i, e := range v.list {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := writeValue(b, e); err != nil {
				return err
			}
		}
		b.WriteString(" }")
	case KindAd:
		return writeAd(b, v.ad)
	case KindExpr:
		b.WriteString(v.s)
	}
	return nil
}

// formatReal writes the shortest text that reads back to the same number,
// always with a decimal point and an exponent (1.0E+00), so no reader
// takes it for an integer. Infinities and NaN use HTCondor's real("...").
func formatReal(f float64) string {
	switch {
	case math.IsNaN(f):
		return `real("NaN")`
	case math.IsInf(f, 1):
		return `real("INF")`
	case math.IsInf(f, -1):
		return `-real("INF")`
	}
	s := strconv.FormatFloat(f, 'E', -1, 64)
	if !strings.Contains(s, ".") {
		i := strings.IndexByte(s, 'E')
		s = s[:i] + ".0" + s[i:]
	}
	return s
}

func writeQuoted(b *strings.Builder, s string, q byte) error {
	b.WriteByte(q)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0:
			return ErrNUL
		case c == q || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\a':
			b.WriteString(`\a`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\v':
			b.WriteString(`\v`)
		case c < 0x20 || c == 0x7f:
			writeOctal(b, c)
		case c >= 0x80:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n <= 1 {
				writeOctal(b, c)
			} else {
				b.WriteString(s[i : i+n])
				i += n
				continue
			}
		default:
			b.WriteByte(c)
		}
		i++
	}
	b.WriteByte(q)
	return nil
}

func writeOctal(b *strings.Builder, c byte) {
	b.WriteByte('\\')
	b.WriteByte('0' + c>>6)
	b.WriteByte('0' + (c>>3)&7)
	b.WriteByte('0' + c&7)
}
