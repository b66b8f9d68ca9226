package krb

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzKeyringPayload feeds the decoders of KEYRING key payloads (which
// the kernel hands back as written by whoever could write the user's
// keys): kind 0 = __krb5_princ__, 1 = credential, 2 = krb_ccache:primary,
// 3 = __krb5_time_offsets__. Bad input must give an error, never a panic,
// and whatever decodes must survive a re-encoding unchanged.
func FuzzKeyringPayload(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 10, 'T', 'E', 'S', 'T', '.', 'L', 'O', 'C', 'A', 'L', 0, 0, 0, 5, 'a', 'l', 'i', 'c', 'e'}, byte(0))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 5, 'm', 'y', 'c', 'o', 'l'}, byte(2))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0}, byte(3))
	f.Fuzz(func(t *testing.T, b []byte, kind byte) {
		switch kind % 4 {
		case 0:
			p, err := DecodePrincipal(b)
			if err == nil {
				q, err := DecodePrincipal(p.Marshal())
				if err != nil || !reflect.DeepEqual(p, q) {
					t.Fatalf("principal round trip: %v", err)
				}
			}
		case 1:
			c, err := DecodeCredential(b)
			if err == nil {
				d, err := DecodeCredential(c.Marshal())
				if err != nil || !reflect.DeepEqual(c, d) {
					t.Fatalf("credential round trip: %v", err)
				}
			}
		case 2:
			if n, err := DecodeKeyringPrimary(b); err == nil && !bytes.Equal(encodeKeyringPrimary(n), b) {
				t.Fatal("primary does not re-encode to its input")
			}
		case 3:
			_, _ = DecodeKeyringOffset(b)
		}
	})
}

// FuzzKCMReply feeds a whole KCM reply (length, transport status, body)
// from a server to the reader and the payload decoders.
func FuzzKCMReply(f *testing.F) {
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0x96, 0xc7, 0x3a, 0xc4})
	f.Add([]byte{0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, '1', '0', '0', '0', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		payload, err := readKCMReply(bytes.NewReader(b))
		if err != nil {
			return
		}
		if creds, err := DecodeKCMCredList(payload); err == nil {
			for i := range creds {
				if _, err := DecodeCredential(creds[i].Marshal()); err != nil {
					t.Fatalf("decoded credential does not re-decode: %v", err)
				}
			}
		}
		_, _ = DecodeKCMUUIDs(payload)
		_, _ = decodeKCMName(payload)
		_, _ = DecodeKCMOffset(payload)
		_, _ = DecodePrincipal(payload)
		_, _ = DecodeCredential(payload)
	})
}

// FuzzDecodeFile feeds FILE images (what KEYRING and KCM caches are
// turned into, and what the producer and credmon read) to the v4 decoder.
func FuzzDecodeFile(f *testing.F) {
	f.Add([]byte{5, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 'R'})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeFile(b)
		if err != nil {
			return
		}
		if _, err := DecodeFile(c.MarshalFile()); err != nil {
			t.Fatalf("re-encoded image does not decode: %v", err)
		}
	})
}
