package classad

import (
	"errors"
	"testing"
)

// FuzzParseNew checks that the new-syntax reader never panics and that
// whatever it accepts is written back to text that reads the same.
func FuzzParseNew(f *testing.F) {
	f.Add([]byte(`[ Url = "https://h/p"; LocalFileName = "/x" ][ A = 1 ]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ads, err := ParseNew(data)
		if err != nil {
			return
		}
		out, err := MarshalNewList(ads)
		if errors.Is(err, ErrNUL) {
			return
		}
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		back, err := ParseNew(out)
		if err != nil {
			t.Fatalf("re-read %q: %v", out, err)
		}
		if len(back) != len(ads) {
			t.Fatalf("%d ads became %d", len(ads), len(back))
		}
		for i := range ads {
			if !ads[i].Equal(back[i]) {
				t.Fatalf("ad %d changed: %s -> %s", i, ads[i], back[i])
			}
		}
	})
}

// FuzzParseOld checks the old-syntax reader the same way.
func FuzzParseOld(f *testing.F) {
	f.Add([]byte("Provider = \"box\"\nClientSecret = \"a\\\"\"\n\nN = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ads, err := ParseOld(data)
		if err != nil {
			return
		}
		out, err := MarshalOldList(ads)
		if errors.Is(err, ErrNUL) || errors.Is(err, ErrOldSyntax) {
			return
		}
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		back, err := ParseOld(out)
		if err != nil {
			t.Fatalf("re-read %q: %v", out, err)
		}
		if len(back) != len(ads) {
			t.Fatalf("%d ads became %d", len(ads), len(back))
		}
		for i := range ads {
			if !ads[i].Equal(back[i]) {
				t.Fatalf("ad %d changed: %s -> %s", i, ads[i], back[i])
			}
		}
	})
}
