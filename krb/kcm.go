package krb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// KCM protocol (MIT and Heimdal, version 2.0) over a Unix stream socket.
// The server identifies the client by the socket's peer credentials.

// DefaultKCMSocket is where MIT, Heimdal's kcm and sssd-kcm meet unless
// krb5.conf's kcm_socket says otherwise.
const DefaultKCMSocket = "/var/run/.heim_org.h5l.kcm-socket"

// KCM opcodes.
const (
	kcmGenNew         = 3
	kcmInitialize     = 4
	kcmStore          = 6
	kcmGetPrincipal   = 8
	kcmGetCredUUIDs   = 9
	kcmGetCredByUUID  = 10
	kcmGetCacheUUIDs  = 18
	kcmGetCacheByUUID = 19
	kcmGetDefault     = 20
	kcmSetDefault     = 21
	kcmGetKDCOffset   = 22
	kcmSetKDCOffset   = 23
	kcmGetCredList    = 13001
)

// krb5 error codes KCM servers answer with.
const (
	kcmCCNotFound    = -1765328243
	kcmCCEnd         = -1765328242
	kcmCCIO          = -1765328191
	kcmFCCPerm       = -1765328190
	kcmFCCNoFile     = -1765328189
	kcmFCCInternal   = -1765328188
	kcmCCNoSupp      = -1765328137
	kcmCCBadName     = -1765328245
	maxKCMReply      = 10 << 20
	kcmTimeout       = 10 * time.Second
	kcmUUIDLen       = 16
	kcmMinCredLength = 4
)

// kcmStatusError is a non-zero status from a KCM server.
type kcmStatusError struct {
	code      int32
	transport bool
}

func (e *kcmStatusError) Error() string {
	var what string
	switch e.code {
	case kcmCCNotFound, kcmFCCNoFile:
		what = "no such cache"
	case kcmCCEnd:
		what = "end of list"
	case kcmCCIO:
		what = "I/O or malformed request"
	case kcmFCCPerm:
		what = "permission denied"
	case kcmFCCInternal:
		what = "internal error or unsupported operation"
	case kcmCCNoSupp:
		what = "operation not supported"
	case kcmCCBadName:
		what = "bad cache name for this user"
	default:
		what = "error"
	}
	return fmt.Sprintf("KCM server: %s (code %d)", what, e.code)
}

// unsupported reports whether MIT would treat the status as "this server
// does not implement the operation" and fall back.
func (e *kcmStatusError) unsupported() bool {
	return e.code == kcmFCCInternal || e.code == kcmCCIO || e.code == kcmCCNoSupp
}

func (e *kcmStatusError) notFound() bool {
	return e.code == kcmFCCNoFile || e.code == kcmCCNotFound || e.code == kcmCCEnd
}

func kcmCode(err error) (*kcmStatusError, bool) {
	var se *kcmStatusError
	ok := errors.As(err, &se)
	return se, ok
}

// errKCMMalformed marks a reply that does not decode.
var errKCMMalformed = errors.New("malformed KCM reply")

// kcmConn is one connection to a KCM server.
type kcmConn struct {
	path string
	c    net.Conn
}

func (env *cacheEnv) kcmSocketPath() (string, error) {
	switch env.kcmSocket {
	case "":
		return DefaultKCMSocket, nil
	case "-":
		return "", newError(ErrNoCredentials, "KCM credentials cache: no KCM server (krb5.conf sets kcm_socket = -)", nil)
	}
	return env.kcmSocket, nil
}

func dialKCM(env *cacheEnv, name string) (*kcmConn, error) {
	path, err := env.kcmSocketPath()
	if err != nil {
		return nil, err
	}
	k := &kcmConn{path: path}
	if err := k.dial(); err != nil {
		switch {
		case errors.Is(err, syscall.ENOENT):
			return nil, newError(ErrNoCredentials, fmt.Sprintf("credentials cache %s: no KCM server found (no socket %s)", name, path), nil)
		case errors.Is(err, syscall.ECONNREFUSED):
			return nil, newError(ErrCCacheUnreadable, fmt.Sprintf("credentials cache %s: KCM server at %s refused the connection (not running?)", name, path), nil)
		}
		return nil, newError(ErrCCacheUnreadable, fmt.Sprintf("credentials cache %s: cannot connect to the KCM server at %s", name, path), err)
	}
	return k, nil
}

