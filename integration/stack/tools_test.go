package stack

import (
	"os"
	"os/exec"
	"testing"
)

// requireTools fails (in CI) or skips (elsewhere) when a prerequisite
// binary is missing: CI must never pass by skipping.
func requireTools(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err == nil {
			continue
		}
		if _, err := os.Stat(sbin(n)); err == nil {
			continue
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("prerequisite %s is missing (run integration/scripts/prereqs.sh)", n)
		}
		t.Skipf("prerequisite %s is missing (run integration/scripts/prereqs.sh)", n)
	}
}
