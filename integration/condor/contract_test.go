package condor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/integration/condor/credd"
	"github.com/vaultcred/gettoken/integration/stack"
)

const (
	baseURL  = "https://vault.example.org:8200/v1/secret/oauth/creds/dune/k:default"
	stsURL   = "https://vault.example.org:8200/v1/secret/oauth/sts/dune/k:production"
	failHint = "Operation failed.\n    Make sure your ALLOW_WRITE setting includes this host.\n"
)

// who is the user a contract case runs as.
type who struct {
	uid  int
	name string // the name the credd authenticates
	dir  string // <creddir>/<name>
}

func (u who) path(name string) string { return filepath.Join(u.dir, name) }

// contractCase is one condor_store_cred invocation and what HTCondor
// does for it.
type contractCase struct {
	name string
	// args may contain "{FILE}", replaced by a file owned by the user
	// holding fileContent.
	args        []string
	fileContent string
	stdin       string
	setup       func(t *testing.T, u who)
	code        int
	// stdout is the exact expected output, computed after the run.
	stdout func(t *testing.T, u who) string
	// stderr is the exact expected error output.
	stderr string
	// kick: the credd must SIGHUP the credmon (exactly once).
	kick  bool
	check func(t *testing.T, u who)
}

var oldTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.Local)

func pending(t *testing.T, u who) string {
	return header(u.uid) + "Operation succeeded and is waiting for processing.\n" + info(u.name)
}

func succeeded(t *testing.T, u who) string {
	return header(u.uid) + "Operation succeeded.\n" + info(u.name)
}

func headerOnly(t *testing.T, u who) string { return header(u.uid) }

func notStored(t *testing.T, u who) string { return header(u.uid) + "No credential is stored.\n" }

func failed(t *testing.T, u who) string { return header(u.uid) + failHint }

func unixAttr(t *testing.T, name, path string) string {
	return name + " = " + strconv.FormatInt(mtime(t, path).Unix(), 10)
}

