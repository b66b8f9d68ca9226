package classad

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits bound what a parser accepts. A zero field takes the default.
type Limits struct {
	MaxBytes  int // whole input; default 16 MiB
	MaxDepth  int // nesting of ads, lists and parentheses; default 32
	MaxAttrs  int // attributes in one ad; default 10,000
	MaxAds    int // ads in one input; default 100,000
	MaxString int // bytes in one decoded string; default 1 MiB
}

// DefaultLimits are the limits used by ParseNew and ParseOld.
var DefaultLimits = Limits{MaxBytes: 16 << 20, MaxDepth: 32, MaxAttrs: 10000, MaxAds: 100000, MaxString: 1 << 20}

func (l Limits) norm() Limits {
	d := DefaultLimits
	if l.MaxBytes > 0 {
		d.MaxBytes = l.MaxBytes
	}
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	if l.MaxAttrs > 0 {
		d.MaxAttrs = l.MaxAttrs
	}
	if l.MaxAds > 0 {
		d.MaxAds = l.MaxAds
	}
	if l.MaxString > 0 {
		d.MaxString = l.MaxString
	}
	return d
}

// ErrLimit is wrapped by every error caused by a Limits bound.
var ErrLimit = errors.New("classad: limit exceeded")

// SyntaxError reports where the input stopped making sense. Offset is a
// byte offset (new syntax); Line is 1-based (old syntax), else 0.
type SyntaxError struct {
	Offset int
	Line   int
	Msg    string
	Err    error // ErrLimit for limit violations, else nil
}

