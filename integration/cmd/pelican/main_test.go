package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// The contract the storer's pelican mode relies on: "token fetch" with
// permission flags and one pelican:// or osdf:// resource; anything else is
// refused with a message on stderr and exit 1, nothing on stdout.
func TestContract(t *testing.T) {
	cases := []struct {
		args   []string
		scopes []string
		err    string
	}{
		{[]string{"token", "fetch", "--read", "pelican://fed/a"}, []string{"storage.read:/"}, ""},
		{[]string{"token", "fetch", "--read", "--write", "--modify", "osdf://fed/a"}, []string{"storage.read:/", "storage.create:/", "storage.modify:/"}, ""},
		{[]string{"token", "fetch", "pelican://fed/a"}, nil, "usage"},
		{[]string{"token", "fetch", "--read"}, nil, "usage"},
		{[]string{"token", "fetch", "--read", "https://fed/a"}, nil, "not a pelican:// or osdf:// URL"},
		{[]string{"token", "fetch", "--admin", "pelican://fed/a"}, nil, "usage"},
		{[]string{"token", "fetch", "--read", "pelican://a", "pelican://b"}, nil, "usage"},
		{[]string{"object", "get", "pelican://fed/a"}, nil, "usage"},
		{nil, nil, "usage"},
	}
	for _, tc := range cases {
		scopes, _, err := parse(tc.args)
		if tc.err == "" {
			if err != nil || !reflect.DeepEqual(scopes, tc.scopes) {
				t.Errorf("parse(%q) = %q, %v; want %q", tc.args, scopes, err, tc.scopes)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("parse(%q) error %v, want %q", tc.args, err, tc.err)
		}
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb, func(string) string { return "" }); code != 1 || out.Len() != 0 || !strings.HasPrefix(errb.String(), "Error:") {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q", tc.args, code, out.String(), errb.String())
		}
	}
	// Without a terminal and without PELICAN_SKIP_TERMINAL_CHECK=1 it
	// refuses, as the real client does (the test's stdin is no terminal).
	var out, errb bytes.Buffer
	if code := run([]string{"token", "fetch", "--read", "pelican://fed/a"}, &out, &errb, func(string) string { return "" }); code != 1 ||
		!strings.Contains(errb.String(), "PELICAN_SKIP_TERMINAL_CHECK") {
		t.Errorf("no terminal: %d %q", code, errb.String())
	}
}
