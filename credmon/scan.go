package credmon

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/vaultcred/gettoken/internal/tokenfile"
)

// MaxFileSize is the largest .top (and .use) the daemon reads; larger
// files are skipped with a warning. Real credentials are a few KiB.
const MaxFileSize = 1 << 20

// validName reports whether a file or directory name uses only the
// characters the credd allows in user, service and handle names: ASCII
// letters, digits and - + = _ . (okay_for_oauth_filename).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '+' || c == '=' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// BadFileError is a file the daemon refuses to read: a symlink, not a
// regular file, owned by someone else, empty or too large. The message
// names the path and the reason, never the content.
type BadFileError = tokenfile.RefusedError

// euid is the daemon's effective uid.
var euid = os.Geteuid()

// fileChecks are the rules for every file the daemon reads from a user
// directory (.top, .use, .meta): regular, not a symlink, owned by root or
// by the daemon (anyOwner: any owner, for the .use files it wrote and
// gave away), 1 byte to MaxFileSize.
func fileChecks(anyOwner bool) tokenfile.Checks {
	return tokenfile.Checks{Owners: []int{0, euid}, AnyOwner: anyOwner, MaxSize: MaxFileSize}
}

// checkStat applies fileChecks to a file's lstat.
func checkStat(path string, st *unix.Stat_t, anyOwner bool) error {
	return fileChecks(anyOwner).Check(path, tokenfile.InfoOf(st))
}

func sigOf(st *unix.Stat_t) fileSig {
	return fileSig{
		ino:   st.Ino,
		size:  st.Size,
		mtime: st.Mtim.Nano(),
		ctime: st.Ctim.Nano(),
	}
}

func sigOfInfo(fi tokenfile.Info) fileSig {
	if fi == (tokenfile.Info{}) {
		return fileSig{}
	}
	return fileSig{ino: fi.Ino, size: fi.Size, mtime: fi.Mtime.UnixNano(), ctime: fi.Ctime.UnixNano()}
}

// readAt reads the file name of the open user directory dir with
// fileChecks. A missing file gives an error matching fs.ErrNotExist.
func readAt(dir *tokenfile.Dir, name string, anyOwner bool) ([]byte, fileSig, error) {
	b, fi, err := dir.ReadFile(name, fileChecks(anyOwner))
	return b, sigOfInfo(fi), err
}

// statSig is the signature of name in dir, without following a symlink
// (zero when it cannot be read).
func statSig(dir *tokenfile.Dir, name string) fileSig {
	fi, err := dir.Stat(name)
	if err != nil {
		return fileSig{}
	}
	return sigOfInfo(fi)
}

// pendingTop is a .top met for the first time in a listing; it is
// classified after the listing, when the <PROVIDER>_CLIENT_ID knobs of all
// new provider names have been looked up in one batch.
type pendingTop struct {
	user, tok string
	sig       fileSig
	hasUse    bool
	seed      *seedUse
}

// Messages about files and directories that are skipped.
const (
	msgIgnoringFile   = "Ignoring file"
	msgSymlinkUserDir = "Ignoring a symbolic link in place of a user directory"
	msgBadUserDirName = "Ignoring user directory: its name has characters other than letters, digits and - + = _ ."
)

// report remembers a warning about a path, so that it is logged once per
// change of the file.
type report struct {
	sig fileSig
	gen uint32
}

// reportOnce logs a warning about path unless it was already logged for
// this version of the file. The memory is kept while the path is seen.
func (d *Daemon) reportOnce(path string, sig fileSig, msg string, attrs ...any) {
	if r, ok := d.reported[path]; ok && r.sig == sig {
		d.reported[path] = report{sig, d.gen}
		return
	}
	d.reported[path] = report{sig, d.gen}
	d.log.Warn(msg, attrs...)
}

// rootSig is the signature of the entry name of the credential
// directory, without following a symlink (zero when it cannot be read).
func (d *Daemon) rootSig(name string) fileSig { return statSig(d.rootDir, name) }

