package krbcredmon

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/credmon"
)

// knobs is a fixed HTCondor configuration.
type knobs map[string]string

func (k knobs) Get(_ context.Context, names ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range names {
		if v, ok := k[n]; ok {
			out[n] = v
		}
	}
	return out, nil
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run starts Main as condor_credmon_krb with args and cfg; it returns
// the exit status once ctx is cancelled (or Main exits by itself).
func run(t *testing.T, ctx context.Context, cfg knobs, passed func(), args ...string) (int, string) {
	t.Helper()
	var stderr syncBuf
	var once sync.Once
	code := credmon.Main(ctx, append([]string{"condor_credmon_krb"}, args...), credmon.MainOptions{
		Stdout: &stderr, Stderr: &stderr, Config: cfg, NoWatch: true,
		Program: Program, Providers: []credmon.ProviderFactory{Factory()},
		AfterPass: func(credmon.PassStats) { once.Do(passed) },
	})
	return code, stderr.String()
}

// TestProgramDirectoryAndLog: the directory argument wins over
// SEC_CREDENTIAL_DIRECTORY_KRB; the log is SEC_CREDENTIAL_MONITOR_KRB_LOG;
// a 0755 directory is accepted; the pid file and CREDMON_COMPLETE are
// there after the first pass.
func TestProgramDirectoryAndLog(t *testing.T) {
	base := t.TempDir()
	knobDir, argDir := filepath.Join(base, "knob"), filepath.Join(base, "arg")
	os.Mkdir(argDir, 0o755)
	os.Chmod(argDir, 0o755)
	logFile := filepath.Join(base, "CredMonKrbLog")
	cfg := knobs{"SEC_CREDENTIAL_DIRECTORY_KRB": knobDir, "SEC_CREDENTIAL_MONITOR_KRB_LOG": logFile}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var pid []byte
	var complete bool
	code, out := run(t, ctx, cfg, func() {
		pid, _ = os.ReadFile(filepath.Join(argDir, "pid"))
		_, err := os.Stat(filepath.Join(argDir, "CREDMON_COMPLETE"))
		complete = err == nil
		cancel()
	}, argDir)
	if code != credmon.ExitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if string(pid) != strconv.Itoa(os.Getpid()) || !complete {
		t.Errorf("pid file %q, CREDMON_COMPLETE %v", pid, complete)
	}
	if _, err := os.Stat(knobDir); err == nil {
		t.Error("the knob's directory was used although an argument was given")
	}
	if b, _ := os.ReadFile(logFile); !strings.Contains(string(b), "Starting program=condor_credmon_krb name=CREDMON_KRB") {
		t.Errorf("log %s:\n%s", logFile, b)
	}
}

// TestProgramRefusesWritableDirectory: a directory others may write is
// exit 1 with one line; two directories are a usage error.
func TestProgramRefusesWritableDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "krb")
	os.Mkdir(dir, 0o757)
	os.Chmod(dir, 0o757)
	code, out := run(t, context.Background(), knobs{}, func() { t.Error("a pass ran") }, dir)
	if code != credmon.ExitFailure || !strings.Contains(out, "writable by others") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	code, out = run(t, context.Background(), knobs{}, func() { t.Error("a pass ran") }, "-c", dir+"x", dir)
	if code != credmon.ExitUsage {
		t.Errorf("two directories: exit %d:\n%s", code, out)
	}
}