func (e *SyntaxError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("classad: line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("classad: offset %d: %s", e.Offset, e.Msg)
}

// Unwrap returns ErrLimit for limit violations.
func (e *SyntaxError) Unwrap() error { return e.Err }

type parser struct {
	src   string
	pos   int
	depth int
	lim   Limits
}

func (p *parser) fail(format string, args ...any) error {
	return &SyntaxError{Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) limit(what string) error {
	return &SyntaxError{Offset: p.pos, Msg: what + " exceeds the limit", Err: ErrLimit}
}

// ParseNew reads new-syntax ads: zero or more ads back to back, with
// optional whitespace and comments between them, or one list of ads
// `{ [...], [...] }`.
func ParseNew(data []byte) ([]*Ad, error) { return ParseNewLimits(data, DefaultLimits) }

// ParseNewLimits is ParseNew with explicit limits.
func ParseNewLimits(data []byte, lim Limits) ([]*Ad, error) {
	lim = lim.norm()
	if len(data) > lim.MaxBytes {
		return nil, &SyntaxError{Msg: "input size exceeds the limit", Err: ErrLimit}
	}
	p := &parser{src: string(data), lim: lim}
	var ads []*Ad
	if err := p.skipSpace(); err != nil {
		return nil, err
	}
	if p.peek() == '{' {
		p.pos++
		for {
			if err := p.skipSpace(); err != nil {
				return nil, err
			}
			if p.peek() == '}' && len(ads) == 0 {
				p.pos++
				break
			}
			if p.peek() != '[' {
				return nil, p.fail("expected '[' in list of ads")
			}
			a, err := p.parseAd()
			if err != nil {
				return nil, err
			}
			if len(ads) >= lim.MaxAds {
				return nil, p.limit("number of ads")
			}
			ads = append(ads, a)
			if err := p.skipSpace(); err != nil {
				return nil, err
			}
			if p.peek() == ',' {
				p.pos++
				continue
			}
			if p.peek() == '}' {
				p.pos++
				break
			}
			return nil, p.fail("expected ',' or '}' in list of ads")
		}
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if p.pos < len(p.src) {
			return nil, p.fail("unexpected text after the list of ads")
		}
		return ads, nil
	}
	for p.pos < len(p.src) {
		if p.peek() != '[' {
			return nil, p.fail("expected '[' to start an ad")
		}
		a, err := p.parseAd()
		if err != nil {
			return nil, err
		}
		if len(ads) >= lim.MaxAds {
			return nil, p.limit("number of ads")
		}
		ads = append(ads, a)
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
	}
	return ads, nil
}

// ParseNewAd reads exactly one new-syntax ad.
func ParseNewAd(data []byte) (*Ad, error) {
	ads, err := ParseNew(data)
	if err != nil {
		return nil, err
	}
	if len(ads) != 1 {
		return nil, &SyntaxError{Msg: fmt.Sprintf("expected one ad, found %d", len(ads))}
	}
	return ads[0], nil
}

// ParseValue reads one new-syntax value (a literal, a list, an ad or an
// expression kept as text) making up all of data.
func ParseValue(data []byte) (Value, error) {
	lim := DefaultLimits
	if len(data) > lim.MaxBytes {
		return Value{}, &SyntaxError{Msg: "input size exceeds the limit", Err: ErrLimit}
	}
	p := &parser{src: string(data), lim: lim}
	return p.wholeValue()
}

func (p *parser) wholeValue() (Value, error) {
	if err := p.skipSpace(); err != nil {
		return Value{}, err
	}
	v, err := p.parseValue(ctxTop)
	if err != nil {
		return Value{}, err
	}
	if err := p.skipSpace(); err != nil {
		return Value{}, err
	}
	if p.pos < len(p.src) {
		return Value{}, p.fail("unexpected text after the value")
	}
	return v, nil
}

func (p *parser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// skipSpace skips whitespace and // and /* */ comments.
func (p *parser) skipSpace() error {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case isSpace(c):
			p.pos++
		case c == '/' && strings.HasPrefix(p.src[p.pos:], "//"):
			i := strings.IndexByte(p.src[p.pos:], '\n')
			if i < 0 {
				p.pos = len(p.src)
			} else {
				p.pos += i + 1
			}
		case c == '/' && strings.HasPrefix(p.src[p.pos:], "/*"):
			i := strings.Index(p.src[p.pos+2:], "*/")
			if i < 0 {
				return p.fail("unterminated comment")
			}
			p.pos += 2 + i + 2
		default:
			return nil
		}
	}
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > p.lim.MaxDepth {
		return p.limit("nesting depth")
	}
	return nil
}

// parseAd reads `[ name = value; ... ]` starting at '['.
func (p *parser) parseAd() (*Ad, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.pos++ // '['
	a := New()
	for {
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if p.peek() == ']' {
			p.pos++
			return a, nil
		}
		if p.peek() == ';' {
			p.pos++
			continue
		}
		name, err := p.parseName()
		if err != nil {
			return nil, err
		}
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		if p.peek() != '=' {
			return nil, p.fail("expected '=' after attribute name")
		}
		p.pos++
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		v, err := p.parseValue(ctxAd)
		if err != nil {
			return nil, err
		}
		if _, dup := a.Get(name); !dup && a.Len() >= p.lim.MaxAttrs {
			return nil, p.limit("number of attributes")
		}
		a.Set(name, v)
		if err := p.skipSpace(); err != nil {
			return nil, err
		}
		switch p.peek() {
		case ';':
			p.pos++
		case ']':
		default:
			return nil, p.fail("expected ';' or ']' after attribute value")
		}
	}
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }

// reserved words cannot be bare attribute names.
var reserved = map[string]bool{"true": true, "false": true, "undefined": true, "error": true, "is": true, "isnt": true, "parent": true}

func (p *parser) parseName() (string, error) {
	if p.peek() == '\'' {
		s, err := p.parseQuoted('\'')
		if err != nil {
			return "", err
		}
		if s == "" {
			return "", p.fail("empty attribute name")
		}
		return s, nil
	}
	start := p.pos
	if !isNameStart(p.peek()) {
		return "", p.fail("expected an attribute name")
	}
	for p.pos < len(p.src) && isNameChar(p.src[p.pos]) {
		p.pos++
	}
	name := p.src[start:p.pos]
	if reserved[fold(name)] {
		p.pos = start
		return "", p.fail("reserved word used as attribute name")
	}
	return name, nil
}

type context int

const (
	ctxTop  context = iota // a whole input: ends at end of input
	ctxAd                  // ends at ';' or ']'
	ctxList                // ends at ',' or '}'
)

// atEnd reports whether the parser stands at the end of a value in ctx.
func (p *parser) atEnd(ctx context) bool {
	if p.pos >= len(p.src) {
		return true
	}
	c := p.src[p.pos]
	switch ctx {
	case ctxAd:
		return c == ';' || c == ']'
	case ctxList:
		return c == ',' || c == '}'
	}
	return false
}

// parseValue reads a literal; if the literal is not the whole value, the
// value is re-read as an expression kept as text.
func (p *parser) parseValue(ctx context) (Value, error) {
	start := p.pos
	v, ok, err := p.parseLiteral()
	if err != nil {
		return Value{}, err
	}
	if ok {
		save := p.pos
		if err := p.skipSpace(); err != nil {
			return Value{}, err
		}
		if p.atEnd(ctx) {
			p.pos = save
			return v, nil
		}
	}
	p.pos = start
	return p.parseExpr(ctx)
}

// parseLiteral reads a literal at pos; ok is false (and pos undefined) if
// the text there is not a literal.
func (p *parser) parseLiteral() (Value, bool, error) {
	c := p.peek()
	switch {
	case c == '"':
		s, err := p.parseStrings()
		if err != nil {
			return Value{}, false, err
		}
		return String(s), true, nil
	case c == '[':
		a, err := p.parseAd()
		if err != nil {
			return Value{}, false, err
		}
		return AdValue(a), true, nil
	case c == '{':
		return p.parseList()
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
		return p.parseNumber()
	case isNameStart(c):
		start := p.pos
		for p.pos < len(p.src) && isNameChar(p.src[p.pos]) {
			p.pos++
		}
		switch fold(p.src[start:p.pos]) {
		case "true":
			return Bool(true), true, nil
		case "false":
			return Bool(false), true, nil
		case "undefined":
			return Undefined(), true, nil
		case "error":
			return ErrorValue(), true, nil
		}
	}
	return Value{}, false, nil
}

func (p *parser) parseList() (Value, bool, error) {
	if err := p.enter(); err != nil {
		return Value{}, false, err
	}
	defer func() { p.depth-- }()
	p.pos++ // '{'
	var vs []Value
	for {
		if err := p.skipSpace(); err != nil {
			return Value{}, false, err
		}
		if p.peek() == '}' && len(vs) == 0 {
			p.pos++
			return List(vs...), true, nil
		}
		if p.pos >= len(p.src) {
			return Value{}, false, p.fail("unterminated list")
		}
		v, err := p.parseValue(ctxList)
		if err != nil {
			return Value{}, false, err
		}
		if len(vs) >= p.lim.MaxAttrs {
			return Value{}, false, p.limit("number of list elements")
		}
		vs = append(vs, v)
		if err := p.skipSpace(); err != nil {
			return Value{}, false, err
		}
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return List(vs...), true, nil
		default:
			return Value{}, false, p.fail("expected ',' or '}' in list")
		}
	}
}

