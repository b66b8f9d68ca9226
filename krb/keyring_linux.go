//go:build linux

package krb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// MIT's permissions for the keys it creates: possessor everything, owner
// view only. A reader must possess the keys (reach them from its own
// thread, process or session keyring).
const mitKeyPerm = 0x3f010000

// onKeyThread runs f on a fresh OS thread that exits afterwards. The
// kernel keeps process and thread keyrings, and so possession, per OS
// thread; each operation links what it needs into its own thread keyring,
// which dies with the thread, so nothing is left behind and no state leaks
// between operations or goroutines.
func onKeyThread(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		done <- f()
	}()
	return <-done
}

// keyringCache is one KEYRING cache (a keyring inside a collection).
type keyringCache struct {
	k    keyringName
	sub  string
	name string
	env  *cacheEnv
}

func checkKeyringAnchor(k keyringName, name string) error {
	if k.anchor == "process" || k.anchor == "thread" {
		return newError(ErrUnsupportedCCache, "credentials cache "+name+
			": KEYRING:process and KEYRING:thread caches live only as long as the process (thread) that made them and cannot be shared; use KEYRING:persistent, KEYRING:user or KEYRING:session", nil)
	}
	return nil
}

func openKeyring(res string, env *cacheEnv) (Cache, error) {
	k, err := parseKeyringResidual(res, env)
	if err != nil {
		return nil, err
	}
	if err := checkKeyringAnchor(k, "KEYRING:"+res); err != nil {
		return nil, err
	}
	sub := k.subsidiary
	if sub == "" {
		_ = onKeyThread(func() error {
			coll, err := k.findCollection(env, false)
			if err == nil {
				sub = readPrimary(coll)
			}
			return nil
		})
		if sub == "" {
			sub = k.defaultPrimary()
		}
	}
	return &keyringCache{k: k, sub: sub, name: k.cacheName(sub), env: env}, nil
}