// userDir is the daemon's memory of one user directory.
type userDir struct {
	sig     fileSig // of the directory when it was last listed
	racy    bool    // it changed too recently to trust sig: list it again
	watched bool    // an inotify watch is on it
	seen    uint32  // generation of the last root listing that found it
	listed  uint32  // generation of the last listing of its content
}

// racyWindow: a directory modified less than this before it was listed
// may change again within the same tick of the file system clock, so its
// signature is not trusted for the next pass.
const racyWindow = time.Second

// parallelListing: from this many user directories to list, the listing
// is spread over several goroutines (start-up, deep passes).
const parallelListing = 64

// fullPass lists the credential directory, updates the state and queues
// what is due. A deep pass lists every user directory; a quick pass (the
// 60 s timer, SIGHUP) lists only the user directories whose own
// signature (inode, mtime, ctime) changed since they were last listed: a
// .top or .use created, renamed (the credd always stores through a
// rename) or removed changes it, so an idle quick pass costs one fstatat
// per user instead of a listing and one fstatat per credential. Content
// changed in place (no rename) is caught by inotify, and by the deep
// passes (start-up, inotify overflow, every deepInterval).
func (d *Daemon) fullPass(ctx context.Context, deep bool) {
	start := time.Now()
	d.gen++
	d.passSeq++
	ok := d.listRoot(deep)
	d.classifyPending(ctx)
	if ok {
		d.dropUnseen(nil)
		for name, u := range d.users {
			if u.seen != d.gen {
				delete(d.users, name)
			}
		}
		if deep {
			for p, r := range d.reported {
				if r.gen != d.gen {
					delete(d.reported, p)
				}
			}
			d.lastDeep = d.now()
		}
	}
	d.lastListing = time.Since(start)
	d.completePending = true
	d.nextFull = d.now().Add(d.interval).UnixNano()
	kind := "quick"
	if deep {
		kind = "deep"
	}
	d.log.Debug("Listed the credential directory", "credentials", len(d.creds), "users", len(d.users), "took", d.lastListing.Round(time.Microsecond), "pass", kind)
}

// partialPass lists only the given user directories (inotify events).
func (d *Daemon) partialPass(ctx context.Context, users []string) {
	d.gen++
	only := make(map[string]bool, len(users))
	var reqs []listReq
	for _, name := range users {
		only[name] = true
		path := d.root + "/" + name
		if !validName(name) {
			d.reportOnce(path, d.rootSig(name), msgBadUserDirName, "dir", path)
			continue
		}
		fi, err := d.rootDir.Stat(name)
		if err != nil {
			delete(d.users, name) // gone: its credentials are dropped below
			continue
		}
		if !fi.Mode.IsDir() {
			delete(d.users, name)
			if fi.Mode&fs.ModeSymlink != 0 {
				d.reportOnce(path, sigOfInfo(fi), msgSymlinkUserDir, "path", path)
			}
			continue
		}
		reqs = append(reqs, listReq{name: name, sig: sigOfInfo(fi)})
	}
	d.listUsers(reqs)
	d.classifyPending(ctx)
	d.dropUnseen(only)
}

