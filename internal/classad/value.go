// Package classad reads and writes the literal subset of HTCondor ClassAds
// that HTCondor's daemons and tools exchange through files: the credd's key
// files, a file transfer plugin's capability ad, its input ads and its
// result ads.
//
// Two syntaxes are supported. The "new" syntax is the bracket form
// `[ Name = value; Other = value ]`, several ads back to back or a list
// `{ [ ... ], [ ... ] }`. The "old" syntax has one `Name = value` per line,
// a blank line between ads and `#` comments.
//
// Values are literals: strings, integers, reals, booleans, undefined,
// error, lists and nested ads. Any other expression is kept as its source
// text (kind Expr) so that a reader can skip attributes it does not use;
// it is written back verbatim. Attribute names are case-insensitive; an ad
// remembers the spelling and order of first insertion, and a later
// duplicate replaces the value.
//
// Parsers never panic on bad input: they return an error naming the byte
// offset (new syntax) or line (old syntax), and enforce Limits on the
// input size, nesting depth and counts. Error messages never quote string
// values, so a secret in an ad does not reach a log through an error.
package classad

import (
	"fmt"
	"math"
	"strings"
)

// Kind is the type of a Value.
type Kind int

// The kinds of values.
const (
	KindUndefined Kind = iota // the literal undefined (the zero Value)
	KindError                 // the literal error
	KindBool
	KindInt
	KindReal
	KindString
	KindList
	KindAd
	KindExpr // an expression other than a literal, kept as source text
)

var kindNames = [...]string{"undefined", "error", "boolean", "integer", "real", "string", "list", "classad", "expression"}

// String names the kind as ClassAd documentation does.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Value is one ClassAd value. The zero Value is undefined. Values are
// immutable once built, except that an ad inside a Value is shared.
type Value struct {
	kind Kind
	s    string // string value or expression text
	i    int64
	f    float64
	b    bool
	list []Value
	ad   *Ad
}

// Undefined returns the undefined literal.
func Undefined() Value { return Value{} }

// ErrorValue returns the error literal.
func ErrorValue() Value { return Value{kind: KindError} }

// Bool returns a boolean value.
func Bool(b bool) Value { return Value{kind: KindBool, b: b} }

// Int returns an integer value.
func Int(i int64) Value { return Value{kind: KindInt, i: i} }

// Real returns a real value.
func Real(f float64) Value { return Value{kind: KindReal, f: f} }

// String returns a string value. Any bytes are allowed except NUL, which
// ClassAds cannot carry; writing a string with NUL fails.
func String(s string) Value { return Value{kind: KindString, s: s} }

// List returns a list value holding vs (not copied).
func List(vs ...Value) Value { return Value{kind: KindList, list: vs} }

// AdValue returns a value holding a nested ad; nil is an empty ad.
func AdValue(a *Ad) Value {
	if a == nil {
		a = New()
	}
	return Value{kind: KindAd, ad: a}
}

// Expr returns an expression value written verbatim. The text is not
// checked; the parsers produce it only from balanced source text.
func Expr(src string) Value { return Value{kind: KindExpr, s: src} }

// Kind reports the value's type.
func (v Value) Kind() Kind { return v.kind }

// StringValue returns the string and true if v is a string.
func (v Value) StringValue() (string, bool) { return v.s, v.kind == KindString }

// IntValue returns the integer and true if v is an integer.
func (v Value) IntValue() (int64, bool) { return v.i, v.kind == KindInt }

// RealValue returns the number and true if v is a real or an integer.
func (v Value) RealValue() (float64, bool) {
	switch v.kind {
	case KindReal:
		return v.f, true
	case KindInt:
		return float64(v.i), true
	}
	return 0, false
}

// BoolValue returns the boolean and true if v is a boolean.
func (v Value) BoolValue() (bool, bool) { return v.b, v.kind == KindBool }

// ListValue returns the elements and true if v is a list.
func (v Value) ListValue() ([]Value, bool) { return v.list, v.kind == KindList }