func keyringMembers(res string, env *cacheEnv) ([]Cache, error) {
	k, err := parseKeyringResidual(res, env)
	if err != nil {
		return nil, err
	}
	if err := checkKeyringAnchor(k, "KEYRING:"+res); err != nil {
		return nil, err
	}
	if k.subsidiary != "" {
		return []Cache{&keyringCache{k: k, sub: k.subsidiary, name: k.cacheName(k.subsidiary), env: env}}, nil
	}
	var names []string
	err = onKeyThread(func() error {
		coll, err := k.findCollection(env, false)
		if err != nil {
			return err
		}
		primary := readPrimary(coll)
		if primary == "" {
			primary = k.defaultPrimary()
		}
		names = append(names, primary)
		ids, err := readKeyringIDs(coll)
		if err != nil {
			return keyErr(k.collectionName(), "cannot list the collection", err)
		}
		for _, id := range ids {
			d, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
			if err != nil {
				continue
			}
			typ, desc, err := parseKeyDescription(d)
			if err == nil && typ == "keyring" && desc != primary {
				names = append(names, desc)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Cache, 0, len(names))
	for _, n := range names {
		out = append(out, &keyringCache{k: k, sub: n, name: k.cacheName(n), env: env})
	}
	return out, nil
}

// keyErr maps a key syscall error to this package's kinds.
func keyErr(name, what string, err error) error {
	switch {
	case errors.Is(err, unix.ENOKEY), errors.Is(err, unix.EKEYEXPIRED), errors.Is(err, unix.EKEYREVOKED):
		return newError(ErrNoCredentials, fmt.Sprintf("credentials cache %s does not exist", name), nil)
	case errors.Is(err, unix.ENOSYS):
		return newError(ErrCCacheUnreadable, fmt.Sprintf("credentials cache %s: the kernel key API is not available", name), nil)
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
		return newError(ErrCCacheUnreadable, fmt.Sprintf("credentials cache %s: %s: permission denied (another user's keyring, or the key API is blocked, e.g. by a container's seccomp profile)", name, what), nil)
	}
	return newError(ErrCCacheUnreadable, fmt.Sprintf("credentials cache %s: %s", name, what), err)
}

// anchorID returns the anchor keyring's id, linked into this thread's
// keyring so that what is found below it is possessed.
func (k keyringName) anchorID(env *cacheEnv, create bool) (int, error) {
	switch k.anchor {
	case "persistent":
		id, err := unix.KeyctlInt(unix.KEYCTL_GET_PERSISTENT, k.uid, unix.KEY_SPEC_THREAD_KEYRING, 0, 0)
		if errors.Is(err, unix.EOPNOTSUPP) && k.uid == env.euid {
			return unix.KEY_SPEC_USER_KEYRING, nil
		}
		if err != nil {
			if errors.Is(err, unix.EPERM) {
				return 0, newError(ErrCCacheUnreadable, fmt.Sprintf("credentials cache %s: not allowed to open the persistent keyring of uid %d", k.collectionName(), k.uid), nil)
			}
			return 0, keyErr(k.collectionName(), "cannot open the persistent keyring", err)
		}
		return id, nil
	case "user":
		return unix.KEY_SPEC_USER_KEYRING, nil
	default: // session, legacy
		if create {
			// Without a session keyring of its own, a process writing
			// through KEY_SPEC_SESSION_KEYRING could get a new private
			// one; write to the user-session keyring it stands for.
			s, err1 := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
			us, err2 := unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_SESSION_KEYRING, false)
			if err1 == nil && err2 == nil && s == us {
				return unix.KEY_SPEC_USER_SESSION_KEYRING, nil
			}
		}
		return unix.KEY_SPEC_SESSION_KEYRING, nil
	}
}

// findCollection finds (or, with create, makes) the collection keyring.
func (k keyringName) findCollection(env *cacheEnv, create bool) (int, error) {
	anchor, err := k.anchorID(env, create)
	if err != nil {
		return 0, err
	}
	id, err := unix.KeyctlSearch(anchor, "keyring", k.collKeyring(), unix.KEY_SPEC_THREAD_KEYRING)
	if err == nil {
		return id, nil
	}
	if !create || !errors.Is(err, unix.ENOKEY) {
		if errors.Is(err, unix.ENOKEY) {
			return 0, newError(ErrNoCredentials, fmt.Sprintf("credentials cache collection %s does not exist", k.collectionName()), nil)
		}
		return 0, keyErr(k.collectionName(), "cannot find the collection", err)
	}
	id, err = unix.AddKey("keyring", k.collKeyring(), nil, anchor)
	if err != nil {
		return 0, keyErr(k.collectionName(), "cannot create the collection", err)
	}
	if _, err := unix.KeyctlInt(unix.KEYCTL_LINK, id, unix.KEY_SPEC_THREAD_KEYRING, 0, 0); err != nil {
		return 0, keyErr(k.collectionName(), "cannot link the collection", err)
	}
	k.ownKey(env, id)
	return id, nil
}

// ownKey gives a key MIT's permissions and, when root writes a user's
// persistent collection, that user's ownership (so it is charged to the
// user's quota, as if the user had written it).
func (k keyringName) ownKey(env *cacheEnv, id int) {
	if k.anchor == "persistent" && env.euid == 0 && k.uid != 0 {
		_, _ = unix.KeyctlInt(unix.KEYCTL_CHOWN, id, k.uid, -1, 0)
	}
	_ = unix.KeyctlSetperm(id, mitKeyPerm)
}

// readPrimary returns the collection's primary cache name, or "" if there
// is no (valid) primary key.
func readPrimary(coll int) string {
	id, err := unix.KeyctlSearch(coll, "user", krbPrimaryKey, 0)
	if err != nil {
		return ""
	}
	b, err := readKey(id, 4096)
	if err != nil {
		return ""
	}
	name, err := DecodeKeyringPrimary(b)
	if err != nil {
		return ""
	}
	return name
}

// readKey reads a key's payload (at most max bytes).
func readKey(id, max int) ([]byte, error) {
	n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, nil, 0)
	for tries := 0; tries < 3; tries++ {
		if err != nil {
			return nil, err
		}
		if n > max {
			return nil, fmt.Errorf("key payload of %d bytes is larger than %d", n, max)
		}
		buf := make([]byte, n)
		var m int
		m, err = unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
		if err == nil && m <= n {
			return buf[:m], nil
		}
		n = m // it grew in between: try again
	}
	return nil, errors.New("key payload keeps changing size")
}

// readKeyringIDs lists a keyring's keys.
func readKeyringIDs(ring int) ([]int, error) {
	b, err := readKey(ring, 4*65536)
	if err != nil {
		return nil, err
	}
	ids := make([]int, 0, len(b)/4)
	for i := 0; i+4 <= len(b); i += 4 {
		ids = append(ids, int(int32(binary.NativeEndian.Uint32(b[i:]))))
	}
	return ids, nil
}

func (c *keyringCache) Name() string { return c.name }

func (c *keyringCache) image() ([]byte, error) {
	cont, err := c.Read()
	if err != nil {
		return nil, err
	}
	return cont.MarshalFile(), nil
}

// findCache finds the cache keyring (search only).
func (c *keyringCache) findCache() (int, error) {
	coll, err := c.k.findCollection(c.env, false)
	if err != nil {
		if errors.Is(err, ErrNoCredentials) {
			return 0, newError(ErrNoCredentials, fmt.Sprintf("credentials cache %s does not exist", c.name), nil)
		}
		return 0, err
	}
	id, err := unix.KeyctlSearch(coll, "keyring", c.sub, 0)
	if err != nil {
		return 0, keyErr(c.name, "cannot find the cache", err)
	}
	return id, nil
}

func (c *keyringCache) Read() (*Contents, error) {
	var out *Contents
	err := onKeyThread(func() error {
		id, err := c.findCache()
		if err != nil {
			return err
		}
		ids, err := readKeyringIDs(id)
		if err != nil {
			return keyErr(c.name, "cannot list the cache", err)
		}
		var keys []keyEntry
		for _, kid := range ids {
			d, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, kid)
			if err != nil {
				continue // vanished or expired since the listing
			}
			typ, desc, err := parseKeyDescription(d)
			if err != nil || typ == "keyring" {
				continue
			}
			b, err := readKey(kid, maxKeyPayload)
			if err != nil {
				if vanished(err) {
					continue
				}
				return keyErr(c.name, "cannot read key "+fmt.Sprintf("%q", desc), err)
			}
			keys = append(keys, keyEntry{desc: desc, payload: b})
		}
		cont, ok, err := decodeKeyringCache(keys)
		if err != nil {
			return newError(ErrCCacheUnreadable, "credentials cache "+c.name, err)
		}
		if !ok {
			return newError(ErrNoCredentials, fmt.Sprintf("credentials cache %s is empty (not initialized, or its tickets expired)", c.name), nil)
		}
		out = cont
		return nil
	})
	return out, err
}

