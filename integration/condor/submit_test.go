package condor

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vaultcred/gettoken/integration/condor/credd"
)

// TestSubmitOAuthContract checks condor_submit + CREDD_CHECK_CREDS as
// HTCondor behaves: missing tokens give the greeting with a key URL (exit
// 1) and a 0640 key file; present ones let the job through; different
// scopes and a missing secret file are "OAuth error" bail-outs.
func TestSubmitOAuthContract(t *testing.T) {
	dir := filepath.Join(base, "submit")
	secret := filepath.Join(base, "files", "box.secret")
	if err := os.WriteFile(secret, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Start(t.Context(), dir, filepath.Join(base, "log"), map[string]string{
		"UID_DOMAIN": domain, "CREDMON_WEB_PREFIX": "https://ap.example.org/credmon",
		"BOX_CLIENT_ID": "cid", "BOX_CLIENT_SECRET_FILE": secret, "BOX_RETURN_URL_SUFFIX": "/return/box",
		"NOSECRET_CLIENT_ID": "cid2",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	sub := filepath.Join(base, "files", "job.sub")
	write := func(s string) {
		if err := os.WriteFile(sub, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	user := credd.UserName(userUID)
	write("use_oauth_services = box\nbox_oauth_permissions_h1 = a, b\nqueue\n")
	r := tool(t, c, userUID, nil, "", "condor_submit", sub)
	m := regexp.MustCompile(`^\nHellow, ` + regexp.QuoteMeta(user) + `\.\nPlease visit: https://ap\.example\.org/credmon/key/([0-9a-f]{64})\n\n$`).FindStringSubmatch(r.stdout)
	if r.code != 1 || m == nil {
		t.Fatalf("missing token:\n%s", r)
	}
	kf := filepath.Join(c.CredDir, m[1])
	st, err := os.Stat(kf)
	if err != nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("key file: %v", err)
	}
	b, _ := os.ReadFile(kf)
	for _, w := range []string{"Handle = \"h1\"\n", "Scopes = \"a, b\"\n", "LocalUser = \"" + user + "\"\n", "ReturnUrl = \"https://ap.example.org/credmon/return/box\"\n", "ClientSecret = \"s3cr3t\"\n", "TokenUrl = \"https://api.box.com/oauth2/token\"\n"} {
		if !strings.Contains(string(b), w) {
			t.Errorf("key file lacks %q:\n%s", w, b)
		}
	}
	ud := filepath.Join(c.CredDir, user)
	os.MkdirAll(ud, 0o700)
	os.WriteFile(filepath.Join(ud, "box_h1.top"), []byte(`{"refresh_token": "r", "scopes": "a, b"}`), 0o600)
	if r := tool(t, c, userUID, nil, "", "condor_submit", sub); r.code != 0 || !strings.Contains(r.stdout, "1 job(s) submitted") {
		t.Errorf("all present:\n%s", r)
	}
	write("use_oauth_services = box\nbox_oauth_permissions_h1 = a,b\n")
	if r := tool(t, c, userUID, nil, "", "condor_submit", sub); r.code != 1 || !strings.HasPrefix(r.stderr, "Failed to process job credential requests: 'OAuth error: ERROR - credentials exist that do not match the request") {
		t.Errorf("mismatch:\n%s", r)
	}
	write("use_oauth_services = nosecret\n")
	if r := tool(t, c, userUID, nil, "", "condor_submit", sub); r.code != 1 || r.stderr != "Failed to process job credential requests: 'OAuth error: Failed to securely read client secret for service nosecret; Tell your admin that NOSECRET_CLIENT_SECRET_FILE is not configured'; BAILING OUT.\n" {
		t.Errorf("no secret:\n%s", r)
	}
	write("use_oauth_services = notoauth\n")
	if r := tool(t, c, userUID, nil, "", "condor_submit", sub); r.code != 0 {
		t.Errorf("not an OAuth service:\n%s", r)
	}
}
