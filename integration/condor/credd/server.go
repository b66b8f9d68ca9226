package credd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vaultcred/gettoken/integration/condor/config"
)

// PidCacheTime is how long the credd trusts the credmon pid it read from
// <creddir>/pid before reading the file again (HTCondor: 20 s).
const PidCacheTime = 20 * time.Second

// connTimeout bounds one client connection.
const connTimeout = 30 * time.Second

// Settings are the knobs the credd reads at start-up (and on SIGHUP).
type Settings struct {
	// CredDir is SEC_CREDENTIAL_DIRECTORY_OAUTH.
	CredDir string
	// TrustedVaultHosts is TRUSTED_VAULT_HOSTS (empty: trust all).
	TrustedVaultHosts []string
	// SuperUsers is CRED_SUPER_USERS (entries may hold one '*').
	SuperUsers []string
	// UIDDomain is UID_DOMAIN (default: the host name), the domain of
	// authenticated users.
	UIDDomain string
	// SweepInterval is SEC_CREDENTIAL_SWEEP_INTERVAL (default 300 s); 0
	// disables the sweep timer.
	SweepInterval time.Duration
	// SweepDelay is SEC_CREDENTIAL_SWEEP_DELAY (default 3600 s).
	SweepDelay time.Duration
	// Knob returns any other knob's value ("" when undefined), for
	// CREDD_CHECK_CREDS (<SVC>_CLIENT_ID, CREDMON_WEB_PREFIX, ...); nil:
	// none is defined.
	Knob func(name string) string
}

// SettingsFrom reads the credd's knobs from c.
func SettingsFrom(c *config.Config) (Settings, error) {
	s := Settings{
		CredDir:           c.Value("SEC_CREDENTIAL_DIRECTORY_OAUTH"),
		TrustedVaultHosts: config.SplitList(c.Value("TRUSTED_VAULT_HOSTS")),
		SuperUsers:        config.SplitList(c.Value("CRED_SUPER_USERS")),
		UIDDomain:         c.Value("UID_DOMAIN"),
		Knob:              c.Value,
	}
	if s.UIDDomain == "" {
		h, err := os.Hostname()
		if err != nil {
			return s, fmt.Errorf("credd: UID_DOMAIN unset and no host name: %w", err)
		}
		s.UIDDomain = h
	}
	var err error
	if s.SweepInterval, err = seconds(c, "SEC_CREDENTIAL_SWEEP_INTERVAL", 300); err != nil {
		return s, err
	}
	if s.SweepDelay, err = seconds(c, "SEC_CREDENTIAL_SWEEP_DELAY", 3600); err != nil {
		return s, err
	}
	return s, nil
}

func seconds(c *config.Config, knob string, def int) (time.Duration, error) {
	v, ok := c.Get(knob)
	if !ok {
		return time.Duration(def) * time.Second, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("credd: %s = %q is not a number of seconds", knob, v)
	}
	return time.Duration(n) * time.Second, nil
}

// Peer is the authenticated client of a connection.
type Peer struct {
	UID, GID, PID int
	// Name is the local user name of UID, or "u<uid>" when the uid has no
	// passwd entry.
	Name string
}

// UserName maps a uid to the name the credd authenticates it as.
func UserName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		return u.Username
	}
	return "u" + strconv.Itoa(uid)
}

// PeerOf authenticates the other end of a Unix socket connection with
// SO_PEERCRED.
func PeerOf(conn *net.UnixConn) (Peer, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return Peer{}, fmt.Errorf("credd: peer credentials: %w", err)
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return Peer{}, fmt.Errorf("credd: peer credentials: %w", err)
	}
	if credErr != nil {
		return Peer{}, fmt.Errorf("credd: SO_PEERCRED: %w", credErr)
	}
	return Peer{UID: int(cred.Uid), GID: int(cred.Gid), PID: int(cred.Pid), Name: UserName(int(cred.Uid))}, nil
}

// Server carries out STORE_CRED requests on the credential directory. Its
// methods are safe for concurrent use; requests are handled one at a time,
// as in the single-threaded credd.
type Server struct {
	mu  sync.Mutex
	set Settings
	log *log.Logger
	// credmon pid cache
	credmonPID  int
	credmonRead time.Time
	// now is the clock (tests may replace it).
	now func() time.Time
}

