package krb

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

// sampleContents is a cache as MIT kinit leaves it: principal, offset,
// a fast_avail configuration entry and a TGT, decoded from a hand-made
// FILE image whose ticket gokrb5 accepts.
func sampleContents(t testing.TB, name string, end time.Time) *Contents {
	t.Helper()
	c, err := DecodeFile(ccacheBytes(t.(*testing.T), name, testRealm, tgt(testRealm, end)))
	if err != nil {
		t.Fatal(err)
	}
	conf := Credential{
		Client: c.Principal,
		Server: Principal{NameType: 1, Realm: configRealm, Components: []string{"krb5_ccache_conf_data", "fast_avail", "krbtgt/" + testRealm + "@" + testRealm}},
		Ticket: []byte("yes"),
	}
	c.Credentials = append([]Credential{conf}, c.Credentials...)
	return c
}

func TestCodecRoundTrip(t *testing.T) {
	c := sampleContents(t, "alice", time.Now().Add(time.Hour).Truncate(time.Second))
	c.HasOffset, c.KDCOffset = true, -3*time.Second-250*time.Microsecond
	img := c.MarshalFile()
	back, err := DecodeFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, back) {
		t.Fatalf("round trip changed the cache:\n%+v\n%+v", c, back)
	}
	if !bytes.Equal(back.MarshalFile(), img) {
		t.Error("re-encoding differs")
	}
	if _, err := parseCCache(img); err != nil {
		t.Errorf("gokrb5 rejects our image: %v", err)
	}
	if tg := back.TGT(); tg == nil || !tg.Server.IsTGT(testRealm) {
		t.Error("TGT not found")
	}
	if !back.Credentials[0].IsConfig() || back.Credentials[1].IsConfig() {
		t.Error("configuration entry not recognised")
	}
	for i := range c.Credentials {
		cr, err := DecodeCredential(c.Credentials[i].Marshal())
		if err != nil || !reflect.DeepEqual(cr, c.Credentials[i]) {
			t.Errorf("credential %d round trip: %v", i, err)
		}
	}
	p, err := DecodePrincipal(c.Principal.Marshal())
	if err != nil || !p.Equal(c.Principal) {
		t.Errorf("principal round trip: %v", err)
	}
}

