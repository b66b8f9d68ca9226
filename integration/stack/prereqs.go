package stack

import (
	"os"
	"os/exec"
	"path/filepath"
)

// MissingPrereqs lists what the stack needs but this machine lacks (nil
// when everything is there): MIT Kerberos and OpenLDAP binaries, node and
// the IdP's npm packages, and the Vault server binary.
func MissingPrereqs() []string {
	var missing []string
	for _, n := range []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit", "slapd", "node"} {
		if _, err := exec.LookPath(n); err == nil {
			continue
		}
		if _, err := os.Stat(sbin(n)); err == nil {
			continue
		}
		missing = append(missing, n)
	}
	if _, err := os.Stat(filepath.Join(ModuleDir(), "idp", "node_modules")); err != nil {
		missing = append(missing, "integration/idp/node_modules (npm ci)")
	}
	if _, err := VaultBinary(); err != nil {
		missing = append(missing, "vault binary ("+err.Error()+")")
	}
	return missing
}