func (k *kcmConn) dial() error {
	d := net.Dialer{Timeout: kcmTimeout}
	c, err := d.Dial("unix", k.path)
	if err != nil {
		return err
	}
	k.c = c
	return nil
}

func (k *kcmConn) Close() { k.c.Close() }

// call sends one request and returns the reply payload after both status
// words. A request whose write fails with EPIPE/ECONNRESET (the server
// dropped an idle connection, so it never saw the request) is sent once
// more on a new connection.
func (k *kcmConn) call(op uint16, payload []byte) ([]byte, error) {
	req := make([]byte, 0, 8+len(payload))
	req = binary.BigEndian.AppendUint32(req, uint32(4+len(payload)))
	req = append(req, 2, 0)
	req = binary.BigEndian.AppendUint16(req, op)
	req = append(req, payload...)
	k.c.SetDeadline(time.Now().Add(kcmTimeout))
	if _, err := k.c.Write(req); err != nil {
		if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			return nil, err
		}
		k.c.Close()
		if err := k.dial(); err != nil {
			return nil, err
		}
		k.c.SetDeadline(time.Now().Add(kcmTimeout))
		if _, err := k.c.Write(req); err != nil {
			return nil, err
		}
	}
	return readKCMReply(k.c)
}

// readKCMReply reads u32 length, u32 transport status and, when that is
// zero, a body of length bytes: i32 operation status, then the payload.
func readKCMReply(r io.Reader) ([]byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: the server closed the connection", errKCMMalformed)
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if st := int32(binary.BigEndian.Uint32(hdr[4:])); st != 0 {
		return nil, &kcmStatusError{code: st, transport: true}
	}
	if n > maxKCMReply {
		return nil, fmt.Errorf("%w: reply of %d bytes is larger than %d", errKCMMalformed, n, maxKCMReply)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("%w: truncated reply", errKCMMalformed)
	}
	return DecodeKCMReply(body)
}

// DecodeKCMReply splits a KCM reply body (after the length and transport
// status words) into the operation status and its payload. A non-zero
// status is returned as an error.
func DecodeKCMReply(body []byte) ([]byte, error) {
	if len(body) < 4 {
		return nil, fmt.Errorf("%w: reply shorter than its status", errKCMMalformed)
	}
	if st := int32(binary.BigEndian.Uint32(body)); st != 0 {
		return nil, &kcmStatusError{code: st}
	}
	return body[4:], nil
}

// kcmName encodes a cache name (NUL-terminated).
func kcmName(name string) []byte { return append([]byte(name), 0) }

// decodeKCMName decodes a NUL-terminated name that must fill the payload.
func decodeKCMName(b []byte) (string, error) {
	i := bytes.IndexByte(b, 0)
	if i < 0 || i != len(b)-1 {
		return "", fmt.Errorf("%w: cache name not NUL-terminated", errKCMMalformed)
	}
	return string(b[:i]), nil
}

// DecodeKCMUUIDs decodes a UUID list reply.
func DecodeKCMUUIDs(b []byte) ([][]byte, error) {
	if len(b)%kcmUUIDLen != 0 {
		return nil, fmt.Errorf("%w: UUID list of %d bytes is not a multiple of 16", errKCMMalformed, len(b))
	}
	out := make([][]byte, 0, len(b)/kcmUUIDLen)
	for i := 0; i < len(b); i += kcmUUIDLen {
		out = append(out, b[i:i+kcmUUIDLen])
	}
	return out, nil
}

// DecodeKCMCredList decodes a GET_CRED_LIST reply: u32 count, then count
// times (u32 length, v4 credential).
func DecodeKCMCredList(b []byte) ([]Credential, error) {
	d := &decoder{b: b}
	n := d.count(kcmMinCredLength, "credential list")
	var out []Credential
	for i := 0; i < n && d.err == nil; i++ {
		blob := d.data("credential")
		if d.err != nil {
			break
		}
		c, err := DecodeCredential(blob)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return out, nil
}

// DecodeKCMOffset decodes a GET_KDC_OFFSET reply (i32 seconds).
func DecodeKCMOffset(b []byte) (time.Duration, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("%w: KDC offset of %d bytes", errKCMMalformed, len(b))
	}
	return time.Duration(int32(binary.BigEndian.Uint32(b))) * time.Second, nil
}

