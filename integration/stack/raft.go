package stack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// ClusterName is the name a Cluster's certificate carries: tests map it
// to every node's address in a private /etc/hosts (round robin).
const ClusterName = "vault-ha.test"

// Cluster is a Vault HA cluster on loopback, as htvault-config's
// three-machine set-up runs one: integrated (raft) storage, node i on
// 127.0.0.<i+1>, every node's TLS listener on the same port so that one
// name with all the addresses reaches the cluster, the same plugins in
// every node's plugin directory (the catalog itself is replicated).
// Standbys forward requests to the active node.
type Cluster struct {
	Nodes []*Vault
	// Port is the TLS port, the same on every node's address.
	Port int
	// Certs are the cluster's own CA and server certificate (for
	// ClusterName, localhost and every node's address).
	Certs                *Certs
	RootToken, UnsealKey string
}

// StartCluster starts n nodes in dir, initialises the first, joins the
// others to it, unseals every node and registers the plugins.
func StartCluster(ctx context.Context, dir, logDir string, n int, plugins []Plugin) (c *Cluster, err error) {
	bin, err := VaultBinary()
	if err != nil {
		return nil, err
	}
	ips := []net.IP{net.ParseIP("127.0.0.1")}
	for i := 1; i < n; i++ {
		ips = append(ips, net.IPv4(127, 0, 0, byte(i+1)))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	c = &Cluster{}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if c.Certs, err = MakeCertsFor(dir, []string{ClusterName, "localhost"}, ips); err != nil {
		return nil, err
	}
	// One free port is taken on 127.0.0.1 and used on every address: the
	// other addresses' ports are free (nothing else listens there).
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = FreePort(); err != nil {
			return nil, err
		}
	}
	c.Port = ports[0]
	for i := 0; i < n; i++ {
		ip := ips[i].String()
		nd := filepath.Join(dir, fmt.Sprintf("node%d", i+1))
		nl := filepath.Join(logDir, fmt.Sprintf("vault-node%d", i+1))
		pluginDir := filepath.Join(nd, "plugins")
		for _, d := range []string{filepath.Join(nd, "data"), pluginDir, nl} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return nil, err
			}
		}
		v := &Vault{
			Addr:      fmt.Sprintf("https://%s:%d", ip, ports[0]),
			Port:      ports[0],
			AdminAddr: fmt.Sprintf("http://%s:%d", ip, ports[1]),
			dir:       nd, logDir: nl, bin: bin,
			config: filepath.Join(nd, "vault.hcl"),
		}
		hcl := fmt.Sprintf(`# Like htvault-config's vault.common.template + vault.ha.template.
storage "raft" {
  path    = "%[1]s/data"
  node_id = "node%[9]d"
  # Loopback: elect a new leader in about a second, not five.
  performance_multiplier = 1
}
listener "tcp" {
  address         = "%[2]s:%[3]d"
  cluster_address = "%[2]s:%[4]d"
  tls_disable     = true
}
listener "tcp" {
  address       = "%[2]s:%[5]d"
  tls_cert_file = "%[6]s"
  tls_key_file  = "%[7]s"
}
plugin_directory  = "%[8]s"
api_addr          = "https://%[2]s:%[5]d"
cluster_addr      = "https://%[2]s:%[4]d"
disable_mlock     = true
ui                = false
default_lease_ttl = "672h"
max_lease_ttl     = "672h"
`, nd, ip, ports[1], ports[2], ports[0], c.Certs.CertFile, c.Certs.KeyFile, pluginDir, i+1)
		if err := os.WriteFile(v.config, []byte(hcl), 0o600); err != nil {
			return nil, err
		}
		for _, p := range plugins {
			if err := copyFile(p.Path, filepath.Join(pluginDir, p.Command), 0o700); err != nil {
				return nil, err
			}
		}
		if err := v.start(ctx); err != nil {
			return nil, err
		}
		if v.Admin, err = adminClient(v.AdminAddr, func(rt http.RoundTripper) http.RoundTripper { return leaderRetry{next: rt} }); err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, v)
	}
	first := c.Nodes[0]
	init, err := first.Admin.Sys().InitWithContext(ctx, &vaultapi.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		return nil, fmt.Errorf("vault operator init: %w", err)
	}
	c.RootToken, c.UnsealKey = init.RootToken, init.Keys[0]
	for _, v := range c.Nodes {
		v.RootToken, v.UnsealKey = c.RootToken, c.UnsealKey
		v.Admin.SetToken(c.RootToken)
	}
	if err := first.unseal(ctx); err != nil {
		return nil, err
	}
	for _, v := range c.Nodes[1:] {
		if _, err := v.Admin.Sys().RaftJoinWithContext(ctx, &vaultapi.RaftJoinRequest{LeaderAPIAddr: first.AdminAddr}); err != nil {
			return nil, fmt.Errorf("raft join: %w", err)
		}
		if _, err := v.Admin.Sys().UnsealWithContext(ctx, c.UnsealKey); err != nil {
			return nil, fmt.Errorf("unseal %s: %w", v.Addr, err)
		}
		if err := v.Proc.WaitFor(ctx, "standby", func(ctx context.Context) error {
			h, err := v.Admin.Sys().HealthWithContext(ctx)
			if err != nil {
				return err
			}
			if h.Sealed || !h.Standby {
				return fmt.Errorf("health: %+v", h)
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	// Joined nodes are non-voters until autopilot has seen them healthy
	// for its stabilization time (10 s by default): until then losing
	// the leader loses the quorum. One second is plenty on loopback.
	if _, err := first.Admin.Logical().WriteWithContext(ctx, "sys/storage/raft/autopilot/configuration",
		map[string]any{"server_stabilization_time": "1s"}); err != nil {
		return nil, fmt.Errorf("autopilot configuration: %w", err)
	}
	if err := c.waitVoters(ctx, first); err != nil {
		return nil, err
	}
	for _, p := range plugins {
		sum, err := fileSHA256(p.Path)
		if err != nil {
			return nil, err
		}
		if err := first.Admin.Sys().RegisterPluginWithContext(ctx, &vaultapi.RegisterPluginInput{
			Name: p.Name, Type: mustPluginType(p.Type), Command: p.Command, SHA256: sum,
		}); err != nil {
			return nil, fmt.Errorf("register plugin %s: %w", p.Name, err)
		}
	}
	return c, nil
}

// Active returns the index of the active node among those running, asking
// each until one says it is active or ctx ends.
func (c *Cluster) Active(ctx context.Context) (int, error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		for i, v := range c.Nodes {
			if v.Proc.Exited() {
				continue
			}
			hc, cancel := context.WithTimeout(ctx, time.Second)
			h, err := v.Admin.Sys().HealthWithContext(hc)
			cancel()
			if err == nil && h.Initialized && !h.Sealed && !h.Standby {
				return i, nil
			}
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("no active Vault node: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Kill kills node i and its plugins (SIGKILL to its process group): a
// machine that dies, not one shut down.
func (c *Cluster) Kill(i int) {
	p := c.Nodes[i].Proc
	syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.Done()
}

// Restart starts a killed node again (it rejoins from its raft data) and
// unseals it.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	v := c.Nodes[i]
	if err := v.start(ctx); err != nil {
		return err
	}
	if _, err := v.Admin.Sys().UnsealWithContext(ctx, c.UnsealKey); err != nil {
		return err
	}
	if err := v.Proc.WaitFor(ctx, "unsealed", func(ctx context.Context) error {
		h, err := v.Admin.Sys().HealthWithContext(ctx)
		if err != nil {
			return err
		}
		if h.Sealed {
			return fmt.Errorf("sealed")
		}
		return nil
	}); err != nil {
		return err
	}
	return c.waitVoters(ctx, v)
}

// waitVoters waits until every node is a raft voter, asking through
// node v (a standby forwards the request to the active node): only then
// does the cluster survive the loss of any one node.
func (c *Cluster) waitVoters(ctx context.Context, v *Vault) error {
	return v.Proc.WaitFor(ctx, "every node a raft voter", func(ctx context.Context) error {
		s, err := v.Admin.Logical().ReadWithContext(ctx, "sys/storage/raft/configuration")
		if err != nil {
			return err
		}
		if s == nil {
			return fmt.Errorf("no raft configuration")
		}
		cfg, _ := s.Data["config"].(map[string]any)
		servers, _ := cfg["servers"].([]any)
		voters := 0
		for _, sv := range servers {
			if m, _ := sv.(map[string]any); m != nil && m["voter"] == true {
				voters++
			}
		}
		if len(servers) != len(c.Nodes) || voters != len(c.Nodes) {
			return fmt.Errorf("%d raft servers, %d voters", len(servers), voters)
		}
		return nil
	})
}

// Hosts is the /etc/hosts content that maps ClusterName to every node's
// address, first to last.
func (c *Cluster) Hosts() string {
	var b strings.Builder
	for _, v := range c.Nodes {
		h := strings.TrimPrefix(v.Addr, "https://")
		fmt.Fprintf(&b, "%s %s\n", h[:strings.LastIndexByte(h, ':')], ClusterName)
	}
	b.WriteString("127.0.0.1 localhost\n")
	return b.String()
}

// Stop stops every node.
func (c *Cluster) Stop() {
	for _, v := range c.Nodes {
		if v.Proc != nil {
			v.Proc.Stop(5 * time.Second)
		}
	}
}

// leaderRetry resends an admin request that a node refused because the
// cluster's leadership was moving ("node is not the leader", no active
// node found): on a loaded 2-core machine a loopback leader can miss its
// heartbeats while the cluster is being configured. At most
// leaderRetryFor, 200 ms apart; any other answer is returned as it is.
type leaderRetry struct{ next http.RoundTripper }

const leaderRetryFor = 15 * time.Second

func (l leaderRetry) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	deadline := time.Now().Add(leaderRetryFor)
	for {
		try := req.Clone(req.Context())
		if req.Body != nil {
			try.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := l.next.RoundTrip(try)
		if err != nil || resp.StatusCode < 500 || time.Now().After(deadline) {
			return resp, err
		}
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if rerr != nil || !(bytes.Contains(b, []byte("node is not the leader")) || bytes.Contains(b, []byte("active cluster node not found"))) {
			return resp, nil
		}
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
