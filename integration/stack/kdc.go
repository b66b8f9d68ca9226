package stack

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Realm is the Kerberos realm of the test KDC.
const Realm = "TEST.REALM"

// KDCUser is a principal of the test realm with a password.
type KDCUser struct {
	Principal string // without the realm, e.g. "alice" or "alice/cron/localhost"
	Password  string
}

// KDC is a running MIT krb5kdc with its configuration files.
type KDC struct {
	Port       int
	Krb5Conf   string // client krb5.conf pointing at this KDC (KRB5_CONFIG)
	KDCProfile string // kdc.conf (KRB5_KDC_PROFILE)
	Keytab     string // keytab holding the service principals
	Users      []KDCUser
	Proc       *Proc
	dir        string
}

// ServicePrincipal is the Vault kerberos plugin's service account, with the
// PAC fix (+no_auth_data_required) so gokrb5 accepts MIT 1.20's tickets.
const ServicePrincipal = "host/localhost"

// NoPACServicePrincipal is a second service principal for the same host
// WITHOUT the PAC fix: tickets for it carry MIT's PAC, which gokrb5 (and so
// Vault's kerberos plugin) rejects. It backs the negative test.
const NoPACServicePrincipal = "HTTP/localhost"

func sbin(name string) string {
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return name
}

// StartKDC creates a realm database in dir, adds users and the service
// principals, exports the keytab and starts krb5kdc on a free loopback port.
func StartKDC(ctx context.Context, dir, logDir string, users []KDCUser) (*KDC, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	k := &KDC{
		Port:       port,
		Krb5Conf:   filepath.Join(dir, "krb5.conf"),
		KDCProfile: filepath.Join(dir, "kdc.conf"),
		Keytab:     filepath.Join(dir, "vault.keytab"),
		Users:      users,
		dir:        dir,
	}
	kdcConf := fmt.Sprintf(`[kdcdefaults]
 kdc_ports = %[1]d
 kdc_tcp_ports = %[1]d
[realms]
 %[2]s = {
  database_name = %[3]s/principal
  key_stash_file = %[3]s/stash
  acl_file = %[3]s/kadm5.acl
  max_life = 24h
  max_renewable_life = 7d
 }
[logging]
 kdc = FILE:%[4]s/krb5kdc.log
`, port, Realm, dir, logDir)
	krb5Conf := fmt.Sprintf(`[libdefaults]
 default_realm = %[1]s
 dns_lookup_realm = false
 dns_lookup_kdc = false
 rdns = false
 udp_preference_limit = 1
 default_ccache_name = FILE:%[3]s/krb5cc_%%{uid}
[realms]
 %[1]s = {
  kdc = 127.0.0.1:%[2]d
 }
[domain_realm]
 localhost = %[1]s
 .localhost = %[1]s
`, Realm, port, dir)
	if err := os.WriteFile(k.KDCProfile, []byte(kdcConf), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(k.Krb5Conf, []byte(krb5Conf), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "kadm5.acl"), nil, 0o600); err != nil {
		return nil, err
	}
	env := k.Env()
	if err := k.run(ctx, env, nil, sbin("kdb5_util"), "create", "-s", "-r", Realm, "-P", "master-"+randHex(8)); err != nil {
		return nil, err
	}
	var q []string
	for _, u := range users {
		q = append(q, fmt.Sprintf("addprinc -pw %s %s", u.Password, u.Principal))
	}
	q = append(q,
		"addprinc -randkey "+ServicePrincipal,
		"modprinc +no_auth_data_required "+ServicePrincipal,
		"addprinc -randkey "+NoPACServicePrincipal,
		"ktadd -k "+k.Keytab+" "+ServicePrincipal+" "+NoPACServicePrincipal,
	)
	for _, line := range q {
		if err := k.run(ctx, env, nil, sbin("kadmin.local"), "-r", Realm, "-q", line); err != nil {
			return nil, err
		}
	}
	k.Proc, err = StartProc(logDir, "krb5kdc", env, dir, sbin("krb5kdc"), "-n", "-r", Realm)
	if err != nil {
		return nil, err
	}
	if err := k.Proc.WaitFor(ctx, "listening", DialReady(fmt.Sprintf("127.0.0.1:%d", port))); err != nil {
		k.Proc.Stop(time.Second)
		return nil, err
	}
	return k, nil
}

// Env is the environment that points MIT tools at this realm.
func (k *KDC) Env() []string {
	return []string{"KRB5_CONFIG=" + k.Krb5Conf, "KRB5_KDC_PROFILE=" + k.KDCProfile}
}

func (k *KDC) run(ctx context.Context, env []string, stdin []byte, argv ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = k.dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		// Passwords are on the command line of kadmin.local queries: never echo argv.
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(argv[0]), argv[1], err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Kinit gets a TGT for user into ccache (e.g. "FILE:/tmp/x" or "DIR:/tmp/d")
// with real MIT kinit, the password given on standard input. lifetime 0 is
// the realm default.
func (k *KDC) Kinit(ctx context.Context, user, ccache string, lifetime time.Duration) error {
	return k.KinitRenewable(ctx, user, ccache, lifetime, 0)
}

// KinitRenewable is Kinit asking for a ticket renewable for renew (kinit
// -r; the realm allows up to 7 days). renew 0 asks for none.
func (k *KDC) KinitRenewable(ctx context.Context, user, ccache string, lifetime, renew time.Duration) error {
	pw := k.Password(user)
	if pw == "" {
		return fmt.Errorf("kinit: unknown test user %q", user)
	}
	args := []string{"kinit", "-c", ccache}
	if lifetime > 0 {
		args = append(args, "-l", fmt.Sprintf("%ds", int(lifetime.Seconds())))
	}
	if renew > 0 {
		args = append(args, "-r", fmt.Sprintf("%ds", int(renew.Seconds())))
	}
	args = append(args, user+"@"+Realm)
	return k.run(ctx, k.Env(), []byte(pw+"\n"), args...)
}

// Password returns a test principal's password ("" for an unknown one),
// for tests that run kinit themselves (as another user).
func (k *KDC) Password(user string) string {
	for _, u := range k.Users {
		if u.Principal == user {
			return u.Password
		}
	}
	return ""
}

// Stop stops the KDC.
func (k *KDC) Stop() error { return k.Proc.Stop(2 * time.Second) }
