package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// LDAPSuffix is the base DN of the test directory.
const LDAPSuffix = "dc=test,dc=realm"

// LDAP is a running slapd that answers anonymous binds, which is all Vault's
// kerberos auth plugin does with htvault-config's settings.
type LDAP struct {
	URL  string // ldap://127.0.0.1:<port>
	Proc *Proc
}

// StartLDAP starts Debian's slapd with a minimal mdb database in dir.
func StartLDAP(ctx context.Context, dir, logDir string) (*LDAP, error) {
	db := filepath.Join(dir, "db")
	if err := os.MkdirAll(db, 0o700); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
pidfile %[1]s/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
suffix "%[2]s"
rootdn "cn=admin,%[2]s"
directory %[3]s
maxsize 10485760
`, dir, LDAPSuffix, db)
	confPath := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	url := fmt.Sprintf("ldap://127.0.0.1:%d", port)
	// -d 0 keeps slapd in the foreground (a daemonised slapd would escape
	// the process group) without debug output.
	p, err := StartProc(logDir, "slapd", nil, dir, sbin("slapd"), "-d", "0", "-h", url+"/", "-f", confPath)
	if err != nil {
		return nil, err
	}
	if err := p.WaitFor(ctx, "listening", DialReady(fmt.Sprintf("127.0.0.1:%d", port))); err != nil {
		p.Stop(time.Second)
		return nil, err
	}
	return &LDAP{URL: url, Proc: p}, nil
}

// Stop stops slapd.
func (l *LDAP) Stop() error { return l.Proc.Stop(2 * time.Second) }