func contractCases() []contractCase {
	big := strings.Repeat("x", credd.MaxCredential)
	return []contractCase{{
		name:   "add verbatim from stdin",
		args:   []string{"add-oauth", "-s", "dune", "-i", "-"},
		stdin:  vaultJSON("hvs.TOKEN1", baseURL),
		stdout: pending, kick: true,
		check: func(t *testing.T, u who) {
			checkSecret(t, u.path("dune.top"), []byte(vaultJSON("hvs.TOKEN1", baseURL)), 0o600)
			checkAbsent(t, u.path("dune.top.tmp"), u.path("dune.use"))
			fi, err := os.Stat(u.dir)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode()&(os.ModePerm|os.ModeSetgid) != 0o700|os.ModeSetgid {
				t.Errorf("user directory mode %v, want 0700 plus setgid inherited from the credential directory", fi.Mode())
			}
		},
	}, {
		name:        "add replaces and reads a file",
		args:        []string{"add-oath", "-s", "dune", "-i", "{FILE}"},
		fileContent: `{"vault_token":"hvs.TOKEN2","vault_url":"` + baseURL + `"}`,
		stdout:      pending, kick: true,
		check: func(t *testing.T, u who) {
			checkSecret(t, u.path("dune.top"), []byte(`{"vault_token":"hvs.TOKEN2","vault_url":"`+baseURL+`"}`), 0o600)
		},
	}, {
		name:   "add with handle, scopes and audience re-serialises",
		args:   []string{"add-scitokens", "-s", "dune_production", "-H", "ro", "-S", "read:/a,read:/b", "-A", "https://x.example", "-i", "-"},
		stdin:  vaultJSON("", stsURL),
		stdout: pending, kick: true,
		check: func(t *testing.T, u who) {
			want := "{\n  \"audience\": \"https://x.example\",\n  \"scopes\": \"read:/a,read:/b\",\n  \"vault_url\": \"" + stsURL + "\"\n}\n"
			checkSecret(t, u.path("dune_production_ro.top"), []byte(want), 0o600)
		},
	}, {
		name:   "-S needs a JSON credential",
		args:   []string{"add-oauth", "-s", "notjson", "-S", "a", "-i", "-"},
		stdin:  "opaque\n",
		code:   1,
		stdout: headerOnly, stderr: "Failure parsing credential as JSON\n",
		check: func(t *testing.T, u who) { checkAbsent(t, u.path("notjson.top")) },
	}, {
		name:  "-P stores a plain .use",
		args:  []string{"add-oa", "-P", "-s", "plain", "-i", "-"},
		stdin: "AT\n",
		stdout: func(t *testing.T, u who) string {
			return header(u.uid) + "Operation succeeded. Credential was stored on " + iso(mtime(t, u.path("plain.use"))) + "\n" + info(u.name)
		},
		check: func(t *testing.T, u who) {
			checkSecret(t, u.path("plain.use"), []byte("AT\n"), 0o600)
			checkAbsent(t, u.path("plain.top"))
		},
	}, {
		name:  "add when .use exists answers its time and wakes nobody",
		args:  []string{"add-oauth", "-s", "haveuse", "-i", "-"},
		stdin: vaultJSON("hvs.T3", baseURL),
		setup: func(t *testing.T, u who) { writeRoot(t, u.path("haveuse.use"), "old\n", 0o400, oldTime) },
		stdout: func(t *testing.T, u who) string {
			return header(u.uid) + "Operation succeeded. Credential was stored on " + iso(oldTime) + "\n" + info(u.name)
		},
		check: func(t *testing.T, u who) {
			checkSecret(t, u.path("haveuse.top"), []byte(vaultJSON("hvs.T3", baseURL)), 0o600)
			checkSecret(t, u.path("haveuse.use"), []byte("old\n"), 0o400)
		},
	}, {
		name: "query: nothing stored", args: []string{"query-oauth", "-s", "nothing"},
		code: 1, stdout: notStored,
	}, {
		name:  "query: .top without .use is pending and wakes the credmon",
		args:  []string{"query-oauth", "-s", "qp"},
		setup: func(t *testing.T, u who) { writeRoot(t, u.path("qp.top"), vaultJSON("T", baseURL), 0o600, oldTime) },
		stdout: func(t *testing.T, u who) string {
			return header(u.uid) + "A credential was stored on " + iso(oldTime) + " and is waiting for processing.\n" +
				info(u.name, unixAttr(t, "TopqpTime", u.path("qp.top")))
		},
		kick: true,
	}, {
		name: "query: .top and .use is valid",
		args: []string{"query-oauth", "-s", "qv"},
		setup: func(t *testing.T, u who) {
			writeRoot(t, u.path("qv.top"), vaultJSON("T", baseURL), 0o600, oldTime)
			writeRoot(t, u.path("qv.use"), "AT\n", 0o400, oldTime.Add(time.Hour))
		},
		stdout: func(t *testing.T, u who) string {
			return header(u.uid) + "A credential was stored on " + iso(oldTime.Add(time.Hour)) + " and is valid.\n" +
				info(u.name, unixAttr(t, "TopqvTime", u.path("qv.top")), unixAttr(t, "qv", u.path("qv.use")))
		},
	}, {
		name:  "query: .use alone is valid",
		args:  []string{"query-oauth", "-s", "qu"},
		setup: func(t *testing.T, u who) { writeRoot(t, u.path("qu.use"), "AT\n", 0o400, oldTime) },
		stdout: func(t *testing.T, u who) string {
			return header(u.uid) + "A credential was stored on " + iso(oldTime) + " and is valid.\n" + info(u.name, unixAttr(t, "qu", u.path("qu.use")))
		},
	}, {
		name: "query: scopes differ",
		args: []string{"query-oauth", "-s", "qm", "-S", "b"},
		setup: func(t *testing.T, u who) {
			writeRoot(t, u.path("qm.top"), `{"vault_url":"x","scopes":"a"}`, 0o600, oldTime)
		},
		code: 2, stdout: headerOnly,
		stderr: "Credential was found but it did not match requested scopes or audience\n",
	}, {
		name: "query: stored scopes but none asked is a mismatch too",
		args: []string{"query-oauth", "-s", "qm"},
		code: 2, stdout: headerOnly,
		stderr: "Credential was found but it did not match requested scopes or audience\n",
	}, {
		name: "query: same scopes and audience, handle joined",
		args: []string{"query-oauth", "-s", "qs", "-H", "h1", "-S", "a,b", "-A", "aud"},
		setup: func(t *testing.T, u who) {
			writeRoot(t, u.path("qs_h1.top"), `{"vault_url":"x","scopes":"a,b","audience":"aud"}`, 0o600, oldTime)
			writeRoot(t, u.path("qs_h1.use"), "AT\n", 0o400, oldTime)
		},
		stdout: func(t *testing.T, u who) string {
			return header(u.uid) + "A credential was stored on " + iso(oldTime) + " and is valid.\n" +
				info(u.name, unixAttr(t, "Topqs_h1Time", u.path("qs_h1.top")), unixAttr(t, "qs_h1", u.path("qs_h1.use")))
		},
	}, {
		name:  "query: an unparsable .top is a failure",
		args:  []string{"query-oauth", "-s", "qbad"},
		setup: func(t *testing.T, u who) { writeRoot(t, u.path("qbad.top"), "garbage", 0o600, oldTime) },
		code:  1, stdout: headerOnly, stderr: "Failure parsing credential as JSON\n",
	}, {
		name: "delete -s removes .top and .use only",
		args: []string{"delete-oauth", "-s", "d1"},
		setup: func(t *testing.T, u who) {
			for _, f := range []string{"d1.top", "d1.use", "d1.meta", "d2.top"} {
				writeRoot(t, u.path(f), "x", 0o600, time.Time{})
			}
		},
		stdout: succeeded,
		check: func(t *testing.T, u who) {
			checkAbsent(t, u.path("d1.top"), u.path("d1.use"))
			checkSecret(t, u.path("d1.meta"), []byte("x"), 0o600)
			checkSecret(t, u.path("d2.top"), []byte("x"), 0o600)
		},
	}, {
		name:   "untrusted Vault host",
		args:   []string{"add-oauth", "-s", "evil", "-i", "-"},
		stdin:  vaultJSON("hvs.T", "https://evil.example.com:8200/v1/secret/oauth/creds/dune/k:default"),
		code:   1,
		stdout: headerOnly, stderr: "Credential requires interacting with an untrusted host\n",
		check: func(t *testing.T, u who) { checkAbsent(t, u.path("evil.top")) },
	}, {
		name:   "trusted host: case and port ignored",
		args:   []string{"add-oauth", "-s", "other", "-i", "-"},
		stdin:  vaultJSON("hvs.T", "https://OTHER.example.org:8201/v1/x"),
		stdout: pending, kick: true,
		check: func(t *testing.T, u who) {
			checkSecret(t, u.path("other.top"), []byte(vaultJSON("hvs.T", "https://OTHER.example.org:8201/v1/x")), 0o600)
		},
	}, {
		name:   "a credential that is not JSON is not a Vault one",
		args:   []string{"add-oauth", "-s", "opaque", "-i", "-"},
		stdin:  "opaque-bytes",
		stdout: pending, kick: true,
		check: func(t *testing.T, u who) { checkSecret(t, u.path("opaque.top"), []byte("opaque-bytes"), 0o600) },
	}, {
		name: "bad service name", args: []string{"add-oauth", "-s", "a/b", "-i", "-"}, stdin: "{}",
		code: 1, stdout: headerOnly, stderr: "Operation aborted due to missing or bad arguments\n",
		check: func(t *testing.T, u who) { checkAbsent(t, u.path("a")) },
	}, {
		name: "bad handle name", args: []string{"add-oauth", "-s", "ok", "-H", "h!", "-i", "-"}, stdin: "{}",
		code: 1, stdout: headerOnly, stderr: "Operation aborted due to missing or bad arguments\n",
		check: func(t *testing.T, u who) { checkAbsent(t, u.path("ok_h!.top")) },
	}, {
		name: "bad name in a query", args: []string{"query-oauth", "-s", "x y"},
		code: 1, stdout: headerOnly, stderr: "Operation aborted due to missing or bad arguments\n",
	}, {
		name: "any request clears the sweep mark",
		args: []string{"query-oauth", "-s", "nothing"},
		setup: func(t *testing.T, u who) {
			writeRoot(t, filepath.Join(cd.CredDir, u.name+".mark"), "", 0o600, time.Time{})
		},
		code: 1, stdout: notStored,
		check: func(t *testing.T, u who) { checkAbsent(t, filepath.Join(cd.CredDir, u.name+".mark")) },
	}, {
		name: "1 MiB is accepted", args: []string{"add-oauth", "-s", "big", "-i", "-"}, stdin: big,
		stdout: pending, kick: true,
		check: func(t *testing.T, u who) { checkSecret(t, u.path("big.top"), []byte(big), 0o600) },
	}, {
		name: "over 1 MiB is refused", args: []string{"add-oauth", "-s", "toobig", "-i", "-"}, stdin: big + "x",
		code: 1, stdout: failed, stderr: "ERROR: the credential from stdin is larger than 1048576 bytes\n",
		check: func(t *testing.T, u who) { checkAbsent(t, u.path("toobig.top")) },
	}, {
		name: "empty credential", args: []string{"add-oauth", "-s", "empty", "-i", "-"},
		code: 1, stdout: headerOnly, stderr: "Operation failed: unknown error code -1\n",
		check: func(t *testing.T, u who) { checkAbsent(t, u.path("empty.top")) },
	}, {
		name: "unreadable -i file", args: []string{"add-oauth", "-s", "nofile", "-i", "/nonexistent/cred"},
		code: 1, stdout: failed, stderr: "Could not read credential from /nonexistent/cred\n",
	}, {
		name:   "delete without -s removes the user directory",
		args:   []string{"delete-oauth"},
		stdout: succeeded,
		check:  func(t *testing.T, u who) { checkAbsent(t, u.dir) },
	}, {
		name: "query after deleting everything", args: []string{"query-oauth"},
		code: 1, stdout: notStored,
	}}
}

