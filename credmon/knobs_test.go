package credmon

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestKnobsBatchAndCache(t *testing.T) {
	src := newFakeKnobSource("A", "1", "b", "x y", "EMPTY", "")
	k := NewKnobs(src)
	if err := k.Load(context.Background(), "A", "B", "a", "C", "bad-name", "use", "EMPTY"); err != nil {
		t.Fatal(err)
	}
	if got := src.batches(); len(got) != 1 || !slices.Equal(got[0], []string{"A", "B", "C", "EMPTY"}) {
		t.Fatalf("batches %v", got)
	}
	if v, ok := k.Lookup("a"); !ok || v != "1" {
		t.Errorf("a = %q %v", v, ok)
	}
	if _, ok := k.Lookup("C"); ok {
		t.Error("undefined C is defined")
	}
	if _, ok := k.Lookup("EMPTY"); ok {
		t.Error("empty value counts as defined")
	}
	if _, ok, known := k.Cached("bad-name"); ok || !known {
		t.Errorf("invalid knob name: defined %v known %v", ok, known)
	}
	// Everything above was answered from the cache.
	if n := len(src.batches()); n != 1 {
		t.Errorf("%d batches after cached lookups", n)
	}
	// A knob never loaded is looked up on its own, once.
	src.vals["D"] = "4"
	if v := k.String("D", "def"); v != "4" {
		t.Errorf("D = %q", v)
	}
	k.String("D", "")
	if got := src.batches(); len(got) != 2 || !slices.Equal(got[1], []string{"D"}) {
		t.Errorf("batches %v", got)
	}
}

func TestKnobsLoadErrorIsNotCached(t *testing.T) {
	src := newFakeKnobSource("A", "1")
	src.err = errors.New("tool failed")
	k := NewKnobs(src)
	if err := k.Load(context.Background(), "A"); err == nil {
		t.Fatal("no error")
	}
	if _, _, known := k.Cached("A"); known {
		t.Error("a failed lookup was cached")
	}
	if v := k.String("A", "def"); v != "def" {
		t.Errorf("A = %q during the failure", v)
	}
	src.err = nil
	if v := k.String("A", "def"); v != "1" {
		t.Errorf("A = %q after the failure", v)
	}
}

func TestKnobAccessors(t *testing.T) {
	k := NewKnobs(newFakeKnobSource("N", " 42 ", "BADN", "4x", "T", "TRUE", "F", "0", "BADB", "maybe", "L", "a, b\tc,,d"))
	if n, err := k.Int("N", 7); n != 42 || err != nil {
		t.Errorf("N %d %v", n, err)
	}
	if n, err := k.Int("BADN", 7); n != 7 || !errors.Is(err, ErrBadValue) {
		t.Errorf("BADN %d %v", n, err)
	}
	if n, err := k.Int("UNSET", 7); n != 7 || err != nil {
		t.Errorf("UNSET %d %v", n, err)
	}
	if b, err := k.Bool("T", false); !b || err != nil {
		t.Errorf("T %v %v", b, err)
	}
	if b, err := k.Bool("F", true); b || err != nil {
		t.Errorf("F %v %v", b, err)
	}
	if b, err := k.Bool("BADB", true); !b || !errors.Is(err, ErrBadValue) {
		t.Errorf("BADB %v %v", b, err)
	}
	if l := k.List("L"); !slices.Equal(l, []string{"a", "b", "c", "d"}) {
		t.Errorf("L %q", l)
	}
	if l := k.List("UNSET"); l != nil {
		t.Errorf("UNSET list %q", l)
	}
}

func TestParseHelpers(t *testing.T) {
	for in, want := range map[string]bool{"true": true, "True": true, " TRUE ": true, "1": true, "false": false, "FALSE": false, "0": false} {
		if got, err := parseBool(in); got != want || err != nil {
			t.Errorf("parseBool(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "yes", "2", "truex"} {
		if _, err := parseBool(in); !errors.Is(err, ErrBadValue) {
			t.Errorf("parseBool(%q) err %v", in, err)
		}
	}
	for in, want := range map[string]int64{"0": 0, "10000000": 10000000, "64 Kb": 64 << 10, "10M": 10 << 20, "1g": 1 << 30, " 5 b": 5, "-1": -1} {
		if got, err := parseSize(in); got != want || err != nil {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "M", "10 X", "1.5M", "99999999999999999999"} {
		if _, err := parseSize(in); !errors.Is(err, ErrBadValue) {
			t.Errorf("parseSize(%q) err %v", in, err)
		}
	}
	if got := SplitList(" a,b  c\n,"); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("SplitList %q", got)
	}
	for in, want := range map[string]bool{"SEC_X": true, "a.b_1": true, "": false, "a-b": false, "use": false, "USE": false, "x y": false} {
		if ValidKnobName(in) != want {
			t.Errorf("ValidKnobName(%q) != %v", in, want)
		}
	}
}
