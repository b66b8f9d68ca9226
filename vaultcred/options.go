package vaultcred

import (
	"fmt"
	"github.com/vaultcred/gettoken/internal/tokenfile"
	"io/fs"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults of htgettoken 2.6 that [NewOptions] fills in.
const (
	DefaultIssuer           = "default"
	DefaultRole             = "default"
	DefaultKerbPath         = "auth/kerberos-%issuer_%role"
	DefaultOIDCPath         = "auth/oidc-%issuer/oidc"
	DefaultSSHPath          = "auth/ssh"
	DefaultConfigDir        = "~/.config/htgettoken"
	DefaultSecretPath       = "secret/oauth/creds/%issuer/%credkey:%role"
	DefaultVaultTokenTTL    = 7 * 24 * time.Hour
	DefaultVaultTokenInFile = "%vaulttokenfile"
	DefaultMinSecs          = 60
	// DefaultVaultPort is added to a vault server or alias without a port.
	DefaultVaultPort = "8200"
	// MaxStoredVaultTokenTTL is the longest vault token lifetime that may be
	// stored in a file (the IGTF rule: longer-lived credentials must not be
	// stored unencrypted); longer ones must go to /dev/std* or /dev/fd/*.
	MaxStoredVaultTokenTTL = 1000000 * time.Second
)

// Options is what a gettoken run needs to know: every htgettoken 2.6 option
// (and the gettoken extensions), and, once [Options.Derive] has run, the
// settings derived from them and from the environment.
//
// Start from [NewOptions], which holds htgettoken's defaults, set what the
// user asked for, then call Derive. The command line is turned into Options
// by gettoken's internal/optparse package (optparse.Frontend, shared by
// gettoken, htdestroytoken and the HTCondor storer); the storer parses the
// user's htgettoken options there too and sets its own choices (lifetime,
// token files, methods tried) as fields. Derive changes fields in place, as htgettoken does: afterwards
// paths are resolved and URLs normalised, and the flow reads the fields
// directly.
type Options struct {
	// Verbose (-v/--verbose) shows detailed progress.
	Verbose bool
	// Debug (-d/--debug) shows debug output, including whole server
	// responses with tokens in them. Derive turns on Verbose with it.
	Debug bool
	// Quiet (-q/--quiet) suppresses progress and fatal messages.
	Quiet bool

	// OptServer (-s/--optserver) is the host or URL of the server holding
	// default options. It is used while parsing the command line only.
	OptServer string
	// VaultServer (-a/--vaultserver, required) is the Vault server. After
	// Derive it is the normalised URL without a trailing slash, such as
	// "https://htvault.example.com:8200", which prefixes every Vault URL.
	VaultServer string
	// VaultAlias (--vaultalias) is the service name of a cluster of Vault
	// servers, used for the OIDC redirect_uri and as the Kerberos service
	// host. Derive normalises it like VaultServer, or copies VaultServer
	// when it is empty.
	VaultAlias string
	// VaultCertName (--vaultcertname) is the name expected in the server's
	// TLS certificate. Derive sets it to VaultServer's host name when empty.
	VaultCertName string
	// Issuer (-i/--issuer) is the issuer name configured in Vault.
	Issuer string
	// Role (-r/--role) is the role name for the issuer.
	Role string

	// NoKerberos (--nokerberos) skips Kerberos authentication.
	NoKerberos bool
	// KerbPath (--kerbpath) is the Kerberos auth mount; Derive substitutes
	// %issuer and %role.
	KerbPath string
	// KerbPrincipal (--kerbprincipal) chooses the credentials cache of
	// that principal for Kerberos (htgettoken since 2.0 ignores it); empty
	// means the default cache.
	KerbPrincipal string
	// NoOIDC (--nooidc) skips OIDC authentication. Derive also sets it when
	// no standard stream is a terminal.
	NoOIDC bool
	// OIDCPath (--oidcpath) is the OIDC auth path; Derive substitutes
	// %issuer only.
	OIDCPath string
	// NoSSH (--nossh) skips ssh-agent authentication.
	NoSSH bool
	// SSHPath (--sshpath) is the ssh auth mount (no substitutions).
	SSHPath string
	// RegisterSSH (--registerssh) registers the agent's public keys after an
	// OIDC login. Derive sets NoKerberos and NoSSH with it.
	RegisterSSH bool
	// NoVaultToken (--novaulttoken) is --nooidc --nokerberos --nossh.
	NoVaultToken bool

	// ConfigDir (-c/--configdir) holds the credkey files. Derive expands a
	// leading "~".
	ConfigDir string
	// CredKey (--credkey) is the key used in the secret path. Empty means
	// unknown: it is then read from CredKeyFile or learned at OIDC login.
	// (htgettoken would use an explicitly empty --credkey= as the key.)
	CredKey string
	// SecretPath (--secretpath) is the path of the bearer token secret.
	// Derive substitutes %issuer and %role; %credkey is left for
	// [Options.SecretPathFor].
	SecretPath string

	// VaultTokenTTL (--vaulttokenttl) is the lifetime of new vault tokens.
	// Vault is sent it in whole seconds ([Options.VaultTokenTTLParam]).
	VaultTokenTTL time.Duration
	// VaultTokenMinTTL (--vaulttokenminttl) is the least remaining lifetime
	// an existing vault token must have to be reused; 0 means no check.
	VaultTokenMinTTL time.Duration
	// VaultTokenFile (--vaulttokenfile) is where the vault token is
	// written. Derive fills the default ("/tmp/vt_u%uid", or "/dev/stdout"
	// for lifetimes above a million seconds), substitutes %uid and expands
	// "~".
	VaultTokenFile string
	// VaultTokenInFile (--vaulttokeninfile) is where an existing vault token
	// is read from. Derive replaces %vaulttokenfile with the vault token file
	// as given (before its own substitutions), then %uid, then expands "~".
	VaultTokenInFile string

	// ShowBearerURL (--showbearerurl) prints the bearer token URL to stdout.
	ShowBearerURL bool
	// NoBearerToken (--nobearertoken) only gets and saves a vault token.
	NoBearerToken bool
	// OutFile (-o/--outfile) is the bearer token file. Derive fills the
	// default ($BEARER_TOKEN_FILE, else $XDG_RUNTIME_DIR/bt_u%uid, else
	// /tmp/bt_u%uid) and substitutes %uid. There is no "~" expansion.
	OutFile string
	// MinSecs (--minsecs) is sent to Vault as minimum_seconds: the least
	// remaining lifetime a cached access token must have.
	MinSecs int64
	// Scopes (--scopes) requests reduced scopes (comma or space separated)
	// through the sts endpoint. Empty means not requested.
	Scopes string
	// Audience (--audience) requests restricted audiences through the sts
	// endpoint. Empty means not requested.
	Audience string

	// CAFile (--cafile) is a CA bundle. Derive fills the platform default
	// ([DefaultCAFile]) when empty.
	CAFile string
	// CAPath (--capath) is a CA directory. Derive fills the default
	// ([DefaultCAPath]) when empty.
	CAPath string

	// WebOpenCommand (--web-open-command) is run as "<cmd> <url>" to open
	// the OIDC login URL; empty means print the URL only. It is only used
	// when WebOpenCommandSet is true; otherwise Derive sets the default:
	// empty when $SSH_CLIENT is set, else "open" on macOS and "xdg-open"
	// elsewhere.
	WebOpenCommand string
	// WebOpenCommandSet says whether WebOpenCommand was given.
	WebOpenCommandSet bool

	// QR (--qr, gettoken extension, default off) also shows the OIDC login
	// URL as a QR code, for logging in from a phone.
	QR bool
	// ReuseBearer (--reuse-bearer, gettoken extension, default off) lets a
	// run reuse the bearer token already in OutFile, without contacting
	// Vault, when that token still has at least MinSecs of lifetime left.
	// htgettoken never reads the existing bearer token file.
	ReuseBearer bool

	// The fields below are set by Derive.

	// ShowProgress is htgettoken's concise default mode: neither Quiet nor
	// Verbose.
	ShowProgress bool
	// LogToStdout says progress and log messages go to stdout. It is false
	// (messages go to stderr) when the vault token is written to
	// /dev/stdout or ShowBearerURL is set, because stdout then carries
	// data. Fatal errors always go to stderr.
	LogToStdout bool
	// OIDCDisabledInBackground says Derive set NoOIDC because none of
	// stdin, stdout and stderr is a terminal. With Verbose, htgettoken logs
	// "Disabling oidc because running in the background".
	OIDCDisabledInBackground bool
	// VaultHostname is the host name of VaultAlias: the Kerberos service is
	// "host@<VaultHostname>".
	VaultHostname string
	// CredKeyFile is "<ConfigDir>/credkey-<Issuer>-<Role>", with "~"
	// expanded.
	CredKeyFile string
	// ExchangeMode says the vault token in file is a device (the option as
	// given, before substitutions, starts with /dev/std or /dev/fd): the
	// token read from it is always exchanged for a new one. As in
	// htgettoken, the default "%vaulttokenfile" never selects this mode,
	// even when it resolves to /dev/stdout.
	ExchangeMode bool

	derived bool
}

// NewOptions returns Options holding htgettoken 2.6's defaults.
func NewOptions() *Options {
	return &Options{
		Issuer:           DefaultIssuer,
		Role:             DefaultRole,
		KerbPath:         DefaultKerbPath,
		OIDCPath:         DefaultOIDCPath,
		SSHPath:          DefaultSSHPath,
		ConfigDir:        DefaultConfigDir,
		SecretPath:       DefaultSecretPath,
		VaultTokenTTL:    DefaultVaultTokenTTL,
		VaultTokenInFile: DefaultVaultTokenInFile,
		MinSecs:          DefaultMinSecs,
	}
}

// Environ is the part of the process environment that Derive uses. It is
// passed in rather than read from the process, so that Derive is a pure
// function of its inputs.
type Environ struct {
	// LookupEnv returns an environment variable and whether it is set, as
	// os.LookupEnv does. Nil means an empty environment.
	LookupEnv func(key string) (string, bool)
	// Euid is the effective user id, substituted for %uid.
	Euid int
	// HomeDir is the user's home directory, for "~" expansion; empty means
	// unknown, and "~" is then left alone.
	HomeDir string
	// UserHomeDir returns the home directory of a named user, for "~name"
	// expansion. Nil leaves "~name" alone.
	UserHomeDir func(name string) (string, bool)
	// StdinTTY, StdoutTTY and StderrTTY say which standard streams are
	// terminals.
	StdinTTY, StdoutTTY, StderrTTY bool
	// GOOS is the operating system, as runtime.GOOS.
	GOOS string
	// Stat is os.Stat, used to find the default CA locations. Nil means no
	// file exists.
	Stat func(name string) (fs.FileInfo, error)
}

// Getenv returns an environment variable, or "" when it is not set.
func (e Environ) Getenv(key string) string {
	v, _ := e.lookup(key)
	return v
}

func (e Environ) lookup(key string) (string, bool) {
	if e.LookupEnv == nil {
		return "", false
	}
	return e.LookupEnv(key)
}

func (e Environ) isFile(name string) bool {
	if e.Stat == nil || name == "" {
		return false
	}
	fi, err := e.Stat(name)
	return err == nil && fi.Mode().IsRegular()
}

func (e Environ) isDir(name string) bool {
	if e.Stat == nil || name == "" {
		return false
	}
	fi, err := e.Stat(name)
	return err == nil && fi.IsDir()
}

// OptionError is an invalid option value or combination. Its message is the
// exact text htgettoken prints after "htgettoken: ".
type OptionError struct {
	// Msg is the message.
	Msg string
	// Usage marks usage errors: htgettoken prints them followed by an
	// empty line and the full help (and exits 2), and --quiet does not
	// silence them. Other option errors are fatal.
	Usage bool
}

// Error returns the message.
func (e *OptionError) Error() string { return e.Msg }

// MissingVaultServerMsg is the usage error for a missing --vaultserver.
const MissingVaultServerMsg = "Missing required parameters: ['--vaultserver']"

// ParseTTL parses a lifetime in htgettoken's syntax: decimal digits followed
// by exactly one of s, m, h or d. option ("--vaulttokenttl") names the option
// in the error, which is fatal: "<option> is not a number followed by s, m,
// h, or d". A value too large for a time.Duration (about 292 years) is
// rejected with "<option> is too large" (htgettoken has no limit).
func ParseTTL(option, text string) (time.Duration, error) {
	bad := &OptionError{Msg: option + " is not a number followed by s, m, h, or d"}
	if len(text) < 2 {
		return 0, bad
	}
	num, unit := text[:len(text)-1], text[len(text)-1]
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return 0, bad
		}
	}
	var mult int64
	switch unit {
	case 's':
		mult = 1
	case 'm':
		mult = 60
	case 'h':
		mult = 3600
	case 'd':
		mult = 86400
	default:
		return 0, bad
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/int64(time.Second)/mult {
		return 0, &OptionError{Msg: option + " is too large"}
	}
	return time.Duration(n*mult) * time.Second, nil
}