// parseNumber reads an optionally signed decimal integer or real. Text
// that is a number by ClassAd rules but not a decimal literal here (octal,
// hexadecimal, out of range) is not a literal and becomes an expression.
func (p *parser) parseNumber() (Value, bool, error) {
	start := p.pos
	if c := p.peek(); c == '-' || c == '+' {
		p.pos++
	}
	digits := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	intEnd := p.pos
	real := false
	if p.peek() == '.' {
		real = true
		p.pos++
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
	}
	if p.pos == digits || (real && p.pos == digits+1) {
		return Value{}, false, nil // a sign or '.' alone
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		save := p.pos
		p.pos++
		if c := p.peek(); c == '-' || c == '+' {
			p.pos++
		}
		e := p.pos
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == e {
			p.pos = save
		} else {
			real = true
		}
	}
	if p.pos < len(p.src) && isNameChar(p.src[p.pos]) {
		return Value{}, false, nil // 0x1F, 10k, ...
	}
	text := p.src[start:p.pos]
	if real {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsInf(f, 0) {
			return Value{}, false, nil
		}
		return Real(f), true, nil
	}
	if intEnd-digits > 1 && p.src[digits] == '0' {
		return Value{}, false, nil // octal in ClassAds
	}
	i, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return Value{}, false, nil
	}
	return Int(i), true, nil
}