// kcmCache is one cache on a KCM server.
type kcmCache struct {
	server string // the server-side name
	env    *cacheEnv
}

func (c *kcmCache) Name() string { return "KCM:" + c.server }

func kcmErr(name, what string, err error) error {
	if se, ok := kcmCode(err); ok {
		if se.notFound() {
			return newError(ErrNoCredentials, fmt.Sprintf("credentials cache %s does not exist", name), nil)
		}
		return newError(ErrCCacheUnreadable, fmt.Sprintf("credentials cache %s: %s", name, what), err)
	}
	var ke *Error
	if errors.As(err, &ke) {
		return err
	}
	return newError(ErrCCacheUnreadable, fmt.Sprintf("credentials cache %s: %s", name, what), err)
}

func openKCM(res string, env *cacheEnv) (Cache, error) {
	if res != "" {
		return &kcmCache{server: res, env: env}, nil
	}
	k, err := dialKCM(env, "KCM:")
	if err != nil {
		return nil, err
	}
	defer k.Close()
	name, err := k.defaultName()
	if err != nil {
		return nil, kcmErr("KCM:", "cannot get the default cache", err)
	}
	return &kcmCache{server: name, env: env}, nil
}

func (k *kcmConn) defaultName() (string, error) {
	b, err := k.call(kcmGetDefault, nil)
	if err != nil {
		return "", err
	}
	return decodeKCMName(b)
}

// kcmMembers lists the KCM collection (only the name "KCM:" is one), the
// default cache first.
func kcmMembers(res string, env *cacheEnv) ([]Cache, error) {
	if res != "" {
		return []Cache{&kcmCache{server: res, env: env}}, nil
	}
	k, err := dialKCM(env, "KCM:")
	if err != nil {
		return nil, err
	}
	defer k.Close()
	def, err := k.defaultName()
	if err != nil {
		return nil, kcmErr("KCM:", "cannot get the default cache", err)
	}
	out := []Cache{&kcmCache{server: def, env: env}}
	b, err := k.call(kcmGetCacheUUIDs, nil)
	if se, ok := kcmCode(err); ok && se.notFound() {
		return out, nil
	}
	if err != nil {
		return nil, kcmErr("KCM:", "cannot list the caches", err)
	}
	uuids, err := DecodeKCMUUIDs(b)
	if err != nil {
		return nil, kcmErr("KCM:", "cannot list the caches", err)
	}
	for _, u := range uuids {
		b, err := k.call(kcmGetCacheByUUID, u)
		if se, ok := kcmCode(err); ok && se.notFound() {
			continue // removed since the listing
		}
		if err != nil {
			return nil, kcmErr("KCM:", "cannot list the caches", err)
		}
		n, err := decodeKCMName(b)
		if err != nil {
			return nil, kcmErr("KCM:", "cannot list the caches", err)
		}
		if n != def {
			out = append(out, &kcmCache{server: n, env: env})
		}
	}
	return out, nil
}

func (c *kcmCache) image() ([]byte, error) {
	cont, err := c.Read()
	if err != nil {
		return nil, err
	}
	return cont.MarshalFile(), nil
}

