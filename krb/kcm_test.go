package krb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeKCM is a small KCM server for unit tests of the client: caches in
// memory, like Heimdal's kcm; mode selects how it lacks GET_CRED_LIST.
type fakeKCM struct {
	mu     sync.Mutex
	caches map[string]*fakeCache
	order  []string
	def    string
	// mode: "" implements GET_CRED_LIST; "heimdal" answers it with an
	// operation status FCC_INTERNAL; "sssd" with a transport status and
	// closes the connection; "raw" sends raw (see reply).
	mode string
	// raw, when set, is sent instead of any reply.
	raw []byte
	ops []uint16
}

type fakeCache struct {
	princ []byte
	creds [][]byte
}

func startFakeKCM(t *testing.T, mode string) (*fakeKCM, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "kcm.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeKCM{caches: map[string]*fakeCache{}, mode: mode, def: "1000"}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	t.Cleanup(func() { l.Close() })
	return f, sock
}

func (f *fakeKCM) serve(c net.Conn) {
	defer c.Close()
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		req := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(c, req); err != nil || len(req) < 4 || req[0] != 2 || req[1] != 0 {
			return
		}
		op := binary.BigEndian.Uint16(req[2:])
		f.mu.Lock()
		f.ops = append(f.ops, op)
		raw := f.raw
		transport, status, body, closeAfter := f.handle(op, req[4:])
		f.mu.Unlock()
		if raw != nil {
			c.Write(raw)
			return
		}
		var out []byte
		if transport != 0 {
			out = binary.BigEndian.AppendUint32(nil, 0)
			out = binary.BigEndian.AppendUint32(out, uint32(transport))
		} else {
			out = binary.BigEndian.AppendUint32(nil, uint32(4+len(body)))
			out = binary.BigEndian.AppendUint32(out, 0)
			out = binary.BigEndian.AppendUint32(out, uint32(status))
			out = append(out, body...)
		}
		c.Write(out)
		if closeAfter {
			return
		}
	}
}

func cutName(b []byte) (string, []byte) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", nil
	}
	return string(b[:i]), b[i+1:]
}

func uuidFor(i int) []byte {
	u := make([]byte, 16)
	binary.BigEndian.PutUint32(u, uint32(i+1))
	return u
}

func (f *fakeKCM) handle(op uint16, p []byte) (transport, status int32, body []byte, closeAfter bool) {
	name, rest := cutName(p)
	switch op {
	case kcmGetDefault:
		return 0, 0, kcmName(f.def), false
	case kcmSetDefault:
		f.def = name
		return 0, 0, nil, false
	case kcmGenNew:
		n := "1000:" + string(rune('a'+len(f.order)))
		return 0, 0, kcmName(n), false
	case kcmInitialize:
		if _, ok := f.caches[name]; !ok {
			f.order = append(f.order, name)
		}
		f.caches[name] = &fakeCache{princ: append([]byte(nil), rest...)}
		return 0, 0, nil, false
	case kcmStore:
		c, ok := f.caches[name]
		if !ok {
			return 0, kcmFCCNoFile, nil, false
		}
		c.creds = append(c.creds, append([]byte(nil), rest...))
		return 0, 0, nil, false
	case kcmSetKDCOffset:
		return 0, 0, nil, false
	case kcmGetKDCOffset:
		return 0, 0, []byte{0, 0, 0, 0}, false
	case kcmGetPrincipal:
		c, ok := f.caches[name]
		if !ok {
			return 0, kcmFCCNoFile, nil, false
		}
		return 0, 0, c.princ, false
	case kcmGetCredList:
		switch f.mode {
		case "heimdal":
			return 0, kcmFCCInternal, nil, false
		case "sssd":
			return kcmFCCInternal, 0, nil, true
		}
		c, ok := f.caches[name]
		if !ok {
			return 0, kcmFCCNoFile, nil, false
		}
		b := binary.BigEndian.AppendUint32(nil, uint32(len(c.creds)))
		for _, cr := range c.creds {
			b = binary.BigEndian.AppendUint32(b, uint32(len(cr)))
			b = append(b, cr...)
		}
		return 0, 0, b, false
	case kcmGetCredUUIDs:
		c, ok := f.caches[name]
		if !ok {
			return 0, kcmFCCNoFile, nil, false
		}
		var b []byte
		for i := range c.creds {
			b = append(b, uuidFor(i)...)
		}
		return 0, 0, b, false
	case kcmGetCredByUUID:
		c, ok := f.caches[name]
		if !ok || len(rest) != 16 {
			return 0, kcmFCCNoFile, nil, false
		}
		i := int(binary.BigEndian.Uint32(rest)) - 1
		if i < 0 || i >= len(c.creds) {
			return 0, kcmCCEnd, nil, false
		}
		return 0, 0, c.creds[i], false
	case kcmGetCacheUUIDs:
		var b []byte
		for i := range f.order {
			b = append(b, uuidFor(i)...)
		}
		return 0, 0, b, false
	case kcmGetCacheByUUID:
		i := int(binary.BigEndian.Uint32(p)) - 1
		if i < 0 || i >= len(f.order) {
			return 0, kcmCCEnd, nil, false
		}
		return 0, 0, kcmName(f.order[i]), false
	}
	return 0, kcmFCCInternal, nil, false
}