// TestStoreCredContract runs every case through the real binaries, as root
// and as an unprivileged uid, checking exit status, exact stdout and
// stderr, the resulting files and the credmon wake-up.
func TestStoreCredContract(t *testing.T) {
	for _, uid := range uids() {
		name := credd.UserName(uid)
		u := who{uid: uid, name: name, dir: filepath.Join(cd.CredDir, name)}
		t.Run(name, func(t *testing.T) {
			for _, tc := range contractCases() {
				t.Run(tc.name, func(t *testing.T) { runCase(t, u, tc) })
			}
		})
	}
}

func runCase(t *testing.T, u who, tc contractCase) {
	if tc.setup != nil {
		tc.setup(t, u)
	}
	args := append([]string(nil), tc.args...)
	for i, a := range args {
		if a == "{FILE}" {
			args[i] = userFile(t, u.uid, strings.ReplaceAll(tc.name, " ", "_"), tc.fileContent)
		}
	}
	drainHups()
	before := kicks(t)
	r := storeCred(t, u.uid, tc.stdin, args...)
	if r.code != tc.code {
		t.Fatalf("exit %d, want %d\n%v", r.code, tc.code, r)
	}
	if want := tc.stdout(t, u); r.stdout != want {
		t.Errorf("stdout\n%s\nwant\n%s", r.stdout, want)
	}
	if r.stderr != tc.stderr {
		t.Errorf("stderr %q, want %q", r.stderr, tc.stderr)
	}
	got := kicks(t) - before
	if tc.kick {
		if got != 1 {
			t.Errorf("the credd logged %d SIGHUPs to the credmon, want 1", got)
		}
		expectHup(t)
	} else if got != 0 {
		t.Errorf("the credd logged %d SIGHUPs to the credmon, want none", got)
	}
	if tc.check != nil {
		tc.check(t, u)
	}
}