// New returns a server with settings s that logs to logw.
func New(s Settings, logw io.Writer) *Server {
	return &Server{set: s, log: log.New(logw, "", log.LstdFlags|log.Lmicroseconds), now: time.Now}
}

// Reconfigure replaces the settings (the credd re-reads its
// configuration on SIGHUP, like condor_reconfig).
func (s *Server) Reconfigure(set Settings) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set = set
	s.log.Printf("reconfigured: SEC_CREDENTIAL_DIRECTORY_OAUTH=%s TRUSTED_VAULT_HOSTS=%q CRED_SUPER_USERS=%q",
		set.CredDir, set.TrustedVaultHosts, set.SuperUsers)
}

// Logf writes a line to the server's log.
func (s *Server) Logf(format string, args ...any) { s.log.Printf(format, args...) }

// Serve accepts connections on ln until ctx ends, handling each in its
// own goroutine, and runs the sweep timer. It closes ln and waits for the
// connections in progress before returning.
func (s *Server) Serve(ctx context.Context, ln *net.UnixListener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.sweepLoop(ctx)
	}()
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("credd: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(conn)
		}()
	}
}

func (s *Server) sweepLoop(ctx context.Context) {
	s.mu.Lock()
	every := s.set.SweepInterval
	s.mu.Unlock()
	if every <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

func (s *Server) serveConn(conn *net.UnixConn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(connTimeout))
	peer, err := PeerOf(conn)
	if err != nil {
		s.log.Printf("WARNING - authentication failed for credential store attempt: %v", err)
		return
	}
	var req Request
	dec := json.NewDecoder(io.LimitReader(conn, maxRequest))
	var rep Reply
	if err := dec.Decode(&req); err != nil {
		s.log.Printf("store_cred: did not receive a valid command from %s (uid %d pid %d): %v", peer.Name, peer.UID, peer.PID, errClass(err))
		rep = Reply{Result: FailureProtocolMismatch}
	} else {
		rep = s.Handle(req, peer)
	}
	if err := json.NewEncoder(conn).Encode(rep); err != nil {
		s.log.Printf("store_cred: failed to send result to %s: %v", peer.Name, err)
	}
}

// errClass describes a decoding error without quoting the input.
func errClass(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("wrong type for field %q", te.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated request"
	}
	return "unreadable request"
}

// Handle carries out one STORE_CRED request from peer and logs it (never
// the credential itself).
func (s *Server) Handle(req Request, peer Peer) Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Mode == ModeCheck {
		return s.checkCreds(req, peer)
	}
	rep := s.handle(req, peer)
	s.log.Printf("STORE_CRED %s-oauth from %s (uid %d pid %d): user=%q service=%q handle=%q scopes=%q audience=%q plain=%t bytes=%d name=%q -> %s",
		req.Mode, peer.Name, peer.UID, peer.PID, req.User, req.Service, req.Handle, req.Scopes, req.Audience,
		req.Plain, len(req.Credential), req.DaemonName, rep.Result)
	return rep
}

// handle is HTCondor's store_cred_handler followed by OAUTH_STORE_CRED.
func (s *Server) handle(req Request, peer Peer) Reply {
	rep := Reply{Result: Failure}
	switch req.Mode {
	case ModeAdd, ModeQuery, ModeDelete:
	default:
		rep.Result = FailureBadArgs
		return rep
	}
	rep.Info = []Attr{{Name: "fully_qualified_user", Value: peer.Name + "@" + s.set.UIDDomain, Quoted: true}}
	full := req.User
	if full == "" {
		full = peer.Name + "@" + s.set.UIDDomain
	}
	at := strings.IndexByte(full, '@')
	if at <= 0 {
		s.log.Printf("store_cred_handler: user %q not in user@domain format", full)
		rep.Result = FailureBadArgs
		return rep
	}
	username := full[:at]
	if !s.allowed(peer.Name, username) {
		s.log.Printf("WARNING: store_cred() for user %s attempted by user %s, rejecting", full, peer.Name)
		rep.Result = FailureNotAllowed
		return rep
	}
	if req.Mode != ModeQuery && username == "condor_pool" {
		s.log.Printf("ERROR: attempt to set pool password via STORE_CRED")
		rep.Result = FailureNotAllowed
		return rep
	}
	res, ccfile, info := s.oauthStoreCred(username, req)
	rep.Info = append(rep.Info, info...)
	rep.Result = res
	if failed, _ := res.Failed(req.Mode); failed || ccfile == "" {
		return rep
	}
	// Wake-up logic of store_cred_handler: the .use to wait for exists ->
	// success with its mtime; otherwise kick the credmon and answer
	// SUCCESS_PENDING (condor_store_cred never asks to wait for OAuth).
	if st, err := os.Stat(ccfile); err == nil {
		rep.Result = Result(st.ModTime().Unix())
		s.log.Printf("Completion file %s exists. mtime=%d", ccfile, st.ModTime().Unix())
		return rep
	}
	s.kickCredmon()
	if rep.Result == Success {
		rep.Result = SuccessPending
	}
	return rep
}