func TestPrincipalString(t *testing.T) {
	p := Principal{Realm: "EX.ORG", Components: []string{"krb5_ccache_conf_data", "fast_avail", "krbtgt/EX.ORG@EX.ORG"}}
	if got, want := p.String(), `krb5_ccache_conf_data/fast_avail/krbtgt\/EX.ORG\@EX.ORG@EX.ORG`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestDecodersRejectEveryTruncation(t *testing.T) {
	c := sampleContents(t, "alice", time.Now().Add(time.Hour))
	img := c.MarshalFile()
	for n := 0; n < len(img); n++ {
		if _, err := DecodeFile(img[:n]); err == nil && n > 0 {
			// A cut exactly at an entry boundary is a valid shorter cache.
			if _, err2 := DecodeFile(img[:n]); err2 != nil {
				t.Fatal("inconsistent")
			}
		}
	}
	cred := c.Credentials[1].Marshal()
	for n := 0; n < len(cred); n++ {
		if _, err := DecodeCredential(cred[:n]); !errors.Is(err, errMalformed) {
			t.Fatalf("credential cut at %d: err = %v, want malformed", n, err)
		}
	}
	if _, err := DecodeCredential(append(cred, 0)); !errors.Is(err, errMalformed) {
		t.Error("trailing byte accepted")
	}
	princ := c.Principal.Marshal()
	for n := 0; n < len(princ); n++ {
		if _, err := DecodePrincipal(princ[:n]); !errors.Is(err, errMalformed) {
			t.Fatalf("principal cut at %d: err = %v", n, err)
		}
	}
}

func TestDecodersHugeCounts(t *testing.T) {
	for _, b := range [][]byte{
		{0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff},             // 2^31 components
		{0, 0, 0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff}, // realm of 2 GiB
		{0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0},
	} {
		if _, err := DecodePrincipal(b); !errors.Is(err, errMalformed) {
			t.Errorf("%x: err = %v", b, err)
		}
	}
	if _, err := DecodeFile([]byte{5, 4, 0xff, 0xff}); err == nil {
		t.Error("header longer than the file accepted")
	}
	if _, err := DecodeFile([]byte{5, 3}); err == nil {
		t.Error("version 3 accepted by the v4 decoder")
	}
	// Unknown header fields are skipped.
	c := &Contents{Principal: Principal{NameType: 1, Realm: "R", Components: []string{"a"}}}
	img := c.MarshalFile()
	withTag := append([]byte{5, 4, 0, 6, 0, 9, 0, 2, 'h', 'i'}, img[4:]...)
	if got, err := DecodeFile(withTag); err != nil || !got.Principal.Equal(c.Principal) {
		t.Errorf("unknown header tag: %v", err)
	}
}

func TestKeyringPayloadDecoders(t *testing.T) {
	if n, err := DecodeKeyringPrimary([]byte{0, 0, 0, 1, 0, 0, 0, 5, 'm', 'y', 'c', 'o', 'l'}); err != nil || n != "mycol" {
		t.Errorf("primary: %q %v", n, err)
	}
	for _, b := range [][]byte{nil, {0, 0, 0, 2, 0, 0, 0, 1, 'x'}, {0, 0, 0, 1, 0, 0, 0, 9, 'x'}, {0, 0, 0, 1, 0, 0, 0, 0}} {
		if _, err := DecodeKeyringPrimary(b); !errors.Is(err, errMalformed) {
			t.Errorf("primary %x accepted", b)
		}
	}
	if d, err := DecodeKeyringOffset(offsetBytes(-2*time.Second - time.Microsecond)); err != nil || d != -2*time.Second-time.Microsecond {
		t.Errorf("offset: %v %v", d, err)
	}
	if _, err := DecodeKeyringOffset([]byte{1, 2, 3}); err == nil {
		t.Error("short offset accepted")
	}
	c := sampleContents(t, "alice", time.Now().Add(time.Hour))
	keys := []keyEntry{{krbOffsetsKey, offsetBytes(time.Second)}, {"krbtgt/X@X", c.Credentials[1].Marshal()}, {krbPrincKey, c.Principal.Marshal()}}
	got, ok, err := decodeKeyringCache(keys)
	if err != nil || !ok || !got.Principal.Equal(c.Principal) || len(got.Credentials) != 1 || !got.HasOffset {
		t.Errorf("cache: %+v %v %v", got, ok, err)
	}
	if _, ok, _ := decodeKeyringCache(keys[:2]); ok {
		t.Error("cache without principal counted as initialized")
	}
}

func TestParseKeyringResidual(t *testing.T) {
	env := &cacheEnv{uid: 1000, euid: 1001}
	for _, tc := range []struct {
		res, coll, primary, collName string
		sub                          string
		isColl                       bool
	}{
		{"persistent:1000", "_krb", "1000", "KEYRING:persistent:1000", "", true},
		{"persistent:", "_krb", "tkt", "KEYRING:persistent:1001", "", true},
		{"persistent:1000:krb_ccache_X", "_krb", "1000", "KEYRING:persistent:1000", "krb_ccache_X", false},
		{"user:mine", "_krb_mine", "mine", "KEYRING:user:mine", "", true},
		{"session:s:t", "_krb_s", "s", "KEYRING:session:s", "t", false},
		{"legacy", "_krb_legacy", "legacy", "KEYRING:legacy", "", true},
	} {
		k, err := parseKeyringResidual(tc.res, env)
		if err != nil {
			t.Fatalf("%s: %v", tc.res, err)
		}
		if k.collKeyring() != tc.coll || k.defaultPrimary() != tc.primary || k.collectionName() != tc.collName || k.subsidiary != tc.sub {
			t.Errorf("%s: got %s %s %s %q", tc.res, k.collKeyring(), k.defaultPrimary(), k.collectionName(), k.subsidiary)
		}
		if got := (ccacheRef{typ: "KEYRING", path: tc.res}).isCollection(); got != tc.isColl {
			t.Errorf("%s: isCollection = %v", tc.res, got)
		}
	}
	for _, res := range []string{"persistent:abc", "bogus:x", "persistent:-1"} {
		if _, err := parseKeyringResidual(res, env); err == nil {
			t.Errorf("%s accepted", res)
		}
	}
}
