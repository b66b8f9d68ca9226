// Package e2e proves the test stack end to end through the real Vault with
// plain API calls: device-flow login, refresh-token storage, creds and sts
// reads, Kerberos logins and their ACLs.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

// st is the stack shared by every test of this package.
var st *stack.Stack

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if code, ok := harness.Prereqs("e2e"); !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var err error
	st, err = stack.Start(ctx, stack.Options{PollInterval: 1, Logf: logf})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: stack start: %v\n", err)
		return 1
	}
	code := m.Run()
	procs := st.Procs()
	if err := st.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: stack stop: %v\n", err)
		code = 1
	}
	// No orphans: every child of the stack is gone.
	for _, p := range procs {
		if stack.PidAlive(p.Pid()) {
			fmt.Fprintf(os.Stderr, "e2e: %s (pid %d) still running after Stop\n", p.Name, p.Pid())
			code = 1
		}
	}
	return code
}

func logf(format string, args ...any) {
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	}
}
