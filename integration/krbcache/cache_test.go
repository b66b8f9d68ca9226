package krbcache

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

// cacheKind is one way users keep their tickets.
type cacheKind struct {
	name string
	// setup returns the environment that makes the kind the user's
	// default cache (KRB5CCNAME, and KRB5_CONFIG for KCM), and the
	// collection name error messages must mention.
	setup func(t *testing.T, u *harness.User) (environ []string, collection string)
}

func randName() string {
	b := make([]byte, 4)
	rand.Read(b)
	return "gt" + hex.EncodeToString(b)
}

func kinds() []cacheKind {
	ks := []cacheKind{
		{"DIR", func(t *testing.T, u *harness.User) ([]string, string) {
			d := filepath.Join(u.Dir, "ccdir")
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
			u.Chown(d)
			return []string{"KRB5CCNAME=DIR:" + d}, "DIR:" + d
		}},
		{"KEYRING-persistent", func(t *testing.T, u *harness.User) ([]string, string) {
			name := "KEYRING:persistent:" + strconv.Itoa(u.E.UID)
			return []string{"KRB5CCNAME=" + name}, name
		}},
		{"KEYRING-user", func(t *testing.T, u *harness.User) ([]string, string) {
			name := "KEYRING:user:" + randName()
			return []string{"KRB5CCNAME=" + name}, name
		}},
	}
	for _, srv := range []string{"heimdal", "sssd"} {
		ks = append(ks, cacheKind{"KCM-" + srv, func(t *testing.T, u *harness.User) ([]string, string) {
			if kcmMissing != "" {
				t.Skip(kcmMissing)
			}
			return []string{"KRB5CCNAME=KCM:", "KRB5_CONFIG=" + kcms[srv].Conf}, "KCM:"
		}})
	}
	return ks
}

// use makes kind u's default cache and destroys every cache of it at the
// end (KEYRING:persistent and KCM outlive the test otherwise).
func use(t *testing.T, u *harness.User, k cacheKind) string {
	t.Helper()
	environ, coll := k.setup(t, u)
	u.Environ = append(u.Environ, environ...)
	t.Cleanup(func() { u.Exec("/usr/bin/kdestroy", "", "-A") })
	return coll
}

// kinit runs MIT kinit as the user for principal (renewable for 7 days)
// into the default cache: in a collection, kinit picks the principal's
// cache or makes a new one and makes it the primary.
func kinit(t *testing.T, u *harness.User, principal string) {
	t.Helper()
	pw := u.E.Stack.KDC.Password(principal)
	if pw == "" {
		t.Fatalf("no password for %s", principal)
	}
	if r := u.Exec("/usr/bin/kinit", pw+"\n", "-r", "7d", principal+"@"+stack.Realm); r.Code != 0 {
		t.Fatalf("kinit %s:\n%v", principal, r)
	}
}

// klistDefault is the default principal MIT klist reports.
func klistDefault(t *testing.T, u *harness.User) string {
	t.Helper()
	r := u.Exec("/usr/bin/klist", "")
	for _, l := range strings.Split(r.Stdout, "\n") {
		if p, ok := strings.CutPrefix(l, "Default principal: "); ok {
			return p
		}
	}
	t.Fatalf("klist shows no default principal:\n%v", r)
	return ""
}

func vaultURL() string { return "https://" + env.VaultHostPort() }

// expireVaultToken gives u a vault token by OIDC (once) and revokes it.
func loginAndRevoke(t *testing.T, u *harness.User) {
	t.Helper()
	if _, err := os.Stat(u.VT); err != nil {
		r := u.OIDC("alice", true, "gettoken", "--web-open-command=")
		if r.Code != 0 {
			t.Fatalf("OIDC login failed:\n%v", r)
		}
	}
	env.Revoke(t, u.Read(u.VT))
}

// renewsThroughKerberos runs gettoken with an expired vault token and
// checks it got a new one through Kerberos, without a browser.
func renewsThroughKerberos(t *testing.T, u *harness.User, args ...string) {
	t.Helper()
	loginAndRevoke(t, u)
	old := u.Read(u.VT)
	r := u.Exec("gettoken", "", args...)
	want := fmt.Sprintf("Attempting to get token from %[1]s ... failed\nAttempting kerberos auth with %[1]s ... succeeded\nAttempting to get token from %[1]s ... succeeded\n", vaultURL())
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, want) {
		t.Fatalf("gettoken %q with an expired vault token:\n%v\nwant stdout prefix:\n%s", args, r, want)
	}
	if strings.Contains(r.Stdout+r.Stderr, "Complete the authentication") {
		t.Error("OIDC was attempted")
	}
	if u.Read(u.VT) == old {
		t.Error("the vault token was not renewed")
	}
}

// kerberosFails runs gettoken -v --nooidc with an expired vault token and
// returns the one line explaining why Kerberos was not used.
func kerberosFails(t *testing.T, u *harness.User, args ...string) string {
	t.Helper()
	loginAndRevoke(t, u)
	r := u.Exec("gettoken", "", append([]string{"-v", "--nooidc"}, args...)...)
	if r.Code == 0 {
		t.Fatalf("gettoken %q succeeded, want a Kerberos failure:\n%v", args, r)
	}
	for _, l := range strings.Split(r.Stdout+r.Stderr, "\n") {
		if m, ok := strings.CutPrefix(l, "Kerberos init failed: "); ok {
			return m
		}
	}
	t.Fatalf("no Kerberos failure line:\n%v", r)
	return ""
}

// TestEveryCacheType is the user's story for each cache type: a ticket
// from kinit renews the vault token; with a second principal in the
// collection (now the primary), --kerbprincipal picks the first one; a
// principal without a cache and an emptied collection give one clear line
// naming the collection.
func TestEveryCacheType(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			u := env.NewUser(t)
			coll := use(t, u, k)
			kinit(t, u, "alice")
			renewsThroughKerberos(t, u)

			kinit(t, u, "bob")
			if p := klistDefault(t, u); p != "bob@"+stack.Realm {
				t.Fatalf("after kinit bob the primary cache holds %s, want bob's", p)
			}
			renewsThroughKerberos(t, u, "--kerbprincipal=alice")

			msg := kerberosFails(t, u, "--kerbprincipal=carol")
			for _, s := range []string{"no credentials cache for carol", coll, "alice@" + stack.Realm, "bob@" + stack.Realm} {
				if !strings.Contains(msg, s) {
					t.Errorf("missing principal: %q does not mention %q", msg, s)
				}
			}

			if r := u.Exec("/usr/bin/kdestroy", "", "-A"); r.Code != 0 {
				t.Fatalf("kdestroy -A:\n%v", r)
			}
			msg = kerberosFails(t, u)
			if !strings.Contains(msg, "does not exist") && !strings.Contains(msg, "is empty") {
				t.Errorf("empty collection: %q does not say the cache is missing or empty", msg)
			}
			if named := strings.TrimPrefix(coll, "DIR:"); !strings.Contains(msg, named) {
				t.Errorf("empty collection: %q does not name the cache %s", msg, coll)
			}
		})
	}
}
