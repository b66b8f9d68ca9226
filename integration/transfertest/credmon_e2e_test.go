package transfertest

// The whole chain on one machine: the real condor_credmon_vault daemon
// (started as condor_master starts it, configured through the HTCondor
// stand-ins of package condor) runs its local SciTokens issuer with a key
// made by condor_credmon_vault_keygen and published in the JWKS that
// XRootD trusts; a stand-in starter copies the credmon's <user>/scitokens.use
// into a job's $_CONDOR_CREDS whenever it changes; gettoken_transfer_plugin
// moves files with it to and from the real XRootD, which verifies each
// new token's signature, issuer, audience, expiry and scopes.
//
// XRootD 5.5's SciTokens plugin keeps a verified token in its cache for
// 60 s whatever its "exp" (it subtracts the expiry from a monotonic
// clock), so an expired token it has seen is still accepted for up to a
// minute; the test therefore tells the tokens apart by XRootD's log line
// for a token not in its cache, and the plugin never sends an expired one.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/vaultcred/gettoken/integration/condor"
	"github.com/vaultcred/gettoken/integration/stack"
)

// The credmon's local issuer: binaries and the key pair made by keygen
// (set by prepareCredmon in TestMain).
var (
	credmonBin, keygenBin     string
	apPrivateKey, apPublicKey string
	apJWKSet                  jose.JSONWebKeySet
)

// apKeyID is the "kid" of the credmon's issuer key, distinct from the
// "local" key that the other tests' tokens are signed with.
const apKeyID = "ap-e2e"

// e2eLifetime is LOCAL_CREDMON_TOKEN_LIFETIME: short, so that the credmon
// mints a new token (at half of it) and the first one expires within the
// test.
const e2eLifetime = 14 * time.Second

// prepareCredmon builds condor_credmon_vault and condor_credmon_vault_keygen
// into dir and makes the issuer's key pair with keygen, as an admin would,
// returning the JWKS keygen prints (to be published at the issuer).
func prepareCredmon(dir string) ([]byte, error) {
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/condor_credmon_vault", "./cmd/condor_credmon_vault_keygen")
	build.Dir = filepath.Dir(stack.ModuleDir())
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building the credmon: %w", err)
	}
	credmonBin = filepath.Join(dir, "condor_credmon_vault")
	keygenBin = filepath.Join(dir, "condor_credmon_vault_keygen")
	keys := filepath.Join(dir, "ap-keys")
	if err := os.Mkdir(keys, 0o755); err != nil {
		return nil, err
	}
	apPrivateKey = filepath.Join(keys, "scitokens-private.pem")
	apPublicKey = filepath.Join(keys, "scitokens.pem")
	kg := exec.Command(keygenBin, "-private", apPrivateKey, "-public", apPublicKey, "-kid", apKeyID)
	// No HTCondor configuration here: the flags say everything.
	kg.Env = []string{"PATH=/usr/bin:/bin", "CONDOR_CONFIG=/dev/null"}
	var stderr bytes.Buffer
	kg.Stderr = &stderr
	out, err := kg.Output()
	if err != nil {
		return nil, fmt.Errorf("condor_credmon_vault_keygen: %v: %s", err, stderr.String())
	}
	if err := json.Unmarshal(out, &apJWKSet); err != nil || len(apJWKSet.Keys) != 1 || apJWKSet.Keys[0].KeyID != apKeyID {
		return nil, fmt.Errorf("condor_credmon_vault_keygen printed no JWKS with kid %s (%v): %s", apKeyID, err, out)
	}
	return out, nil
}

// credmonSite is an access point: the HTCondor stand-ins and a running
// condor_credmon_vault with its local issuer.
type credmonSite struct {
	condor *condor.Condor
	proc   *stack.Proc
	log    string
}

