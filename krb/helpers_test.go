package krb

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// fakeKey is the session key written into hand-made caches; tests check it
// never shows up in an error message.
var fakeKey = []byte("SESSIONKEY-0123456789abcdefghijk") // 32 bytes, AES-256

// fakeCipher is the ticket cipher text written into hand-made caches.
var fakeCipher = []byte("TICKETCIPHER-do-not-print-me")

type testCred struct {
	server []string
	srealm string
	end    time.Time
}

// ccacheBytes builds a version 4 MIT file credentials cache for the client
// principal name@realm holding the given credentials.
func ccacheBytes(t testing.TB, name, realm string, creds ...testCred) []byte {
	t.Helper()
	var b bytes.Buffer
	w16 := func(v int) { _ = binary.Write(&b, binary.BigEndian, uint16(v)) }
	w32 := func(v int) { _ = binary.Write(&b, binary.BigEndian, uint32(v)) }
	data := func(d []byte) { w32(len(d)); b.Write(d) }
	princ := func(realm string, comps []string) {
		w32(1)
		w32(len(comps))
		data([]byte(realm))
		for _, c := range comps {
			data([]byte(c))
		}
	}
	b.Write([]byte{5, 4})
	w16(12) // header: one KDC time offset field
	w16(1)
	w16(8)
	b.Write(make([]byte, 8))
	client := strings.Split(name, "/")
	princ(realm, client)
	for _, c := range creds {
		tkt := messages.Ticket{
			TktVNO:  5,
			Realm:   c.srealm,
			SName:   types.PrincipalName{NameType: 2, NameString: c.server},
			EncPart: types.EncryptedData{EType: 18, KVNO: 1, Cipher: fakeCipher},
		}
		tb, err := tkt.Marshal()
		if err != nil {
			t.Fatalf("marshal ticket: %v", err)
		}
		now := time.Now()
		princ(realm, client)
		princ(c.srealm, c.server)
		w16(18)
		data(fakeKey)
		w32(int(now.Add(-time.Minute).Unix())) // auth
		w32(int(now.Add(-time.Minute).Unix())) // start
		w32(int(c.end.Unix()))                 // end
		w32(0)                                 // renew till
		b.WriteByte(0)
		w32(0x40e00000) // flags: forwardable, initial, pre-authent
		w32(0)          // addresses
		w32(0)          // authdata
		data(tb)
		data(nil)
	}
	return b.Bytes()
}

// tgt is a valid TGT credential for realm ending at end.
func tgt(realm string, end time.Time) testCred {
	return testCred{server: []string{"krbtgt", realm}, srealm: realm, end: end}
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// envMap returns a LookupEnv function over m.
func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func intPtr(i int) *int { return &i }

// assertNoSecrets fails if msg contains key or ticket bytes of the hand-made
// caches.
func assertNoSecrets(t *testing.T, msg string) {
	t.Helper()
	if strings.Contains(msg, string(fakeKey)) || strings.Contains(msg, string(fakeCipher)) {
		t.Errorf("error message leaks ticket or key material: %s", msg)
	}
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error message is not one line: %q", msg)
	}
}
