package htcondor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

const testToken = "hvs.CAESIJ-testonly-0123456789abcdef"

func TestAddOAuthArgvAndStdin(t *testing.T) {
	payload, err := BuildPayload(testToken, "https://v.example:8200/v1/secret/oauth/creds/dune/k:default")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		s             StoreCred
		cred, sc, aud string
		wantName      string
		wantArgs      []string
	}{
		{
			name: "plain", cred: "dune",
			wantName: "condor_store_cred",
			wantArgs: []string{"add-oauth", "-s", "dune", "-i", "-"},
		},
		{
			name: "user extra scopes audience",
			s:    StoreCred{Command: "/opt/condor/sbin/condor_store_cred", User: "u@d", ExtraArgs: []string{"-n", "host"}},
			cred: "dune_production_ro", sc: "read:/a,read:/b", aud: "https://x",
			wantName: "/opt/condor/sbin/condor_store_cred",
			wantArgs: []string{"add-oauth", "-u", "u@d", "-s", "dune_production_ro", "-n", "host", "-S", "read:/a,read:/b", "-A", "https://x", "-i", "-"},
		},
		{
			name: "audience only", cred: "dune_ro", aud: "https://x",
			wantName: "condor_store_cred",
			wantArgs: []string{"add-oauth", "-s", "dune_ro", "-A", "https://x", "-i", "-"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{respond: func([]string, []byte) reply {
				return reply{stdout: "Account: u\nCredType: oauth\n\nOperation succeeded.\n"}
			}}
			s := tt.s
			s.Runner = f.runInput
			if err := s.AddOAuth(context.Background(), tt.cred, tt.sc, tt.aud, payload); err != nil {
				t.Fatal(err)
			}
			if len(f.calls) != 1 {
				t.Fatalf("%d calls", len(f.calls))
			}
			c := f.calls[0]
			if c.name != tt.wantName {
				t.Errorf("command %q, want %q", c.name, tt.wantName)
			}
			argsEqual(t, "add-oauth", c.args, tt.wantArgs)
			if !bytes.Equal(c.stdin, payload) {
				t.Errorf("stdin = %q, want the payload", c.stdin)
			}
			if slices.ContainsFunc(c.args, func(a string) bool { return strings.Contains(a, testToken) }) {
				t.Error("token on the command line")
			}
			if c.deadline <= 0 || c.deadline > DefaultTimeout {
				t.Errorf("time left = %v", c.deadline)
			}
		})
	}
}

func TestQueryOAuthArgv(t *testing.T) {
	f := &fake{respond: func([]string, []byte) reply { return reply{} }}
	s := StoreCred{User: "svc@example.org", ExtraArgs: []string{"-n", "sched1"}, Runner: f.runInput}
	if _, err := s.QueryOAuth(context.Background(), "dune_production_ro", "read:/a", "https://x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.QueryOAuth(context.Background(), "dune", "", ""); err != nil {
		t.Fatal(err)
	}
	argsEqual(t, "query 1", f.calls[0].args, []string{"query-oauth", "-u", "svc@example.org", "-s", "dune_production_ro", "-n", "sched1", "-S", "read:/a", "-A", "https://x"})
	argsEqual(t, "query 2", f.calls[1].args, []string{"query-oauth", "-u", "svc@example.org", "-s", "dune", "-n", "sched1"})
	if f.calls[0].stdin != nil {
		t.Errorf("query got stdin %q", f.calls[0].stdin)
	}
}