func startCredmon(t *testing.T, lifetime time.Duration) *credmonSite {
	t.Helper()
	// Short: the credd's socket path lives under it.
	dir, err := os.MkdirTemp("", "condor-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	logDir := filepath.Join(dir, "log")
	s := &credmonSite{log: filepath.Join(logDir, "CredmonOauthLog")}
	s.condor, err = condor.Start(t.Context(), dir, logDir, map[string]string{
		"CREDMON_OAUTH_LOG":            s.log,
		"LOCAL_CREDMON_PROVIDER_NAMES": "scitokens",
		"LOCAL_CREDMON_PRIVATE_KEY":    apPrivateKey,
		"LOCAL_CREDMON_PUBLIC_KEY":     apPublicKey,
		"LOCAL_CREDMON_KEY_ID":         apKeyID,
		"LOCAL_CREDMON_ISSUER":         xrd.Issuer,
		"LOCAL_CREDMON_TOKEN_AUDIENCE": xrd.Audience,
		"LOCAL_CREDMON_TOKEN_LIFETIME": fmt.Sprint(int(lifetime / time.Second)),
		"LOCAL_CREDMON_AUTHZ_TEMPLATE": "read:/user/{username} write:/user/{username}",
		"LOCAL_CREDMON_TOKEN_VERSION":  "scitoken:2.0",
		"LOCAL_CREDMON_TOKEN_USE_JSON": "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.condor.Stop() })
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(s.log)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("credmon log:\n%s", b)
		}
	})
	w := newDirWatch(t, s.condor.CredDir)
	s.proc, err = stack.StartProc(logDir, "condor_credmon_vault", s.condor.Env, s.condor.Dir, credmonBin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.proc.Stop(5 * time.Second) })
	complete := filepath.Join(s.condor.CredDir, "CREDMON_COMPLETE")
	w.waitFor(t, 15*time.Second, "the credmon's first CREDMON_COMPLETE", s.proc, func() bool {
		_, err := os.Stat(complete)
		return err == nil
	})
	return s
}

// dirWatch waits for file-system events in one directory.
type dirWatch struct{ w *fsnotify.Watcher }

func newDirWatch(t *testing.T, dir string) *dirWatch {
	t.Helper()
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fw.Close() })
	if err := fw.Add(dir); err != nil {
		t.Fatal(err)
	}
	return &dirWatch{fw}
}

// waitFor re-checks cond on every event until it holds, failing after
// timeout or when proc exits.
func (w *dirWatch) waitFor(t *testing.T, timeout time.Duration, what string, proc *stack.Proc, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-w.w.Events:
		case err := <-w.w.Errors:
			t.Fatalf("watching for %s: %v", what, err)
		case <-proc.Done():
			t.Fatalf("the credmon exited while waiting for %s:\n%s", what, proc.Tail(3000))
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// issued is one token the credmon wrote into the .use, as the starter saw
// it, its signature checked against the JWKS keygen printed.
type issued struct {
	token    string
	iat, exp time.Time
	claims   apClaims
}

type apClaims struct {
	jwt.Claims
	Scope string `json:"scope"`
	Ver   string `json:"ver"`
}

// starter stands in for HTCondor's starter: it copies the credmon's
// <user>/scitokens.use into the job's credential directory whenever the
// credmon replaces it (the .use is watched with inotify), unless paused,
// and records every token the credmon wrote.
type starter struct {
	src, dst string

	mu        sync.Mutex
	paused    bool
	forceOnce bool     // copy once although paused
	seen      []issued // distinct tokens in the credmon's .use, in order
	forwarded string   // the .use content last copied to the job
	err       error
	changed   chan struct{} // a token seen or forwarded
	resume    chan struct{}
}

// startStarter watches userDir (which must exist) and forwards
// scitokens.use to creds.
func startStarter(t *testing.T, userDir, creds string) *starter {
	t.Helper()
	st := &starter{src: filepath.Join(userDir, "scitokens.use"), dst: filepath.Join(creds, "scitokens.use"),
		changed: make(chan struct{}, 1), resume: make(chan struct{}, 1)}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Add(userDir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); fw.Close(); <-done })
	go func() {
		defer close(done)
		st.sync()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-fw.Events:
				if !ok {
					return
				}
				if filepath.Base(ev.Name) == "scitokens.use" {
					st.sync()
				}
			case <-st.resume:
				st.sync()
			case err, ok := <-fw.Errors:
				if ok {
					st.fail(fmt.Errorf("watch: %w", err))
				}
			}
		}
	}()
	return st
}

