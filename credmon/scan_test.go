package credmon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/internal/tokenfile"
)

func TestValidName(t *testing.T) {
	for in, want := range map[string]bool{
		"dune": true, "dune_production_h1": true, "a-b+c=d.e": true, "X9": true,
		"": false, "a b": false, "a/b": false, "a@b": false, "é": false, "a\n": false,
	} {
		if validName(in) != want {
			t.Errorf("validName(%q) != %v", in, want)
		}
	}
}

func TestReadChecked(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	os.WriteFile(p("ok"), []byte("data"), 0o600)
	os.WriteFile(p("empty"), nil, 0o600)
	os.WriteFile(p("big"), make([]byte, MaxFileSize+1), 0o600)
	os.Symlink("ok", p("link"))
	os.Mkdir(p("dir"), 0o700)
	os.WriteFile(p("foreign"), []byte("x"), 0o600)
	os.Chown(p("foreign"), 4242, 4242)

	d, err := tokenfile.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b, sig, err := readAt(d, "ok", false)
	if err != nil || string(b) != "data" || sig.size != 4 || sig.ino == 0 || sig.ctime == 0 {
		t.Errorf("ok: %q %+v %v", b, sig, err)
	}
	for name, why := range map[string]string{
		"empty": "is empty", "big": "is larger than", "link": "is a symbolic link", "dir": "is a directory", "foreign": "is owned by uid 4242",
	} {
		_, _, err := readAt(d, name, false)
		var bad *BadFileError
		if !errors.As(err, &bad) || !strings.Contains(err.Error(), why) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := readAt(d, "foreign", true); err != nil {
		t.Errorf("any owner: %v", err)
	}
	if _, _, err := readAt(d, "missing", false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func makeTree(b testing.TB, root string, n int) {
	b.Helper()
	for i := range n {
		d := filepath.Join(root, fmt.Sprintf("user%05d", i))
		if err := os.Mkdir(d, 0o700); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "dune.top"), []byte(topVault), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	// The .use files strictly after the .top files (next ctime tick).
	waitFSTick(b)
	for i := range n {
		d := filepath.Join(root, fmt.Sprintf("user%05d", i))
		if err := os.WriteFile(filepath.Join(d, "dune.use"), []byte("AT\n"), 0o400); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPass10k measures, for 10,000 users (.top and .use each), the
// start-up pass (seeding every credential from its .use) and an idle pass
// (nothing due).
func BenchmarkPass10k(b *testing.B) {
	h := newDaemonHarness(b)
	makeTree(b, h.root, 10000)
	vp := newScriptedProvider("VAULT")
	vp.callCh = make(chan refreshCall, 100000)
	h.prov[ClassVault] = vp
	start := time.Now()
	h.start()
	startup := time.Since(start)
	if n := len(vp.drain()); n != 0 {
		b.Fatalf("%d refreshes at start-up", n)
	}
	waitFSTick(b)
	h.rescan() // the directories listed at start-up were racy
	b.ResetTimer()
	for range b.N {
		s := h.rescan()
		if s.Credentials != 10000 {
			b.Fatalf("%d credentials", s.Credentials)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(startup.Microseconds())/1000, "startup-ms")
	h.stop()
}

func TestQuickPassListsOnlyChangedDirectories(t *testing.T) {
	h := newDaemonHarness(t)
	vp := newScriptedProvider("VAULT")
	h.prov[ClassVault] = vp
	h.tune = func(d *Daemon) { d.racyWindow = 0 }
	h.writeTop("alice", "dune", topVault)
	h.writeTop("bob", "dune", topVault)
	h.start()
	if n := len(vp.drain()); n != 2 {
		t.Fatalf("first pass: %d calls", n)
	}
	waitFSTick(t)
	h.rescan() // lists the directories the .use writes changed
	waitFSTick(t)

	// Rewritten in place (no rename): the directory does not change, so a
	// quick pass does not look inside it...
	if err := os.WriteFile(h.path("alice/dune.top"), []byte(`{"vault_token":"in-place"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	h.rescan()
	if calls := callNames(vp.drain()); len(calls) != 0 {
		t.Fatalf("a quick pass listed an unchanged directory: %v", calls)
	}
	// ...a deep pass does.
	h.clock.Advance(deepInterval)
	h.rescan()
	if calls := vp.drain(); len(calls) != 1 || calls[0].Top != `{"vault_token":"in-place"}` {
		t.Fatalf("deep pass: %+v", calls)
	}
	// A rename (the credd's way) changes the directory: a quick pass sees it.
	waitFSTick(t)
	h.writeTop("bob", "dune", `{"vault_token":"renamed"}`)
	h.rescan()
	if calls := vp.drain(); len(calls) != 1 || calls[0].Top != `{"vault_token":"renamed"}` {
		t.Fatalf("quick pass after a rename: %+v", calls)
	}
	// So does a removed .use.
	waitFSTick(t)
	os.Remove(h.path("bob/dune.use"))
	h.rescan()
	if calls := callNames(vp.drain()); len(calls) != 1 || !h.exists("bob/dune.use") {
		t.Fatalf("removed .use: %v", calls)
	}
}