// TestActionSpellings checks the accepted spellings of the OAuth actions.
func TestActionSpellings(t *testing.T) {
	uid := uids()[len(uids())-1]
	for _, action := range []string{"query-oauth", "QUERY-OAUTH", "query-oath", "query-scitokens", "query-sci", "query-oa"} {
		r := storeCred(t, uid, "", action, "-s", "nothing-here")
		if r.code != 1 || r.stdout != header(uid)+"No credential is stored.\n" || r.stderr != "" {
			t.Errorf("%s: %v", action, r)
		}
	}
}

// TestUsageErrors checks the command-line errors: each exits 1 before
// contacting the credd.
func TestUsageErrors(t *testing.T) {
	uid := uids()[len(uids())-1]
	const usage = "Usage: condor_store_cred action [options]\n"
	for _, tc := range []struct {
		args   []string
		stderr string // prefix
		usage  bool
	}{
		{nil, usage, false},
		{[]string{"-h"}, usage, false},
		{[]string{"add-oauth", "-s", "x"}, "ERROR: add-krb and add-oauth commands require a credential filename argument\n", false},
		{[]string{"add-oauth", "-i", "-"}, "ERROR: add-oauth requires a service name argument (-s)\n", false},
		{[]string{"query-oauth", "-z"}, "ERROR: Unrecognized option - '-z'\n\n", true},
		{[]string{"frobnicate"}, "ERROR: Unrecognized command - 'frobnicate'\n\n", true},
		{[]string{"query-bogus"}, "ERROR: -bogus is not a known credential type\n", true},
		{[]string{"add-oauth", "query-oauth"}, "ERROR: exactly one command must be provided\n", true},
		{[]string{"query-oauth", "-s"}, "ERROR: Option '-s' requires a service argument\n\n", true},
		{[]string{"query-oauth", "-s", "a", "-s", "b"}, "ERROR: OAuth service already specified\n", true},
		{[]string{"query-oauth", "-u", "alice"}, "ERROR: Username 'alice' is not of the form: account@domain\n", true},
		{[]string{"query-oauth", "-u", "alice@"}, "ERROR: Username 'alice@' is not of the form: account@domain\n", true},
		{[]string{"add-krb", "-s", "x", "-i", "-"}, "ERROR: this condor_store_cred stand-in handles only OAuth credentials", false},
	} {
		r := storeCred(t, uid, "", tc.args...)
		if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, tc.stderr) {
			t.Errorf("%q: %v", tc.args, r)
		}
		if tc.usage && !strings.Contains(r.stderr, usage) {
			t.Errorf("%q: no usage text: %v", tc.args, r)
		}
	}
}

