// Package faults runs the project's programs, built from the main module,
// the way HTCondor and users run them (condor_credmon_vault as root over a
// credential directory, gettoken and condor_vault_storer as an
// unprivileged user), against the real stack while faults are injected:
// Vault stopped, sealed, slow, answering errors or resetting connections,
// the IdP and the KDC down, a dead address in round robin, a full disk,
// a killed daemon, a storm of signals, files swapped under the daemon, a
// Vault HA cluster losing its active node.
//
// Every scenario checks the same invariants: no panic, no partial or
// truncated file, no token in any log or output, the old .use kept until
// a new one is written, recovery without a restart. Each adds a row to a
// figures table (scenario, requests, failures, files lost, partial files,
// recovery time) that TestMain prints at the end and, when
// GETTOKEN_FAULTS_TABLE names a file, writes there (the benchmark report
// includes it; docs/faults.md explains it).
package faults

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

var (
	env *harness.Env
	// fix is the Vault content the credmon scenarios read: ncreds stored
	// refresh tokens and a read-only token for them.
	fix vaultFixture
)

// ncreds is how many distinct credentials the users' .top files point at
// (Vault's oauth plugin caches one access token per credential).
const ncreds = 50

type vaultFixture struct {
	token string
	paths []string
}

func TestMain(m *testing.M) {
	start := time.Now()
	code := harness.Main(m, "faults", &env, stack.Options{PollInterval: 1, AccessTokenTTL: time.Hour}, setupVault,
		"gettoken", "condor_vault_storer", "condor_credmon_vault")
	if len(figures.rows) > 0 {
		tbl := figures.markdown(time.Since(start))
		fmt.Print("\n" + tbl)
		if p := os.Getenv("GETTOKEN_FAULTS_TABLE"); p != "" {
			if err := os.WriteFile(p, []byte(tbl), 0o644); err != nil {
				fmt.Fprintf(os.Stderr, "faults: %v\n", err)
				code = 1
			}
		}
	}
	os.Exit(code)
}

// setupVault stores ncreds refresh tokens (from one real device login)
// and makes a token that may read them, as benchcredmon does.
func setupVault(e *harness.Env) (func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	fix, err = makeFixture(ctx, e.Stack.Vault.Admin, func(ctx context.Context) (*vaultapi.Secret, error) {
		return e.Stack.Login(ctx, "default", "default", stack.Alice.Name)
	})
	return func() {}, err
}

// makeFixture logs in with login and stores the refresh token through
// admin under ncreds paths, with a token that may read them.
func makeFixture(ctx context.Context, admin *vaultapi.Client, login func(context.Context) (*vaultapi.Secret, error)) (vaultFixture, error) {
	var f vaultFixture
	if err := admin.Sys().PutPolicyWithContext(ctx, "faults", `path "secret/oauth/creds/default/*" { capabilities = ["read"] }
path "auth/token/lookup-self" { capabilities = ["read"] }`); err != nil {
		return f, err
	}
	sec, err := login(ctx)
	if err != nil {
		return f, err
	}
	rt := sec.Auth.Metadata["oauth2_refresh_token"]
	for i := 0; i < ncreds; i++ {
		p := fmt.Sprintf("secret/oauth/creds/default/faults%d:default", i)
		if _, err := admin.Logical().WriteWithContext(ctx, p, map[string]any{"server": "default", "refresh_token": rt}); err != nil {
			return f, err
		}
		f.paths = append(f.paths, p)
	}
	tok, err := admin.Auth().Token().CreateWithContext(ctx, &vaultapi.TokenCreateRequest{Policies: []string{"faults"}, TTL: "24h", NoDefaultPolicy: true})
	if err != nil {
		return f, err
	}
	f.token = tok.Auth.ClientToken
	return f, nil
}

// row is one line of the figures table.
type row struct {
	Scenario string
	// Requests is what the programs attempted (refreshes for the credmon,
	// runs for a client); Failures how many of those failed.
	Requests, Failures int
	// Lost counts credentials whose .use (or a client's token file) was
	// missing at any observation; Partial files that were not one whole
	// token at any observation, or temporary files left behind.
	Lost, Partial int
	// Recovery is from the end of the fault until every credential was
	// current again (or the client's next run succeeded); 0 when the
	// scenario has no recovery to measure.
	Recovery time.Duration
	// Note says what the recovery time is made of.
	Note string
}

type table struct {
	mu   sync.Mutex
	rows []row
}

var figures table

// record adds a row to the table and to the test's log.
func record(t *testing.T, r row) {
	t.Helper()
	t.Logf("FIGURES | %s | %d requests | %d failures | %d lost | %d partial | recovery %s | %s",
		r.Scenario, r.Requests, r.Failures, r.Lost, r.Partial, fmtRecovery(r.Recovery), r.Note)
	figures.mu.Lock()
	figures.rows = append(figures.rows, r)
	figures.mu.Unlock()
}

func fmtRecovery(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func (tb *table) markdown(total time.Duration) string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	rows := append([]row(nil), tb.rows...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Scenario < rows[j].Scenario })
	var b strings.Builder
	fmt.Fprintf(&b, "| scenario | requests | failures | files lost | partial files | recovery | recovery is |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %s |\n", r.Scenario, r.Requests, r.Failures, r.Lost, r.Partial, fmtRecovery(r.Recovery), r.Note)
	}
	fmt.Fprintf(&b, "\n%d scenarios, package run %.0f s (%s)\n", len(rows), total.Seconds(), time.Now().UTC().Format("2006-01-02"))
	return b.String()
}

// noSecrets fails the test when any of the secrets appears in any of the
// texts (logs, outputs), naming the text.
func noSecrets(t *testing.T, secrets []string, texts map[string]string) {
	t.Helper()
	for name, text := range texts {
		for _, s := range secrets {
			s = strings.TrimSpace(s)
			if len(s) < 16 {
				continue
			}
			if strings.Contains(text, s) {
				t.Errorf("a token appears in %s", name)
				break
			}
			// A JWT's signature alone is as unique as the whole token.
			if i := strings.LastIndexByte(s, '.'); i > 0 && len(s)-i > 16 && strings.Contains(text, s[i+1:]) {
				t.Errorf("a token's signature appears in %s", name)
				break
			}
		}
	}
}

// noPanic fails the test when a Go panic or fatal runtime error appears.
func noPanic(t *testing.T, texts map[string]string) {
	t.Helper()
	for name, text := range texts {
		for _, w := range []string{"panic:", "goroutine ", "fatal error:", "SIGSEGV"} {
			if strings.Contains(text, w) {
				t.Errorf("%s shows a crash (%q)", name, w)
				break
			}
		}
	}
}

func readText(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// waitUntil polls cond every 20 ms until it holds or timeout passes; it
// reports whether it held. The programs' effects are files and log lines,
// so polling them with a deadline is the event.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}
