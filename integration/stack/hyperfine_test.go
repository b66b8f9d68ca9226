package stack

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHyperfineMedians(t *testing.T) {
	p := filepath.Join(t.TempDir(), "h.json")
	doc := `{"results":[{"command":"a","times":[0.003,0.001,0.002]},{"command":"b","times":[0.001,0.004]},{"command":"none","times":[]}]}`
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := HyperfineMedians(p)
	if err != nil {
		t.Fatal(err)
	}
	if m["a"] != 2 || m["b"] != 2.5 || len(m) != 2 {
		t.Errorf("medians %v, want a=2 b=2.5 ms and nothing for an empty run", m)
	}
	if _, err := HyperfineMedians(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file gave no error")
	}
}