func (st *starter) fail(err error) {
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	st.mu.Unlock()
	st.notify()
}

func (st *starter) notify() {
	select {
	case st.changed <- struct{}{}:
	default:
	}
}

// sync reads the credmon's .use, records a new token and, unless paused,
// copies the file into the job's directory (atomically, mode 0400, as
// the starter writes credentials).
func (st *starter) sync() {
	b, err := os.ReadFile(st.src)
	if os.IsNotExist(err) {
		return
	} else if err != nil {
		st.fail(err)
		return
	}
	var doc struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.AccessToken == "" {
		st.fail(fmt.Errorf("the credmon's scitokens.use is not JSON with an access_token (%v)", err))
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	defer st.notify()
	if n := len(st.seen); n == 0 || st.seen[n-1].token != doc.AccessToken {
		is, err := verifyAP(doc.AccessToken)
		if err != nil {
			st.err = err
			return
		}
		st.seen = append(st.seen, is)
	}
	if (st.paused && !st.forceOnce) || string(b) == st.forwarded {
		return
	}
	st.forceOnce = false
	tmp := filepath.Join(filepath.Dir(st.dst), ".scitokens.use.tmp")
	if err := os.WriteFile(tmp, b, 0o400); err != nil {
		st.err = err
		return
	}
	if err := os.Rename(tmp, st.dst); err != nil {
		st.err = err
		return
	}
	st.forwarded = string(b)
}

// verifyAP checks a token's signature against the JWKS keygen printed.
func verifyAP(tok string) (issued, error) {
	p, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		return issued{}, fmt.Errorf("the credmon's token does not parse: %w", err)
	}
	if p.Headers[0].KeyID != apKeyID {
		return issued{}, fmt.Errorf("the credmon's token has kid %q, want %q", p.Headers[0].KeyID, apKeyID)
	}
	var cl apClaims
	if err := p.Claims(apJWKSet.Keys[0].Key, &cl); err != nil {
		return issued{}, fmt.Errorf("the credmon's token does not verify against keygen's JWKS: %w", err)
	}
	if cl.IssuedAt == nil || cl.Expiry == nil {
		return issued{}, fmt.Errorf("the credmon's token lacks iat or exp")
	}
	return issued{token: tok, iat: cl.IssuedAt.Time(), exp: cl.Expiry.Time(), claims: cl}, nil
}

// pause stops forwarding the credmon's new .use files to the job, as a
// starter whose next refresh is late.
func (st *starter) pause() {
	st.mu.Lock()
	st.paused = true
	st.mu.Unlock()
}

// forwardNow copies the credmon's current .use to the job once, staying
// paused, and returns the token copied.
func (st *starter) forwardNow(t *testing.T, proc *stack.Proc) string {
	t.Helper()
	st.mu.Lock()
	st.forceOnce = true
	st.mu.Unlock()
	select {
	case st.resume <- struct{}{}:
	default:
	}
	var tok string
	st.waitFor(t, 10*time.Second, "the starter's copy of the current .use", proc, func(st *starter) bool {
		if st.forceOnce {
			return false
		}
		var doc struct {
			AccessToken string `json:"access_token"`
		}
		json.Unmarshal([]byte(st.forwarded), &doc)
		tok = doc.AccessToken
		return true
	})
	return tok
}

// waitFor waits until cond (called with the lock held) holds, re-checking
// whenever the starter sees or forwards a token.
func (st *starter) waitFor(t *testing.T, timeout time.Duration, what string, proc *stack.Proc, cond func(st *starter) bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		st.mu.Lock()
		ok, err := cond(st), st.err
		st.mu.Unlock()
		if err != nil {
			t.Fatalf("starter: %v", err)
		}
		if ok {
			return
		}
		select {
		case <-st.changed:
		case <-proc.Done():
			t.Fatalf("the credmon exited while waiting for %s:\n%s", what, proc.Tail(3000))
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

func (st *starter) tokens() []issued {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]issued(nil), st.seen...)
}

// jobToken is the access token in the job's scitokens.use.
func jobToken(t *testing.T, j *job) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(j.creds, "scitokens.use"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.AccessToken
}

