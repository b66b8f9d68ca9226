package credmon

// Regression tests for what a hostile review of the daemon found: each
// fails on the code as it was before the fix.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/oauth2"
)

// withCtx makes a static lookup an OAuthConfig.Lookup.
func withCtx(f func(string) (string, bool)) func(context.Context, string) (string, bool) {
	return func(_ context.Context, n string) (string, bool) { return f(n) }
}

// peekKnobs is the daemon's OAuthConfig.Peek over k.
func peekKnobs(k *Knobs) func(string) (string, bool) {
	return func(n string) (string, bool) { v, ok, _ := k.Cached(n); return v, ok }
}

// swapUserDir replaces <root>/<user> by a symlink to outside, keeping the
// real directory as <user>.moved.
func swapUserDir(t *testing.T, root, user, outside string) {
	t.Helper()
	if err := os.Rename(filepath.Join(root, user), filepath.Join(root, user+".moved")); err != nil {
		t.Error(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, user)); err != nil {
		t.Error(err)
	}
}

// TestSwappedUserDirNotFollowedOnWrite: whoever can rename entries of the
// credential root swaps a user directory for a symlink while its refresh
// runs (the provider does it, so the race is deterministic). The .use and
// the rotated .top must not be written through the symlink.
func TestSwappedUserDirNotFollowedOnWrite(t *testing.T) {
	h := newDaemonHarness(t)
	outside := t.TempDir()
	op := newScriptedProvider("OAUTH")
	op.setAnswer(func(_ context.Context, c Cred, _ []byte) (Refreshed, error) {
		swapUserDir(t, h.root, c.User, outside)
		return Refreshed{Use: []byte(`{"access_token":"a"}`), Top: []byte(`{"refresh_token":"r1"}`)}, nil
	})
	h.prov[ClassOAuth] = op
	h.src.vals["BOX_CLIENT_ID"] = "client"
	h.writeTop("alice", "box", `{"refresh_token":"r0"}`)
	h.start()
	if n := len(op.drain()); n != 1 {
		t.Fatalf("%d refreshes", n)
	}
	for _, n := range []string{"box.use", "box.top"} {
		if _, err := os.Lstat(filepath.Join(outside, n)); err == nil {
			t.Errorf("root wrote %s through the swapped directory", n)
		}
	}
	// The writes went to the directory that was opened and read.
	if b, err := os.ReadFile(filepath.Join(h.root, "alice.moved", "box.use")); err != nil || string(b) != `{"access_token":"a"}` {
		t.Errorf("moved directory's .use: %q %v", b, err)
	}
}

// TestSwappedUserDirNotFollowedOnUseWrite: the same swap for a provider
// that returns a .use only (Vault): root must not create the 0400 .use
// outside.
func TestSwappedUserDirNotFollowedOnUseWrite(t *testing.T) {
	h := newDaemonHarness(t)
	outside := t.TempDir()
	vp := newScriptedProvider("VAULT")
	var swapped atomic.Bool
	vp.setAnswer(func(_ context.Context, c Cred, _ []byte) (Refreshed, error) {
		if swapped.CompareAndSwap(false, true) {
			swapUserDir(t, h.root, c.User, outside)
		}
		return Refreshed{Use: []byte("chosen content\n")}, nil
	})
	h.prov[ClassVault] = vp
	h.writeTop("alice", "dune", topVault)
	h.start()
	if _, err := os.Lstat(filepath.Join(outside, "dune.use")); err == nil {
		t.Error("root created dune.use through the swapped directory")
	}
	if b, err := os.ReadFile(filepath.Join(h.root, "alice.moved", "dune.use")); err != nil || string(b) != "chosen content\n" {
		t.Errorf("moved directory's .use: %q %v", b, err)
	}
}

