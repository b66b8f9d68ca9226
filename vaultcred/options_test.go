package vaultcred

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"
)

// testEnv is a non-interactive Linux environment for euid 1234.
func testEnv(vars map[string]string) Environ {
	return Environ{
		LookupEnv: func(k string) (string, bool) {
			v, ok := vars[k]
			return v, ok
		},
		Euid:    1234,
		HomeDir: "/home/alice",
		UserHomeDir: func(name string) (string, bool) {
			if name == "bob" {
				return "/home/bob/", true
			}
			return "", false
		},
		GOOS: "linux",
	}
}

// withFiles adds a Stat that sees the files and directories of m.
func withFiles(e Environ, m fstest.MapFS) Environ {
	e.Stat = func(name string) (fs.FileInfo, error) {
		if len(name) == 0 || name[0] != '/' {
			return nil, fs.ErrNotExist
		}
		return fs.Stat(m, name[1:])
	}
	return e
}

func derived(t *testing.T, env Environ, set func(o *Options)) *Options {
	t.Helper()
	o := NewOptions()
	o.VaultServer = "htvault.example.com"
	if set != nil {
		set(o)
	}
	if err := o.Derive(env); err != nil {
		t.Fatalf("Derive: %v", err)
	}
	return o
}

func TestDeriveErrorsAndOrder(t *testing.T) {
	tests := []struct {
		name  string
		set   func(o *Options)
		want  string
		usage bool
	}{
		{"missing vaultserver", func(o *Options) { o.VaultServer = "" }, MissingVaultServerMsg, true},
		{"missing vaultserver beats ttl", func(o *Options) { o.VaultServer = ""; o.VaultTokenMinTTL = 30 * 24 * time.Hour }, MissingVaultServerMsg, true},
		{"minttl equal", func(o *Options) { o.VaultTokenMinTTL = o.VaultTokenTTL }, "--vaulttokenminttl must be less than --vaulttokenttl", false},
		{"minttl equal in whole seconds", func(o *Options) {
			o.VaultTokenTTL = 10*time.Second + 500*time.Millisecond
			o.VaultTokenMinTTL = 10 * time.Second
		}, "--vaulttokenminttl must be less than --vaulttokenttl", false},
		{"zero ttl", func(o *Options) { o.VaultTokenTTL = 0 }, "--vaulttokenminttl must be less than --vaulttokenttl", false},
		{"negative ttl", func(o *Options) { o.VaultTokenTTL = -time.Hour }, "--vaulttokenttl is not a number followed by s, m, h, or d", false},
		{"minttl beats devfile rule", func(o *Options) {
			o.VaultTokenTTL = 12 * 24 * time.Hour
			o.VaultTokenMinTTL = 13 * 24 * time.Hour
			o.VaultTokenFile = "/tmp/x"
		}, "--vaulttokenminttl must be less than --vaulttokenttl", false},
		{"devfile rule", func(o *Options) { o.VaultTokenTTL = 12 * 24 * time.Hour; o.VaultTokenFile = "/tmp/x" },
			"--vaulttokenfile must be under /dev/ when --vaulttokenttl is greater than a million seconds", false},
		{"devfile rule on /dev/null", func(o *Options) { o.VaultTokenTTL = 1000001 * time.Second; o.VaultTokenFile = "/dev/null" },
			"--vaulttokenfile must be under /dev/ when --vaulttokenttl is greater than a million seconds", false},
		{"devfile rule beats bad url", func(o *Options) {
			o.VaultServer = "h:x"
			o.VaultTokenTTL = 12 * 24 * time.Hour
			o.VaultTokenFile = "/tmp/x"
		},
			"--vaulttokenfile must be under /dev/ when --vaulttokenttl is greater than a million seconds", false},
		{"bad port", func(o *Options) { o.VaultServer = "h:x" }, `--vaultserver "h:x" has an invalid port`, false},
		{"port zero", func(o *Options) { o.VaultServer = "https://h:0" }, `--vaultserver "https://h:0" has an invalid port`, false},
		{"port too big", func(o *Options) { o.VaultServer = "h:65536" }, `--vaultserver "h:65536" has an invalid port`, false},
		{"no host", func(o *Options) { o.VaultServer = "https://" }, `--vaultserver "https://" is not a valid host or URL`, false},
		{"no host with path", func(o *Options) { o.VaultServer = "https:///v" }, `--vaultserver "https:///v" is not a valid host or URL`, false},
		{"space in host", func(o *Options) { o.VaultServer = "a b" }, `--vaultserver "a b" is not a valid host or URL`, false},
		{"too many colons", func(o *Options) { o.VaultServer = "h:1:2" }, `--vaultserver "h:1:2" is not a valid host or URL`, false},
		{"bad alias", func(o *Options) { o.VaultAlias = "https://" }, `--vaultalias "https://" is not a valid host or URL`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions()
			o.VaultServer = "htvault.example.com"
			tc.set(o)
			err := o.Derive(testEnv(nil))
			var oe *OptionError
			if !errors.As(err, &oe) {
				t.Fatalf("got %v, want *OptionError", err)
			}
			if oe.Msg != tc.want || oe.Usage != tc.usage {
				t.Errorf("got %q usage=%v, want %q usage=%v", oe.Msg, oe.Usage, tc.want, tc.usage)
			}
			if o.Derived() {
				t.Errorf("Derived() true after an error")
			}
		})
	}
}

