package krbcache

import (
	"testing"
)

// TestStorerRenewsThroughEveryCacheType: at condor_submit, with the local
// vault token expired, condor_vault_storer renews through Kerberos from
// each cache type, quietly and with no browser.
func TestStorerRenewsThroughEveryCacheType(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			s := env.NewSubmitter(t, cnd)
			use(t, s.User, k)
			if r := s.StorerTTY("alice", "default"); r.Code != 0 {
				t.Fatalf("first login:\n%v", r)
			}
			old := s.Read(s.VTFile("default"))
			env.Revoke(t, old)
			kinit(t, s.User, "alice")
			r := s.Storer("default")
			if r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
				t.Fatalf("want a quiet renewal with no browser:\n%v", r)
			}
			if s.Read(s.VTFile("default")) == old {
				t.Error("the local vault token was not renewed")
			}
		})
	}
}