// TestSwappedUserDirNotFollowedOnDelete: the same swap before an
// ErrDelete must not remove files outside.
func TestSwappedUserDirNotFollowedOnDelete(t *testing.T) {
	h := newDaemonHarness(t)
	outside := t.TempDir()
	for _, n := range []string{"dune.top", "dune.use"} {
		if err := os.WriteFile(filepath.Join(outside, n), []byte("victim"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	vp := newScriptedProvider("VAULT")
	vp.setAnswer(func(_ context.Context, c Cred, _ []byte) (Refreshed, error) {
		swapUserDir(t, h.root, c.User, outside)
		return Refreshed{}, fmt.Errorf("revoked: %w", ErrDelete)
	})
	h.prov[ClassVault] = vp
	h.writeTop("alice", "dune", topVault)
	h.start()
	for _, n := range []string{"dune.top", "dune.use"} {
		if b, err := os.ReadFile(filepath.Join(outside, n)); err != nil || string(b) != "victim" {
			t.Errorf("root removed or changed %s outside the credential directory: %q %v", n, b, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(h.root, "alice.moved", "dune.top")); err == nil {
		t.Error("the credential was not removed from its own directory")
	}
}

// TestSwappedBeforeTheWorkerOpensIt: a user directory that is a symlink
// when its refresh starts is not served at all.
func TestSwappedBeforeTheWorkerOpensIt(t *testing.T) {
	h := newDaemonHarness(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "dune.top"), []byte(topVault), 0o600); err != nil {
		t.Fatal(err)
	}
	vp := newScriptedProvider("VAULT")
	h.prov[ClassVault] = vp
	h.writeTop("alice", "dune", topVault)
	h.tune = func(d *Daemon) {
		d.beforeWork = func(c Cred) { swapUserDir(t, h.root, c.User, outside) }
	}
	h.start()
	if n := len(vp.drain()); n != 0 {
		t.Errorf("%d refreshes through a symlinked user directory", n)
	}
	if _, err := os.Lstat(filepath.Join(outside, "dune.use")); err == nil {
		t.Error("root wrote a .use through the symlink")
	}
}

// TestFIFOMetaDoesNotHangTheDaemon: a FIFO named <name>.meta next to a
// .top and .use used to block the daemon's goroutine in os.ReadFile
// (first pass never complete, SIGTERM ignored).
func TestFIFOMetaDoesNotHangTheDaemon(t *testing.T) {
	h := newDaemonHarness(t)
	h.prov[ClassOAuth] = NewOAuthProvider(OAuthConfig{Lookup: h.knobs.LookupContext, Peek: peekKnobs(h.knobs)})
	h.src.vals["BOX_CLIENT_ID"] = "client"
	h.writeTop("alice", "box", `{"refresh_token":"r0"}`)
	if err := os.WriteFile(h.path("alice/box.use"), []byte(`{"access_token":"a","expires_in":3600}`), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(h.path("alice/box.meta"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start() // fails with "no pass completed" when the FIFO blocks
	h.stop()
}

// TestMetaReadWithTopRules: the .meta gets the .top's checks.
func TestMetaReadWithTopRules(t *testing.T) {
	ts := newFakeTokenEndpoint(t, tokenReply(200, `{"access_token":"a","expires_in":60}`))
	p := NewOAuthProvider(OAuthConfig{HTTPClient: ts.Client()})
	huge := filepath.Join(t.TempDir(), "huge")
	if err := os.WriteFile(huge, make([]byte, MaxFileSize+10), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, plant := range map[string]func(path string) error{
		"fifo":    func(p string) error { return syscall.Mkfifo(p, 0o600) },
		"symlink": func(p string) error { return os.Symlink(huge, p) },
		"foreign": func(p string) error {
			if err := os.WriteFile(p, []byte(`{"client_id":"x"}`), 0o600); err != nil {
				return err
			}
			return os.Chown(p, 4242, 4242)
		},
	} {
		c := oauthCred(t, "svc", nil)
		if err := plant(c.Meta()); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := p.Refresh(context.Background(), c, oauthTestTop()); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "svc.meta") {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Refresh blocked on the .meta", name)
		}
	}
	if ts.count() != 0 {
		t.Errorf("%d token requests", ts.count())
	}
}

// TestConfiguredSecretNotSentToMetaURL: a .meta naming a token_url but no
// client_secret used to get <NAME>_CLIENT_SECRET_FILE POSTed to it.
func TestConfiguredSecretNotSentToMetaURL(t *testing.T) {
	evil := newFakeTokenEndpoint(t, tokenReply(200, `{"access_token":"a","expires_in":60}`))
	good := newFakeTokenEndpoint(t, tokenReply(200, `{"access_token":"a","expires_in":60}`))
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte(oaClientSecret+"\n"), 0o600)
	knobs := knobMap(map[string]string{
		"BOX_CLIENT_ID":          "cid",
		"BOX_CLIENT_SECRET_FILE": secretFile,
		"BOX_TOKEN_URL":          good.URL + "/token",
	})
	hc := evil.Client()
	hc.Transport.(*http.Transport).TLSClientConfig.RootCAs.AddCert(good.Certificate())
	p := NewOAuthProvider(OAuthConfig{HTTPClient: hc, Lookup: withCtx(knobs)})

	c := oauthCred(t, "box", map[string]any{"token_url": evil.URL + "/token"})
	_, err := p.Refresh(context.Background(), c, oauthTestTop())
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "BOX_CLIENT_SECRET_FILE is only sent to BOX_TOKEN_URL") {
		t.Errorf("Refresh: %v", err)
	}
	if evil.count() != 0 {
		form, _ := evil.lastForm()
		t.Errorf("a request went to the .meta's URL (client_secret sent: %v)", form.Get("client_secret") != "")
	}
	// The .meta naming the configured URL itself is fine.
	c = oauthCred(t, "box", map[string]any{"token_url": good.URL + "/token"})
	if _, err := p.Refresh(context.Background(), c, oauthTestTop()); err != nil {
		t.Fatal(err)
	}
	if form, _ := good.lastForm(); form.Get("client_secret") != oaClientSecret {
		t.Errorf("form %v", form)
	}
	// So is a .meta with its own secret.
	c = oauthCred(t, "box", map[string]any{"token_url": evil.URL + "/token", "client_secret": "meta-secret"})
	if _, err := p.Refresh(context.Background(), c, oauthTestTop()); err != nil {
		t.Fatal(err)
	}
	if form, _ := evil.lastForm(); form.Get("client_secret") != "meta-secret" {
		t.Errorf("form %v", form)
	}
}

// TestHugeExpiresInDoesNotOverflow: expires_in 1e10 used to overflow into
// a negative lifetime, a refresh every minute.
func TestHugeExpiresInDoesNotOverflow(t *testing.T) {
	written := time.Now()
	year := written.Add(365 * 24 * time.Hour)
	c := oauthCred(t, "svc", map[string]any{"token_url": "https://idp.example/token"})
	op := NewOAuthProvider(OAuthConfig{})
	for _, use := range []string{`{"access_token":"a","expires_in":1e10}`, `{"access_token":"a","expires_in":"1e300"}`} {
		if got := op.NextRefresh(c, []byte(use), written); got.Before(year) {
			t.Errorf("OAuth %s: next refresh %v after the write", use, got.Sub(written))
		}
	}
	if got := issuedNextRefresh([]byte(`{"access_token":"opaque","expires_in":1e10}`), written, time.Minute); got.Before(year) {
		t.Errorf("local/client: next refresh %v after the write", got.Sub(written))
	}
	tok := (&oauth2.Token{AccessToken: "a"}).WithExtra(map[string]any{"expires_in": 1e10})
	if life := tokenLifetime(tok); life < 365*24*time.Hour {
		t.Errorf("client lifetime %v", life)
	}
	if due := dueAfterWrite(written, op.NextRefresh(c, []byte(`{"access_token":"a","expires_in":1e10}`), written), func(time.Duration) time.Duration { return 0 }); due < year.UnixNano() {
		t.Errorf("due %v", time.Unix(0, due))
	}
}

// TestHandleParentTopOwnerChecked: a handle's parent .top gets the owner
// rule of every .top.
func TestHandleParentTopOwnerChecked(t *testing.T) {
	f := newFakeVault(t)
	v := f.provider(VaultConfig{})
	root := t.TempDir()
	parent := writeTop(t, root, "alice", "dune", map[string]any{"vault_token": testVaultToken, "vault_url": f.URL + "/v1/secret/oauth/creds/dune/k:default"})
	if err := os.Chown(parent.Top(), 4242, 4242); err != nil {
		t.Fatal(err)
	}
	c := writeTop(t, root, "alice", "dune_h1", map[string]any{"vault_url": f.URL + "/v1/secret/oauth/creds/dune/k:h1"})
	_, err := refresh(t, v, c)
	if err == nil || !strings.Contains(err.Error(), "is owned by uid 4242") {
		t.Errorf("Refresh with a foreign parent .top: %v", err)
	}
	f.mu.Lock()
	n := len(f.reqs)
	f.mu.Unlock()
	if n != 0 {
		t.Errorf("%d requests to Vault with a foreign parent's token", n)
	}
}

// TestVaultErrorBodyNotLogged: a non-Vault error body (from whatever
// server a .top names) does not reach the message.
func TestVaultErrorBodyNotLogged(t *testing.T) {
	f := newFakeVault(t)
	f.read = func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<b>attacker text</b>")
	}
	v := f.provider(VaultConfig{})
	c := writeTop(t, t.TempDir(), "alice", "dune", map[string]any{"vault_token": testVaultToken, "vault_url": f.URL + "/v1/secret/oauth/creds/dune/k:default"})
	_, err := refresh(t, v, c)
	if err == nil || strings.Contains(err.Error(), "attacker") || !strings.Contains(err.Error(), "Bad Gateway") {
		t.Errorf("error: %v", err)
	}
	// Vault's own errors stay, shortened.
	long := strings.Repeat("x", 500)
	b, _ := json.Marshal(map[string]any{"errors": []string{"permission\ndenied " + long}})
	if got := vaultErrorText(403, b); len(got) > maxRemoteText+40 || strings.Contains(got, "\n") || !strings.HasPrefix(got, "Forbidden: permission denied") {
		t.Errorf("vaultErrorText = %q", got)
	}
}

// TestStaleTempSwept: temporary files of .use writes left by a crash are
// removed when their directory is listed.
func TestStaleTempSwept(t *testing.T) {
	h := newDaemonHarness(t)
	h.prov[ClassVault] = newScriptedProvider("VAULT")
	h.writeTop("alice", "dune", topVault)
	stale := h.path("alice/.dune.use.tmp0123456789abcdef")
	if err := os.WriteFile(stale, []byte("AT"), 0o400); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	h.start()
	if _, err := os.Lstat(stale); err == nil {
		t.Error("stale temporary file kept")
	}
	if h.log.count("Removed a temporary file left by an interrupted write") != 1 {
		t.Errorf("log:\n%s", h.log.String())
	}
}

// TestLogFileNotFollowed: the log is never opened through a symlink, a
// FIFO, a file of another user or a hard link, and never world-readable.
func TestLogFileNotFollowed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "shadow")
	os.WriteFile(target, []byte("root:x:0:0\n"), 0o600)
	link := filepath.Join(dir, "CredMonLog")
	os.Symlink(target, link)
	if l, err := openLog(link, 0); err == nil {
		l.Write([]byte("injected\n"))
		l.Close()
		t.Error("openLog followed a symlink")
	}
	if b, _ := os.ReadFile(target); string(b) != "root:x:0:0\n" {
		t.Errorf("target changed: %q", b)
	}
	fifo := filepath.Join(dir, "FifoLog")
	syscall.Mkfifo(fifo, 0o600)
	done := make(chan error, 1)
	go func() {
		l, err := openLog(fifo, 0)
		if err == nil {
			l.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("openLog accepted a FIFO")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("openLog blocked on a FIFO")
	}
	hard := filepath.Join(dir, "HardLog")
	if err := os.Link(target, hard); err == nil {
		if l, err := openLog(hard, 0); err == nil {
			l.Close()
			t.Error("openLog accepted a file with two links")
		}
	}
	foreign := filepath.Join(dir, "ForeignLog")
	os.WriteFile(foreign, nil, 0o644)
	os.Chown(foreign, 4242, 4242)
	if l, err := openLog(foreign, 0); err == nil {
		l.Close()
		t.Error("openLog accepted another user's file")
	}
	open := filepath.Join(dir, "openLog")
	os.WriteFile(open, nil, 0o666)
	l, err := openLog(open, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if fi, _ := os.Stat(open); fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("existing log left mode %v", fi.Mode())
	}
	fresh := filepath.Join(dir, "FreshLog")
	l, err = openLog(fresh, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != LogMode {
		t.Errorf("new log mode %v", fi.Mode())
	}
}

// TestKeyTempNotInTmp: the private key's temporary file is made next to
// the key, never in $TMPDIR (renameio's default when it is on the same
// file system).
func TestKeyTempNotInTmp(t *testing.T) {
	base := t.TempDir()
	tmp := filepath.Join(base, "tmp")
	keys := filepath.Join(base, "keys")
	os.Mkdir(tmp, 0o1777)
	os.Mkdir(keys, 0o755)
	t.Setenv("TMPDIR", tmp)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(tmp); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureKeyPair(filepath.Join(keys, "private.pem"), filepath.Join(keys, "public.pem"), KeyEC); err != nil {
		t.Fatal(err)
	}
	// A sentinel ends the events of the key's write.
	os.WriteFile(filepath.Join(tmp, "sentinel"), nil, 0o600)
	for {
		select {
		case ev := <-w.Events:
			if filepath.Base(ev.Name) == "sentinel" {
				return
			}
			t.Errorf("the key's write touched $TMPDIR: %v", ev)
		case err := <-w.Errors:
			t.Fatal(err)
		case <-time.After(10 * time.Second):
			t.Fatal("no inotify event for the sentinel")
		}
	}
}
