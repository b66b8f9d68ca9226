package krb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// KEYRING cache names and layout, as MIT's cc_keyring.c has them:
//
//	<anchor keyring>
//	 └─ keyring "_krb_<collection>"   ("_krb" in a persistent keyring)
//	     ├─ user "krb_ccache:primary"  u32 version 1, u32 length, name
//	     └─ keyring "<subsidiary>"     one per cache
//	         ├─ user "__krb5_princ__"         v4 principal
//	         ├─ user "__krb5_time_offsets__"  i32 seconds, i32 microseconds
//	         └─ big_key|user "<server>"       v4 credential
//
// This file holds the name rules and payload decoders, which are the same
// on every platform; keyring_linux.go talks to the kernel.

// Key descriptions MIT uses.
const (
	krbPrincKey    = "__krb5_princ__"
	krbOffsetsKey  = "__krb5_time_offsets__"
	krbPrimaryKey  = "krb_ccache:primary"
	krbCollPrefix  = "_krb_"
	krbPersistColl = "_krb"
	// maxKeyPayload bounds a key read (big_key's limit is 1 MiB).
	maxKeyPayload = 1 << 20
)

// keyringName is a parsed KEYRING residual.
type keyringName struct {
	// anchor is persistent, user, session, process, thread or legacy.
	anchor string
	// collection is the collection name (for persistent: the uid, possibly
	// empty for the effective uid).
	collection string
	// subsidiary is the cache inside the collection; empty = primary.
	subsidiary string
	// uid is the persistent keyring's uid.
	uid int
}

// parseKeyringResidual splits anchor:collection[:subsidiary] (no colon:
// the legacy anchor), at the first two colons only.
func parseKeyringResidual(res string, env *cacheEnv) (keyringName, error) {
	var k keyringName
	anchor, rest, ok := strings.Cut(res, ":")
	if !ok {
		k.anchor, k.collection = "legacy", res
	} else {
		k.anchor = anchor
		k.collection, k.subsidiary, _ = strings.Cut(rest, ":")
	}
	switch k.anchor {
	case "persistent":
		if k.collection == "" {
			k.uid = env.euid
		} else {
			uid, err := strconv.ParseUint(k.collection, 10, 31)
			if err != nil {
				return k, newError(ErrCCacheUnreadable, fmt.Sprintf("credentials cache KEYRING:%s: %q is not a numeric uid", res, k.collection), nil)
			}
			k.uid = int(uid)
		}
	case "user", "session", "process", "thread", "legacy":
	default:
		return k, newError(ErrCCacheUnreadable, fmt.Sprintf("credentials cache KEYRING:%s: unknown keyring anchor %q (want persistent, user, session, process or thread)", res, k.anchor), nil)
	}
	return k, nil
}

// keyringNamesSubsidiary reports whether a KEYRING residual names one cache.
func keyringNamesSubsidiary(res string) bool {
	_, rest, ok := strings.Cut(res, ":")
	if !ok {
		return false
	}
	_, sub, ok := strings.Cut(rest, ":")
	return ok && sub != ""
}

// collKeyring is the description of the collection keyring.
func (k keyringName) collKeyring() string {
	if k.anchor == "persistent" {
		return krbPersistColl
	}
	return krbCollPrefix + k.collection
}

// defaultPrimary is the primary cache name when no primary key exists.
func (k keyringName) defaultPrimary() string {
	switch {
	case k.anchor == "persistent" && k.collection == "":
		return "tkt"
	case k.anchor == "persistent":
		return k.collection
	case k.collection == "":
		return "tkt"
	}
	return k.collection
}

// collectionName is the collection's name in MIT syntax, e.g.
// "KEYRING:persistent:1000".
func (k keyringName) collectionName() string {
	if k.anchor == "legacy" {
		return "KEYRING:" + k.collection
	}
	coll := k.collection
	if k.anchor == "persistent" && coll == "" {
		coll = strconv.Itoa(k.uid)
	}
	return "KEYRING:" + k.anchor + ":" + coll
}

// cacheName is the full name of subsidiary sub.
func (k keyringName) cacheName(sub string) string {
	if k.anchor == "legacy" {
		return "KEYRING:legacy:" + k.collection + ":" + sub
	}
	return k.collectionName() + ":" + sub
}

// DecodeKeyringPrimary decodes the payload of a KEYRING collection's
// krb_ccache:primary key: u32 version (1), u32 length, the name.
func DecodeKeyringPrimary(b []byte) (string, error) {
	if len(b) < 8 {
		return "", fmt.Errorf("%w: primary cache key shorter than 8 bytes", errMalformed)
	}
	if v := binary.BigEndian.Uint32(b); v != 1 {
		return "", fmt.Errorf("%w: primary cache key version %d (want 1)", errMalformed, v)
	}
	n := binary.BigEndian.Uint32(b[4:])
	if uint64(n) != uint64(len(b)-8) || n == 0 {
		return "", fmt.Errorf("%w: primary cache key length %d does not match its payload", errMalformed, n)
	}
	name := string(b[8:])
	if strings.ContainsAny(name, "\x00") {
		return "", fmt.Errorf("%w: primary cache name holds a NUL byte", errMalformed)
	}
	return name, nil
}

// encodeKeyringPrimary is the inverse of DecodeKeyringPrimary.
func encodeKeyringPrimary(name string) []byte {
	b := binary.BigEndian.AppendUint32(nil, 1)
	b = binary.BigEndian.AppendUint32(b, uint32(len(name)))
	return append(b, name...)
}

// DecodeKeyringOffset decodes a __krb5_time_offsets__ payload (i32
// seconds, i32 microseconds, big-endian).
func DecodeKeyringOffset(b []byte) (time.Duration, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: time offset key of %d bytes (want 8)", errMalformed, len(b))
	}
	sec := int32(binary.BigEndian.Uint32(b))
	usec := int32(binary.BigEndian.Uint32(b[4:]))
	return time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond, nil
}

// keyEntry is one key of a cache keyring as read from the kernel.
type keyEntry struct {
	desc    string
	payload []byte
}

// decodeKeyringCache assembles a cache from its keys (any order). A cache
// without a principal key is uninitialized (ok = false).
func decodeKeyringCache(keys []keyEntry) (c *Contents, ok bool, err error) {
	c = &Contents{}
	for _, k := range keys {
		switch k.desc {
		case krbPrincKey:
			p, err := DecodePrincipal(k.payload)
			if err != nil {
				return nil, false, fmt.Errorf("default principal: %w", err)
			}
			c.Principal, ok = p, true
		case krbOffsetsKey:
			d, err := DecodeKeyringOffset(k.payload)
			if err != nil {
				return nil, false, err
			}
			c.KDCOffset, c.HasOffset = d, true
		default:
			cr, err := DecodeCredential(k.payload)
			if err != nil {
				return nil, false, fmt.Errorf("credential %q: %w", k.desc, err)
			}
			c.Credentials = append(c.Credentials, cr)
		}
	}
	return c, ok, nil
}

// parseKeyDescription splits KEYCTL_DESCRIBE's "type;uid;gid;perm;desc".
func parseKeyDescription(s string) (typ, desc string, err error) {
	parts := strings.SplitN(s, ";", 5)
	if len(parts) != 5 {
		return "", "", errors.New("malformed key description")
	}
	return parts[0], parts[4], nil
}
