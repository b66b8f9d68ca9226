package optparse

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/vaultcred"
)

// envOf returns an Environ with the given variables.
func envOf(vars map[string]string) vaultcred.Environ {
	return vaultcred.Environ{LookupEnv: func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}}
}

// optServer serves body (with status) at every path and records requests.
type optServer struct {
	*httptest.Server
	status int
	body   string

	mu    sync.Mutex
	paths []string
}

func (s *optServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.paths...)
}

func newOptServer(t *testing.T, status int, body string) *optServer {
	t.Helper()
	s := &optServer{status: status, body: body}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.paths = append(s.paths, r.Method+" "+r.URL.RequestURI())
		s.mu.Unlock()
		if s.status == http.StatusFound {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(s.status)
		w.Write([]byte(s.body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *optServer) host() string { return strings.TrimPrefix(s.URL, "https://") }

func (s *optServer) sources(env map[string]string, log *bytes.Buffer) Sources {
	return Sources{
		Env:        envOf(env),
		HTTPClient: func(*vaultcred.Options) (*http.Client, error) { return s.Client(), nil },
		Log:        log,
	}
}

func TestLoadPrecedenceEnvAndArgs(t *testing.T) {
	p := HTGetToken("htgettoken", "")
	env := map[string]string{EnvOpts: "-a envhost -i env -r envrole # -i commented\n--minsecs=5"}
	opts, err := Load(context.Background(), p, []string{"-i", "cli", "--qr", "--reuse-bearer"}, Sources{Env: envOf(env)})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Issuer != "cli" || opts.Role != "envrole" || opts.VaultServer != "envhost" || opts.MinSecs != 5 {
		t.Errorf("got issuer %q role %q server %q minsecs %d", opts.Issuer, opts.Role, opts.VaultServer, opts.MinSecs)
	}
	if !opts.QR || !opts.ReuseBearer {
		t.Errorf("extensions not set: qr %v reuse %v", opts.QR, opts.ReuseBearer)
	}
	if opts.VaultTokenTTL != 7*24*time.Hour || opts.VaultTokenMinTTL != 0 {
		t.Errorf("ttl %v min %v", opts.VaultTokenTTL, opts.VaultTokenMinTTL)
	}
}

func TestLoadDefaults(t *testing.T) {
	p := HTGetToken("gettoken", "")
	opts, err := Load(context.Background(), p, []string{"-a", "h"}, Sources{Env: envOf(map[string]string{"X509_CERT_DIR": "/x509"})})
	if err != nil {
		t.Fatal(err)
	}
	want := vaultcred.NewOptions()
	want.VaultServer = "h"
	want.CAPath = "/x509"
	if *opts != *want {
		t.Errorf("got %+v\nwant %+v", *opts, *want)
	}
}

func TestLoadOptServerPrecedence(t *testing.T) {
	srv := newOptServer(t, http.StatusOK, "-a vault.example -i s -r s # server defaults\n--minsecs=7 --nokerberos\n")
	var log bytes.Buffer
	p := HTGetToken("htgettoken", "")
	env := map[string]string{EnvOpts: "-s " + srv.host() + " -i env"}
	opts, err := Load(context.Background(), p, []string{"-r", "cli", "-v"}, srv.sources(env, &log))
	if err != nil {
		t.Fatal(err)
	}
	if opts.VaultServer != "vault.example" || opts.Issuer != "env" || opts.Role != "cli" || opts.MinSecs != 7 || !opts.NoKerberos {
		t.Errorf("got server %q issuer %q role %q minsecs %d nokerberos %v",
			opts.VaultServer, opts.Issuer, opts.Role, opts.MinSecs, opts.NoKerberos)
	}
	if reqs := srv.requests(); len(reqs) != 1 || reqs[0] != "GET /"+OptServerFile {
		t.Errorf("requests %q", reqs)
	}
	wantLog := "Fetching options from https://" + srv.host() + "/" + OptServerFile + "\n"
	if log.String() != wantLog {
		t.Errorf("log %q, want %q", log.String(), wantLog)
	}
}

func TestLoadOptServerURLAndDebug(t *testing.T) {
	srv := newOptServer(t, http.StatusOK, "-a h")
	var log bytes.Buffer
	p := HTGetToken("gettoken", "")
	// An http:// URL is fetched over TLS all the same; the query is kept.
	u := "http://" + srv.host() + "/path/opts.txt?site=x"
	opts, err := Load(context.Background(), p, []string{"-d", "-s", u}, srv.sources(nil, &log))
	if err != nil {
		t.Fatal(err)
	}
	if opts.VaultServer != "h" {
		t.Errorf("server %q", opts.VaultServer)
	}
	if reqs := srv.requests(); len(reqs) != 1 || reqs[0] != "GET /path/opts.txt?site=x" {
		t.Errorf("requests %q", reqs)
	}
	want := "Fetching options from " + u + "\n##### Begin additional options\n-a h\n##### End additional options\n"
	if log.String() != want {
		t.Errorf("log %q, want %q", log.String(), want)
	}
}

func TestLoadOptServerErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string // error text after "<what> failed: "
		what   string // "fetch" or "parsing"
	}{
		{"json errors", http.StatusNotFound, `{"errors":["no such file","really"]}`, "HTTPError: Not Found: no such file really", "fetch of options from "},
		{"plain body", http.StatusForbidden, "go away\n", "HTTPError: Forbidden: go away", "fetch of options from "},
		{"redirect not followed", http.StatusFound, "", "HTTPError: Found:", "fetch of options from "},
		{"bad quoting", http.StatusOK, `-i "unterminated`, "No closing quotation", "parsing options from "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newOptServer(t, tc.status, tc.body)
			p := HTGetToken("gettoken", "")
			opts, err := Load(context.Background(), p, []string{"-q", "-s", srv.host()}, srv.sources(nil, nil))
			var se *SourceError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want *SourceError", err)
			}
			want := tc.what + "https://" + srv.host() + "/" + OptServerFile + " failed: " + tc.want
			if err.Error() != want {
				t.Errorf("got  %q\nwant %q", err.Error(), want)
			}
			if opts == nil || !opts.Quiet {
				t.Errorf("options of the first parse not returned: %+v", opts)
			}
		})
	}
}

func TestLoadOptServerTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			panic(http.ErrAbortHandler) // answer nothing to a client that hung up
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	p := HTGetToken("gettoken", "")
	src := Sources{
		HTTPClient:   func(*vaultcred.Options) (*http.Client, error) { return srv.Client(), nil },
		FetchTimeout: 50 * time.Millisecond,
	}
	_, err := Load(context.Background(), p, []string{"-s", srv.URL + "/o"}, src)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want a deadline error", err)
	}
}

func TestLoadOptServerNeedsClient(t *testing.T) {
	p := HTGetToken("gettoken", "")
	_, err := Load(context.Background(), p, []string{"-s", "h.example"}, Sources{})
	var se *SourceError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "no HTTP client") {
		t.Errorf("got %v", err)
	}
}

func TestLoadOptServerReparseErrors(t *testing.T) {
	tests := []struct {
		body string
		want string
	}{
		{"-a h extra", "no non-option arguments expected"},
		{"--bogus", "no such option: --bogus"},
		{"-i", "no non-option arguments expected"}, // -i takes "-s"; the host is left over
		{"--minsecs=x", "option --minsecs: invalid integer value: 'x'"},
	}
	for _, tc := range tests {
		srv := newOptServer(t, http.StatusOK, tc.body)
		p := HTGetToken("gettoken", "")
		_, err := Load(context.Background(), p, []string{"-s", srv.host()}, srv.sources(nil, nil))
		if err == nil || err.Error() != tc.want {
			t.Errorf("body %q: got %v, want %q", tc.body, err, tc.want)
		}
		if exitCode(err) != 2 {
			t.Errorf("body %q: exit code %d, want 2", tc.body, exitCode(err))
		}
	}
}

func TestLoadOptServerProvidesVaultServer(t *testing.T) {
	srv := newOptServer(t, http.StatusOK, "")
	p := HTGetToken("gettoken", "")
	_, err := Load(context.Background(), p, []string{"-s", srv.host()}, srv.sources(nil, nil))
	var oe *vaultcred.OptionError
	if !errors.As(err, &oe) || !oe.Usage || oe.Msg != vaultcred.MissingVaultServerMsg {
		t.Errorf("got %v, want the missing vaultserver usage error", err)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		env  string
		args []string
		want string
		code int
	}{
		{"missing vaultserver", "", nil, "Missing required parameters: ['--vaultserver']", 2},
		{"missing beats ttl", "", []string{"--vaulttokenttl=5x"}, "Missing required parameters: ['--vaultserver']", 2},
		{"positional in env", "-a h stray", nil, "no non-option arguments expected", 2},
		{"positional after --", "", []string{"-a", "h", "--", "-v"}, "no non-option arguments expected", 2},
		{"env split", `-a "h`, nil, "parsing HTGETTOKENOPTS failed: No closing quotation", 1},
		{"parse error in env", "--nope", []string{"-a", "h"}, "no such option: --nope", 2},
		{"bad ttl", "", []string{"-a", "h", "--vaulttokenttl=5x"}, "--vaulttokenttl is not a number followed by s, m, h, or d", 1},
		{"bad ttl beats bad minttl", "", []string{"-a", "h", "--vaulttokenttl=60", "--vaulttokenminttl=d"}, "--vaulttokenttl is not a number followed by s, m, h, or d", 1},
		{"bad minttl", "", []string{"-a", "h", "--vaulttokenminttl="}, "--vaulttokenminttl is not a number followed by s, m, h, or d", 1},
		{"help wins over missing", "", []string{"-h"}, ErrHelp.Error(), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := HTGetToken("gettoken", "")
			_, err := Load(context.Background(), p, tc.args, Sources{Env: envOf(map[string]string{EnvOpts: tc.env})})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if code := exitCode(err); code != tc.code && !(tc.code == 0 && errors.Is(err, ErrHelp)) {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
		})
	}
}

func TestLoadTTLs(t *testing.T) {
	p := HTGetToken("gettoken", "")
	opts, err := Load(context.Background(), p, []string{"-a", "h", "--vaulttokenttl=28d", "--vaulttokenm=90m"}, Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if opts.VaultTokenTTL != 28*24*time.Hour || opts.VaultTokenMinTTL != 90*time.Minute {
		t.Errorf("ttl %v min %v", opts.VaultTokenTTL, opts.VaultTokenMinTTL)
	}
}

func TestLoadWebOpenCommandSet(t *testing.T) {
	p := HTGetToken("gettoken", "")
	opts, err := Load(context.Background(), p, []string{"-a", "h", "--web-open-command="}, Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if !opts.WebOpenCommandSet || opts.WebOpenCommand != "" {
		t.Errorf("set %v cmd %q", opts.WebOpenCommandSet, opts.WebOpenCommand)
	}
}

// exitCode maps an error to its exit status as cmd/gettoken does: 2 for
// parse errors and usage errors, 1 for the rest.
func exitCode(err error) int {
	var pe *Error
	var oe *vaultcred.OptionError
	if errors.As(err, &pe) || errors.As(err, &oe) && oe.Usage {
		return 2
	}
	return 1
}
