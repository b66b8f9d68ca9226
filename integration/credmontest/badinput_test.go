package credmontest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBadFilesAreSkippedAndReportedOnce: a credential directory full of
// things that are not usable credentials, next to one good credential.
// Each bad one is logged once (not on every pass), skipped, and affects
// nothing else; the daemon does not crash; no token reaches the log.
func TestBadFilesAreSkippedAndReportedOnce(t *testing.T) {
	s := newSite(t, nil)
	w := s.watch()
	sub := submitted(t, s, "default")
	good := sub.File("default.use")
	w.WaitFor(t, 5*time.Second, "default.use", func() bool { return exists(good) }, s.proc)
	var top map[string]string
	json.Unmarshal(readFile(t, sub.File("default.top")), &top)
	vaultURL, vaultToken := top["vault_url"], top["vault_token"]

	ud := filepath.Join(s.condor.CredDir, "mallory")
	os.Mkdir(ud, 0o700)
	put := func(name string, content []byte) string {
		p := filepath.Join(ud, name)
		writeAtomic(t, p, content)
		return p
	}
	js := func(m map[string]string) []byte { b, _ := json.Marshal(m); return b }
	bad := map[string]string{
		put("empty.top", nil):                             "empty",
		put("huge.top", bytes.Repeat([]byte("x"), 2<<20)): "huge",
		put("nojson.top", []byte("{vault_token: nope")):   "not JSON",
		put("http.top", js(map[string]string{"vault_token": vaultToken, "vault_url": "http://localhost:8200/v1/secret/x"})):          "http URL",
		put("path.top", js(map[string]string{"vault_token": vaultToken, "vault_url": strings.Replace(vaultURL, "/v1/", "/v2/", 1)})): "wrong path",
		put("bad name.top", js(map[string]string{"vault_token": vaultToken, "vault_url": vaultURL})):                                 "bad name",
	}
	foreign := put("foreign.top", js(map[string]string{"vault_token": vaultToken, "vault_url": vaultURL}))
	os.Chown(foreign, 4321, 4321)
	bad[foreign] = "foreign owner"
	target := put("target.json", js(map[string]string{"vault_token": vaultToken, "vault_url": vaultURL}))
	link := filepath.Join(ud, "link.top")
	os.Symlink(target, link)
	bad[link] = "symlink"
	dirTop := filepath.Join(ud, "dir.top")
	os.Mkdir(dirTop, 0o700)
	bad[dirTop] = "directory"

	// Two rescans: every bad file is seen at least twice.
	for i := 0; i < 2; i++ {
		complete := filepath.Join(s.condor.CredDir, "CREDMON_COMPLETE")
		before, _ := os.Stat(complete)
		s.hup()
		w.WaitFor(t, 10*time.Second, "a pass", func() bool {
			after, err := os.Stat(complete)
			return err == nil && after.ModTime().After(before.ModTime())
		}, s.proc)
	}
	log := string(readFile(t, s.log))
	for p, what := range bad {
		// Reports are WARNING or ERROR lines naming the file or the token.
		base := strings.TrimSuffix(filepath.Base(p), ".top")
		n := 0
		for _, line := range strings.Split(log, "\n") {
			if (strings.Contains(line, "WARNING") || strings.Contains(line, "ERROR")) &&
				(strings.Contains(line, p) || strings.Contains(line, "user=mallory token="+base+" ") || strings.HasSuffix(line, "user=mallory token="+base)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s (%s): reported %d times, want once", filepath.Base(p), what, n)
		}
		if exists(strings.TrimSuffix(p, ".top") + ".use") {
			t.Errorf("%s (%s): a .use was written", filepath.Base(p), what)
		}
	}
	if strings.Contains(log, vaultToken) {
		t.Error("a vault token is in the log")
	}
	if s.proc.Exited() {
		t.Fatal("the credmon exited")
	}
	// The good credential is unaffected and still served: re-stored, its
	// .use is written again (a new file, so a new inode).
	ino := func() uint64 {
		fi, err := os.Stat(good)
		if err != nil {
			return 0
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	before := ino()
	touchTop(t, sub.File("default.top"))
	w.WaitFor(t, 10*time.Second, "default.use rewritten", func() bool { n := ino(); return n != 0 && n != before }, s.proc)
}