// listRoot lists the user directories of the credential directory and
// then those that need it (see fullPass). Entries that are not
// directories (pid, CREDMON_COMPLETE, <user>.mark, OAuth web-flow files)
// are ignored silently; symlinks and directories with bad names are
// reported once. It returns false when the root cannot be listed (then
// nothing is forgotten).
func (d *Daemon) listRoot(deep bool) bool {
	// A descriptor of its own for getdents (which moves its offset).
	var fd int
	err := d.rootDir.Fd(func(rfd int) (err error) {
		fd, err = unix.Openat(rfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		d.log.Error("Cannot list the credential directory", "dir", d.root, "error", err)
		return false
	}
	defer unix.Close(fd)
	if d.direntBuf == nil {
		d.direntBuf = make([]byte, direntBufSize)
	}
	type entry struct {
		name string
		typ  uint8
	}
	var entries []entry
	if err := readDirNames(fd, d.direntBuf, func(name []byte, typ uint8) {
		if typ == unix.DT_DIR || typ == unix.DT_LNK || typ == unix.DT_UNKNOWN {
			entries = append(entries, entry{string(name), typ})
		}
	}); err != nil {
		d.log.Error("Cannot list the credential directory", "dir", d.root, "error", err)
		return false
	}
	var reqs []listReq
	for _, e := range entries {
		name := e.name
		if e.typ == unix.DT_LNK {
			path := d.root + "/" + name
			d.reportOnce(path, d.rootSig(name), msgSymlinkUserDir, "path", path)
			continue
		}
		if !validName(name) {
			path := d.root + "/" + name
			d.reportOnce(path, d.rootSig(name), msgBadUserDirName, "dir", path)
			continue
		}
		u := d.users[name]
		if u != nil {
			u.seen = d.gen
		}
		if deep && e.typ == unix.DT_DIR {
			// listDir takes the signature from the open directory.
			reqs = append(reqs, listReq{name: name})
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue // gone meanwhile
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
		case unix.S_IFLNK:
			path := d.root + "/" + name
			d.reportOnce(path, sigOf(&st), msgSymlinkUserDir, "path", path)
			continue
		default:
			continue
		}
		sig := sigOf(&st)
		if u != nil && !deep && !u.racy && u.sig == sig {
			continue
		}
		reqs = append(reqs, listReq{name: name, sig: sig})
	}
	d.listUsers(reqs)
	return true
}

// listReq asks for the listing of one user directory, whose signature
// was sig just before (zero: the one listDir takes).
type listReq struct {
	name string
	sig  fileSig
}

// topEntry is one <name>.top found by listDir.
type topEntry struct {
	file   string  // the file name
	sig    fileSig // its lstat
	bad    string  // why it is skipped ("" when it is fine)
	hasUse bool
	seed   *seedUse // the .use, read for a user directory met for the first time
}

// seedUse is a .use read while listing, to seed a new credential.
type seedUse struct {
	data []byte
	sig  fileSig
	err  error
}

// dirListing is the result of listDir.
type dirListing struct {
	sig      fileSig // of the directory, taken before its listing
	err      error   // the directory could not be listed
	watched  bool    // a watch was asked for and added
	watchErr error
	tops     []topEntry
	swept    []string // stale temporary files removed
	sweepErr error    // a stale temporary file could not be removed
}

// listUsers lists the requested user directories, in parallel when they
// are many, and applies the listings in order (the state is only ever
// touched by the daemon's goroutine).
func (d *Daemon) listUsers(reqs []listReq) {
	// In chunks, to bound the memory the listings take at start-up.
	const chunk = 1024
	for len(reqs) > chunk {
		d.listUsers(reqs[:chunk])
		reqs = reqs[chunk:]
	}
	if len(reqs) == 0 {
		return
	}
	var fw *fsnotify.Watcher
	if d.w != nil && d.w.ready && !d.w.broken {
		fw = d.w.fw
	}
	watch := make([]bool, len(reqs))
	seed := make([]bool, len(reqs))
	for i, r := range reqs {
		u := d.users[r.name]
		watch[i] = fw != nil && (u == nil || !u.watched)
		seed[i] = u == nil
	}
	now := time.Now()
	out := make([]dirListing, len(reqs))
	list := func(i int, buf []byte) {
		var w *fsnotify.Watcher
		if watch[i] {
			w = fw
		}
		out[i] = listDir(d.rootDir, reqs[i].name, seed[i], w, buf)
	}
	if n := min(runtime.GOMAXPROCS(0), 8); len(reqs) >= parallelListing && n > 1 {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, direntBufSize)
				for {
					i := int(next.Add(1) - 1)
					if i >= len(reqs) {
						return
					}
					list(i, buf)
				}
			}()
		}
		wg.Wait()
	} else {
		if d.direntBuf == nil {
			d.direntBuf = make([]byte, direntBufSize)
		}
		for i := range reqs {
			list(i, d.direntBuf)
		}
	}
	for i := range reqs {
		d.applyListing(reqs[i], &out[i], now)
		out[i] = dirListing{}
	}
}