func vanished(err error) bool {
	return errors.Is(err, unix.ENOKEY) || errors.Is(err, unix.EKEYEXPIRED) || errors.Is(err, unix.EKEYREVOKED) || errors.Is(err, unix.EACCES)
}

// ensureEmptyCache finds or creates the collection, its primary key and the
// cache keyring, and empties the cache keyring.
func (c *keyringCache) ensureEmptyCache() (int, error) {
	coll, err := c.k.findCollection(c.env, true)
	if err != nil {
		return 0, err
	}
	if _, err := unix.KeyctlSearch(coll, "user", krbPrimaryKey, 0); errors.Is(err, unix.ENOKEY) {
		pid, err := unix.AddKey("user", krbPrimaryKey, encodeKeyringPrimary(c.k.defaultPrimary()), coll)
		if err != nil {
			return 0, keyErr(c.name, "cannot set the primary cache", err)
		}
		c.k.ownKey(c.env, pid)
	}
	id, err := unix.KeyctlSearch(coll, "keyring", c.sub, 0)
	if errors.Is(err, unix.ENOKEY) {
		id, err = unix.AddKey("keyring", c.sub, nil, coll)
		if err == nil {
			c.k.ownKey(c.env, id)
		}
	}
	if err != nil {
		return 0, keyErr(c.name, "cannot create the cache", err)
	}
	if _, err := unix.KeyctlInt(unix.KEYCTL_CLEAR, id, 0, 0, 0); err != nil {
		return 0, keyErr(c.name, "cannot clear the cache", err)
	}
	return id, nil
}

