package faults

import (
	"context"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/integration/stack"
)

// passUsers is the size of each credmon fault scenario's pass: big enough
// that the fault lands mid-pass (four refreshes at a time, Vault 20 ms
// away), small enough that seven scenarios fit in the package's budget.
const passUsers = 300

// vaultFault is one way Vault misbehaves, injected and ended by the test.
type vaultFault struct {
	name string
	// shared faults act on the stack's one Vault (they cannot run in
	// parallel with other scenarios); the others act on the scenario's
	// own proxy.
	shared bool
	// fails is whether refreshes fail while the fault lasts (a slow Vault
	// only makes them slow).
	fails  bool
	inject func(t *testing.T, p *stack.LatencyProxy)
	end    func(t *testing.T, p *stack.LatencyProxy)
	note   string
}

func vaultFaults() []vaultFault {
	setFault := func(f stack.Fault) func(*testing.T, *stack.LatencyProxy) {
		return func(_ *testing.T, p *stack.LatencyProxy) { p.SetFault(f) }
	}
	none := setFault(stack.Fault{})
	return []vaultFault{
		{name: "Vault stopped", shared: true, fails: true,
			inject: func(t *testing.T, _ *stack.LatencyProxy) {
				if err := env.Stack.Vault.Stop(); err != nil {
					t.Fatal(err)
				}
			},
			end: func(t *testing.T, _ *stack.LatencyProxy) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := env.Stack.Vault.Restart(ctx); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "Vault sealed", shared: true, fails: true,
			inject: func(t *testing.T, _ *stack.LatencyProxy) {
				if err := env.Stack.Vault.Seal(t.Context()); err != nil {
					t.Fatal(err)
				}
			},
			end: func(t *testing.T, _ *stack.LatencyProxy) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := env.Stack.Vault.Unseal(ctx); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "Vault slow (2 s RTT)", fails: false,
			inject: func(_ *testing.T, p *stack.LatencyProxy) { p.SetDelay(time.Second) },
			end:    func(_ *testing.T, p *stack.LatencyProxy) { p.SetDelay(10 * time.Millisecond) }},
		{name: "Vault answers 500", fails: true, inject: setFault(stack.Fault{Kind: stack.FaultStatus, Status: 500}), end: none},
		{name: "Vault answers 503 Retry-After 1", fails: true, inject: setFault(stack.Fault{Kind: stack.FaultStatus, Status: 503, RetryAfter: 1}), end: none},
		{name: "Vault answers 429 Retry-After 1", fails: true, inject: setFault(stack.Fault{Kind: stack.FaultStatus, Status: 429, RetryAfter: 1}), end: none},
		{name: "Vault resets connections", fails: true, inject: setFault(stack.Fault{Kind: stack.FaultReset}), end: none},
	}
}

// TestCredmonVaultFaults starts a pass over passUsers due credentials,
// injects the fault once a fifth of them are refreshed, ends it once
// refreshes have failed (or, for a slow Vault, once some more went
// through), and measures how long until every credential is current
// again, with the credmon never restarted.
func TestCredmonVaultFaults(t *testing.T) {
	for _, f := range vaultFaults() {
		t.Run(f.name, func(t *testing.T) {
			if !f.shared {
				t.Parallel()
			}
			p := startProxy(t, vaultTarget(), 10*time.Millisecond)
			s := newCredSite(t, siteOptions{users: passUsers, base: proxyBase(p)})
			s.start()
			s.waitLog("a fifth of the pass", 60*time.Second, s.successes, passUsers/5)
			before := s.successes()
			f.inject(t, p)
			ended := false
			t.Cleanup(func() {
				if !ended {
					f.end(t, p)
				}
			})
			if f.fails {
				s.waitLog("failed refreshes", 60*time.Second, s.failures, 5)
			} else {
				s.waitLog("refreshes through the slow Vault", 60*time.Second, s.successes, before+8)
			}
			if before >= passUsers {
				t.Fatalf("the pass was over before the fault")
			}
			f.end(t, p)
			ended = true
			t0 := time.Now()
			rec := s.waitRecovered(t0, 3*time.Minute)
			lost, partial := s.finish(0)
			note := "back-off (30 s + jitter) after the failure"
			if !f.fails {
				note = "rest of the pass"
			}
			record(t, row{Scenario: "credmon: " + f.name + " mid-pass", Requests: s.refreshes(), Failures: s.failures(),
				Lost: lost, Partial: partial, Recovery: rec, Note: note})
			if f.fails && s.failures() == 0 {
				t.Error("no refresh failed during the fault")
			}
		})
	}
}