// parseStrings reads one string literal and any adjacent ones separated
// only by whitespace or comments, concatenated.
func (p *parser) parseStrings() (string, error) {
	var b strings.Builder
	for {
		s, err := p.parseQuoted('"')
		if err != nil {
			return "", err
		}
		if b.Len()+len(s) > p.lim.MaxString {
			return "", p.limit("string length")
		}
		b.WriteString(s)
		save := p.pos
		if err := p.skipSpace(); err != nil {
			return "", err
		}
		if p.peek() != '"' {
			p.pos = save
			return b.String(), nil
		}
	}
}

// parseQuoted reads a quoted string or name with ClassAd escapes,
// decoding them to bytes.
func (p *parser) parseQuoted(q byte) (string, error) {
	start := p.pos
	p.pos++
	var b []byte
	for {
		if p.pos >= len(p.src) {
			p.pos = start
			return "", p.fail("unterminated quoted text")
		}
		c := p.src[p.pos]
		p.pos++
		if c == q {
			return string(b), nil
		}
		if len(b) >= p.lim.MaxString {
			return "", p.limit("string length")
		}
		if c != '\\' {
			b = append(b, c)
			continue
		}
		if p.pos >= len(p.src) {
			p.pos = start
			return "", p.fail("unterminated quoted text")
		}
		e := p.src[p.pos]
		p.pos++
		switch e {
		case 'a':
			b = append(b, '\a')
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'v':
			b = append(b, '\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			n := int(e - '0')
			max := 2 // digits still allowed
			if e > '3' {
				max = 1
			}
			for k := 0; k < max && p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '7'; k++ {
				n = n*8 + int(p.src[p.pos]-'0')
				p.pos++
			}
			if n == 0 {
				return "", p.fail("NUL byte in quoted text")
			}
			b = append(b, byte(n))
		default:
			// \" \' \\ \? and unknown escapes: the character itself.
			b = append(b, e)
		}
	}
}

// parseExpr skips an expression up to the end of the value in ctx,
// balancing brackets and skipping string literals and comments, and
// returns its trimmed source text.
func (p *parser) parseExpr(ctx context) (Value, error) {
	var stack []byte
	var b strings.Builder
	for {
		if len(stack) == 0 && p.atEnd(ctx) {
			break
		}
		if p.pos >= len(p.src) {
			return Value{}, p.fail("unbalanced expression")
		}
		c := p.src[p.pos]
		switch {
		case c == '"' || c == '\'':
			start := p.pos
			if _, err := p.parseQuoted(c); err != nil {
				return Value{}, err
			}
			b.WriteString(p.src[start:p.pos])
			continue
		case isSpace(c) || strings.HasPrefix(p.src[p.pos:], "//") || strings.HasPrefix(p.src[p.pos:], "/*"):
			// Whitespace and comments become one space, so the text
			// can be written back on one line.
			if err := p.skipSpace(); err != nil {
				return Value{}, err
			}
			b.WriteByte(' ')
			continue
		case c == '(' || c == '[' || c == '{':
			if len(stack) >= p.lim.MaxDepth {
				return Value{}, p.limit("nesting depth")
			}
			stack = append(stack, map[byte]byte{'(': ')', '[': ']', '{': '}'}[c])
		case c == ')' || c == ']' || c == '}':
			if len(stack) == 0 || stack[len(stack)-1] != c {
				return Value{}, p.fail("unbalanced %q in expression", c)
			}
			stack = stack[:len(stack)-1]
		}
		if b.Len() >= p.lim.MaxString {
			return Value{}, p.limit("expression length")
		}
		b.WriteByte(c)
		p.pos++
	}
	text := strings.TrimSpace(b.String())
	if text == "" {
		return Value{}, p.fail("missing value")
	}
	return Expr(text), nil
}
