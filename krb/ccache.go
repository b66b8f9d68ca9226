package krb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/credentials"
)

// maxCCacheSize bounds how much of a credentials cache file is read.
const maxCCacheSize = 16 << 20

// loadedCCache is a parsed credentials cache and the file it came from.
type loadedCCache struct {
	cc   *credentials.CCache
	file string
	// name is the cache name in MIT syntax, for messages.
	name string
}

// principal returns "name@REALM" of the cache's default principal.
func (l *loadedCCache) principal() string {
	return l.cc.DefaultPrincipal.PrincipalName.PrincipalNameString() + "@" + l.cc.DefaultPrincipal.Realm
}

// openCCache loads the cache ref points to. If want is not empty, the cache
// must belong to that principal; in a collection (DIR, KEYRING, KCM) the
// first cache (primary first) that belongs to it is chosen. defaultRealm
// completes a want without "@REALM"; if it is empty such a want matches any
// realm.
func openCCache(ref ccacheRef, env *cacheEnv, want, defaultRealm string) (*loadedCCache, error) {
	if !ref.isCollection() || want == "" {
		c, err := ref.primary(env)
		if err != nil {
			return nil, err
		}
		l, err := loadCache(c)
		if err != nil {
			return nil, err
		}
		if want != "" && !principalMatches(l.principal(), want, defaultRealm) {
			return nil, newError(ErrPrincipalMismatch,
				fmt.Sprintf("credentials cache %s holds principal %s, not %s", l.name, l.principal(), want), nil)
		}
		return l, nil
	}
	members, err := ref.members(env)
	if err != nil {
		return nil, err
	}
	var have []string
	for _, c := range members {
		l, err := loadCache(c)
		if err != nil {
			continue // a missing primary or a broken member does not hide the others
		}
		if principalMatches(l.principal(), want, defaultRealm) {
			return l, nil
		}
		have = append(have, l.principal())
	}
	held := "it holds no initialized cache"
	if len(have) > 0 {
		held = "it holds " + strings.Join(have, ", ")
	}
	return nil, newError(ErrPrincipalMismatch,
		fmt.Sprintf("no credentials cache for %s in collection %s (%s)", want, ref, held), nil)
}

// loadCache reads a cache of any type and parses it for gokrb5.
func loadCache(c Cache) (*loadedCCache, error) {
	im, ok := c.(imager)
	if !ok {
		return nil, newError(ErrUnsupportedCCache, "credentials cache "+c.Name()+" cannot be read", nil)
	}
	data, err := im.image()
	if err != nil {
		return nil, err
	}
	cc, err := parseCCache(data)
	if err != nil {
		return nil, newError(ErrCCacheUnreadable, "credentials cache "+c.Name(), err)
	}
	file := ""
	if f, ok := c.(*fileCache); ok {
		file = f.path
	}
	cc.Path = file
	return &loadedCCache{cc: cc, file: file, name: c.Name()}, nil
}

// primarySubsidiary reads DIR's "primary" file as MIT does: its first line
// names the primary cache, which must start with "tkt" and contain no '/';
// otherwise (or if there is no such file) the primary cache is "tkt".
func primarySubsidiary(dir string) string {
	data, err := readLimited(filepath.Join(dir, "primary"), 4096)
	if err != nil {
		return "tkt"
	}
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "tkt") || strings.ContainsRune(line, '/') {
		return "tkt"
	}
	return line
}

// parseCCache checks the structure of a cache with bounds checks first, so
// that gokrb5's unchecked parser can neither panic nor allocate huge slices on
// bad input, then hands it to gokrb5.
func parseCCache(data []byte) (cc *credentials.CCache, err error) {
	if err := validateCCache(data); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			cc, err = nil, errors.New("malformed credentials cache")
		}
	}()
	cc = new(credentials.CCache)
	if err := cc.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("malformed credentials cache: %w", err)
	}
	return cc, nil
}

var errCCacheTruncated = errors.New("malformed credentials cache: truncated or inconsistent lengths")

// ccReader walks a cache file with bounds checks.
type ccReader struct {
	b   []byte
	p   int
	err error
}

func (r *ccReader) need(n int) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || len(r.b)-r.p < n {
		r.err = errCCacheTruncated
		return false
	}
	return true
}

func (r *ccReader) skip(n int) {
	if r.need(n) {
		r.p += n
	}
}

