package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/krb"
)

func cache(t *testing.T, end time.Time) []byte {
	t.Helper()
	alice := krb.Principal{NameType: 1, Realm: "EX.ORG", Components: []string{"alice"}}
	cred := func(server ...string) krb.Credential {
		return krb.Credential{Client: alice, Server: krb.Principal{NameType: 2, Realm: "EX.ORG", Components: server},
			KeyType: 18, Key: make([]byte, 32), AuthTime: time.Now(), EndTime: end, Flags: krb.FlagRenewable, Ticket: []byte("ticket")}
	}
	conf := krb.Credential{Client: alice, Server: krb.Principal{Realm: "X-CACHECONF:", Components: []string{"krb5_ccache_conf_data", "fast_avail", "krbtgt/EX.ORG@EX.ORG"}}, Ticket: []byte("yes")}
	c := &krb.Contents{Principal: alice, Credentials: []krb.Credential{conf, cred("krbtgt", "EX.ORG"), cred("host", "svc.ex.org")}}
	return c.MarshalFile()
}

func runWith(t *testing.T, ccname string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("KRB5CCNAME", ccname)
	t.Setenv("KRB5_CONFIG", filepath.Join(t.TempDir(), "none.conf"))
	var o, e bytes.Buffer
	code := run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestProducer(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, cache(t, time.Now().Add(time.Hour)), 0o600)
	expired := filepath.Join(dir, "expired")
	os.WriteFile(expired, cache(t, time.Now().Add(-time.Hour)), 0o600)

	code, out, errOut := runWith(t, "FILE:"+good)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	c, err := krb.DecodeFile([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Credentials) != 2 || !c.Credentials[0].IsConfig() || c.TGT() == nil {
		t.Errorf("want the configuration entry and the TGT only, got %d entries", len(c.Credentials))
	}

	for name, tc := range map[string]struct {
		cc, want string
	}{
		"expired": {"FILE:" + expired, "expired at"},
		"missing": {"FILE:" + filepath.Join(dir, "nope"), "does not exist"},
		"MEMORY":  {"MEMORY:x", "unsupported"},
	} {
		code, out, errOut := runWith(t, tc.cc)
		if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) || !strings.HasPrefix(errOut, prog+": ") {
			t.Errorf("%s: exit %d, stdout %d bytes, stderr %q", name, code, len(out), errOut)
		}
	}
	if code, _, _ := runWith(t, "FILE:"+good, "extra"); code != 2 {
		t.Errorf("an argument: exit %d, want 2", code)
	}
	if code, out, errOut := runWith(t, "FILE:"+good, "-h"); code != 0 || out != "" || !strings.Contains(errOut, "Usage: cred_producer_krb") {
		t.Errorf("-h: exit %d %q", code, errOut)
	}
}
