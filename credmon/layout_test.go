package credmon

import (
	"context"
	"errors"
	"os"
	"testing"
)

// flatLayout is the Kerberos credential directory's layout.
var flatLayout = Layout{Flat: true, In: ".cred", Out: ".cc", OutMode: 0o600, Mark: ".mark"}

// TestFlatLayout: <root>/<user>.cred is served into <root>/<user>.cc
// (mode 0600) through the root as the one "user directory"; other entries
// of the root (pid, directories) are ignored; a <user>.mark makes the
// credential due at once and ErrDelete removes .cred, .cc and .mark.
func TestFlatLayout(t *testing.T) {
	h := newDaemonHarness(t)
	kp := newScriptedProvider("KRB")
	h.prov[ClassKerberos] = kp
	h.cfg.Layout = flatLayout
	h.cfg.Classify = func(string) Decision { return Decision{Class: ClassKerberos} }
	for _, u := range []string{"alice", "bob"} {
		if err := os.WriteFile(h.path(u+".cred"), []byte("TGT-"+u), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(h.path("carol"), 0o700)
	os.WriteFile(h.path("carol/x.top"), []byte("x"), 0o600)
	h.start()

	calls := kp.drain()
	if len(calls) != 2 {
		t.Fatalf("calls = %+v", calls)
	}
	for _, c := range calls {
		if c.Cred.User != "" || c.Top != "TGT-"+c.Cred.Name || c.Cred.Top() != h.path(c.Cred.Name+".cred") || c.Cred.Use() != h.path(c.Cred.Name+".cc") {
			t.Errorf("call %+v", c)
		}
	}
	for _, u := range []string{"alice", "bob"} {
		if got := h.read(u + ".cc"); got != "AT--"+u+"\n" {
			t.Errorf("%s.cc = %q", u, got)
		}
		if fi, err := os.Stat(h.path(u + ".cc")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s.cc: %v %v", u, fi.Mode(), err)
		}
	}
	if h.log.count("KRB: Successfully refreshed token user=alice") != 1 {
		t.Errorf("log:\n%s", h.log.String())
	}

	kp.mu.Lock()
	kp.answer = func(_ context.Context, c Cred, _ []byte) (Refreshed, error) {
		if _, err := c.Dir.Stat(c.Name + ".mark"); err == nil {
			return Refreshed{}, ErrDelete
		}
		return Refreshed{}, errors.New("not due")
	}
	kp.mu.Unlock()
	os.WriteFile(h.path("alice.mark"), nil, 0o600)
	h.nextTick()
	h.rescan()
	h.rescan() // the removal is written by the loop after the refresh
	for _, f := range []string{"alice.cred", "alice.cc", "alice.mark"} {
		if h.exists(f) {
			t.Errorf("%s not removed", f)
		}
	}
	for _, f := range []string{"bob.cred", "bob.cc"} {
		if !h.exists(f) {
			t.Errorf("%s removed", f)
		}
	}
	if h.log.count("KRB: Deleting token user=alice") != 1 {
		t.Errorf("log:\n%s", h.log.String())
	}
}