// listDir lists one user directory: every <name>.top with its lstat (one
// fstatat each; the .use files are known from the listing itself). With
// seed, the .use of each .top is read too (a new user directory: all its
// credentials are new). With w, the directory is watched first, so that
// nothing created after the listing is missed. listDir touches no daemon
// state and may run on any goroutine.
func listDir(root *tokenfile.Dir, user string, seed bool, w *fsnotify.Watcher, buf []byte) dirListing {
	var l dirListing
	dir := root.Join(user)
	if w != nil {
		l.watchErr = w.Add(dir)
		l.watched = l.watchErr == nil
	}
	ud, err := root.OpenDir(user)
	if err != nil {
		l.err = err
		return l
	}
	defer ud.Close()
	l.err = ud.Fd(func(fd int) error { return listDirFd(&l, ud, fd, dir, seed, buf) })
	return l
}

// staleTemp is the age from which a temporary file of the daemon's
// writes, left in a user directory by a crash, is removed.
const staleTemp = time.Minute

// listDirFd is listDir's work on the open directory fd.
func listDirFd(l *dirListing, ud *tokenfile.Dir, fd int, dir string, seed bool, buf []byte) error {
	var names []string
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	l.sig = sigOf(&st)
	var temps []string
	if err := readDirNames(fd, buf, func(name []byte, _ uint8) {
		if bytes.HasSuffix(name, dotTop) || bytes.HasSuffix(name, dotUse) {
			names = append(names, string(name))
		} else if len(name) > 0 && name[0] == '.' && tokenfile.IsTemp(string(name)) {
			temps = append(temps, string(name))
		}
	}); err != nil {
		return err
	}
	// The daemon writes only on its own goroutine, which is waiting for
	// this listing: a temporary file here is a crash's leftover.
	for _, n := range temps {
		if removed, err := ud.RemoveTemp(n, staleTemp); removed {
			l.swept = append(l.swept, n)
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			l.sweepErr = err
		}
	}
	var uses []string
	for _, n := range names {
		if len(n) > 4 && strings.HasSuffix(n, ".use") {
			uses = append(uses, n[:len(n)-4])
		}
	}
	var useSet map[string]bool
	if len(uses) > 16 {
		useSet = make(map[string]bool, len(uses))
		for _, u := range uses {
			useSet[u] = true
		}
	}
	hasUse := func(tok string) bool {
		if useSet != nil {
			return useSet[tok]
		}
		return slices.Contains(uses, tok)
	}
	for _, n := range names {
		if !strings.HasSuffix(n, ".top") {
			continue
		}
		tok := n[:len(n)-4]
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if !errors.Is(err, unix.ENOENT) {
				l.tops = append(l.tops, topEntry{file: n, bad: err.Error()})
			}
			continue
		}
		t := topEntry{file: n, sig: sigOf(&st)}
		switch {
		case tok == "" || !validName(tok):
			t.bad = "its name has characters other than letters, digits and - + = _ ."
		default:
			if err := checkStat(dir+"/"+n, &st, false); err != nil {
				t.bad = err.(*BadFileError).Why
			}
		}
		if t.bad == "" {
			t.hasUse = hasUse(tok)
			if seed && t.hasUse {
				t.seed = readUseAt(fd, tok+".use", t.sig)
			}
		}
		l.tops = append(l.tops, t)
	}
	return nil
}

var (
	dotTop = []byte(".top")
	dotUse = []byte(".use")
)

// direntBufSize is the getdents buffer of a listing.
const direntBufSize = 32 << 10