func (r *ccReader) u8() int {
	if !r.need(1) {
		return 0
	}
	v := r.b[r.p]
	r.p++
	return int(v)
}

func (r *ccReader) u16() int {
	if !r.need(2) {
		return 0
	}
	v := binary.BigEndian.Uint16(r.b[r.p:])
	r.p += 2
	return int(v)
}

// i32 reads a big-endian signed 32-bit integer, as gokrb5 does.
func (r *ccReader) i32() int {
	if !r.need(4) {
		return 0
	}
	v := int32(binary.BigEndian.Uint32(r.b[r.p:]))
	r.p += 4
	return int(v)
}

func (r *ccReader) data() {
	r.skip(r.i32())
}

func (r *ccReader) remaining() int { return len(r.b) - r.p }

// count reads an element count and checks it against the bytes left, given
// the minimum size of one element.
func (r *ccReader) count(minSize int) int {
	n := r.i32()
	if r.err == nil && (n < 0 || n > r.remaining()/minSize) {
		r.err = errCCacheTruncated
		return 0
	}
	return n
}

func (r *ccReader) principal() {
	r.i32() // name type (versions 2-4)
	n := r.count(4)
	r.data() // realm
	for i := 0; i < n && r.err == nil; i++ {
		r.data()
	}
}

// validateCCache checks a version 3 or 4 MIT file cache, mirroring the walk
// gokrb5's parser makes.
func validateCCache(b []byte) error {
	r := &ccReader{b: b}
	if len(b) == 0 {
		return errors.New("empty credentials cache file")
	}
	if r.u8() != 5 {
		return errors.New("not an MIT file credentials cache")
	}
	version := r.u8()
	if version != 3 && version != 4 {
		return fmt.Errorf("credentials cache format version %d not supported (need 3 or 4)", version)
	}
	if version == 4 {
		hlen := r.u16()
		// gokrb5 loops while its absolute offset is <= the header length and
		// accepts only the 8-byte KDC time offset field (tag 1).
		for r.err == nil && r.p <= hlen {
			tag := r.u16()
			flen := r.u16()
			r.skip(flen)
			if r.err == nil && (tag != 1 || flen != 8) {
				return errors.New("malformed credentials cache: unknown header field")
			}
		}
	}
	r.principal()
	for r.err == nil && r.p < len(b) {
		r.principal() // client
		r.principal() // server
		r.u16()       // key type
		if version == 3 {
			r.u16()
		}
		r.data()   // key
		r.skip(16) // auth, start, end, renew-till times
		r.u8()     // is_skey
		r.skip(4)  // ticket flags
		for n, i := r.count(6), 0; i < n && r.err == nil; i++ {
			r.u16()
			r.data()
		}
		for n, i := r.count(6), 0; i < n && r.err == nil; i++ {
			r.u16()
			r.data()
		}
		r.data() // ticket
		r.data() // second ticket
	}
	return r.err
}

// principalMatches compares a cache principal "name@REALM" with a wanted
// principal, which may omit the realm.
func principalMatches(have, want, defaultRealm string) bool {
	if have == want {
		return true
	}
	if strings.Contains(want, "@") {
		return false
	}
	hname, hrealm := splitPrincipal(have)
	if hname != want {
		return false
	}
	return defaultRealm == "" || hrealm == defaultRealm
}

func splitPrincipal(p string) (name, realm string) {
	i := strings.LastIndexByte(p, '@')
	if i < 0 {
		return p, ""
	}
	return p[:i], p[i+1:]
}

// tgtEnd finds the cache's ticket-granting ticket for its own realm and
// checks it is current. It returns the TGT's end time.
func tgtEnd(l *loadedCCache, now time.Time) (time.Time, error) {
	realm := l.cc.DefaultPrincipal.Realm
	for _, c := range l.cc.GetEntries() {
		s := c.Server.PrincipalName.NameString
		if len(s) == 2 && s[0] == "krbtgt" && s[1] == realm {
			if !now.Before(c.EndTime) {
				return c.EndTime, newError(ErrTGTExpired,
					fmt.Sprintf("ticket-granting ticket for %s in %s expired at %s",
						l.principal(), l.name, c.EndTime.UTC().Format(time.RFC3339)), nil)
			}
			return c.EndTime, nil
		}
	}
	return time.Time{}, newError(ErrNoCredentials,
		fmt.Sprintf("credentials cache %s holds no ticket-granting ticket for %s", l.name, l.principal()), nil)
}
