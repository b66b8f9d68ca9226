package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func parse(t *testing.T, text string, env ...string) *Config {
	t.Helper()
	c, err := Parse(strings.NewReader(text), "test", env)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExpansionAndOverrides(t *testing.T) {
	c := parse(t, `
# a comment
LOG = /var/log/condor
credd_log = $(Log)/CredLog   # not a comment
Dir = $(UNDEFINED)x
Def = $(UNDEFINED:fallback)/y
Home = $ENV(HOME)
List = a, b \
  c
Self = one
self = $(SELF) two
Empty =
Loop1 = $(Loop2)
Loop2 = $(Loop1)
Over = file
`, "HOME=/h", "_CONDOR_OVER=env", "_condor_NEW=first", "_CONDOR_new= new ", "_CONDOR_=bad", "_CONDOR_BAD-NAME=x")
	for knob, want := range map[string]string{
		"CREDD_LOG": "/var/log/condor/CredLog   # not a comment",
		"dir":       "x",
		"DEF":       "fallback/y",
		"HOME":      "/h",
		"LIST":      "a, b   c",
		"SELF":      "one two",
		"OVER":      "env",
		"NEW":       "new",
		"LOOP1":     "",
	} {
		if got := c.Value(knob); got != want {
			t.Errorf("%s = %q, want %q", knob, got, want)
		}
	}
	if _, ok := c.Get("EMPTY"); ok {
		t.Error("an empty knob must count as undefined")
	}
	if _, ok := c.Get("NOPE"); ok {
		t.Error("NOPE defined")
	}
	names := c.Names()
	if names[0] != "credd_log" || !contains(names, "LOG") || !contains(names, "NEW") || contains(names, "BAD-NAME") {
		t.Errorf("names %v", names)
	}
	if got := SplitList(" a,b  c,,\td "); !reflect.DeepEqual(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("SplitList = %q", got)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestSyntaxErrors(t *testing.T) {
	for _, text := range []string{
		"use feature : OAUTH\n",
		"include : /etc/x\n",
		"JUST A LINE\n",
		"BAD-NAME = 1\n",
		"X @= END\n",
	} {
		_, err := Parse(strings.NewReader("OK = 1\n"+text), "f", nil)
		var se *SyntaxError
		if !errors.As(err, &se) || se.Line != 2 {
			t.Errorf("%q: error %v, want a SyntaxError on line 2", text, err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "condor_config")
	if err := os.WriteFile(path, []byte("CREDD_SOCKET = $(A)/s\nA = /run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONDOR_CONFIG", path)
	t.Setenv("_CONDOR_A", "/other")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("credd_socket"); v != "/other/s" || c.File != path {
		t.Errorf("CREDD_SOCKET = %q from %s", v, c.File)
	}
	t.Setenv("CONDOR_CONFIG", filepath.Join(dir, "missing"))
	if _, err := Load(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