// IsDevFile reports whether path names a standard stream or file descriptor
// (it starts with /dev/std or /dev/fd). Such paths are written directly
// instead of through a temporary file, and a vault token read from one is
// always exchanged.
func IsDevFile(path string) bool { return tokenfile.IsStdio(path) }

// NormalizeVaultURL turns a --vaultserver or --vaultalias value into the URL
// prefix of Vault requests: "https://" is added when there is no "://", and
// ":8200" when the host has no port. The scheme is kept as written (TLS is
// used regardless). Trailing slashes are removed.
//
// This fixes htgettoken's handling of values with a path: it appends the
// port to the end of the string, so "https://h/" becomes "https://h/:8200";
// here the port goes after the host ("https://h:8200"). A bracketed IPv6
// address without a port also gets ":8200" (htgettoken leaves it on port
// 443 because the address contains ':'). option names the option in errors,
// which are fatal.
func NormalizeVaultURL(option, value string) (string, error) {
	u := value
	if !strings.Contains(u, "://") {
		u = "https://" + u
	}
	scheme, rest, _ := strings.Cut(u, "://")
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if _, _, err := net.SplitHostPort(authority); err != nil {
		authority = net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(authority, "["), "]"), DefaultVaultPort)
	}
	host, port, err := net.SplitHostPort(authority)
	if err != nil || host == "" || strings.ContainsAny(host, "?#@ []") ||
		(strings.Contains(host, ":") && net.ParseIP(host) == nil) {
		return "", &OptionError{Msg: fmt.Sprintf("%s %q is not a valid host or URL", option, value)}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", &OptionError{Msg: fmt.Sprintf("%s %q has an invalid port", option, value)}
	}
	return scheme + "://" + authority + strings.TrimRight(path, "/"), nil
}