// newTokensSeen counts XRootD's log lines for a token it had not seen
// before (it caches a verified token for 60 s) with subject sub.
func newTokensSeen(sub string) int {
	n := 0
	for _, l := range strings.Split(xrd.LogText(), "\n") {
		if strings.Contains(l, "New valid token") && strings.Contains(l, "subject="+sub+",") && strings.Contains(l, "issuer="+xrd.Issuer+",") {
			n++
		}
	}
	return n
}

// The credmon mints a token into a job-like $_CONDOR_CREDS and the plugin
// uploads and downloads with it; the credmon rotates the token half-way
// through its life; once the job's copy has expired (its starter paused
// meanwhile), the plugin waits, the starter copies the credmon's current
// .use, and the plugin downloads and uploads with that one, which XRootD
// verifies as a token it had not seen.
func TestCredmonTokensEndToEnd(t *testing.T) {
	const user = "dana"
	begin := time.Now()
	site := startCredmon(t, e2eLifetime)
	ud := filepath.Join(site.condor.CredDir, user)
	if err := os.Mkdir(ud, 0o700); err != nil {
		t.Fatal(err)
	}
	j := newJob(t)
	st := startStarter(t, ud, j.creds)
	// What condor_store_cred leaves for a local-issuer credential: a .top
	// naming the user.
	if err := os.WriteFile(filepath.Join(ud, ".scitokens.top.tmp"), []byte(user), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(ud, ".scitokens.top.tmp"), filepath.Join(ud, "scitokens.top")); err != nil {
		t.Fatal(err)
	}
	st.waitFor(t, 15*time.Second, "the credmon's scitokens.use in the job's $_CONDOR_CREDS", site.proc,
		func(st *starter) bool { return st.forwarded != "" })
	// From here on the job keeps this copy until the starter resumes.
	st.pause()
	first := st.tokens()[0]
	if jobToken(t, j) != first.token {
		t.Fatal("the job's .use is not the credmon's first token")
	}
	cl := first.claims
	if cl.Subject != user || cl.Issuer != xrd.Issuer || !cl.Audience.Contains(xrd.Audience) ||
		cl.Scope != "read:/user/dana write:/user/dana" || cl.Ver != "scitoken:2.0" || first.exp.Sub(first.iat) != e2eLifetime {
		t.Fatalf("claims of the credmon's token: %+v", cl)
	}
	t.Logf("first token: iat %s, exp %s", first.iat.Format(time.TimeOnly), first.exp.Format(time.TimeOnly))

	// 1. Upload (WebDAV, creating the collection) and download with it.
	want := randomFile(t, filepath.Join(j.iwd, "in.dat"), 1<<20+3)
	up := hostURL("scitokens+davs", "/user/dana/e2e/in.dat")
	ads, code, log := j.plugin(true, file{up, filepath.Join(j.iwd, "in.dat")})
	if code != 0 || len(ads) != 1 {
		t.Fatalf("upload exit %d, %d ads (first token expires %s)\n%s\n%v", code, len(ads), first.exp.Format(time.TimeOnly), log, ads)
	}
	success(t, ads[0])
	if got, err := os.ReadFile(filepath.Join(xrd.Data, "user/dana/e2e/in.dat")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the uploaded file differs on the server (%v)", err)
	}
	ads, code, log = j.plugin(false, file{hostURL("scitokens+https", "/user/dana/e2e/in.dat"), filepath.Join(j.iwd, "back.dat")})
	if code != 0 {
		t.Fatalf("download exit %d\n%s\n%v", code, log, ads)
	}
	success(t, ads[0])
	if got, _ := os.ReadFile(filepath.Join(j.iwd, "back.dat")); !bytes.Equal(got, want) {
		t.Fatal("the downloaded file differs")
	}
	if strings.Contains(log, first.token) {
		t.Error("the token is in the plugin's log")
	}
	// XRootD verified one token of the credmon's for dana, the issuer's.
	if n := newTokensSeen(user); n != 1 {
		t.Fatalf("XRootD verified %d new tokens for %s, want 1", n, user)
	}

	// 2. The credmon rotates the token half-way through its life, and
	// later writes one issued no earlier than the first one's expiry.
	st.waitFor(t, e2eLifetime+15*time.Second, "a credmon token issued after the first one expired", site.proc,
		func(st *starter) bool {
			last := st.seen[len(st.seen)-1]
			return !last.iat.Before(first.exp)
		})
	all := st.tokens()
	if len(all) < 3 || !all[1].iat.Before(first.exp) {
		t.Fatalf("the credmon did not rotate the token before it expired: %d tokens, second issued %s, first expired %s",
			len(all), all[1].iat.Format(time.TimeOnly), first.exp.Format(time.TimeOnly))
	}
	for i, is := range all {
		if is.claims.Subject != user || is.claims.ID == "" || (i > 0 && is.claims.ID == all[i-1].claims.ID) {
			t.Errorf("token %d: sub %q jti %q", i, is.claims.Subject, is.claims.ID)
		}
	}
	if jobToken(t, j) != first.token {
		t.Fatal("the paused starter replaced the job's .use")
	}

	// 3. The plugin finds the job's token expired and waits; the starter
	// copies the credmon's current .use; the plugin picks it up and
	// downloads with it.
	cmd, in, out, _ := j.command(false, file{hostURL("scitokens+https", "/user/dana/e2e/in.dat"), filepath.Join(j.iwd, "again.dat")})
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var plog strings.Builder
	waiting := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		once := false
		for sc.Scan() {
			plog.WriteString(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), "has expired; waiting") {
				once = true
				close(waiting)
			}
		}
	}()
	select {
	case <-waiting:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the plugin did not report the job's token expired")
	}
	second := st.forwardNow(t, site.proc)
	err := cmd.Wait()
	pw.Close()
	<-scanned
	ads, code, _ = j.results(in, out, err, "")
	if code != 0 {
		t.Fatalf("download after the refresh: exit %d: %v\n%s", code, ads, plog.String())
	}
	success(t, ads[0])
	if !strings.Contains(plog.String(), "a fresh token appeared") {
		t.Errorf("the plugin did not say it picked up a fresh token:\n%s", plog.String())
	}
	if got, _ := os.ReadFile(filepath.Join(j.iwd, "again.dat")); !bytes.Equal(got, want) {
		t.Fatal("the file downloaded with the refreshed token differs")
	}
	if second == first.token || jobToken(t, j) != second {
		t.Fatal("the job's token did not change to the credmon's current one")
	}
	valid := false
	for _, is := range st.tokens() {
		valid = valid || (is.token == second && time.Now().Before(is.exp) && !is.iat.Before(first.exp))
	}
	if !valid {
		t.Fatal("the job's new token is not a valid one the credmon wrote after the first expired")
	}
	// The plugin presented the new token: XRootD verified a second one.
	if n := newTokensSeen(user); n != 2 {
		t.Fatalf("XRootD verified %d new tokens for %s, want 2 (the first and the refreshed one)", n, user)
	}

	// 4. An upload with the refreshed token.
	want2 := randomFile(t, filepath.Join(j.iwd, "out2.dat"), 64<<10)
	ads, code, log = j.plugin(true, file{hostURL("scitokens+davs", "/user/dana/e2e/out2.dat"), filepath.Join(j.iwd, "out2.dat")})
	if code != 0 {
		t.Fatalf("upload with the refreshed token: exit %d\n%s\n%v", code, log, ads)
	}
	success(t, ads[0])
	if got, err := os.ReadFile(filepath.Join(xrd.Data, "user/dana/e2e/out2.dat")); err != nil || !bytes.Equal(got, want2) {
		t.Fatalf("the second upload differs on the server (%v)", err)
	}
	if n := newTokensSeen(user); n != 2 {
		t.Fatalf("XRootD verified %d new tokens for %s after the second upload, want still 2", n, user)
	}
	for _, tok := range []string{first.token, second} {
		if strings.Contains(plog.String()+log, tok) {
			t.Error("a token is in the plugin's log")
		}
	}
	t.Logf("%d tokens from the credmon, %d-s lifetime; %v in all", len(st.tokens()), int(e2eLifetime/time.Second), time.Since(begin).Round(100*time.Millisecond))
}
