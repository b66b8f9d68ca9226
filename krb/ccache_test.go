package krb

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testRealm = "EXAMPLE.ORG"

// testConf writes a krb5.conf whose realm's KDC is kdc.
func testConf(t *testing.T, dir, kdc string) string {
	t.Helper()
	return writeFile(t, filepath.Join(dir, "krb5.conf"), []byte(`[libdefaults]
 default_realm = `+testRealm+`
 dns_lookup_kdc = false
 udp_preference_limit = 1
[realms]
 `+testRealm+` = {
  kdc = `+kdc+`
 }
`))
}

func TestLoadFromEnvCaches(t *testing.T) {
	dir := t.TempDir()
	conf := testConf(t, dir, "127.0.0.1:1")
	future := time.Now().Add(8 * time.Hour)
	past := time.Now().Add(-time.Hour)

	alice := writeFile(t, filepath.Join(dir, "alice"), ccacheBytes(t, "alice", testRealm, tgt(testRealm, future)))
	robot := writeFile(t, filepath.Join(dir, "robot"), ccacheBytes(t, "robot/svc/host.example.org", testRealm, tgt(testRealm, future)))
	empty := writeFile(t, filepath.Join(dir, "empty"), ccacheBytes(t, "alice", testRealm))
	expired := writeFile(t, filepath.Join(dir, "expired"), ccacheBytes(t, "alice", testRealm, tgt(testRealm, past)))
	otherTGT := writeFile(t, filepath.Join(dir, "othertgt"), ccacheBytes(t, "alice", testRealm, tgt("OTHER.ORG", future)))
	garbage := writeFile(t, filepath.Join(dir, "garbage"), []byte("not a credentials cache at all"))
	zero := writeFile(t, filepath.Join(dir, "zero"), nil)
	uidDefault := writeFile(t, filepath.Join(dir, "tmp", "krb5cc_4321"), ccacheBytes(t, "carol", testRealm, tgt(testRealm, future)))
	_ = uidDefault

	// DIR collection: primary names bob's cache, alice's is another member.
	coll := filepath.Join(dir, "coll")
	writeFile(t, filepath.Join(coll, "tkt"), ccacheBytes(t, "alice", testRealm, tgt(testRealm, future)))
	writeFile(t, filepath.Join(coll, "tktB0b"), ccacheBytes(t, "bob", testRealm, tgt(testRealm, future)))
	writeFile(t, filepath.Join(coll, "tktjunk"), []byte("junk"))
	writeFile(t, filepath.Join(coll, "primary"), []byte("tktB0b\n"))
	// DIR collection without a primary file: "tkt" is primary.
	coll2 := filepath.Join(dir, "coll2")
	writeFile(t, filepath.Join(coll2, "tkt"), ccacheBytes(t, "alice", testRealm, tgt(testRealm, future)))
	// primary file pointing outside: ignored.
	coll3 := filepath.Join(dir, "coll3")
	writeFile(t, filepath.Join(coll3, "tkt"), ccacheBytes(t, "alice", testRealm, tgt(testRealm, future)))
	writeFile(t, filepath.Join(coll3, "primary"), []byte("../alice\n"))
	tmpConf := writeFile(t, filepath.Join(dir, "tmpdefault.conf"), []byte(`[libdefaults]
 default_ccache_name = FILE:%{TEMP}/krb5cc_%{uid}
[realms]
 `+testRealm+` = {
  kdc = 127.0.0.1:1
 }
`))

	tests := []struct {
		name      string
		ccname    string
		principal string
		conf      string
		env       map[string]string
		want      string // principal
		wantCache string
		wantErr   error
		errHas    []string
	}{
		{name: "FILE", ccname: "FILE:" + alice, want: "alice@" + testRealm, wantCache: "FILE:" + alice},
		{name: "bare path", ccname: alice, want: "alice@" + testRealm},
		{name: "multi-component principal", ccname: robot, want: "robot/svc/host.example.org@" + testRealm},
		{name: "explicit principal with realm", ccname: alice, principal: "alice@" + testRealm, want: "alice@" + testRealm},
		{name: "explicit principal default realm", ccname: alice, principal: "alice", want: "alice@" + testRealm},
		{name: "explicit principal differs", ccname: alice, principal: "bob", wantErr: ErrPrincipalMismatch, errHas: []string{"alice@" + testRealm, "bob"}},
		{name: "explicit principal other realm", ccname: alice, principal: "alice@OTHER.ORG", wantErr: ErrPrincipalMismatch},
		{name: "missing file", ccname: "FILE:" + filepath.Join(dir, "nope"), wantErr: ErrNoCredentials, errHas: []string{"does not exist"}},
		{name: "empty cache", ccname: empty, wantErr: ErrNoCredentials, errHas: []string{"no ticket-granting ticket", "alice@"}},
		{name: "TGT of another realm only", ccname: otherTGT, wantErr: ErrNoCredentials},
		{name: "expired", ccname: expired, wantErr: ErrTGTExpired, errHas: []string{"alice@" + testRealm, "expired"}},
		{name: "garbage", ccname: garbage, wantErr: ErrCCacheUnreadable},
		{name: "zero bytes", ccname: zero, wantErr: ErrCCacheUnreadable},
		{name: "DIR primary", ccname: "DIR:" + coll, want: "bob@" + testRealm, wantCache: "DIR::" + filepath.Join(coll, "tktB0b")},
		{name: "DIR pick principal", ccname: "DIR:" + coll, principal: "alice", want: "alice@" + testRealm, wantCache: "DIR::" + filepath.Join(coll, "tkt")},
		{name: "DIR principal absent", ccname: "DIR:" + coll, principal: "carol@" + testRealm, wantErr: ErrPrincipalMismatch, errHas: []string{"carol@", "DIR:" + coll}},
		{name: "DIR subsidiary", ccname: "DIR::" + filepath.Join(coll, "tkt"), want: "alice@" + testRealm},
		{name: "DIR no primary file", ccname: "DIR:" + coll2, want: "alice@" + testRealm},
		{name: "DIR bad primary file", ccname: "DIR:" + coll3, want: "alice@" + testRealm},
		{name: "DIR missing", ccname: "DIR:" + filepath.Join(dir, "nodir"), wantErr: ErrNoCredentials},
		{name: "DIR empty", ccname: "DIR:" + t.TempDir(), wantErr: ErrNoCredentials},
		{name: "KEYRING process", ccname: "KEYRING:process:x", wantErr: ErrUnsupportedCCache, errHas: []string{"KEYRING:process:x", "persistent"}},
		{name: "MEMORY", ccname: "MEMORY:x", wantErr: ErrUnsupportedCCache},
		{name: "default name from config", conf: tmpConf, env: map[string]string{"TMPDIR": filepath.Join(dir, "tmp")}, want: "carol@" + testRealm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"KRB5_CONFIG": conf}
			if tc.conf != "" {
				env["KRB5_CONFIG"] = tc.conf
			}
			if tc.ccname != "" {
				env["KRB5CCNAME"] = tc.ccname
			}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := LoadFromEnv(Options{LookupEnv: envMap(env), UID: intPtr(4321), EUID: intPtr(4321), Principal: tc.principal})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				assertNoSecrets(t, err.Error())
				return
			}
			if err != nil {
				t.Fatalf("LoadFromEnv: %v", err)
			}
			defer c.Close()
			if c.Principal() != tc.want {
				t.Errorf("principal %q, want %q", c.Principal(), tc.want)
			}
			if tc.wantCache != "" && c.CacheName() != tc.wantCache {
				t.Errorf("cache %q, want %q", c.CacheName(), tc.wantCache)
			}
			if c.Expires().Before(time.Now()) {
				t.Errorf("expiry %v in the past", c.Expires())
			}
		})
	}
}

