package krbcache

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/vaultcred/gettoken/integration/stack"
)

// TestProducerOutputIsUsable: from each cache type, cred_producer_krb
// writes a FILE cache (what the credd stores as .cred) holding the
// renewable TGT and no service ticket, which MIT klist reads and with
// which gettoken renews a vault token.
func TestProducerOutputIsUsable(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			u := env.NewUser(t)
			use(t, u, k)
			kinit(t, u, "alice")
			// A service ticket in the cache, which the producer leaves out.
			if r := u.Exec("/usr/bin/kvno", "", stack.ServicePrincipal); r.Code != 0 {
				t.Fatalf("kvno:\n%v", r)
			}
			r := u.Exec("cred_producer_krb", "")
			if r.Code != 0 || r.Stderr != "" {
				t.Fatalf("cred_producer_krb:\n%v", r)
			}
			// gokrb5's parser, independent of the producer's encoder.
			var cc credentials.CCache
			if err := cc.Unmarshal([]byte(r.Stdout)); err != nil {
				t.Fatalf("output is not a FILE cache: %v", err)
			}
			if p := cc.DefaultPrincipal.PrincipalName.PrincipalNameString() + "@" + cc.DefaultPrincipal.Realm; p != "alice@"+stack.Realm {
				t.Errorf("principal %s", p)
			}
			entries := cc.GetEntries() // tickets, without configuration entries
			if len(entries) != 1 || entries[0].Server.PrincipalName.PrincipalNameString() != "krbtgt/"+stack.Realm {
				t.Fatalf("want exactly the TGT, got %d tickets", len(entries))
			}
			tgt := entries[0]
			if !types.IsFlagSet(&tgt.TicketFlags, flags.Renewable) || !tgt.RenewTill.After(time.Now().Add(6*24*time.Hour)) {
				t.Errorf("TGT not renewable for 7 days: renew till %v", tgt.RenewTill)
			}
			if len(cc.Credentials) < 2 {
				t.Error("the fast_avail configuration entry was dropped")
			}

			cred := filepath.Join(u.Dir, "alice.cred")
			if err := os.WriteFile(cred, []byte(r.Stdout), 0o600); err != nil {
				t.Fatal(err)
			}
			u.Chown(cred)
			if r := u.Exec("/usr/bin/klist", "", "-c", "FILE:"+cred); r.Code != 0 || !strings.Contains(r.Stdout, "Default principal: alice@"+stack.Realm) {
				t.Fatalf("MIT klist cannot read the output:\n%v", r)
			}
			u.Environ = append(u.Environ, "KRB5CCNAME=FILE:"+cred)
			renewsThroughKerberos(t, u)
		})
	}
}

// TestProducerWithoutTicket: one line on stderr, nothing on stdout, exit 1.
func TestProducerWithoutTicket(t *testing.T) {
	u := env.NewUser(t)
	u.Environ = append(u.Environ, "KRB5CCNAME=KEYRING:user:"+randName())
	r := u.Exec("cred_producer_krb", "")
	if r.Code != 1 || r.Stdout != "" || strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, "does not exist") {
		t.Fatalf("want exit 1 and one line:\n%v", r)
	}
}
