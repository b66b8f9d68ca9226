package faults

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultcred/gettoken/integration/condor"
	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

// haUsers is the size of the credmon pass during which the active node
// is killed.
const haUsers = 1000

// haEnv is a 3-node Vault raft cluster configured like the stack's Vault,
// reachable as stack.ClusterName (every node's address, in a private
// /etc/hosts) and on 127.0.0.1 (the first node) for set-up.
type haEnv struct {
	c       *stack.Cluster
	fix     vaultFixture
	hosts   string // world-readable hosts file
	ca      string // world-readable copy of the cluster's CA
	hostVia string // -a value: ClusterName:port
	dead    func() // ends the killed node's black hole
}

func startHA(t *testing.T) *haEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "faults-ha-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	plugins, err := stack.BuildPlugins(ctx, filepath.Join(dir, "plugin-build"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	c, err := stack.StartCluster(ctx, filepath.Join(dir, "cluster"), env.Stack.LogDir, 3, plugins)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	h := &haEnv{c: c, hosts: filepath.Join(env.Base, "ha-hosts"), ca: filepath.Join(env.Base, "ha-ca.pem"),
		hostVia: fmt.Sprintf("%s:%d", stack.ClusterName, c.Port)}
	ca, err := os.ReadFile(c.Certs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range map[string][]byte{h.hosts: []byte(c.Hosts()), h.ca: ca} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	first := c.Nodes[0]
	first.Admin.SetToken(c.RootToken)
	s := env.Stack
	if err := stack.Configure(ctx, first.Admin, s.Issuers, stack.ConfigureOptions{
		Keytab: s.KDC.Keytab, ServiceAccount: stack.ServicePrincipal, LDAPURL: s.LDAP.URL, PolicyDomain: stack.Realm,
		PollInterval: 1, ServiceAddr: h.localAddr(), NoPACMount: stack.NoPACMount, NoPACServiceAccount: stack.NoPACServicePrincipal,
	}); err != nil {
		t.Fatalf("configure the cluster: %v", err)
	}
	h.fix, err = makeFixture(ctx, first.Admin, func(ctx context.Context) (*vaultapi.Secret, error) {
		cl, err := h.client(h.localAddr(), "")
		if err != nil {
			return nil, err
		}
		d, err := stack.StartDeviceLogin(ctx, cl, "default", "default")
		if err != nil {
			return nil, err
		}
		if err := s.IdP.Approve(ctx, d.UserCode, stack.Alice.Name); err != nil {
			return nil, err
		}
		return d.Wait(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("3-node raft cluster up and configured in %v", time.Since(t0).Round(time.Millisecond))
	return h
}

// localAddr is the first node by a name its certificate carries, the
// address the oidc roles' redirect URI names (logins go there).
func (h *haEnv) localAddr() string { return fmt.Sprintf("https://localhost:%d", h.c.Port) }

func (h *haEnv) client(addr, token string) (*vaultapi.Client, error) {
	cfg := vaultapi.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	cfg.HttpClient.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: h.c.Certs.Pool, MinVersion: tls.VersionTLS12}
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(token)
	return c, nil
}

// killActive kills the active node and returns when (and how long after)
// another node became active, and the killed node's index.
func (h *haEnv) killActive(t *testing.T) (killed int, at time.Time, failover time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := h.c.Active(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.c.Kill(a)
	at = time.Now()
	// A machine that dies answers nothing (a killed process on a live
	// machine would refuse at once): its address now drops every
	// connection attempt, until restart brings the node back.
	host := h.c.Nodes[a].Addr[len("https://"):strings.LastIndexByte(h.c.Nodes[a].Addr, ':')]
	h.dead = harness.Blackhole(t, host, h.c.Port)
	if _, err := h.c.Active(ctx); err != nil {
		t.Fatal(err)
	}
	return a, at, time.Since(at)
}

// restart brings a killed node back before the next scenario.
func (h *haEnv) restart(t *testing.T, i int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if h.dead != nil {
		h.dead()
		h.dead = nil
	}
	if err := h.c.Restart(ctx, i); err != nil {
		t.Fatal(err)
	}
}

// nsExec runs a command of the user's (no terminal) with the cluster's
// name resolving to every node.
func (h *haEnv) nsExec(u *harness.User, name string, args ...string) harness.Result {
	u.T.Helper()
	w := *u
	w.Wrap = harness.HostsWrap(h.hosts, env.UID)
	return w.Exec(name, "", args...)
}

// untilSuccess runs run until it succeeds (every failure must be one
// clear line), returning the runs, the failures and the outputs.
func untilSuccess(t *testing.T, timeout time.Duration, complaint func(*testing.T, harness.Result), run func() harness.Result) (runs, fails int, outs []harness.Result) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := run()
		runs++
		outs = append(outs, r)
		if r.Code == 0 {
			return
		}
		fails++
		complaint(t, r)
		if time.Now().After(deadline) {
			t.Fatalf("still failing %v after the kill:\n%v", timeout, r)
		}
		time.Sleep(200 * time.Millisecond) // a user's retry, not synchronisation
	}
}

// TestVaultHA kills the active node of a 3-node raft cluster during a
// credmon pass of haUsers users, during gettoken and during the storer,
// restarting the killed node between scenarios.
func TestVaultHA(t *testing.T) {
	t.Parallel() // its own cluster: runs after the tests that stop or freeze parts of the stack
	harness.NeedRoot(t, "private mount namespaces, a root credmon")
	h := startHA(t)

	t.Run("dead first address", func(t *testing.T) {
		// The name's first address drops every connection attempt (a
		// machine that is off): the programs must go on to the next.
		harness.Blackhole(t, "127.0.0.9", h.c.Port)
		hosts := filepath.Join(env.Base, "ha-hosts-dead-first")
		if err := os.WriteFile(hosts, []byte("127.0.0.9 "+stack.ClusterName+"\n"+h.c.Hosts()), 0o644); err != nil {
			t.Fatal(err)
		}
		s := newCredSite(t, siteOptions{users: 100, base: "https://" + h.hostVia, ca: h.c.Certs.CAFile,
			fixture: h.fix, wrap: harness.HostsWrap(hosts, -1)})
		t0 := time.Now()
		s.start()
		rec := s.waitRecovered(t0, 2*time.Minute)
		lost, partial := s.finish(0)
		record(t, row{Scenario: "credmon: dead first address in round robin (100 users)", Requests: s.refreshes(), Failures: s.failures(),
			Lost: lost, Partial: partial, Recovery: rec, Note: "start to every credential current"})

		u := env.NewUser(t)
		u.Environ = append(u.Environ, "HTGETTOKENOPTS=-a "+fmt.Sprintf("localhost:%d", h.c.Port)+" --cafile "+h.ca+" --vaulttokenfile "+u.VT)
		if r := u.OIDC(stack.Alice.Name, true, "gettoken", "--web-open-command="); r.Code != 0 {
			t.Fatalf("login:\n%v", r)
		}
		dead := &haEnv{c: h.c, hosts: hosts, ca: h.ca, hostVia: h.hostVia}
		t1 := time.Now()
		r := dead.nsExec(u, "gettoken", "-a", h.hostVia)
		d := time.Since(t1)
		if r.Code != 0 {
			t.Fatalf("gettoken did not fail over:\n%v", r)
		}
		checkOutputs(t, []harness.Result{r}, []string{readText(u.VT)})
		record(t, row{Scenario: "gettoken: dead first address in round robin", Requests: 1, Failures: 0, Recovery: d, Note: "the run, fail-over included"})
	})

	t.Run("credmon pass", func(t *testing.T) {
		s := newCredSite(t, siteOptions{users: haUsers, base: "https://" + h.hostVia, ca: h.c.Certs.CAFile,
			fixture: h.fix, wrap: harness.HostsWrap(h.hosts, -1)})
		s.start()
		s.waitLog("a fifth of the pass", 2*time.Minute, s.successes, haUsers/5)
		if s.successes() >= haUsers {
			t.Fatal("the pass was over before the kill")
		}
		killed, at, failover := h.killActive(t)
		defer h.restart(t, killed)
		rec := s.waitRecovered(at, 3*time.Minute)
		lost, partial := s.finish(0)
		record(t, row{Scenario: fmt.Sprintf("credmon: Vault HA, active node killed mid-pass (%d users)", haUsers),
			Requests: s.refreshes(), Failures: s.failures(), Lost: lost, Partial: partial, Recovery: rec,
			Note: fmt.Sprintf("failover %.1f s, then back-off", failover.Seconds())})
	})

	t.Run("gettoken", func(t *testing.T) {
		u := env.NewUser(t)
		u.Environ = append(u.Environ, "HTGETTOKENOPTS=-a "+fmt.Sprintf("localhost:%d", h.c.Port)+" --cafile "+h.ca+" --vaulttokenfile "+u.VT)
		if r := u.OIDC(stack.Alice.Name, true, "gettoken", "--web-open-command="); r.Code != 0 {
			t.Fatalf("login:\n%v", r)
		}
		bt := filepath.Join(u.Run, fmt.Sprintf("bt_u%d", env.UID))
		vt := readText(u.VT)
		killed, at, failover := h.killActive(t)
		defer h.restart(t, killed)
		runs, fails, outs := untilSuccess(t, time.Minute, oneClearLine, func() harness.Result {
			os.Remove(bt)
			return h.nsExec(u, "gettoken", "-a", h.hostVia)
		})
		rec := time.Since(at)
		if readText(u.VT) != vt {
			t.Error("the vault token file changed")
		}
		checkOutputs(t, outs, []string{vt, readText(bt)})
		record(t, row{Scenario: "gettoken: Vault HA, active node killed", Requests: runs, Failures: fails, Recovery: rec,
			Note: fmt.Sprintf("failover %.1f s, then the next run", failover.Seconds())})
	})

	t.Run("storer", func(t *testing.T) {
		dir, err := os.MkdirTemp("", "faults-hacondor-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		os.Chmod(dir, 0o755)
		cnd, err := condor.Start(t.Context(), dir, env.Stack.LogDir, map[string]string{
			"SEC_CREDENTIAL_GETTOKEN_OPTS": "-a " + h.hostVia + " --cafile " + h.ca,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cnd.Stop() })
		// The submitter's first job stores the service's credentials
		// (a login at the cluster, as condor_submit on a terminal); the
		// credd must hold them, or every later run would rightly ask
		// for a new login.
		sub := env.NewSubmitter(t, cnd)
		sub.Wrap = harness.HostsWrap(h.hosts, env.UID)
		if r := sub.StorerTTY(stack.Alice.Name, "default"); r.Code != 0 {
			t.Fatalf("first store:\n%v", r)
		}
		vt := readText(sub.VTFile("default"))
		killed, at, failover := h.killActive(t)
		defer h.restart(t, killed)
		runs, fails, outs := untilSuccess(t, time.Minute, storerComplaint, func() harness.Result {
			os.Remove(sub.BTFile("default"))
			return sub.Storer("default")
		})
		rec := time.Since(at)
		if readText(sub.VTFile("default")) != vt {
			t.Error("the vault token file changed")
		}
		top := readText(sub.File("default.top"))
		if topToken(top) == "" {
			t.Errorf("no whole .top stored:\n%s", top)
		}
		checkOutputs(t, outs, []string{vt, readText(sub.BTFile("default")), topToken(top)})
		record(t, row{Scenario: "condor_vault_storer: Vault HA, active node killed", Requests: runs, Failures: fails, Recovery: rec,
			Note: fmt.Sprintf("failover %.1f s, then the next run", failover.Seconds())})
	})

}

// checkOutputs: no crash and no token in any run's output.
func checkOutputs(t *testing.T, outs []harness.Result, secrets []string) {
	t.Helper()
	texts := map[string]string{}
	for i, o := range outs {
		texts[fmt.Sprintf("run %d's output", i+1)] = o.Stdout + o.Stderr
	}
	noPanic(t, texts)
	noSecrets(t, secrets, texts)
}
