package krb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Principal is a Kerberos principal as credentials caches store it.
type Principal struct {
	// NameType is the RFC 4120 name type (1 = principal, 2 = service).
	NameType int32
	// Realm is the principal's realm.
	Realm string
	// Components are the name's parts, e.g. ["krbtgt", "EXAMPLE.ORG"].
	Components []string
}

// String returns the principal in MIT's unparsed form, "a/b@REALM", with
// '\', '/' and '@' inside components and '@' in the realm escaped.
func (p Principal) String() string {
	var b strings.Builder
	for i, c := range p.Components {
		if i > 0 {
			b.WriteByte('/')
		}
		writeEscaped(&b, c, "/@")
	}
	b.WriteByte('@')
	writeEscaped(&b, p.Realm, "@")
	return b.String()
}

func writeEscaped(b *strings.Builder, s, special string) {
	for _, r := range s {
		switch {
		case r == '\\' || strings.ContainsRune(special, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == 0:
			b.WriteString(`\0`)
		case r == '\b':
			b.WriteString(`\b`)
		default:
			b.WriteRune(r)
		}
	}
}

// Equal reports whether p and q name the same principal (name types are
// not compared, as in MIT's krb5_principal_compare).
func (p Principal) Equal(q Principal) bool {
	if p.Realm != q.Realm || len(p.Components) != len(q.Components) {
		return false
	}
	for i := range p.Components {
		if p.Components[i] != q.Components[i] {
			return false
		}
	}
	return true
}

// IsTGT reports whether p is the ticket-granting service of realm,
// krbtgt/realm@realm.
func (p Principal) IsTGT(realm string) bool {
	return len(p.Components) == 2 && p.Components[0] == "krbtgt" && p.Components[1] == realm && p.Realm == realm
}

// Address is a host address attached to a ticket.
type Address struct {
	Type uint16
	Data []byte
}

// AuthData is one authorization-data element of a ticket.
type AuthData struct {
	Type uint16
	Data []byte
}

// Credential is one entry of a credentials cache: a ticket with its session
// key, or a configuration entry (see IsConfig).
type Credential struct {
	Client, Server Principal
	// KeyType is the session key's encryption type; Key the key itself.
	KeyType uint16
	Key     []byte
	// Times; the zero time means "not set" (0 on the wire).
	AuthTime, StartTime, EndTime, RenewTill time.Time
	IsSKey                                  bool
	// Flags are the ticket flags as a big-endian reading of the RFC 4120
	// bit string (renewable = 0x00800000, initial = 0x00400000).
	Flags        uint32
	Addresses    []Address
	AuthData     []AuthData
	Ticket       []byte
	SecondTicket []byte
}

// Ticket flags (TicketFlags bits read as a big-endian uint32).
const (
	FlagForwardable = 0x40000000
	FlagRenewable   = 0x00800000
	FlagInitial     = 0x00400000
)

// configRealm is the realm of configuration entries' server principals.
const configRealm = "X-CACHECONF:"

// IsConfig reports whether c is a configuration entry (server
// krb5_ccache_conf_data/<key>[/<principal>]@X-CACHECONF:) rather than a
// ticket. Configuration entries are never expired and never used to
// authenticate, but must be kept when a cache is copied.
func (c *Credential) IsConfig() bool {
	return c.Server.Realm == configRealm && len(c.Server.Components) > 0 && c.Server.Components[0] == "krb5_ccache_conf_data"
}

// Contents is everything a credentials cache holds.
type Contents struct {
	// Principal is the cache's default (client) principal.
	Principal Principal
	// KDCOffset is the client's clock offset from the KDC, when HasOffset.
	KDCOffset time.Duration
	HasOffset bool
	// Credentials are the tickets and configuration entries, in cache order.
	Credentials []Credential
}

// TGT returns the ticket-granting ticket for the principal's own realm, or
// nil.
func (c *Contents) TGT() *Credential {
	for i := range c.Credentials {
		cr := &c.Credentials[i]
		if !cr.IsConfig() && cr.Server.IsTGT(c.Principal.Realm) {
			return cr
		}
	}
	return nil
}

// Limits that keep a decoder from allocating on behalf of bad input: every
// count or length is checked against the bytes actually left.
var errMalformed = errors.New("malformed credentials cache data")

// decoder walks v4 cache encodings with bounds checks.
type decoder struct {
	b   []byte
	p   int
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", errMalformed, what, d.p)
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b)-d.p < n {
		d.fail(what + " truncated")
		return nil
	}
	v := d.b[d.p : d.p+n : d.p+n]
	d.p += n
	return v
}