// urlHost returns the host name of a URL produced by NormalizeVaultURL.
func urlHost(u string) string {
	_, rest, _ := strings.Cut(u, "://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	host, _, err := net.SplitHostPort(rest)
	if err != nil {
		return rest
	}
	return host
}

// DefaultCAFile returns the default --cafile: $SSL_CERT_FILE if it names a
// file, else /etc/pki/tls/cert.pem, /etc/ssl/certs/ca-certificates.crt or
// /etc/ssl/cert.pem, whichever exists first, else "" (use the system pool).
// This follows htgettoken, which asks Python's ssl module and then tries the
// RHEL and Debian bundles.
func DefaultCAFile(env Environ) string {
	if f := env.Getenv("SSL_CERT_FILE"); env.isFile(f) {
		return f
	}
	for _, f := range []string{"/etc/pki/tls/cert.pem", "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/cert.pem"} {
		if env.isFile(f) {
			return f
		}
	}
	return ""
}

// GridCertDir is the CA directory of grid hosts, preferred when it exists.
const GridCertDir = "/etc/grid-security/certificates"

// DefaultCAPath returns the default --capath: $X509_CERT_DIR if not empty,
// else /etc/grid-security/certificates if it exists, else the system CA
// directory ($SSL_CERT_DIR, /etc/ssl/certs or /etc/pki/tls/certs, whichever
// is a directory first), else "".
func DefaultCAPath(env Environ) string {
	if d := env.Getenv("X509_CERT_DIR"); d != "" {
		return d
	}
	for _, d := range []string{GridCertDir, env.Getenv("SSL_CERT_DIR"), "/etc/ssl/certs", "/etc/pki/tls/certs"} {
		if env.isDir(d) {
			return d
		}
	}
	return ""
}

// ApplyCADefaults fills CAFile and CAPath with their defaults when they are
// empty. Derive calls it; option parsing calls it earlier because the
// optserver file is fetched with these settings.
func (o *Options) ApplyCADefaults(env Environ) {
	if o.CAPath == "" {
		o.CAPath = DefaultCAPath(env)
	}
	if o.CAFile == "" {
		o.CAFile = DefaultCAFile(env)
	}
}

// expandUser expands a leading "~" or "~name" like Python's
// os.path.expanduser.
func expandUser(p string, env Environ) string {
	if !strings.HasPrefix(p, "~") {
		return p
	}
	i := strings.IndexByte(p, '/')
	if i < 0 {
		i = len(p)
	}
	var home string
	if i == 1 {
		if env.HomeDir == "" {
			return p
		}
		home = env.HomeDir
	} else {
		if env.UserHomeDir == nil {
			return p
		}
		h, ok := env.UserHomeDir(p[1:i])
		if !ok {
			return p
		}
		home = h
	}
	if r := strings.TrimRight(home, "/") + p[i:]; r != "" {
		return r
	}
	return "/"
}

// Derive checks the options and computes the derived settings, in
// htgettoken's order of evaluation (the order decides which error is
// reported when there are several):
//
//  1. VaultServer is required (usage error).
//  2. Debug implies Verbose; ShowProgress is set; RegisterSSH implies
//     NoKerberos and NoSSH; NoVaultToken implies NoOIDC, NoKerberos and
//     NoSSH.
//  3. VaultTokenMinTTL must be less than VaultTokenTTL (fatal).
//  4. OutFile defaults to $BEARER_TOKEN_FILE, else
//     ${XDG_RUNTIME_DIR:-/tmp}/bt_u%uid (empty variables count as unset,
//     where htgettoken would use them as they are); %uid is the euid.
//  5. VaultTokenFile defaults to /dev/stdout for lifetimes above a million
//     seconds and to /tmp/vt_u%uid otherwise; with such a lifetime it must
//     be under /dev/std* or /dev/fd* (fatal).
//  6. LogToStdout.
//  7. NoOIDC when no standard stream is a terminal.
//  8. The web open command default.
//  9. VaultServer and VaultAlias are normalised ([NormalizeVaultURL]);
//     VaultHostname and VaultCertName are set.
//  10. Substitutions in SecretPath, VaultTokenFile, VaultTokenInFile,
//     KerbPath and OIDCPath; CredKeyFile, ExchangeMode and the CA defaults.
//
// Errors are *OptionError. On error the fields already derived keep their
// values (callers use ShowProgress and LogToStdout to print the error as
// htgettoken does). Empty Issuer, Role, KerbPath, OIDCPath, SSHPath,
// ConfigDir, SecretPath and VaultTokenInFile get their defaults. Derive runs
// once: later calls return nil and change nothing.
func (o *Options) Derive(env Environ) error {
	if o.derived {
		return nil
	}
	// 1
	if o.VaultServer == "" {
		return &OptionError{Msg: MissingVaultServerMsg, Usage: true}
	}
	// 2
	if o.Debug {
		o.Verbose = true
	}
	o.ShowProgress = !o.Quiet && !o.Verbose
	if o.RegisterSSH {
		o.NoKerberos, o.NoSSH = true, true
	}
	if o.NoVaultToken {
		o.NoOIDC, o.NoKerberos, o.NoSSH = true, true, true
	}
	// 3
	ttl := o.VaultTokenTTL / time.Second
	if ttl < 0 {
		return &OptionError{Msg: "--vaulttokenttl is not a number followed by s, m, h, or d"}
	}
	if o.VaultTokenMinTTL < 0 {
		return &OptionError{Msg: "--vaulttokenminttl is not a number followed by s, m, h, or d"}
	}
	if o.VaultTokenMinTTL/time.Second >= ttl {
		return &OptionError{Msg: "--vaulttokenminttl must be less than --vaulttokenttl"}
	}
	uid := strconv.Itoa(env.Euid)
	// 4
	if o.OutFile == "" {
		if f := env.Getenv("BEARER_TOKEN_FILE"); f != "" {
			o.OutFile = f
		} else {
			dir := env.Getenv("XDG_RUNTIME_DIR")
			if dir == "" {
				dir = "/tmp"
			}
			o.OutFile = dir + "/bt_u%uid"
		}
	}
	o.OutFile = strings.ReplaceAll(o.OutFile, "%uid", uid)
	// 5
	long := ttl > MaxStoredVaultTokenTTL/time.Second
	if o.VaultTokenFile == "" {
		if long {
			o.VaultTokenFile = "/dev/stdout"
		} else {
			o.VaultTokenFile = "/tmp/vt_u%uid"
		}
	}
	if long && !IsDevFile(o.VaultTokenFile) {
		return &OptionError{Msg: "--vaulttokenfile must be under /dev/ when --vaulttokenttl is greater than a million seconds"}
	}
	rawVaultTokenFile := o.VaultTokenFile
	// 6
	o.LogToStdout = o.VaultTokenFile != "/dev/stdout" && !o.ShowBearerURL
	// 7
	if !o.NoOIDC && !env.StdinTTY && !env.StdoutTTY && !env.StderrTTY {
		o.NoOIDC = true
		o.OIDCDisabledInBackground = true
	}
	// 8
	if !o.WebOpenCommandSet {
		o.WebOpenCommandSet = true
		switch _, ssh := env.lookup("SSH_CLIENT"); {
		case ssh:
			o.WebOpenCommand = ""
		case env.GOOS == "darwin":
			o.WebOpenCommand = "open"
		default:
			o.WebOpenCommand = "xdg-open"
		}
	}
	// 9
	vs, err := NormalizeVaultURL("--vaultserver", o.VaultServer)
	if err != nil {
		return err
	}
	alias := vs
	if o.VaultAlias != "" {
		if alias, err = NormalizeVaultURL("--vaultalias", o.VaultAlias); err != nil {
			return err
		}
	}
	o.VaultServer, o.VaultAlias = vs, alias
	o.VaultHostname = urlHost(alias)
	if o.VaultCertName == "" {
		o.VaultCertName = urlHost(vs)
	}
	// 10
	setDefault(&o.Issuer, DefaultIssuer)
	setDefault(&o.Role, DefaultRole)
	setDefault(&o.KerbPath, DefaultKerbPath)
	setDefault(&o.OIDCPath, DefaultOIDCPath)
	setDefault(&o.SSHPath, DefaultSSHPath)
	setDefault(&o.ConfigDir, DefaultConfigDir)
	setDefault(&o.SecretPath, DefaultSecretPath)
	setDefault(&o.VaultTokenInFile, DefaultVaultTokenInFile)
	o.SecretPath = strings.ReplaceAll(o.SecretPath, "%issuer", o.Issuer)
	o.SecretPath = strings.ReplaceAll(o.SecretPath, "%role", o.Role)
	o.VaultTokenFile = expandUser(strings.ReplaceAll(o.VaultTokenFile, "%uid", uid), env)
	o.ExchangeMode = IsDevFile(o.VaultTokenInFile)
	in := strings.ReplaceAll(o.VaultTokenInFile, "%vaulttokenfile", rawVaultTokenFile)
	o.VaultTokenInFile = expandUser(strings.ReplaceAll(in, "%uid", uid), env)
	o.KerbPath = strings.ReplaceAll(o.KerbPath, "%issuer", o.Issuer)
	o.KerbPath = strings.ReplaceAll(o.KerbPath, "%role", o.Role)
	o.OIDCPath = strings.ReplaceAll(o.OIDCPath, "%issuer", o.Issuer)
	o.CredKeyFile = expandUser(o.ConfigDir+"/credkey-"+o.Issuer+"-"+o.Role, env)
	o.ConfigDir = expandUser(o.ConfigDir, env)
	o.ApplyCADefaults(env)
	o.derived = true
	return nil
}

func setDefault(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// Derived reports whether Derive has completed successfully.
func (o *Options) Derived() bool { return o.derived }

// SecretPathFor returns SecretPath with %credkey replaced by credkey.
func (o *Options) SecretPathFor(credkey string) string {
	return strings.ReplaceAll(o.SecretPath, "%credkey", credkey)
}

// VaultTokenTTLParam returns VaultTokenTTL as sent to Vault's
// auth/token/create: whole seconds with an "s", such as "604800s".
func (o *Options) VaultTokenTTLParam() string {
	return strconv.FormatInt(int64(o.VaultTokenTTL/time.Second), 10) + "s"
}