// readDirNames calls fn with the name and type (unix.DT_*) of each entry
// of the open directory fd (not "." and ".."), using buf for getdents64:
// the listing costs the getdents calls only, with no allocation per entry
// (fn gets a slice of buf, valid during the call).
func readDirNames(fd int, buf []byte, fn func(name []byte, typ uint8)) error {
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		b := buf[:n]
		// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
		for len(b) >= 19 {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return errors.New("malformed directory entry")
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if !(len(name) == 1 && name[0] == '.' || len(name) == 2 && name[0] == '.' && name[1] == '.') {
				fn(name, b[18])
			}
			b = b[reclen:]
		}
	}
}

// readUseAt looks at a .use relative to its directory for seeding: its
// signature only. Its content is read later, by seed, for the providers
// that need it at once; Vault credentials are seeded from the signature
// (see seed), which keeps the start-up listing to two fstatat per
// credential.
func readUseAt(dirfd int, name string, top fileSig) *seedUse {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &seedUse{err: err}
	}
	s := &seedUse{sig: sigOf(&st)}
	if top.ctime <= s.sig.ctime {
		// Not due because of the .top: the .use must be a usable file.
		if err := checkStat(name, &st, true); err != nil {
			s.err = err
		}
	}
	return s
}

var errGrew = errors.New("file changed while being read")

// applyListing records the listing of a user directory (see listDir).
func (d *Daemon) applyListing(r listReq, l *dirListing, now time.Time) {
	dir := d.root + "/" + r.name
	if l.watchErr != nil && !errors.Is(l.watchErr, fs.ErrNotExist) {
		d.w.failed(dir, l.watchErr)
	}
	u := d.users[r.name]
	if l.err != nil {
		switch {
		case errors.Is(l.err, unix.ENOENT), errors.Is(l.err, unix.ENOTDIR):
			// Gone, or replaced by a file: its credentials are dropped.
			delete(d.users, r.name)
		case errors.Is(l.err, unix.ELOOP):
			d.reportOnce(dir, d.rootSig(r.name), msgSymlinkUserDir, "path", dir)
			delete(d.users, r.name)
		default:
			// Keep its credentials, and list it again next time.
			d.reportOnce(dir, d.rootSig(r.name), "Cannot list a user directory", "dir", dir, "error", l.err)
			if u != nil {
				u.seen, u.sig, u.racy = d.gen, fileSig{}, true
			}
		}
		return
	}
	for _, n := range l.swept {
		d.log.Info("Removed a temporary file left by an interrupted write", "file", dir+"/"+n)
	}
	if l.sweepErr != nil {
		d.reportOnce(dir, l.sig, "Cannot remove a stale temporary file", "dir", dir, "error", l.sweepErr)
	}
	if u == nil {
		u = &userDir{}
		d.users[r.name] = u
	}
	sig := r.sig
	switch {
	case sig == (fileSig{}):
		sig = l.sig
	case sig != l.sig:
		// Changed between the two looks: list it again next time.
		sig = fileSig{}
	}
	u.seen, u.listed, u.sig = d.gen, d.gen, sig
	u.watched = u.watched || l.watched
	u.racy = now.UnixNano()-max(sig.mtime, sig.ctime) < int64(d.racyWindow)
	for i := range l.tops {
		t := &l.tops[i]
		if t.bad != "" {
			path := dir + "/" + t.file
			d.reportOnce(path, t.sig, msgIgnoringFile, "file", path, "reason", t.bad)
			continue
		}
		d.observe(r.name, t.file[:len(t.file)-4], t.sig, t.hasUse, t.seed)
	}
}

