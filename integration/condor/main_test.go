package condor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/integration/condor/credd"
	"github.com/vaultcred/gettoken/integration/stack"
)

const domain = "test.domain"

var (
	// cd is the shared stand-in HTCondor of the tests.
	cd *Condor
	// base is a world-searchable scratch directory.
	base string
	// userUID is the unprivileged uid the tools run as (the tests' own uid
	// when not root); superUID is listed in CRED_SUPER_USERS.
	userUID, superUID int
	// hups receives the SIGHUPs the credd sends to the pid in
	// <creddir>/pid, which is this test process.
	hups = make(chan os.Signal, 64)
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	signal.Notify(hups, syscall.SIGHUP)
	var err error
	if base, err = os.MkdirTemp("", "condor-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(base)
	if err := os.Chmod(base, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	userUID, superUID = os.Getuid(), os.Getuid()
	if userUID == 0 {
		userUID, superUID = 4321, 4322
	}
	for _, d := range []string{"log", "files"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cd, err = Start(ctx, filepath.Join(base, "c"), filepath.Join(base, "log"), map[string]string{
		"TRUSTED_VAULT_HOSTS":           "vault.example.org, Other.Example.ORG:8200",
		"CRED_SUPER_USERS":              credd.UserName(superUID) + " admin*",
		"UID_DOMAIN":                    domain,
		"SEC_CREDENTIAL_SWEEP_INTERVAL": "1",
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "condor: Start: %v\n", err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(cd.CredDir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		cd.Stop()
		return 1
	}
	code := m.Run()
	cd.Stop()
	if stack.PidAlive(cd.Credd.Pid()) {
		fmt.Fprintf(os.Stderr, "condor: condor_credd (pid %d) still running after Stop\n", cd.Credd.Pid())
		code = 1
	}
	return code
}

// result of one tool run.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// tool runs a stand-in tool of c as uid with stdin.
func tool(t *testing.T, c *Condor, uid int, env []string, stdin string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := c.Command(ctx, name, args...)
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = "/"
	cmd.WaitDelay = time.Second
	if uid != os.Geteuid() {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := result{stdout: o.String(), stderr: e.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// storeCred runs condor_store_cred on the shared stand-in.
func storeCred(t *testing.T, uid int, stdin string, args ...string) result {
	t.Helper()
	return tool(t, cd, uid, nil, stdin, "condor_store_cred", args...)
}

// uids are the users the contract runs as: root and an unprivileged uid
// when the tests run as root, else the tests' own uid.
func uids() []int {
	if os.Geteuid() == 0 {
		return []int{0, userUID}
	}
	return []int{os.Geteuid()}
}

// header is the first lines condor_store_cred prints without -u.
func header(uid int) string {
	return "Account: <current> (" + credd.UserName(uid) + ")\nCredType: oauth\n\n"
}

// info is the "Credential info" block for user with extra attribute lines.
func info(user string, attrs ...string) string {
	s := "\nCredential info:\nfully_qualified_user = \"" + user + "@" + domain + "\"\n"
	for _, a := range attrs {
		s += a + "\n"
	}
	return s + "\n"
}

func mtime(t *testing.T, path string) time.Time {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

func iso(tm time.Time) string { return tm.Local().Format("2006-01-02 15:04:05") }

// kicks counts the SIGHUPs the credd has logged sending.
func kicks(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(cd.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "credmon_kick: sent SIGHUP to credmon pid "+strconv.Itoa(os.Getpid()))
}

func drainHups() {
	for {
		select {
		case <-hups:
		default:
			return
		}
	}
}

// expectHup waits for one SIGHUP and checks no second one is queued.
func expectHup(t *testing.T) {
	t.Helper()
	select {
	case <-hups:
	case <-time.After(10 * time.Second):
		t.Fatal("the credd sent no SIGHUP to the pid in <creddir>/pid")
	}
	select {
	case <-hups:
		t.Fatal("more than one SIGHUP")
	default:
	}
}

// checkSecret checks a credential file: content, mode, owner (the credd's
// uid, i.e. ours) and type.
func checkSecret(t *testing.T, path string, want []byte, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != mode {
		t.Errorf("%s: mode %v, want a regular file %v", path, fi.Mode(), mode)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != os.Geteuid() {
		t.Errorf("%s: owner %d, want %d (the credd's)", path, st.Uid, os.Geteuid())
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want != nil && !bytes.Equal(got, want) {
		t.Errorf("%s holds\n%q\nwant\n%q", path, got, want)
	}
}

func checkAbsent(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists, want it absent", p)
		}
	}
}

// writeRoot creates path (and its directory, 0700) as the credd would,
// with mode and optionally mtime.
func writeRoot(t *testing.T, path, content string, mode os.FileMode, at time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if !at.IsZero() {
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}
}

// userFile writes a file owned by uid (for -i <file>).
func userFile(t *testing.T, uid int, name, content string) string {
	t.Helper()
	p := filepath.Join(base, "files", fmt.Sprintf("%d-%s", uid, name))
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
	return p
}

func vaultJSON(token, url string) string {
	if token == "" {
		return "{\n  \"vault_url\": \"" + url + "\"\n}\n"
	}
	return "{\n  \"vault_token\": \"" + token + "\",\n  \"vault_url\": \"" + url + "\"\n}\n"
}
