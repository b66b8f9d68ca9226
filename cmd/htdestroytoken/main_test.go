package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/vaultcred/gettoken/internal/testcert"
	"github.com/vaultcred/gettoken/vaultcred"
)

// testEuid is the effective uid the scripts see, for stable file names.
const testEuid = 4242

// tmpDirEnv names the directory that stands for /tmp in scripts.
const tmpDirEnv = "HTDESTROYTOKEN_TEST_TMPDIR"

func TestMain(m *testing.M) {
	testOnlyInvocation = func(inv *invocation) {
		inv.env.Euid = testEuid
		if d := os.Getenv(tmpDirEnv); d != "" {
			inv.tmpDir = d
		}
	}
	testscript.Main(m, map[string]func(){
		"htdestroytoken": func() { os.Exit(destroyMain()) },
	})
}

// Tokens the fake Vault knows. Each credkey has its own refresh token path.
const (
	aliceToken = "hvs.alice-vault-token"
	credsPath  = "/v1/secret/oauth/creds/default/"
)

// fakeVault answers DELETE of alice's and bob's refresh tokens when the
// right vault token comes with it, 403 for "denied", and 400 for anything
// else (which a script then sees in the error message).
func fakeVault(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string][]string{"errors": {msg}})
	}
	if r.Method != http.MethodDelete {
		fail(http.StatusMethodNotAllowed, "unexpected "+r.Method)
		return
	}
	switch r.URL.Path {
	case credsPath + "alice:default", credsPath + "bob:myrole":
		if r.Header.Get("X-Vault-Token") != aliceToken {
			fail(http.StatusForbidden, "wrong vault token")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case credsPath + "denied:default":
		fail(http.StatusForbidden, "permission denied")
	default:
		fail(http.StatusBadRequest, "unexpected path "+r.URL.Path)
	}
}

func TestScripts(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(fakeVault))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the bad-CA case's handshake error
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	otherPEM := testcert.UnrelatedCAPEM(t)

	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		// GETTOKEN_UPDATE_GOLDEN=1 rewrites the golden files in the scripts.
		UpdateScripts: os.Getenv("GETTOKEN_UPDATE_GOLDEN") != "",
		Setup: func(e *testscript.Env) error {
			e.Setenv("VAULT", strings.TrimPrefix(srv.URL, "https://"))
			e.Setenv("ALICE_TOKEN", aliceToken)
			tmp := filepath.Join(e.WorkDir, "tmp")
			e.Setenv(tmpDirEnv, tmp)
			if err := os.Mkdir(tmp, 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(e.WorkDir, "other.pem"), otherPEM, 0o600); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(e.WorkDir, "ca.pem"), caPEM, 0o600)
		},
	})
}

// recorded is one request seen by a recording server.
type recorded struct {
	method, path, token string
}

// recorder is an httptest TLS server that records every request and
// answers with status (after block, if set, is closed or the request ends).
type recorder struct {
	mu     sync.Mutex
	reqs   []recorded
	status int
	block  bool
	srv    *httptest.Server
}

func newRecorder(t *testing.T, status int) *recorder {
	rec := &recorder{status: status}
	rec.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Method, r.URL.Path, r.Header.Get("X-Vault-Token")})
		block := rec.block
		rec.mu.Unlock()
		if block {
			<-r.Context().Done()        // the client gave up
			panic(http.ErrAbortHandler) // answer nothing
		}
		if rec.status != http.StatusNoContent {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(rec.status)
			fmt.Fprint(w, `{"errors":["permission denied"]}`)
			return
		}
		w.WriteHeader(rec.status)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) requests() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.reqs...)
}

// setup writes the CA, a vault token file and a bearer token file, and
// returns an invocation of "htdestroytoken -f -a <server> --credkey=alice
// --cafile=<ca>" with VAULT_TOKEN_FILE and BEARER_TOKEN_FILE set.
func (rec *recorder) setup(t *testing.T) (inv invocation, vt, bt string, stdout, stderr *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	vt = filepath.Join(dir, "vt")
	bt = filepath.Join(dir, "bt")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rec.srv.Certificate().Raw})
	for name, data := range map[string]string{ca: string(caPEM), vt: aliceToken + "\n", bt: "eyJ.bearer.x\n"} {
		if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]string{"VAULT_TOKEN_FILE": vt, "BEARER_TOKEN_FILE": bt}
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	inv = invocation{
		args: []string{"htdestroytoken", "-f", "-a", strings.TrimPrefix(rec.srv.URL, "https://"),
			"--credkey=alice", "--cafile=" + ca, "--capath=" + dir},
		stdout: stdout,
		stderr: stderr,
		env: vaultcred.Environ{
			LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
			Euid:      testEuid,
			HomeDir:   dir,
		},
		tmpDir:        dir,
		deleteTimeout: DeleteTimeout,
	}
	return inv, vt, bt, stdout, stderr
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Lstat(path)
	return err == nil
}