// TestSuperUsers checks -u: a user may name itself, root and
// CRED_SUPER_USERS may name anyone, others are refused.
func TestSuperUsers(t *testing.T) {
	cred := vaultJSON("hvs.S", baseURL)
	self := credd.UserName(userUID)

	r := storeCred(t, userUID, "", "query-oauth", "-u", "alice@"+domain, "-s", "dune")
	if self != "alice" && (r.code != 1 || r.stdout != "Account: alice@"+domain+"\nCredType: oauth\n\n" ||
		r.stderr != "Operation failed because it is not allowed\n") {
		t.Errorf("-u another user: %v", r)
	}
	drainHups()
	r = storeCred(t, userUID, cred, "add-oauth", "-u", self+"@elsewhere", "-s", "selfu", "-i", "-")
	if r.code != 0 {
		t.Errorf("-u own name: %v", r)
	}
	checkSecret(t, filepath.Join(cd.CredDir, self, "selfu.top"), []byte(cred), 0o600)

	if os.Geteuid() != 0 {
		t.Log("not root: the super-user and root cases need other uids")
		return
	}
	r = storeCred(t, superUID, cred, "add-oauth", "-u", "alice@"+domain, "-s", "sup", "-i", "-")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "Account: alice@"+domain+"\nCredType: oauth\n\nOperation succeeded and is waiting for processing.\n") {
		t.Errorf("CRED_SUPER_USERS member: %v", r)
	}
	checkSecret(t, filepath.Join(cd.CredDir, "alice", "sup.top"), []byte(cred), 0o600)
	r = storeCred(t, 0, cred, "add-oauth", "-u", "bob@"+domain, "-s", "rootfor", "-i", "-")
	if r.code != 0 {
		t.Errorf("root for bob: %v", r)
	}
	checkSecret(t, filepath.Join(cd.CredDir, "bob", "rootfor.top"), []byte(cred), 0o600)
	r = storeCred(t, 0, cred, "add-oauth", "-u", "bad/name@"+domain, "-s", "x", "-i", "-")
	if r.code != 1 || r.stderr != "Operation aborted due to missing or bad arguments\n" {
		t.Errorf("bad user name: %v", r)
	}
	checkAbsent(t, filepath.Join(cd.CredDir, "bad"))
	r = storeCred(t, 0, "", "delete-oauth", "-u", "condor_pool@"+domain)
	if r.code != 1 || r.stderr != "Operation failed because it is not allowed\n" {
		t.Errorf("pool password user: %v", r)
	}
}

