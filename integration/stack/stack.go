package stack

import (
	"context"
	"errors"
	"fmt"
	vaultapi "github.com/hashicorp/vault/api"
	"os"
	"path/filepath"
	"time"
)

// Options tune a stack. The zero value is a complete, htvault-config-like
// stack with two issuers (default, cilogon) and two roles each (default,
// readonly).
type Options struct {
	// Dir holds all state; empty means a new temporary directory that Stop
	// removes.
	Dir string
	// VaultPort is the Vault TLS listener's port; 0 picks a free one.
	VaultPort int
	// PollInterval is the oidc roles' poll_interval in seconds (default 3,
	// as htvault-config; tests use 1).
	PollInterval int
	// AccessTokenTTL is the IdP's access token lifetime (default 120 s).
	AccessTokenTTL time.Duration
	// Logf, when set, receives one line per start-up step.
	Logf func(format string, args ...any)
}

// Test accounts: each exists at the IdP (credkey = name) and in the KDC.
var (
	Alice = Account{Name: "alice", Password: "alice-password", Email: "alice@test.realm"}
	Bob   = Account{Name: "bob", Password: "bob-password", Email: "bob@test.realm"}
	// AliceRobot is a Kerberos-only robot principal of alice's.
	AliceRobot = KDCUser{Principal: "alice/cron/localhost", Password: "robot-password"}
)

// Account is a person known to both the IdP and the KDC.
type Account struct{ Name, Password, Email string }

// Scopes of the roles, as an htvault-config site would configure them.
var (
	DefaultRoleScopes  = []string{"profile", "email", "offline_access", "wlcg", "storage.read:/", "storage.create:/", "compute.read", "compute.modify", "compute.create", "compute.cancel"}
	ReadonlyRoleScopes = []string{"profile", "email", "offline_access", "wlcg", "storage.read:/"}
)

// Stack is a running test stack.
type Stack struct {
	Dir, LogDir string
	Certs       *Certs
	KDC         *KDC
	LDAP        *LDAP
	IdP         *IdP
	Vault       *Vault
	Issuers     []Issuer
	// StartupTime is how long Start took, plugin and Vault builds excluded.
	StartupTime time.Duration

	ownDir bool
	logf   func(string, ...any)
}

