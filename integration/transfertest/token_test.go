package transfertest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/internal/classad"
)

func errorData(t *testing.T, a *classad.Ad) *classad.Ad {
	t.Helper()
	v, ok := a.Get("TransferErrorData")
	l, _ := v.ListValue()
	if !ok || len(l) == 0 {
		t.Fatalf("no TransferErrorData: %s", a)
	}
	e, _ := l[len(l)-1].AdValue()
	return e
}

func hostURL(scheme, p string) string { return scheme + strings.TrimPrefix(xrd.Base, "https") + p }

// A token with only the read scope: XRootD refuses the upload, the
// plugin reports an Authorization failure and exits 1, and the token is
// in neither the result ad nor the log.
func TestNoWriteScopeRefused(t *testing.T) {
	j := newJob(t)
	tok := mint(t, "alice", "read:/user/{username}", time.Now(), 20*time.Minute)
	j.writeUse("store", tok)
	randomFile(t, filepath.Join(j.iwd, "ro.dat"), 1000)
	ads, code, log := j.plugin(true, file{hostURL("store+davs", "/user/alice/ro.dat"), filepath.Join(j.iwd, "ro.dat")})
	if code != 1 || len(ads) != 1 {
		t.Fatalf("exit %d, %d ads\n%s", code, len(ads), log)
	}
	if ok, _ := ads[0].GetBool("TransferSuccess"); ok {
		t.Fatal("upload without write scope succeeded")
	}
	e := errorData(t, ads[0])
	if typ, _ := e.GetString("ErrorType"); typ != "Authorization" {
		t.Errorf("ErrorType %q: %s", typ, ads[0])
	}
	if code, _ := e.GetInt("ErrorCode"); code != 403 {
		t.Errorf("ErrorCode %d", code)
	}
	if _, err := os.Stat(filepath.Join(xrd.Data, "user/alice/ro.dat")); err == nil {
		t.Error("file created on the server")
	}
	if strings.Contains(ads[0].String(), tok) || strings.Contains(log, tok) {
		t.Error("token leaked into the result ad or log")
	}
}

// Handles: store.alice+ and store.bob+ read store_alice.use and
// store_bob.use; bob's token is refused for alice's area and accepted for
// his own, and the handle-first form <handle>+cloudstore:// reads
// cloudstore_<handle>.use.
func TestHandlesPickTheirFiles(t *testing.T) {
	j := newJob(t)
	j.writeUse("store_alice", mint(t, "alice", rw, time.Now(), 20*time.Minute))
	j.writeUse("store_bob", mint(t, "bob", rw, time.Now(), 20*time.Minute))
	j.writeUse("cloudstore_bob", mint(t, "bob", rw, time.Now(), 20*time.Minute))
	randomFile(t, filepath.Join(j.iwd, "h.dat"), 5000)
	local := filepath.Join(j.iwd, "h.dat")
	ads, code, log := j.plugin(true,
		file{hostURL("store.alice+davs", "/user/alice/h/a.dat"), local},
		file{hostURL("store.bob+davs", "/user/alice/h/b.dat"), local},
		file{hostURL("store.bob+davs", "/user/bob/h/b.dat"), local},
		file{hostURL("bob+cloudstore", "/user/bob/h/c.dat"), local},
	)
	if code != 1 || len(ads) != 4 {
		t.Fatalf("exit %d, %d ads\n%s", code, len(ads), log)
	}
	want := []bool{true, false, true, true}
	for i, a := range ads {
		ok, _ := a.GetBool("TransferSuccess")
		if ok != want[i] {
			t.Errorf("file %d: success %v, want %v: %s", i, ok, want[i], a)
		}
		u, _ := a.GetString("TransferUrl")
		if i == 3 && !strings.HasPrefix(u, "bob+cloudstore://") {
			t.Errorf("TransferUrl not echoed: %q", u)
		}
	}
	for _, p := range []string{"user/alice/h/a.dat", "user/bob/h/b.dat", "user/bob/h/c.dat"} {
		if _, err := os.Stat(filepath.Join(xrd.Data, p)); err != nil {
			t.Errorf("%s not on the server: %v", p, err)
		}
	}
}

// An expired token in the .use: the plugin waits for the credmon's
// replacement, picks it up and transfers with it.
func TestExpiredTokenReplaced(t *testing.T) {
	j := newJob(t)
	j.writeUse("store", mint(t, "alice", rw, time.Now().Add(-time.Hour), 20*time.Minute))
	want := randomFile(t, filepath.Join(xrd.Data, "user/alice/fresh.dat"), 4096)
	os.Chown(filepath.Join(xrd.Data, "user/alice/fresh.dat"), 65534, 65534)
	cmd, in, out, _ := j.command(false, file{hostURL("store+https", "/user/alice/fresh.dat"), filepath.Join(j.iwd, "fresh.dat")})
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	waiting := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), "has expired; waiting") {
				once = true
				close(waiting)
			}
		}
	}()
	select {
	case <-waiting:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("plugin did not wait for a fresh token")
	}
	j.writeUse("store", mint(t, "alice", rw, time.Now(), 20*time.Minute))
	err := cmd.Wait()
	pw.Close()
	ads, code, _ := j.results(in, out, err, "")
	if code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, ads, log.String())
	}
	success(t, ads[0])
	got, _ := os.ReadFile(filepath.Join(j.iwd, "fresh.dat"))
	if string(got) != string(want) {
		t.Fatal("content differs")
	}
}

// A missing token file, and no token at all: clear errors.
func TestMissingAndNoToken(t *testing.T) {
	j := newJob(t)
	os.WriteFile(filepath.Join(xrd.Data, "user/pub.dat"), []byte("x"), 0o644)
	ads, code, _ := j.plugin(false,
		file{hostURL("nosuch+https", "/user/pub.dat"), filepath.Join(j.iwd, "a")},
		file{hostURL("https", "/user/pub.dat"), filepath.Join(j.iwd, "b")},
	)
	if code != 1 || len(ads) != 2 {
		t.Fatalf("exit %d, %d ads", code, len(ads))
	}
	if e, _ := ads[0].GetString("TransferError"); !strings.Contains(e, "nosuch.use") {
		t.Errorf("missing token file: %q", e)
	}
	if ok, _ := ads[1].GetBool("TransferSuccess"); ok {
		t.Error("tokenless read allowed")
	}
	for _, n := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(j.iwd, n)); err == nil {
			t.Errorf("%s created by a failed download", n)
		}
	}
}

// Disk full on download: a 1 MiB tmpfs as the sandbox, a 3 MiB file.
// The result says NoSpace and nothing is left under the final name or as
// a temporary file.
func TestDiskFullDownload(t *testing.T) {
	j := newJob(t)
	j.writeUse("store", mint(t, "alice", rw, time.Now(), 20*time.Minute))
	small := filepath.Join(t.TempDir(), "small")
	os.Mkdir(small, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	defer syscall.Unmount(small, 0)
	randomFile(t, filepath.Join(xrd.Data, "user/alice/big.dat"), 3<<20)
	ads, code, log := j.plugin(false, file{hostURL("store+https", "/user/alice/big.dat"), filepath.Join(small, "big.dat")})
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, log)
	}
	e := errorData(t, ads[0])
	if ft, _ := e.GetString("FailureType"); ft != "NoSpace" {
		t.Errorf("FailureType %q: %s", ft, ads[0])
	}
	ents, _ := os.ReadDir(small)
	if len(ents) != 0 {
		t.Errorf("left behind on the full disk: %v", ents)
	}
}