// allowed reports whether sockOwner may act on target's credentials:
// itself, root, or a CRED_SUPER_USERS entry.
func (s *Server) allowed(sockOwner, target string) bool {
	if sockOwner == target || sockOwner == "root" {
		return true
	}
	for _, pat := range s.set.SuperUsers {
		if wildcardMatch(pat, sockOwner) {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against pat, which may contain one '*'.
func wildcardMatch(pat, s string) bool {
	pre, suf, star := strings.Cut(pat, "*")
	if !star {
		return pat == s
	}
	return len(s) >= len(pre)+len(suf) && strings.HasPrefix(s, pre) && strings.HasSuffix(s, suf)
}

// okName is HTCondor's okay_for_oauth_filename: ASCII letters, digits and
// - + = _ . only (the empty string passes).
func okName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '+' || c == '=' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// oauthStoreCred is OAUTH_STORE_CRED. It returns the result, the .use file
// whose existence decides between success and SUCCESS_PENDING ("" when
// the answer is final), and attributes for the reply.
func (s *Server) oauthStoreCred(username string, req Request) (Result, string, []Attr) {
	if !okName(username) || username == "" {
		s.log.Printf("OAUTH store cred ERROR - Illegal char in username")
		return FailureBadArgs, "", nil
	}
	credDir := s.set.CredDir
	if credDir == "" {
		s.log.Printf("ERROR: got STORE_CRED_USER_OAUTH but SEC_CREDENTIAL_DIRECTORY_OAUTH not defined!")
		return FailureConfigError, "", nil
	}
	// Any STORE_CRED for the user shows interest: clear the sweep mark.
	mark := filepath.Join(credDir, username+".mark")
	if err := os.Remove(mark); err == nil {
		s.log.Printf("Removed mark file %s", mark)
	}
	if !okName(req.Service) {
		s.log.Printf("OAUTH store cred ERROR - Illegal char in Service name.")
		return FailureBadArgs, "", nil
	}
	if !okName(req.Handle) {
		s.log.Printf("OAUTH store cred ERROR - Illegal char in Handle name.")
		return FailureBadArgs, "", nil
	}
	service := req.Service
	if service != "" && req.Handle != "" {
		service += "_" + req.Handle
	}
	userDir := filepath.Join(credDir, username)
	switch req.Mode {
	case ModeQuery:
		if service == "" {
			return s.queryAll(userDir)
		}
		return s.query(userDir, service, req)
	case ModeDelete:
		if service == "" {
			if _, err := os.Lstat(userDir); err == nil {
				s.log.Printf("Deleting OAuth dir for user %s", username)
				if err := os.RemoveAll(userDir); err != nil {
					s.log.Printf("Could not remove %s: %v", userDir, err)
					return FailureNotAllowed, "", nil
				}
			}
			return Success, "", nil
		}
		s.log.Printf("Deleting OAuth files for service %s for user %s", service, username)
		_ = os.Remove(filepath.Join(userDir, service+".top"))
		_ = os.Remove(filepath.Join(userDir, service+".use"))
		return Success, "", nil
	}
	// add
	if service == "" {
		s.log.Printf("Name of service credential to add not given")
		return FailureBadArgs, "", nil
	}
	if len(req.Credential) == 0 || len(req.Credential) > MaxCredential {
		s.log.Printf("OAUTH store cred ERROR - credential of %d bytes (must be 1..%d)", len(req.Credential), MaxCredential)
		return FailureBadArgs, "", nil
	}
	if !s.trusted(req.Credential) {
		s.log.Printf("OAUTH store cred ERROR - vault_url of %s is not in TRUSTED_VAULT_HOSTS", service)
		return FailureUntrustedHost, "", nil
	}
	data := req.Credential
	target := filepath.Join(userDir, service+".top")
	if req.Plain {
		target = filepath.Join(userDir, service+".use")
	} else if req.Scopes != "" || req.Audience != "" {
		var err error
		if data, err = addScopes(data, req.Scopes, req.Audience); err != nil {
			s.log.Printf("Error, could not parse cred for %s as JSON", target)
			return FailureJSONParse, "", nil
		}
	}
	// The user directory: 0700, with the credd's own uid (root here).
	if err := os.Mkdir(userDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		s.log.Printf("Error attempting to create OAuth cred subdir %s: %v", userDir, err)
		var errno syscall.Errno
		if errors.As(err, &errno) && (errno == syscall.EACCES || errno == syscall.EPERM || errno == syscall.ENOENT || errno == syscall.ENOTDIR) {
			return FailureConfigError, "", nil
		}
		return Failure, "", nil
	}
	s.log.Printf("Writing OAuth user cred data to %s", target)
	if err := replaceSecureFile(target, data); err != nil {
		s.log.Printf("replace_secure_file(%s) failed: %v", target, err)
		return Failure, "", nil
	}
	return Success, filepath.Join(userDir, service+".use"), nil
}

// query answers query-oauth -s service.
func (s *Server) query(userDir, service string, req Request) (Result, string, []Attr) {
	top := filepath.Join(userDir, service+".top")
	use := filepath.Join(userDir, service+".use")
	var info []Attr
	if st, err := os.Stat(top); err == nil {
		info = append(info, intAttr("Top"+service+"Time", st.ModTime().Unix()))
		if r := s.credMatches(top, req); r != Success {
			return r, "", info
		}
		if ust, err := os.Stat(use); err == nil {
			info = append(info, intAttr(service, ust.ModTime().Unix()))
			return Result(ust.ModTime().Unix()), "", info
		}
		return SuccessPending, use, info
	}
	if ust, err := os.Stat(use); err == nil {
		info = append(info, intAttr(service, ust.ModTime().Unix()))
		return Result(ust.ModTime().Unix()), "", info
	}
	return FailureNotFound, "", info
}

// queryAll answers query-oauth without -s: the times of every .top and
// .use, pending if a .top lacks its .use.
func (s *Server) queryAll(userDir string) (Result, string, []Attr) {
	ents, err := os.ReadDir(userDir)
	if err != nil {
		return FailureNotFound, "", nil
	}
	tops, uses := map[string]bool{}, map[string]bool{}
	var info []Attr
	for _, e := range ents {
		name := e.Name()
		var base string
		switch {
		case strings.HasSuffix(name, ".top"):
			base = strings.TrimSuffix(name, ".top")
			tops[base] = true
		case strings.HasSuffix(name, ".use"):
			base = strings.TrimSuffix(name, ".use")
			uses[base] = true
		default:
			continue
		}
		if fi, err := e.Info(); err == nil {
			info = append(info, intAttr(name, fi.ModTime().Unix()))
		}
	}
	if len(tops) == 0 && len(uses) == 0 {
		return FailureNotFound, "", nil
	}
	for t := range tops {
		if !uses[t] {
			return SuccessPending, "", info
		}
	}
	return Success, "", info
}

func intAttr(name string, v int64) Attr {
	return Attr{Name: name, Value: strconv.FormatInt(v, 10)}
}

// credMatches is HTCondor's cred_matches: the stored scopes and audience
// (absent = empty) must equal the request's exactly.
func (s *Server) credMatches(top string, req Request) Result {
	b, err := readLimited(top, MaxCredential+4096)
	if err != nil {
		s.log.Printf("Error, could not read %s: %v", top, err)
		return FailureJSONParse
	}
	obj, err := parseObject(b)
	if err != nil {
		s.log.Printf("Error, could not parse cred from %s as JSON", top)
		return FailureJSONParse
	}
	if stringField(obj, "scopes") != req.Scopes || stringField(obj, "audience") != req.Audience {
		return FailureCredMismatch
	}
	return Success
}

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}

// parseObject parses a JSON object, keeping each value's text.
func parseObject(b []byte) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return obj, nil
}

// stringField is ClassAd LookupString: the value if it is a string, else "".
func stringField(obj map[string]json.RawMessage, key string) string {
	raw, ok := obj[key]
	if !ok {
		return ""
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return v
}

// addScopes re-serialises a JSON credential with string keys scopes and
// audience added (each only when non-empty), multi-line with a two-space
// indent and a final newline.
func addScopes(cred []byte, scopes, audience string) ([]byte, error) {
	obj, err := parseObject(cred)
	if err != nil {
		return nil, err
	}
	for k, v := range map[string]string{"scopes": scopes, "audience": audience} {
		if v == "" {
			continue
		}
		enc, err := marshalNoEscape(v)
		if err != nil {
			return nil, err
		}
		obj[k] = enc
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil // Encode ends with "\n"
}

func marshalNoEscape(v string) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n")), nil
}

// trusted applies TRUSTED_VAULT_HOSTS: a JSON credential with a string
// vault_url must name a listed host (port ignored, case-insensitive).
func (s *Server) trusted(cred []byte) bool {
	if len(s.set.TrustedVaultHosts) == 0 {
		return true
	}
	obj, err := parseObject(cred)
	if err != nil {
		return true // not JSON: not a Vault credential
	}
	raw, ok := obj["vault_url"]
	if !ok {
		return true
	}
	var vurl string
	if json.Unmarshal(raw, &vurl) != nil {
		return true // not a string: not a Vault credential
	}
	u, err := url.Parse(vurl)
	if err != nil || u.Hostname() == "" {
		return false
	}
	host := u.Hostname()
	for _, h := range s.set.TrustedVaultHosts {
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
		if strings.EqualFold(strings.Trim(h, "[]"), host) {
			return true
		}
	}
	return false
}

// replaceSecureFile writes data to path the way HTCondor's
// replace_secure_file does: <path>.tmp created 0600 by the credd (root),
// written and synced, then renamed over path.
func replaceSecureFile(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("renaming %s: %w", tmp, err)
	}
	return nil
}

// kickCredmon sends SIGHUP to the pid in <creddir>/pid (read at most every
// PidCacheTime) and reports whether it did.
func (s *Server) kickCredmon() bool {
	now := s.now()
	if s.credmonPID == 0 || now.Sub(s.credmonRead) > PidCacheTime {
		pidFile := filepath.Join(s.set.CredDir, "pid")
		pid, err := readPid(pidFile)
		if err != nil {
			s.credmonPID = 0
			s.log.Printf("credmon_kick: cannot get the credmon pid from %s: %v", pidFile, err)
			return false
		}
		s.credmonPID, s.credmonRead = pid, now
	}
	if err := syscall.Kill(s.credmonPID, syscall.SIGHUP); err != nil {
		s.log.Printf("credmon_kick: SIGHUP to credmon pid %d failed: %v", s.credmonPID, err)
		return false
	}
	s.log.Printf("credmon_kick: sent SIGHUP to credmon pid %d", s.credmonPID)
	return true
}

func readPid(path string) (int, error) {
	b, err := readLimited(path, 64)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("%s does not hold a process id", path)
	}
	return pid, nil
}

// Sweep runs one pass of the credd's sweep timer: for each <user>.mark in
// the credential directory (not a directory) at least SweepDelay old, the
// mark and the directory <user> are removed.
func (s *Server) Sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := s.set.CredDir
	if dir == "" {
		return
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		s.log.Printf("sweep: cannot read %s: %v", dir, err)
		return
	}
	now := s.now()
	for _, e := range ents {
		name := e.Name()
		user, ok := strings.CutSuffix(name, ".mark")
		if !ok || user == "" || !okName(user) || e.IsDir() {
			continue
		}
		fi, err := e.Info()
		if err != nil || now.Sub(fi.ModTime()) < s.set.SweepDelay {
			continue
		}
		s.log.Printf("sweep: removing %s and the credentials of %s", name, user)
		_ = os.Remove(filepath.Join(dir, name))
		if err := os.RemoveAll(filepath.Join(dir, user)); err != nil {
			s.log.Printf("sweep: removing %s: %v", filepath.Join(dir, user), err)
		}
	}
}
