package harness

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/integration/stack"
)

// Prereqs is the start of every integration TestMain: it parses the test
// flags and reports missing prerequisites. It returns ok when the tests
// can run; otherwise code is the exit status (1 in CI, where a missing
// prerequisite is a failure, 0 elsewhere, with a message saying the tests
// were skipped).
func Prereqs(pkg string) (code int, ok bool) {
	flag.Parse()
	missing := stack.MissingPrereqs()
	if missing == nil {
		return 0, true
	}
	if os.Getenv("CI") == "true" {
		fmt.Fprintf(os.Stderr, "%s: prerequisites missing in CI: %v\n", pkg, missing)
		return 1, false
	}
	fmt.Fprintf(os.Stderr, "%s: SKIPPING all tests, prerequisites missing (run make prereqs): %v\n", pkg, missing)
	return 0, false
}

// Main is a whole TestMain for packages that run commands against one
// stack: prerequisites, Setup with opts and cmds, then extra (when not
// nil: more set-up, returning its own stop), the tests, and the cleanup
// with its check for leftover processes. *env is set before extra runs.
func Main(m *testing.M, pkg string, env **Env, opts stack.Options, extra func(*Env) (func(), error), cmds ...string) int {
	if code, ok := Prereqs(pkg); !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e, cleanup, err := Setup(ctx, opts, cmds...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", pkg, err)
		return 1
	}
	*env = e
	stopExtra := func() {}
	if extra != nil {
		if stopExtra, err = extra(e); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", pkg, err)
			cleanup()
			return 1
		}
	}
	code := m.Run()
	stopExtra()
	if err := cleanup(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", pkg, err)
		code = 1
	}
	return code
}

// JWTClaims decodes a JWT's payload without verifying it (the tests that
// check signatures do so against the IdP's JWKS).
func JWTClaims(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(tok), ".")
	if len(parts) != 3 {
		t.Fatal("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