func (c *kcmCache) Read() (*Contents, error) {
	k, err := dialKCM(c.env, c.Name())
	if err != nil {
		return nil, err
	}
	defer k.Close()
	b, err := k.call(kcmGetPrincipal, kcmName(c.server))
	if err != nil {
		return nil, kcmErr(c.Name(), "cannot get the principal", err)
	}
	if len(b) == 0 {
		return nil, newError(ErrNoCredentials, fmt.Sprintf("credentials cache %s is empty (not initialized)", c.Name()), nil)
	}
	p, err := DecodePrincipal(b)
	if err != nil {
		return nil, kcmErr(c.Name(), "bad principal", err)
	}
	cont := &Contents{Principal: p}
	if b, err := k.call(kcmGetKDCOffset, kcmName(c.server)); err == nil {
		if off, err := DecodeKCMOffset(b); err == nil && off != 0 {
			cont.KDCOffset, cont.HasOffset = off, true
		}
	}
	b, err = k.call(kcmGetCredList, kcmName(c.server))
	if err == nil {
		creds, err := DecodeKCMCredList(b)
		if err != nil {
			return nil, kcmErr(c.Name(), "bad credential list", err)
		}
		cont.Credentials = creds
		return cont, nil
	}
	se, ok := kcmCode(err)
	if !ok || !se.unsupported() {
		return nil, kcmErr(c.Name(), "cannot list the credentials", err)
	}
	if se.transport {
		// SSSD-style failure may have closed the connection; start afresh.
		k.Close()
		if err := k.dial(); err != nil {
			return nil, kcmErr(c.Name(), "cannot reconnect", err)
		}
	}
	b, err = k.call(kcmGetCredUUIDs, kcmName(c.server))
	if se, ok := kcmCode(err); ok && se.code == kcmCCEnd {
		return cont, nil
	}
	if err != nil {
		return nil, kcmErr(c.Name(), "cannot list the credentials", err)
	}
	uuids, err := DecodeKCMUUIDs(b)
	if err != nil {
		return nil, kcmErr(c.Name(), "cannot list the credentials", err)
	}
	for _, u := range uuids {
		b, err := k.call(kcmGetCredByUUID, append(kcmName(c.server), u...))
		if se, ok := kcmCode(err); ok && se.notFound() {
			continue
		}
		if err != nil {
			return nil, kcmErr(c.Name(), "cannot read a credential", err)
		}
		cr, err := DecodeCredential(b)
		if err != nil {
			return nil, kcmErr(c.Name(), "bad credential", err)
		}
		cont.Credentials = append(cont.Credentials, cr)
	}
	return cont, nil
}

func (c *kcmCache) Initialize(p Principal) error {
	return c.write(&Contents{Principal: p}, true)
}

func (c *kcmCache) Store(cr Credential) error {
	return c.write(&Contents{Credentials: []Credential{cr}}, false)
}

func (c *kcmCache) Replace(cont *Contents) error {
	return c.write(cont, true)
}

func (c *kcmCache) write(cont *Contents, init bool) error {
	k, err := dialKCM(c.env, c.Name())
	if err != nil {
		return err
	}
	defer k.Close()
	name := kcmName(c.server)
	if init {
		if _, err := k.call(kcmInitialize, append(name, cont.Principal.Marshal()...)); err != nil {
			return kcmWriteErr(c.Name(), "cannot initialize", err)
		}
		if cont.HasOffset {
			off := binary.BigEndian.AppendUint32(append([]byte(nil), name...), uint32(int32(cont.KDCOffset/time.Second)))
			if _, err := k.call(kcmSetKDCOffset, off); err != nil {
				return kcmWriteErr(c.Name(), "cannot set the KDC offset", err)
			}
		}
	}
	for i := range cont.Credentials {
		if _, err := k.call(kcmStore, append(append([]byte(nil), name...), cont.Credentials[i].Marshal()...)); err != nil {
			return kcmWriteErr(c.Name(), "cannot store a credential", err)
		}
	}
	return nil
}

func kcmWriteErr(name, what string, err error) error {
	var ke *Error
	if errors.As(err, &ke) {
		return err
	}
	return newError(nil, fmt.Sprintf("writing credentials cache %s: %s", name, what), err)
}

// newKCMCache asks the KCM server for a new, empty cache name (GEN_NEW;
// "<uid>:<n>") and returns it. Opening the name KCM:<uid>:<anything> also
// works with both servers; the cache exists once initialized.
func newKCMCache(env *cacheEnv) (*kcmCache, error) {
	k, err := dialKCM(env, "KCM:")
	if err != nil {
		return nil, err
	}
	defer k.Close()
	b, err := k.call(kcmGenNew, nil)
	if err != nil {
		return nil, kcmWriteErr("KCM:", "cannot create a new cache", err)
	}
	n, err := decodeKCMName(b)
	if err != nil {
		return nil, kcmWriteErr("KCM:", "cannot create a new cache", err)
	}
	return &kcmCache{server: n, env: env}, nil
}

func setKCMDefault(c *kcmCache) error {
	k, err := dialKCM(c.env, c.Name())
	if err != nil {
		return err
	}
	defer k.Close()
	if _, err := k.call(kcmSetDefault, kcmName(c.server)); err != nil {
		return kcmWriteErr(c.Name(), "cannot make it the default cache", err)
	}
	return nil
}
