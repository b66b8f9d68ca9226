//go:build linux

package krb

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// keyringUsable probes the kernel key API (blocked by some container
// seccomp profiles).
func keyringUsable(t *testing.T) {
	t.Helper()
	if _, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_KEYRING, false); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kernel key API unavailable in CI: %v", err)
		}
		t.Skipf("kernel key API unavailable: %v", err)
	}
}

// userCollection is a fresh KEYRING:user: collection, removed at the end.
func userCollection(t *testing.T) string {
	t.Helper()
	name := "gttest" + strings.ReplaceAll(filepath.Base(t.TempDir()), "/", "")
	t.Cleanup(func() {
		_ = onKeyThread(func() error {
			if id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "keyring", krbCollPrefix+name, 0); err == nil {
				unix.KeyctlInt(unix.KEYCTL_CLEAR, id, 0, 0, 0)
				unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_USER_KEYRING, 0, 0)
			}
			return nil
		})
	})
	return "KEYRING:user:" + name
}

func TestKeyringWriteReadCollection(t *testing.T) {
	keyringUsable(t)
	dir := t.TempDir()
	conf := testConf(t, dir, "127.0.0.1:1")
	coll := userCollection(t)
	opts := func(ccname, principal string, now time.Time) Options {
		return Options{LookupEnv: envMap(map[string]string{"KRB5_CONFIG": conf, "KRB5CCNAME": ccname}),
			Principal: principal, Now: func() time.Time { return now }}
	}
	now := time.Now()
	end := now.Add(time.Hour).Truncate(time.Second)

	// Nothing there yet: one line naming the cache, and nothing created.
	_, err := LoadFromEnv(opts(coll, "", now))
	if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), coll) {
		t.Fatalf("absent collection: %v", err)
	}
	if cs, err := OpenCollection(coll, opts(coll, "", now)); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("reading created the collection: %v %v", cs, err)
	}

	alice := sampleContents(t, "alice", end)
	alice.HasOffset, alice.KDCOffset = true, 2*time.Second
	c, err := Open(coll, opts("", "", now))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Replace(alice); err != nil {
		t.Fatal(err)
	}
	got, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	if !got.Principal.Equal(alice.Principal) || len(got.Credentials) != 2 || !got.HasOffset || got.KDCOffset != 2*time.Second {
		t.Fatalf("read back %+v", got)
	}
	if tg := got.TGT(); tg == nil || !tg.EndTime.Equal(end) {
		t.Fatalf("TGT not read back: %+v", got.TGT())
	}

	// A second cache for bob, made primary.
	bobCache, err := Open(coll+":second", opts("", "", now))
	if err != nil {
		t.Fatal(err)
	}
	if err := bobCache.Initialize(sampleContents(t, "bob", end).Principal); err != nil {
		t.Fatal(err)
	}
	if err := bobCache.Store(sampleContents(t, "bob", end).Credentials[1]); err != nil {
		t.Fatal(err)
	}
	if err := SetPrimary(bobCache); err != nil {
		t.Fatal(err)
	}
	cl, err := LoadFromEnv(opts(coll, "", now))
	if err != nil || cl.Principal() != "bob@"+testRealm || cl.CacheName() != coll+":second" {
		t.Fatalf("primary: %v %v", cl, err)
	}
	cl, err = LoadFromEnv(opts(coll, "alice", now))
	if err != nil || cl.Principal() != "alice@"+testRealm {
		t.Fatalf("--kerbprincipal alice: %v", err)
	}
	_, err = LoadFromEnv(opts(coll, "carol", now))
	if !errors.Is(err, ErrPrincipalMismatch) || !strings.Contains(err.Error(), coll) || !strings.Contains(err.Error(), "bob@") {
		t.Fatalf("--kerbprincipal carol: %v", err)
	}
	_, err = LoadFromEnv(opts(coll, "alice", end.Add(time.Minute)))
	if !errors.Is(err, ErrTGTExpired) || !strings.Contains(err.Error(), coll) {
		t.Fatalf("expired: %v", err)
	}
	assertNoSecrets(t, err.Error())

	// An initialized cache without tickets, and a primary pointing nowhere.
	if err := bobCache.Initialize(Principal{NameType: 1, Realm: testRealm, Components: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	_, err = LoadFromEnv(opts(coll, "", now))
	if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), coll+":second") {
		t.Fatalf("no TGT: %v", err)
	}
	gone, _ := Open(coll+":gone", opts("", "", now))
	if err := SetPrimary(gone); err != nil {
		t.Fatal(err)
	}
	_, err = LoadFromEnv(opts(coll, "", now))
	if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), coll+":gone") || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("primary gone: %v", err)
	}
}

func TestKeyringNames(t *testing.T) {
	keyringUsable(t)
	for _, name := range []string{"KEYRING:process:x", "KEYRING:thread:"} {
		if _, err := Open(name, Options{}); !errors.Is(err, ErrUnsupportedCCache) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if os.Geteuid() != 0 {
		_, err := Open("KEYRING:persistent:0", Options{LookupEnv: envMap(nil)})
		if err == nil {
			c, _ := Open("KEYRING:persistent:0", Options{LookupEnv: envMap(nil)})
			_, err = c.Read()
		}
		if err == nil || !strings.Contains(err.Error(), "uid 0") {
			t.Errorf("another uid's persistent keyring: %v", err)
		}
	}
}