func kcmConf(t *testing.T, sock string) string {
	t.Helper()
	dir := t.TempDir()
	return writeFile(t, filepath.Join(dir, "krb5.conf"), []byte(`[libdefaults]
 default_realm = `+testRealm+`
 dns_lookup_kdc = false
 kcm_socket = `+sock+`
[realms]
 `+testRealm+` = {
  kdc = 127.0.0.1:1
 }
`))
}

func TestKCMWriteReadCollection(t *testing.T) {
	for _, mode := range []string{"", "heimdal", "sssd"} {
		t.Run("mode="+mode, func(t *testing.T) {
			_, sock := startFakeKCM(t, mode)
			conf := kcmConf(t, sock)
			now := time.Now()
			end := now.Add(time.Hour).Truncate(time.Second)
			opts := func(ccname, principal string, at time.Time) Options {
				return Options{LookupEnv: envMap(map[string]string{"KRB5_CONFIG": conf, "KRB5CCNAME": ccname}),
					Principal: principal, Now: func() time.Time { return at }}
			}
			_, err := LoadFromEnv(opts("KCM:", "", now))
			if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "KCM:1000") {
				t.Fatalf("empty server: %v", err)
			}
			def, err := Open("KCM:", opts("", "", now))
			if err != nil || def.Name() != "KCM:1000" {
				t.Fatalf("default: %v %v", def, err)
			}
			alice := sampleContents(t, "alice", end)
			if err := def.Replace(alice); err != nil {
				t.Fatal(err)
			}
			got, err := def.Read()
			if err != nil || !got.Principal.Equal(alice.Principal) || len(got.Credentials) != 2 {
				t.Fatalf("read back: %+v %v", got, err)
			}
			bob, err := NewKCMCache(opts("", "", now))
			if err != nil {
				t.Fatal(err)
			}
			if err := bob.Replace(sampleContents(t, "bob", end)); err != nil {
				t.Fatal(err)
			}
			if err := SetPrimary(bob); err != nil {
				t.Fatal(err)
			}
			cl, err := LoadFromEnv(opts("KCM:", "", now))
			if err != nil || cl.Principal() != "bob@"+testRealm {
				t.Fatalf("default after switch: %v %v", cl, err)
			}
			cl, err = LoadFromEnv(opts("KCM:", "alice", now))
			if err != nil || cl.Principal() != "alice@"+testRealm || cl.CacheName() != "KCM:1000" {
				t.Fatalf("--kerbprincipal alice: %v", err)
			}
			_, err = LoadFromEnv(opts("KCM:", "carol", now))
			if !errors.Is(err, ErrPrincipalMismatch) || !strings.Contains(err.Error(), "collection KCM:") {
				t.Fatalf("carol: %v", err)
			}
			_, err = LoadFromEnv(opts("KCM:", "alice", end.Add(time.Second)))
			if !errors.Is(err, ErrTGTExpired) || !strings.Contains(err.Error(), "KCM:1000") {
				t.Fatalf("expired: %v", err)
			}
			// A named cache is a collection of one: no switching to alice.
			_, err = LoadFromEnv(opts(bob.Name(), "alice", now))
			if !errors.Is(err, ErrPrincipalMismatch) {
				t.Fatalf("named cache: %v", err)
			}
		})
	}
}