func TestQueryOAuthResults(t *testing.T) {
	banner := "Account: alice (alice@example.org)\nCredType: oauth\n\n"
	tests := []struct {
		name      string
		r         reply
		want      QueryResult
		wantQErr  bool
		wantOther error
	}{
		{"stored", reply{stdout: banner + "A credential was stored on Mon Jan  1 00:00:00 2024 and is valid.\n"}, Stored, false, nil},
		{"stored pending", reply{stdout: banner + "A credential was stored ... and is waiting for processing.\n"}, Stored, false, nil},
		{"mismatch", reply{stdout: banner + "Operation failed: credential mismatch\n", code: 2}, Mismatch, false, nil},
		{"not stored", reply{stdout: banner + "No credential is stored.\n", code: 1}, NotStored, false, nil},
		{"not stored CRLF", reply{stdout: "Account: a\r\nNo credential is stored.\r\n", code: 1}, NotStored, false, nil},
		{"credd down", reply{stdout: banner + "Operation failed.\n    Make sure your ALLOW_WRITE setting includes this host.\n", stderr: "ERROR: failed to connect to <127.0.0.1:9618>\n", code: 1}, QueryUnknown, true, nil},
		{"refused, stderr only", reply{stderr: "SECMAN:2010:Received \"DENIED\" from server for user alice\n", code: 1}, QueryUnknown, true, nil},
		{"message not alone on its line", reply{stdout: "Operation failed: No credential is stored. maybe\n", code: 1}, QueryUnknown, true, nil},
		{"exit 3", reply{stdout: banner, code: 3}, QueryUnknown, true, nil},
		{"exit 127 from a shell", reply{stderr: "condor_store_cred: not found\n", code: 127}, QueryUnknown, true, nil},
		{"not installed", reply{code: -1, err: &NotInstalledError{Command: "condor_store_cred"}}, QueryUnknown, false, ErrNotInstalled},
		{"timeout", reply{code: -1, err: context.DeadlineExceeded}, QueryUnknown, false, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{respond: func([]string, []byte) reply { return tt.r }}
			s := StoreCred{Runner: f.runInput}
			got, err := s.QueryOAuth(context.Background(), "dune", "", "")
			if got != tt.want {
				t.Errorf("result = %v, want %v", got, tt.want)
			}
			var qe *QueryError
			isQ := errors.As(err, &qe)
			if isQ != tt.wantQErr {
				t.Fatalf("err = %v; QueryError %v, want %v", err, isQ, tt.wantQErr)
			}
			if tt.wantOther != nil && !errors.Is(err, tt.wantOther) {
				t.Errorf("err = %v, want %v", err, tt.wantOther)
			}
			if !tt.wantQErr && tt.wantOther == nil && err != nil {
				t.Errorf("unexpected err %v", err)
			}
			if isQ {
				if qe.ExitCode != tt.r.code || qe.Name != "dune" || string(qe.Stdout) != tt.r.stdout || string(qe.Stderr) != tt.r.stderr {
					t.Errorf("QueryError fields = %+v", qe)
				}
				msg := err.Error()
				if !strings.Contains(msg, "credd unreachable or refused") || strings.Contains(msg, "\n") {
					t.Errorf("message %q", msg)
				}
				if tt.r.stderr != "" && !strings.Contains(msg, strings.TrimSpace(strings.SplitN(tt.r.stderr, "\n", 2)[0])) {
					t.Errorf("message %q lacks the tool's stderr", msg)
				}
				if strings.Contains(msg, "Account:") {
					t.Errorf("message %q keeps the Account banner", msg)
				}
			}
		})
	}
}

func TestAddOAuthFailureKeepsOutputWithoutToken(t *testing.T) {
	payload, _ := BuildPayload(testToken, "https://v.example:8200/v1/x")
	f := &fake{respond: func([]string, []byte) reply {
		// A misbehaving tool that echoes its input.
		return reply{stdout: "Account: a\nCredType: oauth\nOperation failed.\n", stderr: "bad input: " + testToken + "\nCredential requires interacting with an untrusted host\n", code: 1}
	}}
	var out, errOut bytes.Buffer
	s := StoreCred{Runner: f.runInput, Stdout: &out, Stderr: &errOut}
	err := s.AddOAuth(context.Background(), "dune", "", "", payload)
	var se *StoreError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *StoreError", err)
	}
	if se.ExitCode != 1 || se.Name != "dune" {
		t.Errorf("StoreError = %+v", se)
	}
	msg := err.Error()
	if !strings.Contains(msg, "untrusted host") || !strings.Contains(msg, "Operation failed.") {
		t.Errorf("message %q lacks the tool's output", msg)
	}
	for what, b := range map[string]string{"message": msg, "Stderr field": string(se.Stderr), "stderr echo": errOut.String(), "stdout echo": out.String()} {
		if strings.Contains(b, testToken) {
			t.Errorf("%s carries the token: %q", what, b)
		}
	}
	if !strings.Contains(string(se.Stderr), "[redacted]") {
		t.Errorf("Stderr = %q, want the token redacted", se.Stderr)
	}
	if !strings.Contains(out.String(), "Operation failed.") {
		t.Errorf("verbose stdout = %q", out.String())
	}
}

