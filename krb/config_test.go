package krb

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/config"
)

func kdcsOf(cfg *config.Config, realm string) []string {
	for _, r := range cfg.Realms {
		if r.Realm == realm {
			return r.KDC
		}
	}
	return nil
}

func TestBuildConfig(t *testing.T) {
	dir := t.TempDir()
	f := func(name, body string) string { return writeFile(t, filepath.Join(dir, name), []byte(body)) }

	// A Fedora-style krb5.conf: includedir first, realm-specific
	// subsections in [libdefaults], unknown sections, comments after values.
	confD := filepath.Join(dir, "krb5.conf.d")
	f("krb5.conf.d/10-realm.conf", "[realms]\n INC.ORG = {\n  kdc = inc-kdc.inc.org\n }\n")
	f("krb5.conf.d/crypto_policies", "[libdefaults]\n permitted_enctypes = aes256-cts-hmac-sha1-96\n")
	f("krb5.conf.d/.hidden", "[realms]\n HIDDEN.ORG = {\n  kdc = h\n }\n")
	f("krb5.conf.d/old.rpmsave", "[realms]\n SAVED.ORG = {\n  kdc = s\n }\n")
	fedora := f("fedora.conf", `# top comment
includedir `+confD+`
include `+f("extra.conf", "[domain_realm]\n .extra.org = EXTRA.ORG\n")+`

[logging]
    default = FILE:/var/log/krb5libs.log

[libdefaults]
    dns_lookup_realm = false
    ticket_lifetime = 24h
    renew_lifetime = 7d
    forwardable = true
    rdns = true
    pkinit_anchors = FILE:/etc/pki/tls/certs/ca-bundle.crt
    spake_preauth_groups = edwards25519
    default_realm = EXAMPLE.ORG # the main realm
    default_ccache_name = KEYRING:persistent:%{uid}
    EXAMPLE.ORG = {
        pkinit_anchors = FILE:/x
    }

[realms]
 EXAMPLE.ORG = {
     kdc = kdc1.example.org
     kdc = kdc2.example.org:8888
     admin_server = kdc1.example.org
     auth_to_local = RULE:[2:$1@$0](.*@EXAMPLE\.ORG)s/@.*//
     auth_to_local_names = {
         kdc = not-a-kdc
     }
 }

[domain_realm]
 .example.org = EXAMPLE.ORG
 example.org = EXAMPLE.ORG

[appdefaults]
 pam = {
   debug = false
 }
[plugins]
 ccselect = {
   disable = k5identity
 }
`)
	// gokrb5's own parser rejects this file; that is why it is wrapped.
	if _, err := config.Load(fedora); err != nil {
		t.Logf("gokrb5 alone: %v", err)
	}

	t.Run("fedora style", func(t *testing.T) {
		prof, err := loadProfile([]string{fedora})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := buildConfig(prof, "CC.REALM")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.LibDefaults.DefaultRealm != "EXAMPLE.ORG" {
			t.Errorf("default realm %q", cfg.LibDefaults.DefaultRealm)
		}
		if cfg.LibDefaults.RDNS {
			t.Error("rdns not forced off")
		}
		if !cfg.LibDefaults.DNSLookupKDC {
			t.Error("dns_lookup_kdc should default to true as in MIT")
		}
		if got, want := kdcsOf(cfg, "EXAMPLE.ORG"), []string{"kdc1.example.org:88", "kdc2.example.org:8888"}; !reflect.DeepEqual(got, want) {
			t.Errorf("EXAMPLE.ORG kdcs %v, want %v", got, want)
		}
		if got := kdcsOf(cfg, "INC.ORG"); !reflect.DeepEqual(got, []string{"inc-kdc.inc.org:88"}) {
			t.Errorf("includedir realm kdcs %v", got)
		}
		for _, r := range []string{"HIDDEN.ORG", "SAVED.ORG"} {
			if kdcsOf(cfg, r) != nil {
				t.Errorf("%s should not have been included", r)
			}
		}
		if cfg.ResolveRealm("host.extra.org") != "EXTRA.ORG" || cfg.ResolveRealm("vault.example.org") != "EXAMPLE.ORG" {
			t.Errorf("domain_realm not loaded: %v", cfg.DomainRealm)
		}
		if !reflect.DeepEqual(cfg.LibDefaults.PermittedEnctypes, []string{"aes256-cts-hmac-sha1-96"}) {
			t.Errorf("permitted_enctypes from includedir: %v", cfg.LibDefaults.PermittedEnctypes)
		}
	})

	t.Run("several files merge, first wins", func(t *testing.T) {
		a := f("a.conf", "[libdefaults]\n default_realm = A.ORG\n dns_lookup_kdc = false\n[realms]\n B.ORG = {\n  kdc = b-first\n }\n")
		b := f("b.conf", "[libdefaults]\n default_realm = B.ORG\n udp_preference_limit = 1\n[realms]\n B.ORG = {\n  kdc = b-second\n }\n C.ORG = {\n  kdc = c\n }\n")
		o := Options{LookupEnv: envMap(map[string]string{"KRB5_CONFIG": a + ":" + filepath.Join(dir, "nope.conf") + ":" + b})}.resolve()
		prof, err := loadProfile(configPaths(o))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := buildConfig(prof, "")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.LibDefaults.DefaultRealm != "A.ORG" || cfg.LibDefaults.DNSLookupKDC || cfg.LibDefaults.UDPPreferenceLimit != 1 {
			t.Errorf("libdefaults: realm %q dns %v udp %d", cfg.LibDefaults.DefaultRealm, cfg.LibDefaults.DNSLookupKDC, cfg.LibDefaults.UDPPreferenceLimit)
		}
		if got := kdcsOf(cfg, "B.ORG"); !reflect.DeepEqual(got, []string{"b-first:88", "b-second:88"}) {
			t.Errorf("B.ORG kdcs %v", got)
		}
		if got := kdcsOf(cfg, "C.ORG"); !reflect.DeepEqual(got, []string{"c:88"}) {
			t.Errorf("C.ORG kdcs %v", got)
		}
	})

	t.Run("final stops later files", func(t *testing.T) {
		a := f("fa.conf", "[realms]\n B.ORG = {\n  kdc = b-first\n }*\n")
		b := f("fb.conf", "[realms]\n B.ORG = {\n  kdc = b-second\n }\n")
		prof, err := loadProfile([]string{a, b})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := buildConfig(prof, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := kdcsOf(cfg, "B.ORG"); !reflect.DeepEqual(got, []string{"b-first:88"}) {
			t.Errorf("B.ORG kdcs %v", got)
		}
	})

	t.Run("syntax details", func(t *testing.T) {
		p := f("syntax.conf", "garbage before any section is ignored\r\n"+
			"[libdefaults]\r\n"+
			"; a comment\r\n"+
			"\t\"default_realm\" = \"Q.ORG\" trailing\r\n"+
			"[realms]\r\n"+
			" Q.ORG =\r\n"+
			"  {\r\n"+
			"   kdc = q-kdc:99\r\n"+
			"  }\r\n")
		prof, err := loadProfile([]string{p})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := buildConfig(prof, "")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.LibDefaults.DefaultRealm != "Q.ORG" || !reflect.DeepEqual(kdcsOf(cfg, "Q.ORG"), []string{"q-kdc:99"}) {
			t.Errorf("realm %q kdcs %v", cfg.LibDefaults.DefaultRealm, kdcsOf(cfg, "Q.ORG"))
		}
	})

	t.Run("missing files give an empty config with the cache realm", func(t *testing.T) {
		o := Options{LookupEnv: envMap(map[string]string{"KRB5_CONFIG": filepath.Join(dir, "none1") + ":" + filepath.Join(dir, "none2")})}.resolve()
		prof, err := loadProfile(configPaths(o))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := buildConfig(prof, "CC.REALM")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.LibDefaults.DefaultRealm != "CC.REALM" || !cfg.LibDefaults.DNSLookupKDC || cfg.LibDefaults.RDNS || len(cfg.Realms) != 0 {
			t.Errorf("got realm %q dns %v rdns %v realms %v", cfg.LibDefaults.DefaultRealm, cfg.LibDefaults.DNSLookupKDC, cfg.LibDefaults.RDNS, cfg.Realms)
		}
	})
}

func TestConfigPaths(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		override string
		want     []string
	}{
		{"default", map[string]string{}, "", []string{"/etc/krb5.conf"}},
		{"empty env", map[string]string{"KRB5_CONFIG": ""}, "", []string{"/etc/krb5.conf"}},
		{"env list", map[string]string{"KRB5_CONFIG": "/a:/b"}, "", []string{"/a", "/b"}},
		{"override", map[string]string{"KRB5_CONFIG": "/a"}, "/c", []string{"/c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := configPaths(Options{LookupEnv: envMap(tc.env), ConfigPath: tc.override}.resolve())
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop.conf")
	writeFile(t, loop, []byte("include "+loop+"\n"))
	tests := []struct {
		name   string
		body   string
		errHas []string
	}{
		{"section without bracket", "[libdefaults\n", []string{":1:", "']'"}},
		{"extra brace", "[realms]\n A = {\n kdc = x\n }\n }\n", []string{":5:", "'}'"}},
		{"no equals", "[libdefaults]\n just words\n", []string{":2:", "name = value"}},
		{"missing open brace", "[realms]\n A =\n kdc = x\n", []string{":3:", "'{'"}},
		{"section inside group", "[realms]\n A = {\n[libdefaults]\n", []string{":3:", "section header"}},
		{"missing include", "include " + filepath.Join(dir, "nope.conf") + "\n", []string{":1:", "cannot include", "no such file"}},
		{"missing includedir", "includedir " + filepath.Join(dir, "nodir") + "\n", []string{":1:", "cannot include directory"}},
		{"include loop", "include " + loop + "\n", []string{"nested too deeply"}},
		{"bad number", "[libdefaults]\n udp_preference_limit = lots\n", []string{":2:", "udp_preference_limit", "not understood"}},
		{"bad boolean", "[libdefaults]\n\n dns_lookup_kdc = maybe\n", []string{":3:", "dns_lookup_kdc"}},
		{"bad value chars", "[libdefaults]\n default_realm = A=B\n", []string{":2:", "default_realm"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".conf"), []byte(tc.body))
			prof, err := loadProfile([]string{p})
			if err == nil {
				_, err = buildConfig(prof, "X")
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err %T is not *ConfigError", err)
			}
			msg := err.Error()
			for _, s := range tc.errHas {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not mention %q", msg, s)
				}
			}
			assertNoSecrets(t, msg)
		})
	}
}

func TestConfigUnreadableSkipped(t *testing.T) {
	if os.Geteuid() == 0 {
		// root reads 0000 files, so use a directory in the list instead,
		// which MIT also skips.
		prof, err := loadProfile([]string{t.TempDir()})
		if err != nil || len(prof.roots) != 0 {
			t.Fatalf("directory in config list: prof %v err %v", prof, err)
		}
		return
	}
	p := writeFile(t, filepath.Join(t.TempDir(), "secret.conf"), []byte("[libdefaults]\n default_realm = X\n"))
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	prof, err := loadProfile([]string{p})
	if err != nil || len(prof.roots) != 0 {
		t.Fatalf("unreadable config: prof %v err %v", prof, err)
	}
}