func TestKCMErrors(t *testing.T) {
	dir := t.TempDir()
	missing := kcmConf(t, filepath.Join(dir, "nosuch.sock"))
	_, err := LoadFromEnv(Options{LookupEnv: envMap(map[string]string{"KRB5_CONFIG": missing, "KRB5CCNAME": "KCM:"})})
	if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "no KCM server") {
		t.Errorf("missing socket: %v", err)
	}
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	_, err = LoadFromEnv(Options{LookupEnv: envMap(map[string]string{"KRB5_CONFIG": kcmConf(t, stale), "KRB5CCNAME": "KCM:"})})
	if !errors.Is(err, ErrCCacheUnreadable) || !strings.Contains(err.Error(), "refused") {
		t.Errorf("stale socket: %v", err)
	}
	off := writeFile(t, filepath.Join(dir, "off.conf"), []byte("[libdefaults]\n kcm_socket = -\n"))
	_, err = LoadFromEnv(Options{LookupEnv: envMap(map[string]string{"KRB5_CONFIG": off, "KRB5CCNAME": "KCM:"})})
	if err == nil || !strings.Contains(err.Error(), "kcm_socket = -") {
		t.Errorf("kcm_socket = -: %v", err)
	}
	for name, raw := range map[string][]byte{
		"too big":       {0x7f, 0, 0, 0, 0, 0, 0, 0},
		"truncated":     {0, 0, 0, 9, 0, 0, 0, 0, 0, 0},
		"closed":        {0, 0},
		"no status":     {0, 0, 0, 2, 0, 0, 0, 0, 1, 2},
		"transport err": {0, 0, 0, 0, 0x96, 0xc7, 0x3a, 0xc4},
	} {
		t.Run(name, func(t *testing.T) {
			f, sock := startFakeKCM(t, "")
			f.raw = raw
			_, err := LoadFromEnv(Options{LookupEnv: envMap(map[string]string{"KRB5_CONFIG": kcmConf(t, sock), "KRB5CCNAME": "KCM:"})})
			if err == nil || strings.ContainsAny(err.Error(), "\n") {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestKCMReplyDecoders(t *testing.T) {
	c := sampleContents(t, "alice", time.Now().Add(time.Hour))
	cred := c.Credentials[1].Marshal()
	list := binary.BigEndian.AppendUint32(nil, 1)
	list = binary.BigEndian.AppendUint32(list, uint32(len(cred)))
	list = append(list, cred...)
	if got, err := DecodeKCMCredList(list); err != nil || len(got) != 1 {
		t.Errorf("cred list: %v", err)
	}
	bad := [][]byte{
		{0xff, 0xff, 0xff, 0xff},
		binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 1), 0x7fffffff),
		append(list, 0),
	}
	for _, b := range bad {
		if _, err := DecodeKCMCredList(b); err == nil {
			t.Errorf("cred list %x accepted", b[:8])
		}
	}
	if _, err := DecodeKCMUUIDs(make([]byte, 17)); err == nil {
		t.Error("17-byte UUID list accepted")
	}
	if _, err := DecodeKCMReply([]byte{0, 0}); err == nil {
		t.Error("short reply accepted")
	}
	if _, err := DecodeKCMReply([]byte{0x96, 0xc7, 0x3a, 0xc3}); err == nil {
		t.Error("error status accepted")
	}
	if _, err := decodeKCMName([]byte("abc")); err == nil {
		t.Error("unterminated name accepted")
	}
	if d, err := DecodeKCMOffset([]byte{0xff, 0xff, 0xff, 0xfe}); err != nil || d != -2*time.Second {
		t.Errorf("offset %v %v", d, err)
	}
}
