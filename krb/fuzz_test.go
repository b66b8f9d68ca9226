package krb

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/credentials"
)

// FuzzParseCCache checks the credentials cache reader (a file the user
// controls): no panic; whatever the bounds check passes, gokrb5's own
// parser takes without panicking (the recover in parseCCache is a last
// resort, not the defence); and an accepted cache can be asked for its
// principal and TGT.
func FuzzParseCCache(f *testing.F) {
	f.Add([]byte{5, 4, 0, 0})
	f.Add([]byte{5, 3})
	f.Add([]byte{5, 4, 0, 12, 0, 1, 0, 8})
	end := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Add(ccacheBytes(f, "alice", testRealm))
	f.Add(ccacheBytes(f, "alice", testRealm, tgt(testRealm, end)))
	f.Add(ccacheBytes(f, "host/h.example", testRealm, tgt(testRealm, end), tgt("OTHER.ORG", end)))
	f.Fuzz(func(t *testing.T, b []byte) {
		cc, err := parseCCache(b)
		if verr := validateCCache(b); verr == nil {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("gokrb5 panicked on a cache the bounds check accepted: %v", r)
					}
				}()
				_ = new(credentials.CCache).Unmarshal(b)
			}()
		} else if err == nil {
			t.Fatalf("parseCCache accepted a cache validateCCache refused: %v", verr)
		}
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		l := &loadedCCache{cc: cc, name: "FILE:/fuzz"}
		_ = l.principal()
		if _, err := tgtEnd(l, end.Add(-time.Hour)); err != nil && !errors.Is(err, ErrNoCredentials) && !errors.Is(err, ErrTGTExpired) {
			t.Fatalf("tgtEnd: %v", err)
		}
	})
}

// fuzzProfile parses one krb5.conf text, with include directives made
// harmless (they would read the machine's files, and are covered by the
// unit tests).
func fuzzProfile(data []byte) (*profile, error) {
	data = bytes.ReplaceAll(data, []byte("include"), []byte("inc1ude"))
	p := &profile{files: []string{"fuzz.conf"}}
	root := &pnode{file: "fuzz.conf"}
	if err := p.parse("fuzz.conf", data, root, 0); err != nil {
		return nil, err
	}
	p.roots = append(p.roots, root)
	return p, nil
}

// FuzzKrb5Conf checks the krb5.conf reader (KRB5_CONFIG is the user's):
// no panic; errors are *ConfigError with a line inside the file; and an
// accepted profile gives a gokrb5 configuration (or a *ConfigError, never
// a panic in gokrb5's parser), whose default realm is never empty, and a
// default_ccache_name that resolves or fails with a typed error.
func FuzzKrb5Conf(f *testing.F) {
	for _, s := range []string{
		"[libdefaults]\n default_realm = EXAMPLE.ORG\n dns_lookup_kdc = false\n[realms]\n EXAMPLE.ORG = {\n  kdc = 127.0.0.1:88\n  admin_server = a\n }\n[domain_realm]\n .example.org = EXAMPLE.ORG\n",
		"# comment\n[libdefaults]*\n ticket_lifetime = \"10h\\t\"\n forwardable = yes\n",
		"[realms]\nR = \n{\n kdc = k # trailing\n}*\n",
		"[realms]\n R = {\n  sub = {\n   x = y\n  }\n",
		"}\n[a\nkey",
		"[libdefaults]\n default_ccache_name = DIR::%{TEMP}/x%{uid}\n",
		"[libdefaults]\n default_ccache_name = %{nope\n",
		"[libdefaults]\n clockskew = 1e400\n default_tgs_enctypes = aes256-cts des-cbc-crc\n",
		"[libdefaults]\r\n default_realm = A B\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		prof, err := fuzzProfile(data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("parse: error of type %T: %v", err, err)
			}
			if ce.Line < 0 || ce.Line > lines {
				t.Fatalf("error on line %d of a %d-line file: %v", ce.Line, lines, err)
			}
			return
		}
		for _, k := range prof.keys("libdefaults") {
			if _, ok := prof.first("libdefaults", k); !ok {
				t.Fatalf("key %q listed but not found", k)
			}
		}
		cfg, err := buildConfig(prof, "CC.REALM")
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("buildConfig: error of type %T: %v", err, err)
			}
		} else if cfg.LibDefaults.DefaultRealm == "" {
			t.Fatalf("empty default realm")
		}
		o := Options{LookupEnv: func(string) (string, bool) { return "", false }, UID: intPtr(1000), EUID: intPtr(1000)}.resolve()
		ref, err := resolveCCacheName(o, prof)
		if err != nil {
			var ce *ConfigError
			var ue *UnsupportedCCacheError
			if !errors.As(err, &ce) && !errors.As(err, &ue) {
				t.Fatalf("resolveCCacheName: error of type %T: %v", err, err)
			}
		} else if !supportedCacheType(ref.typ) {
			t.Fatalf("cache type %q", ref.typ)
		}
	})
}

// FuzzCCacheName checks KRB5CCNAME parsing: no panic, only FILE, DIR,
// KEYRING and KCM accepted (others as *UnsupportedCCacheError), and the
// MIT form of an accepted name parses back to the same reference.
func FuzzCCacheName(f *testing.F) {
	for _, s := range []string{"FILE:/tmp/krb5cc_1000", "/tmp/x", "DIR:/run/user/1000/krb5cc", "DIR::/d/tkt1", "KEYRING:persistent:1000", "KCM:", "x", "", "FILE:", ":", "DIR:::x", "/a:b", "MEMORY:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		ref, err := parseCCacheName(name, sourceEnv)
		if err != nil {
			var ue *UnsupportedCCacheError
			if !errors.As(err, &ue) || !errors.Is(err, ErrUnsupportedCCache) {
				t.Fatalf("parseCCacheName(%q): %T %v", name, err, err)
			}
			return
		}
		if !supportedCacheType(ref.typ) || ref.subsidiary && ref.typ != "DIR" && ref.typ != "KEYRING" {
			t.Fatalf("parseCCacheName(%q) = %+v", name, ref)
		}
		again, err := parseCCacheName(ref.String(), sourceEnv)
		if err != nil || again != ref {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", name, ref, ref.String(), again, err)
		}
		if !strings.Contains(name, ref.path) {
			t.Fatalf("path %q not taken from %q", ref.path, name)
		}
	})
}

// supportedCacheType reports the cache types the package reads and writes.
func supportedCacheType(typ string) bool {
	return typ == "FILE" || typ == "DIR" || typ == "KEYRING" || typ == "KCM"
}