func TestDeriveErrorKeepsEarlierSettings(t *testing.T) {
	o := NewOptions()
	o.VaultServer = "h:x"
	o.ShowBearerURL = true
	err := o.Derive(testEnv(nil))
	if err == nil {
		t.Fatal("no error")
	}
	// Steps 2 and 6 ran before the URL check failed.
	if !o.ShowProgress || o.LogToStdout {
		t.Errorf("ShowProgress %v LogToStdout %v", o.ShowProgress, o.LogToStdout)
	}
}

func TestDeriveFlags(t *testing.T) {
	tests := []struct {
		name                                    string
		set                                     func(o *Options)
		verbose, progress, nokrb, nossh, nooidc bool
	}{
		{"default", func(o *Options) {}, false, true, false, false, true},
		{"quiet", func(o *Options) { o.Quiet = true }, false, false, false, false, true},
		{"verbose", func(o *Options) { o.Verbose = true }, true, false, false, false, true},
		{"debug", func(o *Options) { o.Debug = true }, true, false, false, false, true},
		{"registerssh", func(o *Options) { o.RegisterSSH = true }, false, true, true, true, true},
		{"novaulttoken", func(o *Options) { o.NoVaultToken = true }, false, true, true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := derived(t, testEnv(nil), tc.set)
			if o.Verbose != tc.verbose || o.ShowProgress != tc.progress || o.NoKerberos != tc.nokrb ||
				o.NoSSH != tc.nossh || o.NoOIDC != tc.nooidc {
				t.Errorf("verbose %v progress %v nokerberos %v nossh %v nooidc %v",
					o.Verbose, o.ShowProgress, o.NoKerberos, o.NoSSH, o.NoOIDC)
			}
		})
	}
}

func TestDeriveBackgroundOIDC(t *testing.T) {
	tests := []struct {
		name                 string
		in, out, errTTY      bool
		nooidc, disabledHere bool
		preset               bool
	}{
		{"no tty", false, false, false, true, true, false},
		{"stdin tty", true, false, false, false, false, false},
		{"stdout tty", false, true, false, false, false, false},
		{"stderr tty", false, false, true, false, false, false},
		{"already off", false, false, false, true, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(nil)
			env.StdinTTY, env.StdoutTTY, env.StderrTTY = tc.in, tc.out, tc.errTTY
			o := derived(t, env, func(o *Options) { o.NoOIDC = tc.preset })
			if o.NoOIDC != tc.nooidc || o.OIDCDisabledInBackground != tc.disabledHere {
				t.Errorf("NoOIDC %v OIDCDisabledInBackground %v", o.NoOIDC, o.OIDCDisabledInBackground)
			}
		})
	}
}