func (d *decoder) u8(what string) uint8 {
	if v := d.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16(what string) uint16 {
	if v := d.take(2, what); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if v := d.take(4, what); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

// data reads a u32 length and that many bytes, copied.
func (d *decoder) data(what string) []byte {
	n := d.u32(what + " length")
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(d.b)-d.p) {
		d.fail(what + " longer than the data left")
		return nil
	}
	return append([]byte(nil), d.take(int(n), what)...)
}

// count reads a u32 element count, each element at least minSize bytes.
func (d *decoder) count(minSize int, what string) int {
	n := d.u32(what + " count")
	if d.err != nil {
		return 0
	}
	if uint64(n) > uint64((len(d.b)-d.p)/minSize) {
		d.fail(what + " count larger than the data left")
		return 0
	}
	return int(n)
}

func (d *decoder) time() time.Time {
	v := d.u32("time")
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(int64(v), 0)
}

func (d *decoder) principal() Principal {
	var p Principal
	p.NameType = int32(d.u32("name type"))
	n := d.count(4, "principal component")
	p.Realm = string(d.data("realm"))
	if n > 0 && d.err == nil {
		p.Components = make([]string, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		p.Components = append(p.Components, string(d.data("principal component")))
	}
	return p
}

func (d *decoder) credential() Credential {
	var c Credential
	c.Client = d.principal()
	c.Server = d.principal()
	c.KeyType = d.u16("key type")
	c.Key = d.data("key")
	c.AuthTime = d.time()
	c.StartTime = d.time()
	c.EndTime = d.time()
	c.RenewTill = d.time()
	c.IsSKey = d.u8("is_skey") != 0
	c.Flags = d.u32("ticket flags")
	n := d.count(6, "address")
	for i := 0; i < n && d.err == nil; i++ {
		c.Addresses = append(c.Addresses, Address{Type: d.u16("address type"), Data: d.data("address")})
	}
	n = d.count(6, "authorization data")
	for i := 0; i < n && d.err == nil; i++ {
		c.AuthData = append(c.AuthData, AuthData{Type: d.u16("authdata type"), Data: d.data("authdata")})
	}
	c.Ticket = d.data("ticket")
	c.SecondTicket = d.data("second ticket")
	return c
}

func (d *decoder) end() error {
	if d.err == nil && d.p != len(d.b) {
		d.fail("trailing bytes")
	}
	return d.err
}

// DecodePrincipal decodes a principal in the v4 cache encoding (the payload
// of a KEYRING cache's __krb5_princ__ key and of KCM replies). The whole of
// b must be the principal.
func DecodePrincipal(b []byte) (Principal, error) {
	d := &decoder{b: b}
	p := d.principal()
	return p, d.end()
}

// DecodeCredential decodes one credential in the v4 cache encoding (the
// payload of a KEYRING credential key, and KCM's credential replies).
func DecodeCredential(b []byte) (Credential, error) {
	d := &decoder{b: b}
	c := d.credential()
	return c, d.end()
}

// DecodeFile decodes a version 4 FILE credentials cache image. Unknown
// header fields are skipped, as the format requires.
func DecodeFile(b []byte) (*Contents, error) {
	d := &decoder{b: b}
	if d.u8("file format") != 5 {
		return nil, errors.New("not an MIT file credentials cache")
	}
	if v := d.u8("file format"); v != 4 {
		if d.err != nil {
			return nil, d.err
		}
		return nil, fmt.Errorf("credentials cache format version %d not supported (need 4)", v)
	}
	c := &Contents{}
	hlen := int(d.u16("header length"))
	hdr := &decoder{b: d.take(hlen, "header")}
	for d.err == nil && hdr.err == nil && hdr.p < len(hdr.b) {
		tag := hdr.u16("header tag")
		field := hdr.take(int(hdr.u16("header field length")), "header field")
		if hdr.err == nil && tag == 1 && len(field) == 8 {
			sec := int32(binary.BigEndian.Uint32(field))
			usec := int32(binary.BigEndian.Uint32(field[4:]))
			c.KDCOffset = time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond
			c.HasOffset = true
		}
	}
	if hdr.err != nil {
		return nil, hdr.err
	}
	c.Principal = d.principal()
	for d.err == nil && d.p < len(d.b) {
		c.Credentials = append(c.Credentials, d.credential())
	}
	if d.err != nil {
		return nil, d.err
	}
	return c, nil
}

// encoder builds v4 cache encodings.
type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) data(v []byte) {
	e.u32(uint32(len(v)))
	e.b = append(e.b, v...)
}

func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.u32(0)
		return
	}
	e.u32(uint32(t.Unix()))
}

