package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// testEuid is the effective uid the scripts see, for stable file names.
const testEuid = 4242

// tmpDirEnv names the directory that stands for /tmp in scripts.
const tmpDirEnv = "HTDECODETOKEN_TEST_TMPDIR"

func TestMain(m *testing.M) {
	testOnlyInvocation = func(inv *invocation) {
		inv.euid = testEuid
		if d := os.Getenv(tmpDirEnv); d != "" {
			inv.tmpDir = d
		}
	}
	testscript.Main(m, map[string]func(){
		"htdecodetoken": func() { os.Exit(decodeMain()) },
		"httokendecode": func() { os.Exit(decodeMain()) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		// GETTOKEN_UPDATE_GOLDEN=1 rewrites the golden files in the scripts.
		UpdateScripts: os.Getenv("GETTOKEN_UPDATE_GOLDEN") != "",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"gounquote": unquoteCmd,
		},
		Setup: func(e *testscript.Env) error {
			tmp := filepath.Join(e.WorkDir, "tmp")
			e.Setenv(tmpDirEnv, tmp)
			e.Setenv("TZ", "UTC")
			return os.Mkdir(tmp, 0o700)
		},
	})
}

// unquoteCmd is the script command "gounquote src dst": dst gets the content
// of src read as a Go quoted string, for bytes txtar cannot hold (a
// missing final newline, \r, NUL).
func unquoteCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: gounquote src dst")
	}
	s, err := strconv.Unquote(strings.TrimSpace(ts.ReadFile(args[0])))
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(s), 0o600))
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args []string
		want string // flags as "aHvsf" letters, then "|" and the file arguments
		msg  string // usage error message; "usage" for a bare usage error
	}{
		{nil, "|", ""},
		{[]string{"-aH"}, "aH|", ""},
		{[]string{"-a", "-H", "-v", "f"}, "aHv|f", ""},
		{[]string{"-s", "-s", "-"}, "s|-", ""},
		{[]string{"-f"}, "f|", ""},
		{[]string{"--", "-a"}, "|-a", ""},
		{[]string{"file", "-a"}, "", "usage"}, // two arguments
		{[]string{"-s", "-f"}, "", "Cannot use both -s and -f options together"},
		{[]string{"-fs"}, "", "Cannot use both -s and -f options together"},
		{[]string{"-h"}, "", "usage"},
		{[]string{"-x", "-s", "-f"}, "", "usage"},
		{[]string{"-a", "--verbose"}, "", "usage"},
	}
	for _, tc := range tests {
		f, err := parseArgs(tc.args)
		if tc.msg != "" {
			ue, ok := err.(*errUsage)
			if !ok || (tc.msg == "usage" && ue.msg != "") || (tc.msg != "usage" && ue.msg != tc.msg) {
				t.Errorf("%q: error %v, want %q", tc.args, err, tc.msg)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		var b strings.Builder
		for _, x := range []struct {
			on bool
			c  string
		}{{f.header, "a"}, {f.human, "H"}, {f.verbose, "v"}, {f.skipSet, "s"}, {f.forceSet, "f"}} {
			if x.on {
				b.WriteString(x.c)
			}
		}
		if got := b.String() + "|" + strings.Join(f.args, " "); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestRunInProcess covers what scripts cannot: a terminal on stdout (the
// check runs by default), a given time zone, and an empty argv.
func TestRunInProcess(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	tool := filepath.Join(dir, verifyTool)
	// Only shell builtins: PATH holds nothing else.
	script := "#!/bin/sh\nread -r tok\nprintf '%s %s\\n' $# \"$tok\" > " + log + "\necho 'token expired' >&2\nexit 4\n"
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	const token = "eyJhbGciOiJub25lIn0.eyJleHAiOjE3OTMzMzUwMjV9.sig" // {"exp":1793335025}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), invocation{
		args:      []string{"htdecodetoken", "-H"},
		stdin:     strings.NewReader(""),
		stdout:    &stdout,
		stderr:    &stderr,
		env:       []string{"BEARER_TOKEN=" + token, "PATH=relative:" + dir},
		stdoutTTY: true,
		location:  time.FixedZone("CST", -6*3600),
		tmpDir:    dir,
	})
	if code != 4 || stderr.String() != "token expired\n" {
		t.Errorf("exit %d stderr %q, want 4 and the tool's message", code, stderr.String())
	}
	if want := "{\n  \"exp\": \"Thu Oct 29 22:37:05 CST 2026\"\n}\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if b, err := os.ReadFile(log); err != nil || string(b) != "0 "+token+"\n" {
		t.Errorf("the tool read %q (%v), want the token on stdin", b, err)
	}

	stdout.Reset()
	stderr.Reset()
	code = run(context.Background(), invocation{stdout: &stdout, stderr: &stderr, tmpDir: dir, euid: 7})
	if code != 1 || stdout.Len() != 0 || stderr.String() != dir+"/bt_u7 not found\n" {
		t.Errorf("empty argv: exit %d stdout %q stderr %q", code, stdout.String(), stderr.String())
	}
}
