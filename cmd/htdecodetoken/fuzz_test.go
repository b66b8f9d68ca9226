package main

import (
	"errors"
	"strings"
	"testing"
)

// FuzzDecodeInput checks htdecodetoken's own parsers: its getopts-style
// options (only usage errors, never both -s and -f, at most one file) and
// the first-line reader of a token file (the line, with at most its
// newline, never longer than the limit).
func FuzzDecodeInput(f *testing.F) {
	f.Add("-aH\x00tokenfile", "eyJhbGciOiJub25lIn0.e30.\nsecond line\n")
	f.Add("-sf", "")
	f.Add("-v\x00--\x00-x", "no newline")
	f.Add("-\x00a\x00b", "\n")
	f.Add("-Hz", "\r\n")
	f.Fuzz(func(t *testing.T, argv, content string) {
		var args []string
		if argv != "" {
			args = strings.Split(argv, "\x00")
		}
		fl, err := parseArgs(args)
		if err != nil {
			var ue *errUsage
			if !errors.As(err, &ue) {
				t.Fatalf("parseArgs(%q): %T %v", args, err, err)
			}
		} else if fl.skipSet && fl.forceSet || len(fl.args) > 1 {
			t.Fatalf("parseArgs(%q) = %+v", args, fl)
		}
		line, err := firstLine(strings.NewReader(content), "fuzz")
		if err != nil {
			if len(content) <= maxLine {
				t.Fatalf("firstLine of %d bytes: %v", len(content), err)
			}
			return
		}
		if !strings.HasPrefix(content, line) || strings.Count(line, "\n") > 1 ||
			(strings.Contains(line, "\n") && !strings.HasSuffix(line, "\n")) {
			t.Fatalf("firstLine(%q) = %q", content, line)
		}
		if i := strings.IndexByte(content, '\n'); i >= 0 && len(line) != i+1 || i < 0 && line != content {
			t.Fatalf("firstLine(%q) = %q", content, line)
		}
	})
}