func TestDeriveFiles(t *testing.T) {
	tests := []struct {
		name                   string
		vars                   map[string]string
		set                    func(o *Options)
		out, vt, vtIn, credkey string
		logToStdout, exchange  bool
	}{
		{name: "defaults", out: "/tmp/bt_u1234", vt: "/tmp/vt_u1234", vtIn: "/tmp/vt_u1234",
			credkey: "/home/alice/.config/htgettoken/credkey-default-default", logToStdout: true},
		{name: "xdg", vars: map[string]string{"XDG_RUNTIME_DIR": "/run/user/1234"},
			out: "/run/user/1234/bt_u1234", vt: "/tmp/vt_u1234", vtIn: "/tmp/vt_u1234",
			credkey: "/home/alice/.config/htgettoken/credkey-default-default", logToStdout: true},
		{name: "bearer token file wins", vars: map[string]string{"XDG_RUNTIME_DIR": "/run/x", "BEARER_TOKEN_FILE": "/b/tok_%uid"},
			out: "/b/tok_1234", vt: "/tmp/vt_u1234", vtIn: "/tmp/vt_u1234",
			credkey: "/home/alice/.config/htgettoken/credkey-default-default", logToStdout: true},
		{name: "empty variables count as unset", vars: map[string]string{"XDG_RUNTIME_DIR": "", "BEARER_TOKEN_FILE": ""},
			out: "/tmp/bt_u1234", vt: "/tmp/vt_u1234", vtIn: "/tmp/vt_u1234",
			credkey: "/home/alice/.config/htgettoken/credkey-default-default", logToStdout: true},
		{name: "outfile option, no tilde expansion", vars: map[string]string{"BEARER_TOKEN_FILE": "/b"},
			set: func(o *Options) { o.OutFile = "~/bt_%uid" },
			out: "~/bt_1234", vt: "/tmp/vt_u1234", vtIn: "/tmp/vt_u1234",
			credkey: "/home/alice/.config/htgettoken/credkey-default-default", logToStdout: true},
		{name: "long ttl goes to stdout", set: func(o *Options) { o.VaultTokenTTL = 28 * 24 * time.Hour },
			out: "/tmp/bt_u1234", vt: "/dev/stdout", vtIn: "/dev/stdout",
			credkey: "/home/alice/.config/htgettoken/credkey-default-default", logToStdout: false},
		{name: "exactly a million seconds is stored", set: func(o *Options) { o.VaultTokenTTL = 1000000 * time.Second },
			out: "/tmp/bt_u1234", vt: "/tmp/vt_u1234", vtIn: "/tmp/vt_u1234",
			credkey: "/home/alice/.config/htgettoken/credkey-default-default", logToStdout: true},
		{name: "long ttl to a file descriptor", set: func(o *Options) { o.VaultTokenTTL = 28 * 24 * time.Hour; o.VaultTokenFile = "/dev/fd/3" },
			out: "/tmp/bt_u1234", vt: "/dev/fd/3", vtIn: "/dev/fd/3",
			credkey: "/home/alice/.config/htgettoken/credkey-default-default", logToStdout: true},
		{name: "showbearerurl logs to stderr", set: func(o *Options) { o.ShowBearerURL = true },
			out: "/tmp/bt_u1234", vt: "/tmp/vt_u1234", vtIn: "/tmp/vt_u1234",
			credkey: "/home/alice/.config/htgettoken/credkey-default-default", logToStdout: false},
		{name: "condor exchange mode", set: func(o *Options) {
			o.VaultTokenInFile = "/dev/stdin"
			o.VaultTokenFile = "/tmp/vt_u%uid-svc"
		}, out: "/tmp/bt_u1234", vt: "/tmp/vt_u1234-svc", vtIn: "/dev/stdin",
			credkey: "/home/alice/.config/htgettoken/credkey-default-default", logToStdout: true, exchange: true},
		{name: "infile substitutes the raw vaulttokenfile", set: func(o *Options) {
			o.VaultTokenFile = "~/vt_%uid"
			o.VaultTokenInFile = "%vaulttokenfile.in"
		}, out: "/tmp/bt_u1234", vt: "/home/alice/vt_1234", vtIn: "/home/alice/vt_1234.in",
			credkey: "/home/alice/.config/htgettoken/credkey-default-default", logToStdout: true},
		{name: "tilde user", set: func(o *Options) {
			o.VaultTokenFile = "~bob/vt"
			o.VaultTokenInFile = "~nobody/vt"
			o.ConfigDir = "~bob"
			o.Issuer, o.Role = "cms", "prod"
		}, out: "/tmp/bt_u1234", vt: "/home/bob/vt", vtIn: "~nobody/vt",
			credkey: "/home/bob/credkey-cms-prod", logToStdout: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := tc.set
			if set == nil {
				set = func(*Options) {}
			}
			o := derived(t, testEnv(tc.vars), set)
			if o.OutFile != tc.out || o.VaultTokenFile != tc.vt || o.VaultTokenInFile != tc.vtIn || o.CredKeyFile != tc.credkey {
				t.Errorf("out %q vt %q vtin %q credkey %q", o.OutFile, o.VaultTokenFile, o.VaultTokenInFile, o.CredKeyFile)
			}
			if o.LogToStdout != tc.logToStdout || o.ExchangeMode != tc.exchange {
				t.Errorf("LogToStdout %v ExchangeMode %v", o.LogToStdout, o.ExchangeMode)
			}
		})
	}
}