// TestCredmonWakeup checks when the credd SIGHUPs the pid in
// <creddir>/pid: after an add or a query that leaves .top without .use,
// never when .use exists.
func TestCredmonWakeup(t *testing.T) {
	uid := uids()[len(uids())-1]
	u := credd.UserName(uid)
	dir := filepath.Join(cd.CredDir, u)
	cred := vaultJSON("hvs.W", baseURL)
	steps := []struct {
		what  string
		setup func()
		args  []string
		kick  bool
	}{
		{"add, .use missing", nil, []string{"add-oauth", "-s", "wake", "-i", "-"}, true},
		{"query, .use missing", nil, []string{"query-oauth", "-s", "wake"}, true},
		{"add, .use present", func() { writeRoot(t, filepath.Join(dir, "wake.use"), "AT\n", 0o400, time.Time{}) }, []string{"add-oauth", "-s", "wake", "-i", "-"}, false},
		{"query, .use present", nil, []string{"query-oauth", "-s", "wake"}, false},
		{"add of another name", nil, []string{"add-oauth", "-s", "wake2", "-i", "-"}, true},
		{"delete", nil, []string{"delete-oauth", "-s", "wake2"}, false},
	}
	drainHups()
	for _, s := range steps {
		if s.setup != nil {
			s.setup()
		}
		before := kicks(t)
		r := storeCred(t, uid, cred, s.args...)
		if r.code != 0 {
			t.Fatalf("%s: %v", s.what, r)
		}
		n := kicks(t) - before
		if s.kick {
			if n != 1 {
				t.Errorf("%s: %d SIGHUPs logged, want 1", s.what, n)
			}
			// Also catches a SIGHUP wrongly sent by an earlier step.
			expectHup(t)
		} else if n != 0 {
			t.Errorf("%s: %d SIGHUPs logged, want none", s.what, n)
		}
	}
}