// Start brings the whole stack up. On error everything started so far is
// stopped again.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	// s is not the named result: "return nil, err" must not clear it
	// before the deferred Stop below runs.
	s := &Stack{Dir: o.Dir, logf: o.Logf}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "gettoken-stack-"); err != nil {
			return nil, err
		}
		s.ownDir = true
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	s.LogDir = filepath.Join(s.Dir, "logs")
	if err := os.MkdirAll(s.LogDir, 0o700); err != nil {
		return nil, err
	}
	vaultBin, err := VaultBinary()
	if err != nil {
		return nil, err
	}
	_ = vaultBin
	plugins, err := BuildPlugins(ctx, filepath.Join(s.Dir, "plugin-build"))
	if err != nil {
		return nil, err
	}

	t0 := time.Now()
	step := func(name string) func() {
		ts := time.Now()
		return func() { s.logf("stack: %-8s %v", name, time.Since(ts).Round(time.Millisecond)) }
	}
	done := step("certs")
	if s.Certs, err = MakeCerts(s.Dir); err != nil {
		return nil, err
	}
	done()

	// The KDC, slapd and the IdP are independent: start them together.
	type result struct {
		name string
		err  error
	}
	results := make(chan result, 3)
	go func() {
		done := step("kdc")
		var err error
		s.KDC, err = StartKDC(ctx, filepath.Join(s.Dir, "kdc"), s.LogDir, []KDCUser{
			{Alice.Name, Alice.Password}, {Bob.Name, Bob.Password}, AliceRobot,
		})
		done()
		results <- result{"kdc", err}
	}()
	go func() {
		done := step("ldap")
		var err error
		s.LDAP, err = StartLDAP(ctx, filepath.Join(s.Dir, "ldap"), s.LogDir)
		done()
		results <- result{"ldap", err}
	}()
	issuerClients := []IdPClient{
		{ID: "vault-default", Secret: "secret-" + randHex(16)},
		{ID: "vault-cilogon", Secret: "secret-" + randHex(16)},
	}
	go func() {
		done := step("idp")
		var err error
		s.IdP, err = StartIdP(ctx, filepath.Join(s.Dir, "idp"), s.LogDir, IdPConfig{
			Accounts: []IdPAccount{
				{ID: Alice.Name, Password: Alice.Password, Email: Alice.Email, Credkey: Alice.Name},
				{ID: Bob.Name, Password: Bob.Password, Email: Bob.Email, Credkey: Bob.Name},
			},
			Clients:        issuerClients,
			AccessTokenTTL: o.AccessTokenTTL,
		})
		done()
		results <- result{"idp", err}
	}()
	var errs []error
	for range 3 {
		if r := <-results; r.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.name, r.err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	done = step("vault")
	if s.Vault, err = StartVault(ctx, filepath.Join(s.Dir, "vault"), s.LogDir, s.Certs, o.VaultPort, plugins); err != nil {
		return nil, err
	}
	done()

	done = step("config")
	s.Issuers = []Issuer{
		{Name: "default", URL: s.IdP.URL, ClientID: issuerClients[0].ID, ClientSecret: issuerClients[0].Secret, CredClaim: "wlcg.credkey",
			Roles: []Role{{"default", DefaultRoleScopes}, {"readonly", ReadonlyRoleScopes}}},
		{Name: "cilogon", URL: s.IdP.URL, ClientID: issuerClients[1].ID, ClientSecret: issuerClients[1].Secret, CredClaim: "wlcg.credkey",
			Roles: []Role{{"default", DefaultRoleScopes}, {"readonly", ReadonlyRoleScopes}}},
	}
	if err := Configure(ctx, s.Vault.Admin, s.Issuers, ConfigureOptions{
		Keytab:              s.KDC.Keytab,
		ServiceAccount:      ServicePrincipal,
		LDAPURL:             s.LDAP.URL,
		PolicyDomain:        Realm,
		PollInterval:        o.PollInterval,
		ServiceAddr:         s.Vault.Addr,
		NoPACMount:          NoPACMount,
		NoPACServiceAccount: NoPACServicePrincipal,
	}); err != nil {
		return nil, fmt.Errorf("configure vault: %w", err)
	}
	// A file audit device, as htvault-config can configure one: tests read
	// it to count the requests a client made.
	s.Vault.AuditLog = filepath.Join(s.Dir, "vault", "audit.log")
	if err := s.Vault.Admin.Sys().EnableAuditWithOptionsWithContext(ctx, "file", &vaultapi.EnableAuditOptions{
		Type: "file", Options: map[string]string{"file_path": s.Vault.AuditLog},
	}); err != nil {
		return nil, fmt.Errorf("enable audit: %w", err)
	}
	done()
	s.StartupTime = time.Since(t0)
	s.logf("stack: up in %v (builds excluded)", s.StartupTime.Round(time.Millisecond))
	return s, nil
}

// NoPACMount is the extra kerberos auth mount whose service principal lacks
// the PAC fix (see NoPACServicePrincipal).
const NoPACMount = "kerberos-nopac"

// Procs lists the stack's child processes that were started.
func (s *Stack) Procs() []*Proc {
	var ps []*Proc
	if s.Vault != nil {
		ps = append(ps, s.Vault.Proc)
	}
	if s.IdP != nil {
		ps = append(ps, s.IdP.Proc)
	}
	if s.LDAP != nil {
		ps = append(ps, s.LDAP.Proc)
	}
	if s.KDC != nil {
		ps = append(ps, s.KDC.Proc)
	}
	return ps
}

// Stop stops every child process (by process group) and removes the state
// directory if Start created it.
func (s *Stack) Stop() error {
	for _, p := range s.Procs() {
		if p != nil {
			p.Stop(5 * time.Second)
		}
	}
	if s.ownDir {
		return os.RemoveAll(s.Dir)
	}
	return nil
}

// Env is the environment a client process needs to reach this stack:
// Kerberos configuration, and the CA for tools that honour SSL_CERT_FILE.
func (s *Stack) Env() []string {
	return append(s.KDC.Env(), "SSL_CERT_FILE="+s.Certs.CAFile)
}