func TestDeriveNoHome(t *testing.T) {
	env := testEnv(nil)
	env.HomeDir, env.UserHomeDir = "", nil
	o := derived(t, env, func(o *Options) { o.VaultTokenFile = "~/vt"; o.ConfigDir = "~bob/c" })
	if o.VaultTokenFile != "~/vt" || o.ConfigDir != "~bob/c" {
		t.Errorf("vt %q configdir %q", o.VaultTokenFile, o.ConfigDir)
	}
	env.HomeDir = "/"
	o = derived(t, env, func(o *Options) { o.VaultTokenFile = "~" })
	if o.VaultTokenFile != "/" {
		t.Errorf("vt %q, want /", o.VaultTokenFile)
	}
}

func TestDeriveWebOpenCommand(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		goos string
		set  func(o *Options)
		want string
	}{
		{"linux", nil, "linux", nil, "xdg-open"},
		{"macos", nil, "darwin", nil, "open"},
		{"ssh client set", map[string]string{"SSH_CLIENT": "10.0.0.1 5000 22"}, "linux", nil, ""},
		{"ssh client set but empty", map[string]string{"SSH_CLIENT": ""}, "darwin", nil, ""},
		{"given", map[string]string{"SSH_CLIENT": "x"}, "linux", func(o *Options) { o.WebOpenCommand, o.WebOpenCommandSet = "firefox", true }, "firefox"},
		{"given empty", nil, "linux", func(o *Options) { o.WebOpenCommandSet = true }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(tc.vars)
			env.GOOS = tc.goos
			set := tc.set
			if set == nil {
				set = func(*Options) {}
			}
			o := derived(t, env, set)
			if o.WebOpenCommand != tc.want || !o.WebOpenCommandSet {
				t.Errorf("got %q (set %v), want %q", o.WebOpenCommand, o.WebOpenCommandSet, tc.want)
			}
		})
	}
}

func TestNormalizeVaultURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"htvault.example.com", "https://htvault.example.com:8200"},
		{"htvault.example.com:8300", "https://htvault.example.com:8300"},
		{"https://htvault.example.com", "https://htvault.example.com:8200"},
		{"https://htvault.example.com/", "https://htvault.example.com:8200"}, // htgettoken: https://htvault.example.com/:8200
		{"https://h:8200/", "https://h:8200"},
		{"https://h:8200//", "https://h:8200"},
		{"http://h", "http://h:8200"},
		{"https://h/vault/", "https://h:8200/vault"},
		{"127.0.0.1", "https://127.0.0.1:8200"},
		{"[::1]", "https://[::1]:8200"},
		{"[::1]:18200", "https://[::1]:18200"},
		{"::1", "https://[::1]:8200"},
	}
	for _, tc := range tests {
		got, err := NormalizeVaultURL("--vaultserver", tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeVaultURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestDeriveURLsAndPaths(t *testing.T) {
	o := derived(t, testEnv(nil), func(o *Options) {
		o.VaultServer = "https://vault1.example.com/"
		o.VaultAlias = "htvault.example.com"
		o.Issuer, o.Role = "cms", "prod%issuer"
		o.OIDCPath = "auth/oidc-%issuer-%role/oidc"
	})
	checks := map[string][2]string{
		"VaultServer":   {o.VaultServer, "https://vault1.example.com:8200"},
		"VaultAlias":    {o.VaultAlias, "https://htvault.example.com:8200"},
		"VaultHostname": {o.VaultHostname, "htvault.example.com"},
		"VaultCertName": {o.VaultCertName, "vault1.example.com"},
		// %issuer is replaced before %role, so a role containing
		// "%issuer" keeps it, as in htgettoken.
		"SecretPath": {o.SecretPath, "secret/oauth/creds/cms/%credkey:prod%issuer"},
		"KerbPath":   {o.KerbPath, "auth/kerberos-cms_prod%issuer"},
		"OIDCPath":   {o.OIDCPath, "auth/oidc-cms-%role/oidc"},
		"SSHPath":    {o.SSHPath, "auth/ssh"},
		"ConfigDir":  {o.ConfigDir, "/home/alice/.config/htgettoken"},
		"Secret":     {o.SecretPathFor("alice@example.com"), "secret/oauth/creds/cms/alice@example.com:prod%issuer"},
		"TTLParam":   {o.VaultTokenTTLParam(), "604800s"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}

	o = derived(t, testEnv(nil), func(o *Options) { o.VaultCertName = "vault.service" })
	if o.VaultAlias != o.VaultServer || o.VaultHostname != "htvault.example.com" || o.VaultCertName != "vault.service" {
		t.Errorf("alias %q hostname %q certname %q", o.VaultAlias, o.VaultHostname, o.VaultCertName)
	}
}

func TestDeriveEmptyStringsGetDefaults(t *testing.T) {
	o := &Options{VaultServer: "h", VaultTokenTTL: time.Hour}
	if err := o.Derive(testEnv(nil)); err != nil {
		t.Fatal(err)
	}
	if o.Issuer != "default" || o.Role != "default" || o.SecretPath != "secret/oauth/creds/default/%credkey:default" ||
		o.KerbPath != "auth/kerberos-default_default" || o.OIDCPath != "auth/oidc-default/oidc" ||
		o.SSHPath != "auth/ssh" || o.VaultTokenInFile != "/tmp/vt_u1234" {
		t.Errorf("%+v", o)
	}
}

func TestDeriveOnce(t *testing.T) {
	o := derived(t, testEnv(nil), nil)
	before := *o
	o.VaultServer = "" // would be an error if Derive ran again
	if err := o.Derive(testEnv(map[string]string{"BEARER_TOKEN_FILE": "/other"})); err != nil {
		t.Fatalf("second Derive: %v", err)
	}
	o.VaultServer = before.VaultServer
	if *o != before {
		t.Errorf("second Derive changed options:\n%+v\n%+v", *o, before)
	}
}

func TestCADefaults(t *testing.T) {
	files := fstest.MapFS{
		"etc/ssl/certs/ca-certificates.crt":  {Data: []byte("x")},
		"etc/pki/tls/cert.pem":               {Data: []byte("x")},
		"my/bundle.pem":                      {Data: []byte("x")},
		"etc/grid-security/certificates/a.0": {Data: []byte("x")},
		"etc/ssl/certs/b.0":                  {Data: []byte("x")},
		"opt/certs/c.0":                      {Data: []byte("x")},
	}
	debian := fstest.MapFS{
		"etc/ssl/certs/ca-certificates.crt": {Data: []byte("x")},
	}
	tests := []struct {
		name           string
		fs             fstest.MapFS
		vars           map[string]string
		cafile, capath string
	}{
		{"rhel grid", files, nil, "/etc/pki/tls/cert.pem", "/etc/grid-security/certificates"},
		{"ssl cert file", files, map[string]string{"SSL_CERT_FILE": "/my/bundle.pem"}, "/my/bundle.pem", "/etc/grid-security/certificates"},
		{"ssl cert file missing", files, map[string]string{"SSL_CERT_FILE": "/nope.pem"}, "/etc/pki/tls/cert.pem", "/etc/grid-security/certificates"},
		{"x509 cert dir", files, map[string]string{"X509_CERT_DIR": "/anything"}, "/etc/pki/tls/cert.pem", "/anything"},
		{"empty x509 cert dir", files, map[string]string{"X509_CERT_DIR": ""}, "/etc/pki/tls/cert.pem", "/etc/grid-security/certificates"},
		{"debian", debian, nil, "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs"},
		{"ssl cert dir", debian, map[string]string{"SSL_CERT_DIR": "/etc/ssl"}, "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl"},
		{"nothing", fstest.MapFS{}, nil, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := withFiles(testEnv(tc.vars), tc.fs)
			o := derived(t, env, nil)
			if o.CAFile != tc.cafile || o.CAPath != tc.capath {
				t.Errorf("cafile %q capath %q, want %q %q", o.CAFile, o.CAPath, tc.cafile, tc.capath)
			}
		})
	}
	// Given values are kept.
	o := derived(t, withFiles(testEnv(nil), files), func(o *Options) { o.CAFile, o.CAPath = "/a", "/b" })
	if o.CAFile != "/a" || o.CAPath != "/b" {
		t.Errorf("cafile %q capath %q", o.CAFile, o.CAPath)
	}
}

func TestParseTTL(t *testing.T) {
	good := map[string]time.Duration{
		"0s": 0, "1s": time.Second, "90m": 90 * time.Minute, "2h": 2 * time.Hour, "7d": 7 * 24 * time.Hour,
		"007s": 7 * time.Second, "28d": 28 * 24 * time.Hour, "1000001s": 1000001 * time.Second,
	}
	for in, want := range good {
		got, err := ParseTTL("--vaulttokenttl", in)
		if err != nil || got != want {
			t.Errorf("ParseTTL(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "s", "60", "5x", "1.5h", "-1d", "+1d", " 1d", "1d ", "1D", "1 d", "1_0s", "１d", "0x1s", "1dd"} {
		_, err := ParseTTL("--vaulttokenminttl", in)
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Msg != "--vaulttokenminttl is not a number followed by s, m, h, or d" || oe.Usage {
			t.Errorf("ParseTTL(%q) error = %v", in, err)
		}
	}
	for _, in := range []string{"106752d", "99999999999999999999s"} {
		_, err := ParseTTL("--vaulttokenttl", in)
		if err == nil || err.Error() != "--vaulttokenttl is too large" {
			t.Errorf("ParseTTL(%q) error = %v", in, err)
		}
	}
	if d, err := ParseTTL("--vaulttokenttl", "106751d"); err != nil || d != 106751*24*time.Hour {
		t.Errorf("106751d: %v %v", d, err)
	}
}

func TestIsDevFile(t *testing.T) {
	for path, want := range map[string]bool{
		"/dev/stdout": true, "/dev/stdin": true, "/dev/stderr": true, "/dev/fd/3": true, "/dev/std": true,
		"/dev/null": false, "/dev/tty": false, "/tmp/dev/stdout": false, "dev/stdout": false, "": false,
	} {
		if got := IsDevFile(path); got != want {
			t.Errorf("IsDevFile(%q) = %v", path, got)
		}
	}
}

func TestNilEnvironFuncs(t *testing.T) {
	// A zero Environ must not panic.
	o := NewOptions()
	o.VaultServer = "h"
	o.VaultTokenFile = "~x/y"
	if err := o.Derive(Environ{}); err != nil {
		t.Fatal(err)
	}
	if o.OutFile != "/tmp/bt_u0" || o.VaultTokenFile != "~x/y" || o.CAFile != "" || !o.NoOIDC {
		t.Errorf("%+v", o)
	}
}
