package storer

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vaultcred/gettoken/internal/htcondor"
	"github.com/vaultcred/gettoken/vaultcred"
)

// fakeCondor answers config queries from a map and records store_cred
// calls; these tests never reach them.
type fakeCondor struct {
	knobs map[string]string
	err   error
	calls []string
}

func (f *fakeCondor) Config(ctx context.Context, knobs ...string) (map[string]string, error) {
	f.calls = append(f.calls, "config "+strings.Join(knobs, " "))
	return f.knobs, f.err
}

func (f *fakeCondor) QueryOAuth(ctx context.Context, name, scopes, audience string) (htcondor.QueryResult, error) {
	f.calls = append(f.calls, "query "+name)
	return htcondor.NotStored, nil
}

func (f *fakeCondor) AddOAuth(ctx context.Context, name, scopes, audience string, payload []byte) error {
	f.calls = append(f.calls, "add "+name)
	return nil
}

func env(vars map[string]string) vaultcred.Environ {
	return vaultcred.Environ{Euid: 4242, LookupEnv: func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}}
}

func TestRunErrorsBeforeAnyToken(t *testing.T) {
	opts := map[string]string{"SEC_CREDENTIAL_GETTOKEN_OPTS": "-a vault.example.org"}
	cases := []struct {
		name  string
		args  []string
		knobs map[string]string
		env   map[string]string
		want  error
		msg   string
	}{
		{"no request", nil, opts, nil, ErrUsage, ""},
		{"only flags", []string{"-v"}, opts, nil, ErrUsage, ""},
		{"unknown option", []string{"-x", "dune"}, opts, nil, ErrUsage, ""},
		{"bad option in the knob", []string{"dune"}, map[string]string{"SEC_CREDENTIAL_VAULT_STORER_OPTS": "-q", "SEC_CREDENTIAL_GETTOKEN_OPTS": "-a v"}, nil, ErrUsage, ""},
		{"two underscores", []string{"a_b_c"}, opts, nil, nil, "Only one underscore allowed in use_oauth_services name"},
		{"reduced without handle", []string{"dune&scopes=read:/"}, opts, nil, nil, "reduced scopes or audience require a handle"},
		{"no gettoken options", []string{"dune"}, map[string]string{}, nil, nil, "Neither SEC_CREDENTIAL_GETTOKEN_OPTS condor value nor $HTGETTOKENOPTS environment set"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			s := &Storer{Condor: &fakeCondor{knobs: tc.knobs}, Env: env(tc.env), Stderr: &stderr}
			err := s.Run(context.Background(), tc.args)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				return
			}
			var fe *FatalError
			if !errors.As(err, &fe) || fe.Msg != tc.msg {
				t.Fatalf("got %v, want fatal %q", err, tc.msg)
			}
		})
	}
}

func TestHTGETTOKENOPTSReplacesTheKnob(t *testing.T) {
	// With $HTGETTOKENOPTS and no knob the storer goes on (and here fails
	// later, at the first token request, on the bad server name).
	var stderr bytes.Buffer
	f := &fakeCondor{knobs: map[string]string{}}
	s := &Storer{Condor: f, Env: env(map[string]string{"HTGETTOKENOPTS": "-a"}), Stderr: &stderr}
	err := s.Run(context.Background(), []string{"dune"})
	var fe *FatalError
	if !errors.As(err, &fe) || fe.Msg != "htgettoken failed" {
		t.Fatalf("got %v", err)
	}
	if !strings.HasPrefix(stderr.String(), "\nAuthentication needed for dune\n") {
		t.Errorf("stderr %q: want the leading newline and the authentication line", stderr.String())
	}
}

func TestConfigFailureIsFatal(t *testing.T) {
	s := &Storer{Condor: &fakeCondor{err: errors.New("condor_config_val: command not found")}, Env: env(nil), Stderr: &bytes.Buffer{}}
	err := s.Run(context.Background(), []string{"dune"})
	var fe *FatalError
	if !errors.As(err, &fe) || !strings.Contains(fe.Msg, "command not found") {
		t.Fatalf("got %v", err)
	}
}

func TestOptionErrorIsShown(t *testing.T) {
	// A bad htgettoken option fails both tries; the reason reaches the
	// terminal once (the quiet first try says nothing), as htgettoken's
	// own message would, next to the storer's "htgettoken failed".
	var stderr bytes.Buffer
	f := &fakeCondor{knobs: map[string]string{"SEC_CREDENTIAL_GETTOKEN_OPTS": "-a vault.example.org"}}
	s := &Storer{Condor: f, Env: env(nil), Stderr: &stderr}
	err := s.Run(context.Background(), []string{"dune&options=--minsecs=abc"})
	var fe *FatalError
	if !errors.As(err, &fe) || fe.Msg != "htgettoken failed" {
		t.Fatalf("got %v", err)
	}
	want := "\nAuthentication needed for dune\nhtgettoken: error: option --minsecs: invalid integer value: 'abc'\n"
	if stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}

func TestVerboseWriter(t *testing.T) {
	for _, tc := range []struct {
		flag string
		want string
	}{{"", ""}, {"-v", "\nAccount: alice\n"}, {"-d", "\nAccount: alice\n"}} {
		var stderr bytes.Buffer
		s := &Storer{Stderr: &stderr}
		s.out = &lineWriter{w: &stderr, lead: tc.flag != ""}
		if tc.flag != "" {
			if _, err := s.parseFlags([]string{tc.flag}); err != nil {
				t.Fatal(err)
			}
		}
		w := s.VerboseWriter()
		if n, err := w.Write([]byte("Account: alice\n")); n != 15 || err != nil {
			t.Errorf("%q: Write = %d, %v", tc.flag, n, err)
		}
		if stderr.String() != tc.want {
			t.Errorf("%q: stderr %q, want %q", tc.flag, stderr.String(), tc.want)
		}
	}
}

// TestQuietRunHasNoLeadingNewline: without -v a fatal error is the first
// thing on stderr, with no empty line before it (as the original storer);
// with -v the newline condor_submit's unfinished line needs comes first.
func TestQuietRunHasNoLeadingNewline(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"a_b_c"}, ""},
		{[]string{"-v", "a_b_c"}, "\n"},
	} {
		var stderr bytes.Buffer
		s := &Storer{Condor: &fakeCondor{knobs: map[string]string{"SEC_CREDENTIAL_GETTOKEN_OPTS": "-a v"}}, Env: env(nil), Stderr: &stderr}
		if err := s.Run(context.Background(), tc.args); err == nil {
			t.Fatalf("%q: no error", tc.args)
		}
		s.Newline()
		if stderr.String() != tc.want {
			t.Errorf("%q: stderr before the message %q, want %q", tc.args, stderr.String(), tc.want)
		}
	}
}