func (c *keyringCache) addKey(ring int, typ, desc string, payload []byte) (int, error) {
	id, err := unix.AddKey(typ, desc, payload, ring)
	if err != nil && typ == "big_key" && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENODEV)) {
		id, err = unix.AddKey("user", desc, payload, ring)
	}
	if err != nil {
		if errors.Is(err, unix.EDQUOT) {
			return 0, newError(nil, fmt.Sprintf("writing credentials cache %s: the key quota of the owner is exhausted", c.name), err)
		}
		return 0, keyErr(c.name, "cannot store "+fmt.Sprintf("%q", desc), err)
	}
	c.k.ownKey(c.env, id)
	return id, nil
}

func (c *keyringCache) initLocked(p Principal, offset *time.Duration) (int, error) {
	id, err := c.ensureEmptyCache()
	if err != nil {
		return 0, err
	}
	if _, err := c.addKey(id, "user", krbPrincKey, p.Marshal()); err != nil {
		return 0, err
	}
	if offset != nil && c.k.anchor != "legacy" {
		if _, err := c.addKey(id, "user", krbOffsetsKey, offsetBytes(*offset)); err != nil {
			return 0, err
		}
	}
	return id, nil
}

func (c *keyringCache) credKeyType() string {
	if c.k.anchor == "legacy" {
		return "user"
	}
	return "big_key"
}

// storeLocked adds one credential with its key timeout.
func (c *keyringCache) storeLocked(ring int, cr *Credential, now time.Time) error {
	id, err := c.addKey(ring, c.credKeyType(), cr.Server.String(), cr.Marshal())
	if err != nil {
		return err
	}
	if !cr.EndTime.IsZero() && cr.EndTime.After(now) {
		_, _ = unix.KeyctlInt(unix.KEYCTL_SET_TIMEOUT, id, int(cr.EndTime.Sub(now)/time.Second)+1, 0, 0)
	}
	return nil
}

// setRingTimeout makes the cache keyring expire with its last ticket, as
// MIT does (1 s when all have expired).
func setRingTimeout(ring int, creds []Credential, now time.Time) {
	var last time.Time
	for i := range creds {
		if !creds[i].IsConfig() && creds[i].EndTime.After(last) {
			last = creds[i].EndTime
		}
	}
	if last.IsZero() {
		return
	}
	secs := 1
	if last.After(now) {
		secs = int(last.Sub(now)/time.Second) + 1
	}
	_, _ = unix.KeyctlInt(unix.KEYCTL_SET_TIMEOUT, ring, secs, 0, 0)
}

func (c *keyringCache) Initialize(p Principal) error {
	return onKeyThread(func() error {
		_, err := c.initLocked(p, nil)
		return err
	})
}

func (c *keyringCache) Store(cr Credential) error {
	cur, err := c.Read()
	if err != nil {
		return err
	}
	return onKeyThread(func() error {
		id, err := c.findCache()
		if err != nil {
			return err
		}
		now := time.Now()
		if err := c.storeLocked(id, &cr, now); err != nil {
			return err
		}
		setRingTimeout(id, append(cur.Credentials, cr), now)
		return nil
	})
}

func (c *keyringCache) Replace(cont *Contents) error {
	return onKeyThread(func() error {
		var off *time.Duration
		if cont.HasOffset {
			off = &cont.KDCOffset
		}
		id, err := c.initLocked(cont.Principal, off)
		if err != nil {
			return err
		}
		now := time.Now()
		for i := range cont.Credentials {
			if err := c.storeLocked(id, &cont.Credentials[i], now); err != nil {
				return err
			}
		}
		setRingTimeout(id, cont.Credentials, now)
		return nil
	})
}

// setKeyringPrimary makes c the primary cache of its collection (what
// kswitch does).
func setKeyringPrimary(c *keyringCache) error {
	return onKeyThread(func() error {
		coll, err := c.k.findCollection(c.env, true)
		if err != nil {
			return err
		}
		id, err := unix.AddKey("user", krbPrimaryKey, encodeKeyringPrimary(c.sub), coll)
		if err != nil {
			return keyErr(c.name, "cannot set the primary cache", err)
		}
		c.k.ownKey(c.env, id)
		return nil
	})
}
