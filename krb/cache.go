package krb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vaultcred/gettoken/internal/tokenfile"
)

// Cache is one credentials cache of any supported type (FILE, DIR,
// KEYRING, KCM). Clients read it; the Kerberos credmon also writes it.
// A Cache is a name, not an open handle: every call looks the cache up
// again, so it may be kept across changes made by other programs.
type Cache interface {
	// Name returns the cache's full name in MIT syntax, for example
	// "FILE:/tmp/krb5cc_1000", "DIR::/run/user/1000/krb5cc/tkt",
	// "KEYRING:persistent:1000:1000" or "KCM:1000".
	Name() string
	// Read returns what the cache holds. A cache that does not exist, or
	// was never initialized, gives an error matching ErrNoCredentials that
	// names the cache.
	Read() (*Contents, error)
	// Initialize empties the cache, creating it if needed, and sets its
	// default principal.
	Initialize(p Principal) error
	// Store adds one credential. KEYRING caches hold one credential per
	// server principal, so there it replaces an older one for the same
	// server.
	Store(c Credential) error
	// Replace sets the cache's whole contents. FILE and DIR caches are
	// replaced atomically (temporary file and rename); KEYRING and KCM
	// caches are initialized and then stored into, as MIT does, so a
	// reader may briefly see an empty cache.
	Replace(c *Contents) error
}

// imager is implemented by every Cache of this package: the cache as a
// version 3 or 4 FILE image, what gokrb5 consumes.
type imager interface {
	image() ([]byte, error)
}

// cacheEnv is what opening a cache by name needs besides the name.
type cacheEnv struct {
	uid, euid int
	// kcmSocket is krb5.conf's kcm_socket (default socket when empty,
	// "-" = disabled).
	kcmSocket string
}

func newCacheEnv(o *resolvedOptions, prof *profile) *cacheEnv {
	env := &cacheEnv{uid: o.uid, euid: o.euid}
	if prof != nil {
		if n, ok := prof.first("libdefaults", "kcm_socket"); ok {
			env.kcmSocket = cleanConfigValue(n.value)
		}
	}
	return env
}

// DefaultName returns the default credentials cache name as MIT computes
// it: KRB5CCNAME if set and not empty, else krb5.conf's
// default_ccache_name with %{...} tokens expanded, else
// FILE:/tmp/krb5cc_<uid>.
func DefaultName(opts Options) (string, error) {
	o := opts.resolve()
	prof, err := loadProfile(configPaths(o))
	if err != nil {
		return "", err
	}
	ref, err := resolveCCacheName(o, prof)
	if err != nil {
		return "", err
	}
	return ref.String(), nil
}

// Open returns the credentials cache called name, or the default cache
// (see DefaultName) when name is empty. A collection name (DIR:<dir>,
// KEYRING:<anchor>:<collection>, KCM:) stands for the collection's primary
// cache, as in MIT. Opening does not create anything.
func Open(name string, opts Options) (Cache, error) {
	caches, err := openNamed(name, opts, false)
	if err != nil {
		return nil, err
	}
	return caches[0], nil
}

// OpenCollection returns the caches of the collection that name (or, when
// empty, the default name) belongs to, the primary cache first. A name of
// one cache (FILE:, DIR::<file>, KEYRING:<anchor>:<collection>:<cache>,
// KCM:<name>) is a collection of just that cache. An empty collection
// gives an ErrNoCredentials error naming it.
func OpenCollection(name string, opts Options) ([]Cache, error) {
	return openNamed(name, opts, true)
}

func openNamed(name string, opts Options, all bool) ([]Cache, error) {
	o := opts.resolve()
	prof, err := loadProfile(configPaths(o))
	if err != nil {
		return nil, err
	}
	var ref ccacheRef
	if name == "" {
		ref, err = resolveCCacheName(o, prof)
	} else {
		ref, err = parseCCacheName(name, "argument")
	}
	if err != nil {
		return nil, err
	}
	env := newCacheEnv(o, prof)
	if !all {
		c, err := ref.primary(env)
		if err != nil {
			return nil, err
		}
		return []Cache{c}, nil
	}
	return ref.members(env)
}

// primary returns the cache a name stands for: itself, or a collection's
// primary cache.
func (r ccacheRef) primary(env *cacheEnv) (Cache, error) {
	switch r.typ {
	case "FILE":
		return &fileCache{path: r.path, name: r.String()}, nil
	case "DIR":
		if r.subsidiary {
			return &fileCache{path: r.path, name: r.String()}, nil
		}
		p := filepath.Join(r.path, primarySubsidiary(r.path))
		return &fileCache{path: p, name: "DIR::" + p}, nil
	case "KEYRING":
		return openKeyring(r.path, env)
	case "KCM":
		return openKCM(r.path, env)
	}
	return nil, &UnsupportedCCacheError{Type: r.typ, Source: r.source}
}

// members lists a collection, the primary cache first.
func (r ccacheRef) members(env *cacheEnv) ([]Cache, error) {
	switch r.typ {
	case "DIR":
		if r.subsidiary {
			break
		}
		return dirMembers(r)
	case "KEYRING":
		return keyringMembers(r.path, env)
	case "KCM":
		return kcmMembers(r.path, env)
	}
	c, err := r.primary(env)
	if err != nil {
		return nil, err
	}
	return []Cache{c}, nil
}

// isCollection reports whether the name stands for a collection of caches
// (as opposed to naming one cache).
func (r ccacheRef) isCollection() bool {
	switch r.typ {
	case "DIR":
		return !r.subsidiary
	case "KEYRING":
		return !keyringNamesSubsidiary(r.path)
	case "KCM":
		return r.path == ""
	}
	return false
}