// TestDeleteRequest checks the one request -f makes: a DELETE of the
// refresh token path with the vault token from the file in X-Vault-Token.
func TestDeleteRequest(t *testing.T) {
	rec := newRecorder(t, http.StatusNoContent)
	inv, vt, bt, stdout, stderr := rec.setup(t)
	if code := run(context.Background(), inv); code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	want := []recorded{{http.MethodDelete, credsPath + "alice:default", aliceToken}}
	if got := rec.requests(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests %v, want %v", got, want)
	}
	wantOut := "Deleting refresh token\n  at path " + rec.srv.URL + credsPath + "alice:default\n" +
		"Removing " + bt + "\nRemoving " + vt + "\n"
	if stdout.String() != wantOut || stderr.Len() != 0 {
		t.Errorf("stdout %q\nwant   %q\nstderr %q", stdout, wantOut, stderr)
	}
	if exists(t, vt) || exists(t, bt) {
		t.Error("token files not removed")
	}
	if strings.Contains(stdout.String()+stderr.String(), aliceToken) {
		t.Error("vault token printed")
	}
}

// TestDeleteForbidden: a 403 gives exit 3 and removes nothing.
func TestDeleteForbidden(t *testing.T) {
	rec := newRecorder(t, http.StatusForbidden)
	inv, vt, bt, stdout, stderr := rec.setup(t)
	if code := run(context.Background(), inv); code != exitRefresh {
		t.Fatalf("exit %d, want %d", code, exitRefresh)
	}
	if got := rec.requests(); len(got) != 1 || got[0].method != http.MethodDelete {
		t.Errorf("requests %v, want one DELETE", got)
	}
	url := rec.srv.URL + credsPath + "alice:default"
	wantErr := "htdestroytoken: DELETE " + url + " failed: HTTPError: Forbidden: permission denied\n" +
		"htdestroytoken: Unable to delete refresh token\n"
	if stderr.String() != wantErr {
		t.Errorf("stderr %q\nwant   %q", stderr, wantErr)
	}
	if strings.Contains(stdout.String(), "Removing") {
		t.Errorf("stdout %q mentions a removal", stdout)
	}
	if !exists(t, vt) || !exists(t, bt) {
		t.Error("a token file was removed after a failed DELETE")
	}
}

// TestDeleteTimeout: a server that never answers fails the DELETE after
// the timeout, with exit 3.
func TestDeleteTimeout(t *testing.T) {
	rec := newRecorder(t, http.StatusNoContent)
	rec.block = true
	inv, vt, _, _, stderr := rec.setup(t)
	inv.deleteTimeout = 100 * time.Millisecond
	if code := run(context.Background(), inv); code != exitRefresh {
		t.Fatalf("exit %d, want %d", code, exitRefresh)
	}
	if !strings.Contains(stderr.String(), "context deadline exceeded") ||
		!strings.HasSuffix(stderr.String(), "htdestroytoken: Unable to delete refresh token\n") {
		t.Errorf("stderr %q", stderr)
	}
	if !exists(t, vt) {
		t.Error("vault token file removed")
	}
}

// TestDeleteRedirect: a redirect is not followed and is a failure.
func TestDeleteRedirect(t *testing.T) {
	rec := newRecorder(t, http.StatusTemporaryRedirect)
	inv, _, _, _, _ := rec.setup(t)
	if code := run(context.Background(), inv); code != exitRefresh {
		t.Fatalf("exit %d, want %d", code, exitRefresh)
	}
	if got := rec.requests(); len(got) != 1 {
		t.Errorf("requests %v, want exactly one", got)
	}
}

// TestDeleteBadTokenFile: a vault token that cannot go in a header is
// refused before any request, without showing it.
func TestDeleteBadTokenFile(t *testing.T) {
	rec := newRecorder(t, http.StatusNoContent)
	inv, vt, _, _, stderr := rec.setup(t)
	secret := "hvs.se cret"
	if err := os.WriteFile(vt, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := run(context.Background(), inv); code != exitRefresh {
		t.Fatalf("exit %d, want %d", code, exitRefresh)
	}
	if got := rec.requests(); len(got) != 0 {
		t.Errorf("requests %v, want none", got)
	}
	if strings.Contains(stderr.String(), "se cret") || !strings.Contains(stderr.String(), "cannot be in a token") {
		t.Errorf("stderr %q", stderr)
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args  []string
		err   bool
		quiet bool
		rm    bool
		ht    string
		user  int
	}{
		{nil, false, false, false, "", 0},
		{[]string{"-q"}, false, true, false, "-q", 0},
		{[]string{"-h"}, true, false, false, "", 0},
		{[]string{"x"}, true, false, false, "", 0},
		{[]string{"-q", "-a"}, true, false, false, "", 0},
		{[]string{"-f"}, false, false, true, "", 0},
		{[]string{"-f", "-a", "h", "-q"}, false, true, true, "-a h -q", 2},
		{[]string{"-q", "-f", "--scopes=a b"}, false, true, true, "-q --scopes=a b", 1},
		{[]string{"-f", "-a", "h", "-h"}, true, false, false, "", 0},
	}
	for _, tc := range tests {
		r, err := parseArgs(tc.args)
		if tc.err {
			if err == nil {
				t.Errorf("%q: no error", tc.args)
			}
			continue
		}
		if err != nil || r.quiet != tc.quiet || r.rmRefresh != tc.rm || strings.Join(r.htArgs, " ") != tc.ht || r.userHTArgs != tc.user {
			t.Errorf("%q: %+v, %v", tc.args, r, err)
		}
	}
}