// observe updates the state of one .top found by a listing.
func (d *Daemon) observe(user, tok string, sig fileSig, hasUse bool, seed *seedUse) {
	d.keybuf = append(append(append(d.keybuf[:0], user...), '/'), tok...)
	c := d.creds[string(d.keybuf)]
	if c == nil {
		d.pending = append(d.pending, pendingTop{user, tok, sig, hasUse, seed})
		return
	}
	c.seen = d.gen
	if c.sig != sig {
		c.sig = sig
		d.topChanged(c)
		return
	}
	if !hasUse && c.has(fUseSeen) {
		// Someone removed the .use: write it again now (unless the
		// credential is failing: then its back-off decides).
		c.clear(fUseSeen)
		if c.class != ClassNone && c.failures == 0 && !c.has(fInflight) && !c.has(fInvalid) {
			d.queue.schedule(c, 0)
		}
	}
}

// topChanged handles a new version of a known .top: it is due at once,
// with its back-off and invalid mark forgotten.
func (d *Daemon) topChanged(c *cred) {
	c.clear(fInvalid)
	c.failures = 0
	if c.class == ClassNone {
		d.warnUnserved(c, d.decide(c.name()))
		return
	}
	if c.has(fInflight) {
		c.set(fChangedInFlight)
		return
	}
	d.queue.schedule(c, 0)
}

// decide classifies a token name, with the daemon's providers: a class
// without a provider serves nothing.
func (d *Daemon) decide(tok string) Decision {
	dec := d.cls.Classify(tok, func(p string) bool {
		_, defined, _ := d.knobs.Cached(ClientIDKnob(p))
		return defined
	})
	if dec.Class != ClassNone && d.prov[dec.Class] == nil {
		dec.Why = fmt.Sprintf("it is a %s credential and this daemon has no %s provider", dec.Class, dec.Class)
		dec.Class = ClassNone
	}
	return dec
}

func (d *Daemon) warnUnserved(c *cred, dec Decision) {
	d.log.Warn("Ignoring token", "user", c.user(), "token", c.name(), "reason", dec.Why)
}

// classifyPending classifies the .top files met for the first time. The
// <PROVIDER>_CLIENT_ID knobs of new provider names are looked up first,
// in one batch, on a goroutine of their own (condor_config_val can take
// seconds, and the daemon's goroutine never waits for it): the .top files
// stay pending until knobsLoaded, and the pass is not complete before.
func (d *Daemon) classifyPending(ctx context.Context) {
	if len(d.pending) == 0 || d.knobsLoading {
		return
	}
	var need []string
	for _, p := range d.pending {
		if prov, ok := d.cls.ProviderName(p.tok); ok {
			if _, _, known := d.knobs.Cached(ClientIDKnob(prov)); !known {
				need = append(need, ClientIDKnob(prov))
			}
		}
	}
	if len(need) > 0 {
		d.knobsLoading = true
		go func() {
			lctx, cancel := context.WithTimeout(ctx, knobTimeout)
			defer cancel()
			d.knobsDone <- d.knobs.Load(lctx, need...)
		}()
		return
	}
	defer func() {
		clear(d.pending)
		d.pending = d.pending[:0]
	}()
	for _, p := range d.pending {
		key := p.user + "/" + p.tok
		if c := d.creds[key]; c != nil {
			// Listed twice while its knobs were looked up.
			if c.sig != p.sig {
				c.sig = p.sig
				d.topChanged(c)
			}
			continue
		}
		c := &cred{key: key, slash: int32(len(p.user)), idx: -1, seen: d.gen, sig: p.sig}
		dec := d.decide(p.tok)
		c.class = dec.Class
		d.creds[key] = c
		if c.class == ClassNone {
			d.warnUnserved(c, dec)
			continue
		}
		d.seed(c, p.hasUse, p.seed)
	}
}

// knobsLoaded receives the outcome of classifyPending's lookup.
func (d *Daemon) knobsLoaded(ctx context.Context, err error) {
	d.knobsLoading = false
	if err != nil {
		// Leave them unknown: the next pass tries again.
		d.log.Error("Cannot classify new credentials", "count", len(d.pending), "error", err)
		for _, p := range d.pending {
			if u := d.users[p.user]; u != nil {
				u.sig, u.racy = fileSig{}, true
			}
		}
		clear(d.pending)
		d.pending = d.pending[:0]
		return
	}
	d.classifyPending(ctx)
}