func TestAddOAuthSuccessEchoesOnlyWhenAsked(t *testing.T) {
	f := &fake{respond: func([]string, []byte) reply { return reply{stdout: "Operation succeeded.\n"} }}
	var out bytes.Buffer
	s := StoreCred{Runner: f.runInput, Stdout: &out}
	if err := s.AddOAuth(context.Background(), "dune", "", "", []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	if out.String() != "Operation succeeded.\n" {
		t.Errorf("stdout echo = %q", out.String())
	}
	s.Stdout = nil
	if err := s.AddOAuth(context.Background(), "dune", "", "", nil); err != nil {
		t.Fatal(err)
	}
	if f.calls[1].stdin == nil || len(f.calls[1].stdin) != 0 {
		t.Errorf("nil payload: stdin = %#v, want empty non-nil", f.calls[1].stdin)
	}
}

func TestStoreCredRejectsBadNamesAndUsers(t *testing.T) {
	f := &fake{respond: func([]string, []byte) reply { return reply{} }}
	for _, name := range []string{"", "a b", "a/b", "../x", "dune*ro", "naïve", "x\n"} {
		s := StoreCred{Runner: f.runInput}
		if err := s.AddOAuth(context.Background(), name, "", "", []byte("{}")); !errors.Is(err, ErrInvalidName) {
			t.Errorf("AddOAuth(%q): %v, want ErrInvalidName", name, err)
		}
		if r, err := s.QueryOAuth(context.Background(), name, "", ""); !errors.Is(err, ErrInvalidName) || r != QueryUnknown {
			t.Errorf("QueryOAuth(%q): %v %v, want ErrInvalidName", name, r, err)
		}
	}
	for _, user := range []string{"alice", "@d", "alice@"} {
		s := StoreCred{Runner: f.runInput, User: user}
		if err := s.AddOAuth(context.Background(), "dune", "", "", []byte("{}")); !errors.Is(err, ErrInvalidUser) {
			t.Errorf("User %q: %v, want ErrInvalidUser", user, err)
		}
	}
	if len(f.calls) != 0 {
		t.Errorf("tool ran %d times for bad input", len(f.calls))
	}
}

func TestBuildPayloadGolden(t *testing.T) {
	url := "https://v.example:8200/v1/secret/oauth/creds/dune/k:default"
	got, err := BuildPayload("hvs.TOKEN", url)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"vault_token\": \"hvs.TOKEN\",\n  \"vault_url\": \"https://v.example:8200/v1/secret/oauth/creds/dune/k:default\"\n}\n"
	if string(got) != want {
		t.Errorf("4-line payload:\n%q\nwant\n%q", got, want)
	}
	got, err = BuildPayload("", url)
	if err != nil {
		t.Fatal(err)
	}
	want = "{\n  \"vault_url\": \"https://v.example:8200/v1/secret/oauth/creds/dune/k:default\"\n}\n"
	if string(got) != want {
		t.Errorf("3-line payload:\n%q\nwant\n%q", got, want)
	}
	var doc map[string]string
	if err := json.Unmarshal(got, &doc); err != nil || doc["vault_url"] != url {
		t.Errorf("payload is not the JSON it should be: %v %q", err, doc)
	}
	// Characters that are valid unescaped in JSON pass through.
	got, err = BuildPayload("a/b+c=d~é", "https://h:8200/v1/x?y=1&z=%20")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &doc); err != nil || doc["vault_token"] != "a/b+c=d~é" {
		t.Errorf("payload %q: %v", got, err)
	}
}

func TestBuildPayloadRejects(t *testing.T) {
	const secret = "s3cr3t-part"
	tests := []struct{ token, url string }{
		{secret + `"`, "https://h:8200/v1/x"},
		{secret + `\`, "https://h:8200/v1/x"},
		{secret + "\n", "https://h:8200/v1/x"},
		{secret + "\t", "https://h:8200/v1/x"},
		{secret + "\x00", "https://h:8200/v1/x"},
		{secret + "\xff", "https://h:8200/v1/x"},
		{secret, `https://h:8200/v1/"x`},
		{secret, "https://h:8200/v1/x\r"},
		{secret, ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := BuildPayload(tt.token, tt.url)
		if !errors.Is(err, ErrInvalidPayload) || got != nil {
			t.Errorf("BuildPayload(%q, %q) = %q, %v; want ErrInvalidPayload", tt.token, tt.url, got, err)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q carries the token", err)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, s := range []string{"dune", "dune_production", "dune_production_ro", "a-b+c=d.e", "X1", "-", "."} {
		if !ValidName(s) {
			t.Errorf("ValidName(%q) = false", s)
		}
	}
	for _, s := range []string{"", "a b", "a/b", "a*b", "a@b", "a:b", "é", "a\x00", "a\n", "a,b"} {
		if ValidName(s) {
			t.Errorf("ValidName(%q) = true", s)
		}
	}
}

func TestSplitList(t *testing.T) {
	got := SplitList(" dune, ,icarus\tmu2e,,\n  ")
	if !slices.Equal(got, []string{"dune", "icarus", "mu2e"}) {
		t.Errorf("SplitList = %q", got)
	}
	if got := SplitList(" , "); len(got) != 0 {
		t.Errorf("SplitList(blank) = %q", got)
	}
}

func TestQueryResultString(t *testing.T) {
	for r, want := range map[QueryResult]string{Stored: "stored", NotStored: "not stored", Mismatch: "mismatch", QueryUnknown: "unknown", QueryResult(42): "unknown"} {
		if r.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(r), r.String(), want)
		}
	}
}
