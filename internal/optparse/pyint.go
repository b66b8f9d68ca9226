package optparse

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// parseOptInt converts an "int" option value the way optparse does: a "0x"
// prefix means hexadecimal, "0b" binary (and "0b" alone is 0), any other
// leading "0" octal, and everything else decimal; the conversion itself
// follows Python's int(text, base): surrounding whitespace, a sign, the base
// prefix and single underscores between digits are allowed.
// Values outside the int64 range are rejected (Python would accept them).
func parseOptInt(val string) (int64, bool) {
	base := 10
	switch lower := strings.ToLower(val); {
	case strings.HasPrefix(lower, "0x"):
		base = 16
	case strings.HasPrefix(lower, "0b"):
		base = 2
		val = val[2:]
		if val == "" {
			val = "0"
		}
	case strings.HasPrefix(val, "0"):
		base = 8
	}
	return pyInt(val, base)
}

// pyInt implements Python's int(s, base) for bases 2, 8, 10 and 16 and ASCII
// digits.
func pyInt(s string, base int) (int64, bool) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	prefixed := false
	if len(s) >= 2 && s[0] == '0' {
		p := unicode.ToLower(rune(s[1]))
		if (base == 16 && p == 'x') || (base == 8 && p == 'o') || (base == 2 && p == 'b') {
			s = s[2:]
			prefixed = true
		}
	}
	// Underscores: one at a time, between digits, or right after a prefix.
	var digits strings.Builder
	prevUnderscore := false
	for i, c := range s {
		if c == '_' {
			if prevUnderscore || (i == 0 && !prefixed) {
				return 0, false
			}
			prevUnderscore = true
			continue
		}
		prevUnderscore = false
		if digitValue(c) >= base {
			return 0, false
		}
		digits.WriteRune(c)
	}
	if prevUnderscore || digits.Len() == 0 {
		return 0, false
	}
	n, ok := new(big.Int).SetString(digits.String(), base)
	if !ok {
		return 0, false
	}
	if neg {
		n.Neg(n)
	}
	if !n.IsInt64() {
		return 0, false
	}
	return n.Int64(), true
}

// digitValue returns the value of an ASCII digit or letter, or 99.
func digitValue(c rune) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// pyRepr renders s like Python's repr() of a str, which optparse uses in
// "invalid integer value: 'abc'".
func pyRepr(s string) string {
	quote := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			// Not valid UTF-8: Python would have surrogate-escaped it.
			fmt.Fprintf(&b, `\udc%02x`, s[i])
			i++
			continue
		}
		i += size
		switch {
		case r == '\\' || r == rune(quote):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x80 || strconv.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}
