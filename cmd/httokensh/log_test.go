package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/vaultcred"
)

// A FIFO planted at the renewal log's predictable name (in /tmp, by
// another user) must be refused at once, not block httokensh in open(2)
// (and not hand the log to whoever reads the FIFO).
func TestRenewalLogFIFORefused(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "bt_u1.sh-1")
	if err := syscall.Mkfifo(out+".log", 0o666); err != nil {
		t.Fatal(err)
	}
	s := &session{opts: &vaultcred.Options{OutFile: out}, firstWait: time.Hour}
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- s.run([]string{"true"}, &stderr) }()
	select {
	case code := <-done:
		if code != exitFailed || !strings.Contains(stderr.String(), "cannot create the renewal log") {
			t.Errorf("exit %d, stderr %q; want the renewal log refused", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		// Unblock the open so the goroutine can finish.
		if f, err := os.OpenFile(out+".log", os.O_RDONLY, 0); err == nil {
			defer f.Close()
		}
		<-done
		t.Fatal("httokensh blocked opening a FIFO planted at the renewal log's name")
	}
}

// A regular file another user planted at the log's name is refused, so
// the renewal messages never land in a file that user can read.
func TestRenewalLogForeignFileRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a file owned by another user")
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "bt.log")
	if err := os.WriteFile(log, []byte("planted"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(log, 54321, 54321); err != nil {
		t.Fatal(err)
	}
	if f, err := openLog(log); err == nil {
		f.Close()
		t.Fatal("a log file owned by another user was accepted")
	}
	if b, _ := os.ReadFile(log); string(b) != "planted" {
		t.Errorf("the foreign file was truncated: %q", b)
	}
}
