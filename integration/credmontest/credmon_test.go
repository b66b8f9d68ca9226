package credmontest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/integration/harness"
)

func jwtClaims(t *testing.T, tok []byte) map[string]any { return harness.JWTClaims(t, string(tok)) }

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// useFile checks a .use: root-owned, 0400, one token line.
func useFile(t *testing.T, p string) []byte {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o400 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("%s: mode %v uid %d, want 0400 root", p, fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid)
	}
	b := readFile(t, p)
	if bytes.Count(b, []byte("\n")) != 1 || !bytes.HasSuffix(b, []byte("\n")) {
		t.Errorf("%s is not one token line", p)
	}
	return b
}

// submitted runs the storer for service on site s (approving the login as
// alice) and returns the submitter.
func submitted(t *testing.T, s *site, args ...string) *harness.Submitter {
	t.Helper()
	sub := env.NewSubmitter(t, s.condor)
	if r := sub.StorerTTY("alice", args...); r.Code != 0 {
		t.Fatalf("storer:\n%v", r)
	}
	return sub
}

func TestStorerTopToUseWithinASecond(t *testing.T) {
	s := newSite(t, nil)
	w := s.watch()
	sub := submitted(t, s, "default")
	use := sub.File("default.use")
	// The credd saw no .use and signalled the credmon: the .use follows
	// the storer's exit within a second, without waiting for a pass.
	w.WaitFor(t, time.Second, "default.use", func() bool { return exists(use) }, s.proc)
	cl := jwtClaims(t, useFile(t, use))
	if cl["sub"] != "alice" || cl["iss"] != env.Stack.IdP.URL {
		t.Errorf("claims %v", cl)
	}
}

func TestRefreshBeforeExpiry(t *testing.T) {
	s := newSite(t, nil)
	w := s.watch()
	sub := submitted(t, s, "default")
	use := sub.File("default.use")
	w.WaitFor(t, 5*time.Second, "default.use", func() bool { return exists(use) }, s.proc)
	first := useFile(t, use)
	exp := int64(jwtClaims(t, first)["exp"].(float64))
	// Tokens live 30 s and MINIMUM is 10: a new token arrives when about
	// 5 s are left, before the old one expires.
	w.WaitFor(t, accessTTL+10*time.Second, "a refreshed default.use", func() bool {
		b, err := os.ReadFile(use)
		return err == nil && !bytes.Equal(b, first)
	}, s.proc)
	if now := time.Now().Unix(); now > exp {
		t.Errorf("refreshed %d s after the old token expired", now-exp)
	}
	if e2 := int64(jwtClaims(t, useFile(t, use))["exp"].(float64)); e2 <= exp {
		t.Error("the new token does not expire later")
	}
}

func TestRevokedVaultTokenDeletesCredentialAndHandles(t *testing.T) {
	s := newSite(t, nil)
	w := s.watch()
	sub := submitted(t, s, "default", "default&handle=ro&scopes=storage.read:/")
	for _, n := range []string{"default.use", "default_ro.use"} {
		w.WaitFor(t, 5*time.Second, n, func() bool { return exists(sub.File(n)) }, s.proc)
	}
	var top struct {
		VaultToken string `json:"vault_token"`
	}
	json.Unmarshal(readFile(t, sub.File("default.top")), &top)
	env.Revoke(t, top.VaultToken)
	// Make the credential due now: the credd re-stores it (same bytes).
	os.Chtimes(sub.File("default.top"), time.Now(), time.Now())
	touchTop(t, sub.File("default.top"))
	s.hup()
	w.WaitFor(t, 10*time.Second, "the credential and its handle to be deleted", func() bool {
		for _, n := range []string{"default.top", "default.use", "default_ro.top", "default_ro.use"} {
			if exists(sub.File(n)) {
				return false
			}
		}
		return true
	}, s.proc)
	if len(s.logLines("Deleting token user=")) == 0 {
		t.Error("no deletion logged")
	}
}

// touchTop rewrites a .top with the same bytes (a new ctime), as the credd
// does when a credential is stored again.
func touchTop(t *testing.T, p string) {
	t.Helper()
	b := readFile(t, p)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyDenialKeepsTheCredential(t *testing.T) {
	s := newSite(t, nil)
	w := s.watch()
	sub := submitted(t, s, "default")
	w.WaitFor(t, 5*time.Second, "default.use", func() bool { return exists(sub.File("default.use")) }, s.proc)
	// A handle pointing at bob's credential with alice's token: Vault says
	// permission denied, but the token is fine.
	var top map[string]string
	json.Unmarshal(readFile(t, sub.File("default.top")), &top)
	h := map[string]string{"vault_url": strings.Replace(top["vault_url"], "alice:", "bob:", 1)}
	b, _ := json.Marshal(h)
	hp := sub.File("default_bob.top")
	os.WriteFile(hp+".tmp", b, 0o600)
	os.Rename(hp+".tmp", hp)
	w.WaitFor(t, 5*time.Second, "the refusal to be logged", func() bool {
		return len(s.logLines("a policy denies the path")) > 0
	}, s.proc)
	for _, n := range []string{"default_bob.top", "default.top", "default.use"} {
		if !exists(sub.File(n)) {
			t.Errorf("%s was deleted", n)
		}
	}
	if exists(sub.File("default_bob.use")) {
		t.Error("a .use was written for a denied read")
	}
}

func TestVaultDownKeepsUseAndRecovers(t *testing.T) {
	s := newSite(t, map[string]string{"CREDMON_OAUTH_TOKEN_REFRESH": "2"})
	w := s.watch()
	sub := submitted(t, s, "default")
	use := sub.File("default.use")
	w.WaitFor(t, 5*time.Second, "default.use", func() bool { return exists(use) }, s.proc)
	before := readFile(t, use)
	if err := env.Stack.Vault.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			env.Stack.Vault.Restart(t.Context())
		}
	})
	// The refresh due after 2 s fails; the .use stays as it was and the
	// next attempt backs off.
	w.WaitFor(t, 20*time.Second, "a failed refresh", func() bool {
		return len(s.logLines("Failed to refresh token user=")) >= 1
	}, s.proc)
	if !bytes.Equal(readFile(t, use), before) {
		t.Error("the .use changed while Vault was down")
	}
	if !regexp.MustCompile(`token=default .*failures=1 retry_in=3\ds`).MatchString(strings.Join(s.logLines("Failed to refresh token"), "\n")) {
		t.Error("no back-off logged")
	}
	if err := env.Stack.Vault.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	s.hup()
	w.WaitFor(t, 60*time.Second, "a refresh after Vault came back", func() bool {
		b, err := os.ReadFile(use)
		return err == nil && !bytes.Equal(b, before)
	}, s.proc)
}

func TestSIGTERMExitsCleanly(t *testing.T) {
	s := newSite(t, nil)
	pid := readFile(t, filepath.Join(s.condor.CredDir, "pid"))
	if string(pid) != itoa(s.proc.Pid()) {
		t.Errorf("pid file %q, want %d", pid, s.proc.Pid())
	}
	if err := syscall.Kill(s.proc.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.proc.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if code := s.proc.ExitCode(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
