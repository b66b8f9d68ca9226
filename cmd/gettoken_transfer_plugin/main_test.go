package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	env := func(string) string { return "" }
	noConf := func(k string) string {
		if k == "GETTOKEN_TRANSFER_CONFIG" {
			return "/nonexistent/conf"
		}
		return ""
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-classad"}, env, &out, &errb); code != 0 || !strings.Contains(out.String(), `SupportedMethods = "https,davs"`) {
		t.Errorf("-classad: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"-classad"}, noConf, &out, &errb); code != 1 {
		t.Errorf("-classad with a missing explicit config: %d", code)
	}
	if code := run(nil, env, &out, &errb); code != 1 || !strings.Contains(errb.String(), "usage:") {
		t.Errorf("no arguments: %d", code)
	}
	if code := run([]string{"-infile"}, env, &out, &errb); code != 1 {
		t.Errorf("-infile without a file: %d", code)
	}
	out.Reset()
	if code := run([]string{"--help"}, env, &out, &errb); code != 0 || !strings.Contains(out.String(), "-upload") {
		t.Errorf("--help: %d", code)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.WriteFile(in, []byte(`[ Url = "gopher://h/x"; LocalFileName = "`+dir+`/x" ]`), 0o644)
	out.Reset()
	errb.Reset()
	code := run([]string{"-infile", in, "-unknown"}, env, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "TransferSuccess = false") || !strings.Contains(errb.String(), `ignoring unknown argument "-unknown"`) {
		t.Errorf("failed transfer to stdout: %d %q %q", code, out.String(), errb.String())
	}
}
