package harness

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vaultcred/gettoken/integration/condor"
)

// Submitter is a user who submits jobs on an access point (the condor
// stand-ins): condor_vault_storer's environment as condor_submit gives it
// (no HTGETTOKENOPTS, HTCondor's tools on PATH), its own storer ID so its
// /tmp/vt_<ID>* files are its own, and an empty credd directory.
type Submitter struct {
	*User
	Condor *condor.Condor
	ID     string
}

// NewSubmitter makes a submitter on the access point c.
func (e *Env) NewSubmitter(t *testing.T, c *condor.Condor) *Submitter {
	u := e.NewUser(t)
	var keep []string
	for _, v := range u.Environ {
		if !strings.HasPrefix(v, "HTGETTOKENOPTS=") {
			keep = append(keep, v)
		}
	}
	b := make([]byte, 4)
	rand.Read(b)
	s := &Submitter{User: u, Condor: c, ID: "it" + hex.EncodeToString(b)}
	u.Environ = append(append(keep, c.Env...), "CONDOR_VAULT_STORER_ID="+s.ID)
	// One uid for all tests: start each from an empty credd directory.
	os.RemoveAll(s.CredDir())
	t.Cleanup(func() {
		os.RemoveAll(s.CredDir())
		m, _ := filepath.Glob("/tmp/vt_" + s.ID + "*")
		for _, f := range m {
			os.Remove(f)
		}
	})
	return s
}

// CredDir is the user's directory in the credential directory (the credd
// names a uid without a passwd entry u<uid>).
func (s *Submitter) CredDir() string {
	return filepath.Join(s.Condor.CredDir, fmt.Sprintf("u%d", s.E.UID))
}

// File is a file of the user's credential directory ("dune.top").
func (s *Submitter) File(name string) string { return filepath.Join(s.CredDir(), name) }

// VT is /tmp/vt_<ID>[-<service>].
func (s *Submitter) VTFile(service string) string {
	if service == "" {
		return "/tmp/vt_" + s.ID
	}
	return "/tmp/vt_" + s.ID + "-" + service
}

// BT is ${XDG_RUNTIME_DIR}/bt_<ID>[-<suffix>].
func (s *Submitter) BTFile(suffix string) string {
	p := filepath.Join(s.Run, "bt_"+s.ID)
	if suffix != "" {
		p += "-" + suffix
	}
	return p
}

// Storer runs condor_vault_storer without a terminal (Kerberos, ssh or an
// existing token only: DAGMan or a script).
func (s *Submitter) Storer(args ...string) Result {
	s.T.Helper()
	return s.Exec("condor_vault_storer", "", args...)
}

// StorerTTY runs it as condor_submit does on a terminal, approving the
// login at the IdP as account; the terminal's output is in Stdout.
func (s *Submitter) StorerTTY(account string, args ...string) Result {
	s.T.Helper()
	r := s.OIDC(account, false, "condor_vault_storer", args...)
	r.Stdout = strings.ReplaceAll(r.Stdout, "\r\n", "\n")
	return r
}