// seed sets the first due time of a credential met for the first time:
// now if its .use is missing, unreadable or older (ctime) than its .top;
// otherwise from the provider's NextRefresh for the .use found (read once,
// by the listing when given).
func (d *Daemon) seed(c *cred, hasUse bool, s *seedUse) {
	if !hasUse {
		d.queue.schedule(c, 0)
		return
	}
	cr := d.credOf(c)
	if s != nil && s.err == nil && s.data == nil && c.class == ClassVault && c.sig.ctime <= s.sig.ctime && s.sig.size > 0 {
		// Provisional: the provider's rule for a token it cannot read
		// (the refresh interval after the write), which for Vault is never
		// later than the rule from the token's expiry. refineSeeds reads
		// the .use after the first complete pass and moves the due time
		// later where the expiry allows; start-up does not wait for
		// reading every .use.
		c.set(fUseSeen | fProvisional)
		written := time.Unix(0, s.sig.ctime)
		next := d.prov[c.class].NextRefresh(cr, nil, written)
		d.queue.schedule(c, dueAfterWrite(written, next, d.jitter))
		return
	}
	ud, err := d.rootDir.OpenDir(cr.User)
	if err != nil {
		d.queue.schedule(c, 0) // the worker reports it
		return
	}
	defer ud.Close()
	cr.Dir = ud
	if s == nil || errors.Is(s.err, errGrew) || (s.err == nil && s.data == nil && c.sig.ctime <= s.sig.ctime) {
		use, sig, err := readAt(ud, cr.Name+".use", true)
		s = &seedUse{data: use, sig: sig, err: err}
	}
	if s.err != nil {
		d.queue.schedule(c, 0)
		return
	}
	c.set(fUseSeen)
	if c.sig.ctime > s.sig.ctime {
		d.queue.schedule(c, 0)
		return
	}
	written := time.Unix(0, s.sig.ctime)
	next := d.prov[c.class].NextRefresh(cr, s.data, written)
	d.queue.schedule(c, dueAfterWrite(written, next, d.jitter))
}

// dropUnseen forgets the credentials whose .top is gone: those of user
// directories that no longer exist and those a listing of their user
// directory in this pass did not find; with only set, just for those
// users.
func (d *Daemon) dropUnseen(only map[string]bool) {
	for k, c := range d.creds {
		if c.seen == d.gen {
			continue
		}
		name := c.user()
		if only != nil && !only[name] {
			continue
		}
		if u := d.users[name]; u != nil && (u.seen == d.gen || only != nil) && u.listed != d.gen {
			continue // its directory was not listed this time
		}
		d.queue.unqueue(c)
		delete(d.creds, k)
	}
}

// credOf is the Cred of a state entry.
func (d *Daemon) credOf(c *cred) Cred {
	return Cred{Root: d.root, User: c.user(), Name: c.name()}
}

// refineSeeds replaces the provisional due times of start-up (see seed)
// with those from the tokens' real expiry: each such .use is read once,
// after the first complete pass.
func (d *Daemon) refineSeeds() {
	for _, c := range d.creds {
		if !c.has(fProvisional) {
			continue
		}
		c.clear(fProvisional)
		if c.has(fInflight) || c.idx < 0 || c.class != ClassVault {
			continue // being refreshed, or not waiting: nothing to refine
		}
		cr := d.credOf(c)
		ud, err := d.rootDir.OpenDir(cr.User)
		if err != nil {
			continue // the provisional time stands
		}
		use, sig, err := readAt(ud, cr.Name+".use", true)
		ud.Close()
		if err != nil || c.sig.ctime > sig.ctime {
			continue // the provisional time stands
		}
		written := time.Unix(0, sig.ctime)
		next := d.prov[c.class].NextRefresh(cr, use, written)
		d.queue.schedule(c, dueAfterWrite(written, next, d.jitter))
	}
}
