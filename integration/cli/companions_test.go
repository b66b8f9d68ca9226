package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecodeToken(t *testing.T) {
	u := newUser(t)
	u.login("alice")
	r := u.Exec("htdecodetoken", "")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"sub": "alice"`) || !strings.Contains(r.Stdout, `"wlcg.ver": "1.0"`) {
		t.Fatalf("htdecodetoken of the bearer token:\n%v", r)
	}
}

func TestDestroyTokenDeletesTheRefreshTokenInVault(t *testing.T) {
	u := newUser(t)
	u.login("alice", "-i", "cilogon")
	path := "secret/oauth/creds/cilogon/alice:default"
	if sec, err := env.Stack.Vault.Admin.Logical().Read(path); err != nil || sec == nil {
		t.Fatalf("no credential stored before: %v", err)
	}
	bt := filepath.Join(u.Run, fmt.Sprintf("bt_u%d", env.UID))
	u.Environ = append(u.Environ, "VAULT_TOKEN_FILE="+u.VT)
	r := u.Exec("htdestroytoken", "", "-f", "-i", "cilogon")
	want := fmt.Sprintf("Deleting refresh token\n  at path %s/v1/%s\nRemoving %s\nRemoving %s\n", v(), path, bt, u.VT)
	if r.Code != 0 || r.Stdout+r.Stderr != want {
		t.Fatalf("output:\n%v\nwant:\n%s", r, want)
	}
	if sec, err := env.Stack.Vault.Admin.Logical().Read(path); err != nil || sec != nil {
		t.Errorf("the credential is still in Vault (%v)", err)
	}
	for _, p := range []string{bt, u.VT} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s not removed", p)
		}
	}
}