func (e *encoder) principal(p Principal) {
	e.u32(uint32(p.NameType))
	e.u32(uint32(len(p.Components)))
	e.data([]byte(p.Realm))
	for _, c := range p.Components {
		e.data([]byte(c))
	}
}

func (e *encoder) credential(c *Credential) {
	e.principal(c.Client)
	e.principal(c.Server)
	e.u16(c.KeyType)
	e.data(c.Key)
	e.time(c.AuthTime)
	e.time(c.StartTime)
	e.time(c.EndTime)
	e.time(c.RenewTill)
	if c.IsSKey {
		e.u8(1)
	} else {
		e.u8(0)
	}
	e.u32(c.Flags)
	e.u32(uint32(len(c.Addresses)))
	for _, a := range c.Addresses {
		e.u16(a.Type)
		e.data(a.Data)
	}
	e.u32(uint32(len(c.AuthData)))
	for _, a := range c.AuthData {
		e.u16(a.Type)
		e.data(a.Data)
	}
	e.data(c.Ticket)
	e.data(c.SecondTicket)
}

// Marshal returns p in the v4 cache encoding.
func (p Principal) Marshal() []byte {
	e := &encoder{}
	e.principal(p)
	return e.b
}

// Marshal returns c in the v4 cache encoding.
func (c *Credential) Marshal() []byte {
	e := &encoder{}
	e.credential(c)
	return e.b
}

// offsetBytes is the 8-byte KDC offset (i32 seconds, i32 microseconds).
func offsetBytes(d time.Duration) []byte {
	sec := int32(d / time.Second)
	usec := int32((d % time.Second) / time.Microsecond)
	b := binary.BigEndian.AppendUint32(nil, uint32(sec))
	return binary.BigEndian.AppendUint32(b, uint32(usec))
}

// MarshalFile returns the cache as a version 4 FILE credentials cache image,
// as MIT writes it (the KDC offset header field only when HasOffset).
func (c *Contents) MarshalFile() []byte {
	e := &encoder{b: []byte{5, 4}}
	if c.HasOffset {
		e.u16(12)
		e.u16(1)
		e.u16(8)
		e.b = append(e.b, offsetBytes(c.KDCOffset)...)
	} else {
		e.u16(0)
	}
	e.principal(c.Principal)
	for i := range c.Credentials {
		e.credential(&c.Credentials[i])
	}
	return e.b
}
