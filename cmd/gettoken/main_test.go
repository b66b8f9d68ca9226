package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/vaultcred/gettoken/internal/testcert"
	"github.com/vaultcred/gettoken/vaultcred"
)

// dumpEnv makes the command print its derived options instead of running
// the (not yet wired) Vault flow, so scripts can check option handling.
const dumpEnv = "GETTOKEN_TEST_DUMP"

// testEuid is the effective uid the scripts see, for stable %uid values.
const testEuid = 4242

// fakeSystemFiles are the only files the CA defaults can find in scripts,
// so the help text and CA settings do not depend on the machine.
var fakeSystemFiles = fstest.MapFS{"etc/pki/tls/cert.pem": {Data: []byte("x")}}

func TestMain(m *testing.M) {
	testOnlyEnviron = func(env *vaultcred.Environ) {
		env.Euid = testEuid
		env.Stat = func(name string) (fs.FileInfo, error) {
			if !strings.HasPrefix(name, "/") {
				return nil, fs.ErrNotExist
			}
			return fs.Stat(fakeSystemFiles, name[1:])
		}
	}
	testOnlyDump = func(opts *vaultcred.Options) bool {
		if os.Getenv(dumpEnv) == "" {
			return false
		}
		fmt.Print(dumpOptions(opts))
		return true
	}
	testscript.Main(m, map[string]func(){
		"gettoken":   func() { os.Exit(gettokenMain()) },
		"htgettoken": func() { os.Exit(gettokenMain()) },
	})
}

// dumpOptions renders every exported field as "Name=value" lines.
func dumpOptions(o *vaultcred.Options) string {
	var b strings.Builder
	v := reflect.ValueOf(o).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		if f.IsExported() {
			fmt.Fprintf(&b, "%s=%v\n", f.Name, v.Field(i).Interface())
		}
	}
	return b.String()
}

func TestScripts(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/htgettokenopts.txt":
			fmt.Fprint(w, "-a vault.example -i s -r s # site defaults\n--minsecs=120\n")
		case "/stray.txt":
			fmt.Fprint(w, "-a vault.example stray\n")
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":["no such options file"]}`)
		}
	}))
	t.Cleanup(srv.Close) // the scripts run in parallel, after TestScripts returns
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	otherPEM := testcert.UnrelatedCAPEM(t)

	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		// GETTOKEN_UPDATE_GOLDEN=1 rewrites the golden files in the scripts.
		UpdateScripts: os.Getenv("GETTOKEN_UPDATE_GOLDEN") != "",
		Setup: func(e *testscript.Env) error {
			e.Setenv("OPTSERVER", strings.TrimPrefix(srv.URL, "https://"))
			e.Setenv("COLUMNS", "80")
			if err := os.WriteFile(filepath.Join(e.WorkDir, "other.pem"), otherPEM, 0o600); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(e.WorkDir, "ca.pem"), caPEM, 0o600)
		},
	})
}

func TestProgramName(t *testing.T) {
	for argv0, want := range map[string]string{
		"htgettoken":                "htgettoken",
		"/usr/bin/htgettoken":       "htgettoken",
		`C:\bin\htgettoken.exe`:     "gettoken", // backslashes are not separators here
		"htgettoken.exe":            "htgettoken",
		"gettoken":                  "gettoken",
		"/opt/gettoken-linux-amd64": "gettoken",
		"":                          "gettoken",
		"./HTGETTOKEN":              "gettoken",
	} {
		if got := programName(argv0); got != want {
			t.Errorf("programName(%q) = %q, want %q", argv0, got, want)
		}
	}
}

// TestRunMainInProcess checks the error-to-exit mapping without a
// subprocess, including an empty argv.
func TestRunMainInProcess(t *testing.T) {
	tests := []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{nil, 2, "", "gettoken: Missing required parameters: ['--vaultserver']\n\n"},
		{[]string{"htgettoken", "--version"}, 0, "2.6\n", ""},
		{[]string{"htgettoken", "-q", "-a", "h"}, 1, "", ""},
		{[]string{"gettoken", "-a", "h", "--showbearerurl"}, 1, "", "\ngettoken: Failure getting token from https://h:8200\n"},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		code := runMain(context.Background(), invocation{
			args:   tc.args,
			stdout: &stdout,
			stderr: &stderr,
			env:    vaultcred.Environ{Euid: testEuid},
			width:  78,
		})
		if code != tc.code || stdout.String() != tc.stdout || !strings.HasPrefix(stderr.String(), tc.stderr) {
			t.Errorf("%q: code %d stdout %q stderr %q", tc.args, code, stdout.String(), stderr.String())
		}
	}
}
