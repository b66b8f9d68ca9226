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
	r := u.exec("htdecodetoken", "")
	if r.code != 0 || !strings.Contains(r.stdout, `"sub": "alice"`) || !strings.Contains(r.stdout, `"wlcg.ver": "1.0"`) {
		t.Fatalf("htdecodetoken of the bearer token:\n%v", r)
	}
}

func TestDestroyTokenDeletesTheRefreshTokenInVault(t *testing.T) {
	u := newUser(t)
	u.login("alice", "-i", "cilogon")
	path := "secret/oauth/creds/cilogon/alice:default"
	if sec, err := st.Vault.Admin.Logical().Read(path); err != nil || sec == nil {
		t.Fatalf("no credential stored before: %v", err)
	}
	bt := filepath.Join(u.run, fmt.Sprintf("bt_u%d", testUID))
	u.env = append(u.env, "VAULT_TOKEN_FILE="+u.vt)
	r := u.exec("htdestroytoken", "", "-f", "-i", "cilogon")
	want := fmt.Sprintf("Deleting refresh token\n  at path %s/v1/%s\nRemoving %s\nRemoving %s\n", v(), path, bt, u.vt)
	if r.code != 0 || r.stdout+r.stderr != want {
		t.Fatalf("output:\n%v\nwant:\n%s", r, want)
	}
	if sec, err := st.Vault.Admin.Logical().Read(path); err != nil || sec != nil {
		t.Errorf("the credential is still in Vault (%v)", err)
	}
	for _, p := range []string{bt, u.vt} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s not removed", p)
		}
	}
}