// AdValue returns the nested ad and true if v is an ad.
func (v Value) AdValue() (*Ad, bool) { return v.ad, v.kind == KindAd }

// ExprText returns the source text and true if v is an expression.
func (v Value) ExprText() (string, bool) { return v.s, v.kind == KindExpr }

// Equal reports whether two values are the same literal. Reals compare
// by bits, so NaN equals NaN; expressions compare by text; ads compare
// attribute names case-insensitively, ignoring order.
func (v Value) Equal(w Value) bool {
	if v.kind != w.kind {
		return false
	}
	switch v.kind {
	case KindBool:
		return v.b == w.b
	case KindInt:
		return v.i == w.i
	case KindReal:
		return math.Float64bits(v.f) == math.Float64bits(w.f)
	case KindString, KindExpr:
		return v.s == w.s
	case KindList:
		if len(v.list) != len(w.list) {
			return false
		}
		for i := range v.list {
			if !v.list[i].Equal(w.list[i]) {
				return false
			}
		}
		return true
	case KindAd:
		return v.ad.Equal(w.ad)
	}
	return true
}

// Ad is a ClassAd: attributes with case-insensitive names, in insertion
// order. The zero Ad is not usable; use New.
type Ad struct {
	names  []string
	values []Value
	index  map[string]int // lower-case name -> position
}

// New returns an empty ad.
func New() *Ad { return &Ad{index: map[string]int{}} }

func fold(name string) string { return strings.ToLower(name) }

// Set stores v under name, replacing any attribute of the same name in
// any case (which keeps its original spelling and position).
func (a *Ad) Set(name string, v Value) {
	k := fold(name)
	if i, ok := a.index[k]; ok {
		a.values[i] = v
		return
	}
	a.index[k] = len(a.names)
	a.names = append(a.names, name)
	a.values = append(a.values, v)
}

// SetString stores a string attribute.
func (a *Ad) SetString(name, s string) { a.Set(name, String(s)) }

// SetInt stores an integer attribute.
func (a *Ad) SetInt(name string, i int64) { a.Set(name, Int(i)) }

// SetReal stores a real attribute.
func (a *Ad) SetReal(name string, f float64) { a.Set(name, Real(f)) }

// SetBool stores a boolean attribute.
func (a *Ad) SetBool(name string, b bool) { a.Set(name, Bool(b)) }

// Get returns the value of name (any case) and whether it is present.
func (a *Ad) Get(name string) (Value, bool) {
	i, ok := a.index[fold(name)]
	if !ok {
		return Value{}, false
	}
	return a.values[i], true
}

// GetString returns a string attribute; false if absent or not a string.
func (a *Ad) GetString(name string) (string, bool) {
	v, _ := a.Get(name)
	return v.StringValue()
}

// GetInt returns an integer attribute; false if absent or not an integer.
func (a *Ad) GetInt(name string) (int64, bool) {
	v, _ := a.Get(name)
	return v.IntValue()
}

// GetBool returns a boolean attribute; false if absent or not a boolean.
func (a *Ad) GetBool(name string) (bool, bool) {
	v, _ := a.Get(name)
	return v.BoolValue()
}

// Delete removes name (any case) if present.
func (a *Ad) Delete(name string) {
	k := fold(name)
	i, ok := a.index[k]
	if !ok {
		return
	}
	delete(a.index, k)
	a.names = append(a.names[:i], a.names[i+1:]...)
	a.values = append(a.values[:i], a.values[i+1:]...)
	for j := i; j < len(a.names); j++ {
		a.index[fold(a.names[j])] = j
	}
}

// Len is the number of attributes.
func (a *Ad) Len() int { return len(a.names) }

// Names returns the attribute names in insertion order, as first spelled.
func (a *Ad) Names() []string { return append([]string(nil), a.names...) }

// Equal reports whether two ads hold the same names (case-insensitively)
// with equal values, in any order.
func (a *Ad) Equal(b *Ad) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Len() != b.Len() {
		return false
	}
	for i, n := range a.names {
		w, ok := b.Get(n)
		if !ok || !a.values[i].Equal(w) {
			return false
		}
	}
	return true
}