func TestExpiryUsesInjectedClock(t *testing.T) {
	dir := t.TempDir()
	cc := writeFile(t, filepath.Join(dir, "cc"), ccacheBytes(t, "alice", testRealm, tgt(testRealm, time.Now().Add(time.Hour))))
	env := map[string]string{"KRB5CCNAME": cc, "KRB5_CONFIG": testConf(t, dir, "127.0.0.1:1")}
	now := time.Now()
	clock := func() time.Time { return now }
	c, err := LoadFromEnv(Options{LookupEnv: envMap(env), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	now = now.Add(2 * time.Hour)
	_, err = c.NegotiateHeader(context.Background(), "host/vault.example.org")
	if !errors.Is(err, ErrTGTExpired) {
		t.Fatalf("NegotiateHeader after expiry: %v, want ErrTGTExpired", err)
	}
	if _, err := LoadFromEnv(Options{LookupEnv: envMap(env), Now: clock}); !errors.Is(err, ErrTGTExpired) {
		t.Fatalf("LoadFromEnv after expiry: %v, want ErrTGTExpired", err)
	}
}

// TestParseCCacheNeverPanics feeds truncations and random corruptions of a
// valid cache to the parser.
func TestParseCCacheNeverPanics(t *testing.T) {
	valid := ccacheBytes(t, "alice", testRealm, tgt(testRealm, time.Now().Add(time.Hour)), tgt(testRealm, time.Now().Add(time.Hour)))
	if _, err := parseCCache(valid); err != nil {
		t.Fatalf("valid cache rejected: %v", err)
	}
	for i := 0; i < len(valid); i++ {
		_, _ = parseCCache(valid[:i])
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 5000; i++ {
		b := append([]byte(nil), valid...)
		for j := 0; j < 1+rng.Intn(4); j++ {
			b[rng.Intn(len(b))] = byte(rng.Intn(256))
		}
		_, _ = parseCCache(b)
	}
}

func TestParseCCacheHugeCounts(t *testing.T) {
	valid := ccacheBytes(t, "alice", testRealm)
	// Principal component count at offset 16+4 (after magic, version,
	// 14-byte header and the name type).
	b := append([]byte(nil), valid...)
	binary.BigEndian.PutUint32(b[20:], 0x7fffffff)
	if _, err := parseCCache(b); err == nil {
		t.Fatal("huge component count accepted")
	}
	// Negative realm length.
	b = append([]byte(nil), valid...)
	binary.BigEndian.PutUint32(b[24:], 0xfffffff0)
	if _, err := parseCCache(b); err == nil {
		t.Fatal("negative length accepted")
	}
	// Unsupported version.
	if _, err := parseCCache([]byte{5, 1, 0, 0}); err == nil || !strings.Contains(err.Error(), "version 1") {
		t.Fatalf("version 1: %v", err)
	}
}

func TestNegotiateHeaderErrorsWithoutKDC(t *testing.T) {
	dir := t.TempDir()
	cc := writeFile(t, filepath.Join(dir, "cc"), ccacheBytes(t, "alice", testRealm, tgt(testRealm, time.Now().Add(time.Hour))))

	load := func(t *testing.T, kdc string) *Client {
		t.Helper()
		sub := t.TempDir()
		c, err := LoadFromEnv(Options{LookupEnv: envMap(map[string]string{"KRB5CCNAME": cc, "KRB5_CONFIG": testConf(t, sub, kdc)})})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}

	t.Run("invalid service principals", func(t *testing.T) {
		c := load(t, "127.0.0.1:1")
		for _, spn := range []string{"", "host", "host/", "/h", "host/a/b", "host/h@REALM", "host@h", "host/h x"} {
			if _, err := c.NegotiateHeader(context.Background(), spn); !errors.Is(err, ErrInvalidServicePrincipal) {
				t.Errorf("%q: err = %v, want ErrInvalidServicePrincipal", spn, err)
			}
		}
	})

	t.Run("closed client", func(t *testing.T) {
		c := load(t, "127.0.0.1:1")
		c.Close()
		if _, err := c.NegotiateHeader(context.Background(), "host/vault.example.org"); !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		c := load(t, "127.0.0.1:1")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.NegotiateHeader(ctx, "host/vault.example.org"); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // nothing listens there now
		c := load(t, addr)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = c.NegotiateHeader(ctx, "host/vault.example.org")
		if !errors.Is(err, ErrKDCUnreachable) || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrKDCUnreachable without deadline", err)
		}
		assertNoSecrets(t, err.Error())
	})

	t.Run("silent KDC honours the deadline", func(t *testing.T) {
		c := load(t, blackHoleKDC(t))
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.NegotiateHeader(ctx, "host/vault.example.org")
		elapsed := time.Since(start)
		if !errors.Is(err, ErrKDCUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrKDCUnreachable and DeadlineExceeded", err)
		}
		if elapsed > 2*time.Second {
			t.Fatalf("returned after %v, deadline was 300ms", elapsed)
		}
	})
}

// blackHoleKDC listens on loopback TCP, accepts connections and never
// answers. It returns host:port.
func blackHoleKDC(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().String()
}