// TestSweep checks the credd's sweep timer: a .mark older than
// SEC_CREDENTIAL_SWEEP_DELAY (3600 s) removes the user's directory; a
// fresh one does not.
func TestSweep(t *testing.T) {
	old := time.Now().Add(-2 * time.Hour)
	writeRoot(t, filepath.Join(cd.CredDir, "sweepme", "x.top"), "{}", 0o600, time.Time{})
	writeRoot(t, filepath.Join(cd.CredDir, "sweepme.mark"), "", 0o600, old)
	writeRoot(t, filepath.Join(cd.CredDir, "keepme", "x.top"), "{}", 0o600, time.Time{})
	writeRoot(t, filepath.Join(cd.CredDir, "keepme.mark"), "", 0o600, time.Time{})
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Lstat(filepath.Join(cd.CredDir, "sweepme")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweep did not remove the marked user's directory")
		}
		<-tick.C
	}
	checkAbsent(t, filepath.Join(cd.CredDir, "sweepme.mark"))
	// The pass that removed sweepme also saw keepme.
	for _, p := range []string{"keepme", "keepme/x.top", "keepme.mark"} {
		if _, err := os.Lstat(filepath.Join(cd.CredDir, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestConfigVal checks condor_config_val as an unprivileged user.
func TestConfigVal(t *testing.T) {
	uid := uids()[len(uids())-1]
	r := tool(t, cd, uid, nil, "", "condor_config_val", "CREDD_SOCKET")
	if r.code != 0 || r.stdout != cd.Socket+"\n" || r.stderr != "" {
		t.Errorf("one knob: %v", r)
	}
	r = tool(t, cd, uid, nil, "", "condor_config_val", "uid_domain", "nope", "TRUSTED_VAULT_HOSTS")
	if r.code != 1 || r.stdout != domain+"\nvault.example.org, Other.Example.ORG:8200\n" || r.stderr != "Not defined: NOPE\n" {
		t.Errorf("several knobs: %v", r)
	}
	r = tool(t, cd, uid, []string{"_CONDOR_UID_DOMAIN=override.domain", "_CONDOR_SEC_CREDENTIAL_GETTOKEN_OPTS="}, "", "condor_config_val", "UID_DOMAIN", "SEC_CREDENTIAL_GETTOKEN_OPTS")
	if r.code != 1 || r.stdout != "override.domain\n" || r.stderr != "Not defined: SEC_CREDENTIAL_GETTOKEN_OPTS\n" {
		t.Errorf("environment overrides: %v", r)
	}
	r = tool(t, cd, uid, nil, "", "condor_config_val", "-dump")
	want := []string{"CREDD_SOCKET = " + cd.Socket, "UID_DOMAIN = " + domain, "CREDD_LOG = " + cd.LogFile,
		"SEC_CREDENTIAL_DIRECTORY_OAUTH = " + cd.CredDir}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	for _, w := range want {
		found := false
		for _, l := range lines {
			found = found || l == w
		}
		if !found {
			t.Errorf("-dump lacks %q: %v", w, r)
		}
	}
	if r.code != 0 {
		t.Errorf("-dump: %v", r)
	}
}

// TestSecondInstance checks a credd without TRUSTED_VAULT_HOSTS (every
// host trusted) and the tool's behaviour once the credd is down.
func TestSecondInstance(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(base, "c2")
	logDir := filepath.Join(base, "log2")
	c, err := Start(ctx, dir, logDir, map[string]string{"UID_DOMAIN": domain})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	uid := uids()[len(uids())-1]
	u := credd.UserName(uid)
	cred := vaultJSON("hvs.E", "https://anywhere.example.net:8200/v1/x")
	r := tool(t, c, uid, nil, cred, "condor_store_cred", "add-oauth", "-s", "any", "-i", "-")
	if r.code != 0 || r.stdout != header(uid)+"Operation succeeded and is waiting for processing.\n"+info(u) {
		t.Errorf("TRUSTED_VAULT_HOSTS unset: %v", r)
	}
	checkSecret(t, filepath.Join(c.CredDir, u, "any.top"), []byte(cred), 0o600)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if stack.PidAlive(c.Credd.Pid()) {
		t.Fatal("condor_credd still running after Stop")
	}
	for _, args := range [][]string{{"query-oauth", "-s", "any"}, {"add-oauth", "-s", "any", "-i", "-"}} {
		r = tool(t, c, uid, nil, cred, "condor_store_cred", args...)
		if r.code != 1 || r.stdout != header(uid)+failHint ||
			!strings.HasPrefix(r.stderr, "STORE_CRED: Failed to start STORE_CRED command. Unable to contact the local condor_credd <"+c.Socket+">") {
			t.Errorf("%s with the credd down: %v", args[0], r)
		}
	}
	r = tool(t, c, uid, []string{"_CONDOR_CREDD_SOCKET="}, "", "condor_store_cred", "query-oauth", "-s", "any")
	if r.code != 1 || r.stdout != header(uid)+failHint || !strings.Contains(r.stderr, "CREDD_SOCKET is not defined") {
		t.Errorf("CREDD_SOCKET undefined: %v", r)
	}
	r = tool(t, c, uid, []string{"CONDOR_CONFIG=" + filepath.Join(dir, "missing")}, "", "condor_store_cred", "query-oauth", "-s", "any")
	if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, "ERROR: config: open ") {
		t.Errorf("missing configuration: %v", r)
	}
}

// TestReserialisedIsJSON checks that a credential stored with -S/-A
// parses to the input plus scopes and audience (replacing old values),
// keeping numbers and nested values.
func TestReserialisedIsJSON(t *testing.T) {
	uid := uids()[len(uids())-1]
	drainHups()
	in := `{"vault_token":"hvs.R","vault_url":"` + stsURL + `","n":1.50,"nested":{"a":[1,2]},"scopes":"old"}`
	r := storeCred(t, uid, in, "add-oauth", "-s", "reser", "-S", "s1,s2", "-A", "a1", "-i", "-")
	if r.code != 0 {
		t.Fatal(r)
	}
	expectHup(t)
	b, err := os.ReadFile(filepath.Join(cd.CredDir, credd.UserName(uid), "reser.top"))
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("stored %q: %v", b, err)
	}
	_ = json.Unmarshal([]byte(in), &want)
	want["scopes"], want["audience"] = "s1,s2", "a1"
	if !reflect.DeepEqual(got, want) || !strings.HasPrefix(string(b), "{\n  \"") || !strings.HasSuffix(string(b), "}\n") ||
		!strings.Contains(string(b), `"n": 1.50`) {
		t.Errorf("stored\n%s\nwant the fields %v, multi-line, numbers kept", b, want)
	}
}