func dirMembers(r ccacheRef) ([]Cache, error) {
	dir := r.path
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, newError(ErrNoCredentials, fmt.Sprintf("credentials cache directory %s does not exist", dir), nil)
		}
		return nil, newError(ErrCCacheUnreadable, "credentials cache directory "+dir, unwrapPathErr(err))
	}
	if !st.IsDir() {
		return nil, newError(ErrCCacheUnreadable, fmt.Sprintf("credentials cache %s: not a directory", r), nil)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, newError(ErrCCacheUnreadable, "credentials cache directory "+dir, unwrapPathErr(err))
	}
	primary := primarySubsidiary(dir)
	names := []string{primary}
	var others []string
	for _, e := range entries {
		n := e.Name()
		if n != primary && strings.HasPrefix(n, "tkt") && e.Type().IsRegular() {
			others = append(others, n)
		}
	}
	sort.Strings(others)
	names = append(names, others...)
	out := make([]Cache, 0, len(names))
	for _, n := range names {
		p := filepath.Join(dir, n)
		out = append(out, &fileCache{path: p, name: "DIR::" + p})
	}
	return out, nil
}

// fileCache is a FILE cache, or one member of a DIR collection.
type fileCache struct {
	path, name string
}

func (f *fileCache) Name() string { return f.name }

func (f *fileCache) image() ([]byte, error) {
	data, err := readLimited(f.path, maxCCacheSize)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, newError(ErrNoCredentials, fmt.Sprintf("credentials cache %s does not exist", f.name), nil)
		}
		return nil, newError(ErrCCacheUnreadable, "credentials cache "+f.name, unwrapPathErr(err))
	}
	return data, nil
}

func (f *fileCache) Read() (*Contents, error) {
	data, err := f.image()
	if err != nil {
		return nil, err
	}
	c, err := DecodeFile(data)
	if err != nil {
		return nil, newError(ErrCCacheUnreadable, "credentials cache "+f.name, err)
	}
	return c, nil
}

func (f *fileCache) Initialize(p Principal) error {
	return f.Replace(&Contents{Principal: p})
}

func (f *fileCache) Store(c Credential) error {
	cur, err := f.Read()
	if err != nil {
		return err
	}
	cur.Credentials = append(cur.Credentials, c)
	return f.Replace(cur)
}

func (f *fileCache) Replace(c *Contents) error {
	if err := tokenfile.Write(f.path, c.MarshalFile(), tokenfile.Options{}); err != nil {
		return newError(nil, "writing credentials cache "+f.name, err)
	}
	return nil
}

// SetPrimary makes c the primary (default) cache of its collection, as
// kswitch does: the primary key of a KEYRING collection, the default cache
// of a KCM server, the "primary" file of a DIR collection. FILE caches
// have no collection.
func SetPrimary(c Cache) error {
	switch v := c.(type) {
	case *keyringCache:
		return setKeyringPrimary(v)
	case *kcmCache:
		return setKCMDefault(v)
	case *fileCache:
		if !strings.HasPrefix(v.name, "DIR::") {
			return newError(nil, "credentials cache "+v.name+" is not in a collection", nil)
		}
		dir, base := filepath.Dir(v.path), filepath.Base(v.path)
		if err := tokenfile.Write(filepath.Join(dir, "primary"), []byte(base+"\n"), tokenfile.Options{Mode: 0o600}); err != nil {
			return newError(nil, "setting the primary cache of DIR:"+dir, err)
		}
		return nil
	}
	return newError(ErrUnsupportedCCache, "credentials cache "+c.Name()+" has no collection", nil)
}

// NewKCMCache asks the KCM server (krb5.conf's kcm_socket, else the
// default socket) for a new, empty cache of the calling user and returns
// it; Initialize or Replace then fill it.
func NewKCMCache(opts Options) (Cache, error) {
	o := opts.resolve()
	prof, err := loadProfile(configPaths(o))
	if err != nil {
		return nil, err
	}
	return newKCMCache(newCacheEnv(o, prof))
}

// MaxProducerOutput is the most condor_submit reads from a credential
// producer (one 64 KiB read); anything longer would be cut silently.
const MaxProducerOutput = 64 << 10

// ProducerImage returns what HTCondor's credential producer hands to
// condor_submit for the credd to store as <user>.cred: a version 4 FILE
// credentials cache with the default principal, the KDC offset, its
// ticket-granting ticket and the configuration entries, but no service
// tickets (they are not needed to get new ones and only make the image
// larger). The TGT must be current at now.
func ProducerImage(c Cache, now time.Time) ([]byte, error) {
	cont, err := c.Read()
	if err != nil {
		return nil, err
	}
	tgt := cont.TGT()
	if tgt == nil {
		return nil, newError(ErrNoCredentials, fmt.Sprintf("credentials cache %s holds no ticket-granting ticket for %s", c.Name(), cont.Principal), nil)
	}
	if !tgt.EndTime.IsZero() && !now.Before(tgt.EndTime) {
		return nil, newError(ErrTGTExpired, fmt.Sprintf("ticket-granting ticket for %s in %s expired at %s",
			cont.Principal, c.Name(), tgt.EndTime.UTC().Format(time.RFC3339)), nil)
	}
	out := &Contents{Principal: cont.Principal, KDCOffset: cont.KDCOffset, HasOffset: cont.HasOffset}
	for _, cr := range cont.Credentials {
		if cr.IsConfig() {
			out.Credentials = append(out.Credentials, cr)
		}
	}
	out.Credentials = append(out.Credentials, *tgt)
	b := out.MarshalFile()
	if len(b) > MaxProducerOutput {
		return nil, newError(nil, fmt.Sprintf("the ticket-granting ticket in %s takes %d bytes, more than the %d condor_submit reads", c.Name(), len(b), MaxProducerOutput), nil)
	}
	return b, nil
}
