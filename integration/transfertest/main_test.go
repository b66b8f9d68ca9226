// Package transfertest runs gettoken_transfer_plugin, built from the main
// module, as HTCondor's starter runs it (-infile/-outfile/-upload, a
// job-like $_CONDOR_CREDS, a pre-allocated output file), against a real
// XRootD server with its HTTP and SciTokens plugins (package xrootd),
// with tokens from the credmon's local issuer code.
package transfertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vaultcred/gettoken/integration/stack"
	"github.com/vaultcred/gettoken/integration/xrootd"
)

var (
	pluginBin string
	xrd       *xrootd.Server
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if miss := xrootd.Missing(); miss != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "transfertest: prerequisites missing in CI: %v\n", miss)
			return 1
		}
		fmt.Fprintf(os.Stderr, "transfertest: SKIPPING all tests, prerequisites missing (run make prereqs): %v\n", miss)
		return 0
	}
	dir, err := os.MkdirTemp("", "transfertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	pluginBin = filepath.Join(dir, "gettoken_transfer_plugin")
	build := exec.Command("go", "build", "-o", pluginBin, "./cmd/gettoken_transfer_plugin")
	build.Dir = filepath.Dir(stack.ModuleDir())
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "transfertest: building the plugin: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	xrd, err = xrootd.Start(ctx, filepath.Join(dir, "xrd"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "transfertest: %v\n", err)
		if xrd != nil {
			xrd.DumpLog(os.Stderr)
			xrd.Stop()
		}
		return 1
	}
	code := m.Run()
	if code != 0 {
		xrd.DumpLog(os.Stderr)
	}
	xrd.Stop()
	return code
}
