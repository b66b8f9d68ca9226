package optparse

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vaultcred/gettoken/vaultcred"
)

// Compatibility constants of htgettoken 2.6.
const (
	// Version is what --version prints: the htgettoken release whose
	// command line gettoken implements.
	Version = "2.6"
	// Usage is the usage text after the program name.
	Usage = "[-h] [otheroptions]"
	// EnvOpts is the environment variable holding default options.
	EnvOpts = "HTGETTOKENOPTS"
	// OptServerFile is the file fetched from an optserver given as a bare
	// host. It keeps htgettoken's name whatever the program is called, so
	// that existing servers keep working.
	OptServerFile = "htgettokenopts.txt"
	// DefaultFetchTimeout bounds the optserver fetch (htgettoken: 2 s to
	// connect plus 10 s to read).
	DefaultFetchTimeout = 12 * time.Second
	// Defaults of the lifetime options, as typed.
	defaultTTLText    = "7d"
	defaultMinTTLText = "0s"
	// maxOptionsSize bounds the optserver file.
	maxOptionsSize = 1 << 20
)

// HTGetToken returns the parser of htgettoken 2.6's command line, plus the
// gettoken extensions --qr and --reuse-bearer. prog is the program name used
// in messages and help; cafileDefault is shown as the --cafile default (see
// [vaultcred.DefaultCAFile]).
func HTGetToken(prog, cafileDefault string) *Parser {
	return &Parser{
		Prog:    prog,
		Usage:   Usage,
		Version: Version,
		Options: []Option{
			{Short: "-v", Long: "--verbose", Help: "print detailed progress"},
			{Short: "-d", Long: "--debug", Help: "print debug output, including server responses that contain tokens (implies -v)"},
			{Short: "-q", Long: "--quiet", Help: "print neither progress nor error messages"},
			{Short: "-s", Long: "--optserver", Kind: String, Metavar: "HostOrURL",
				Help: "host or URL of a file of default options (a host means https://<host>/" + OptServerFile + ")"},
			{Short: "-a", Long: "--vaultserver", Kind: String, Metavar: "HostOrURL",
				Help: "Vault server host or URL (required)"},
			{Long: "--vaultalias", Kind: String, Metavar: "HostOrURL",
				Help: "service name or URL of the Vault cluster, used for the OIDC redirect and for Kerberos [default: the vault server]"},
			{Long: "--vaultcertname", Kind: String, Metavar: "Host",
				Help: "name expected in the certificate of the Vault server [default: host name of the vault server]"},
			{Short: "-i", Long: "--issuer", Kind: String, Metavar: "issuername", Default: vaultcred.DefaultIssuer,
				Help: "name of the token issuer in Vault"},
			{Short: "-r", Long: "--role", Kind: String, Metavar: "rolename", Default: vaultcred.DefaultRole,
				Help: "name of the role of the issuer in Vault"},
			{Long: "--nokerberos", Help: "do not try Kerberos authentication"},
			{Long: "--kerbpath", Kind: String, Metavar: "vaultpath", Default: vaultcred.DefaultKerbPath,
				Help: "Vault path of the Kerberos authentication"},
			{Long: "--kerbprincipal", Kind: String, Metavar: "principal",
				Help: "Kerberos principal whose credentials cache is used"},
			{Long: "--nooidc", Help: "do not try OIDC authentication"},
			{Long: "--oidcpath", Kind: String, Metavar: "vaultpath", Default: vaultcred.DefaultOIDCPath,
				Help: "Vault path of the OIDC authentication"},
			{Long: "--nossh", Help: "do not try ssh-agent authentication"},
			{Long: "--sshpath", Kind: String, Metavar: "vaultpath", Default: vaultcred.DefaultSSHPath,
				Help: "Vault path of the ssh-agent authentication"},
			{Long: "--registerssh", Help: "register the keys of the ssh-agent after an OIDC login (forces OIDC)"},
			{Long: "--novaulttoken", Help: "do not get a new vault token: the same as --nooidc --nokerberos --nossh"},
			{Short: "-c", Long: "--configdir", Kind: String, Metavar: "path", Default: vaultcred.DefaultConfigDir,
				Help: "directory of saved settings such as the credkey"},
			{Long: "--credkey", Kind: String, Metavar: "key",
				Help: "key used in the secret path [default: learned at OIDC login and kept in %configdir/credkey-%issuer-%role]"},
			{Long: "--secretpath", Kind: String, Metavar: "vaultpath", Default: vaultcred.DefaultSecretPath,
				Help: "Vault path of the bearer token secret"},
			{Long: "--vaulttokenttl", Kind: String, Metavar: "time", Default: defaultTTLText,
				Help: "lifetime of a new vault token: a number followed by s, m, h or d"},
			{Long: "--vaulttokenminttl", Kind: String, Metavar: "time", Default: defaultMinTTLText,
				Help: "least lifetime (s, m, h or d) an existing vault token must have left to be used"},
			{Long: "--vaulttokenfile", Kind: String, Metavar: "path",
				Help: "where to save the vault token [default: /tmp/vt_u%uid, or /dev/stdout if the vault token lifetime is over a million seconds]"},
			{Long: "--vaulttokeninfile", Kind: String, Metavar: "path", Default: vaultcred.DefaultVaultTokenInFile,
				Help: "where to read an existing vault token from"},
			{Long: "--showbearerurl", Help: "print the URL of the bearer token to stdout"},
			{Long: "--nobearertoken", Help: "get only a new vault token, no bearer token"},
			{Short: "-o", Long: "--outfile", Kind: String, Metavar: "path",
				Help: "where to save the bearer token [default: $BEARER_TOKEN_FILE, else ${XDG_RUNTIME_DIR:-/tmp}/bt_u%uid]"},
			{Long: "--minsecs", Kind: Int, Metavar: "seconds", Default: fmt.Sprint(vaultcred.DefaultMinSecs),
				Help: "least lifetime in seconds the bearer token must have left"},
			{Long: "--scopes", Kind: String, Metavar: "scopes",
				Help: "reduced list of scopes for the token"},
			{Long: "--audience", Kind: String, Metavar: "audience",
				Help: "restricted list of audiences for the token"},
			{Long: "--cafile", Kind: String, Metavar: "file", Default: cafileDefault,
				Help: "file of certificate authority certificates"},
			{Long: "--capath", Kind: String, Metavar: "path",
				Help: "directory of certificate authority certificates [default: $X509_CERT_DIR, else " + vaultcred.GridCertDir + " if it exists, else the system directory]"},
			{Long: "--web-open-command", Kind: String, Metavar: "command",
				Help: "command run with the login URL to open it in a web browser [default: xdg-open (open on macOS), or none if $SSH_CLIENT is set]"},
			{Long: "--qr", Extension: true,
				Help: "also show the login URL as a QR code (gettoken extension)"},
			{Long: "--reuse-bearer", Extension: true,
				Help: "use the bearer token in the output file without asking Vault when it has at least --minsecs left (gettoken extension)"},
		},
	}
}

// Sources are the inputs of [Load] besides the command line.
type Sources struct {
	// Env provides $HTGETTOKENOPTS and the CA defaults.
	Env vaultcred.Environ
	// HTTPClient returns the client used to fetch the optserver file, given
	// the options of the first parse (with their CA settings). It is only
	// called when -s is used; nil makes -s fail.
	HTTPClient func(o *vaultcred.Options) (*http.Client, error)
	// FetchTimeout bounds the fetch; 0 means DefaultFetchTimeout.
	FetchTimeout time.Duration
	// Log receives the messages htgettoken prints while loading options
	// (stderr); nil discards them.
	Log io.Writer
	// Defaults, when set, changes htgettoken's defaults before the option
	// sources and the command line are applied, which may override what
	// it sets (the storer's 28-day --vaulttokenttl).
	Defaults func(o *vaultcred.Options)
	// Adjust, when set, is called last with the loaded options and a
	// report of which options (long names without dashes, such as
	// "vaulttokenttl") any source gave: for defaults that depend on other
	// options being absent.
	Adjust func(o *vaultcred.Options, given func(name string) bool)
}

// SourceError is a failure to read or split an option source. It is fatal
// (exit 1). Its text is "<What> failed: <cause>", for example
// "fetch of options from https://h/htgettokenopts.txt failed: ...".
type SourceError struct {
	// What names the operation and the source.
	What string
	// Err is the cause.
	Err error
}

// Error returns "<What> failed: <cause>".
func (e *SourceError) Error() string { return e.What + " failed: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *SourceError) Unwrap() error { return e.Err }

// Load returns the options of a gettoken run. It parses
// $HTGETTOKENOPTS followed by args; if -s/--optserver is then set, it
// fetches the option file and parses everything again from scratch as
// serverargs + envargs + args, so that the command line beats the
// environment, which beats the optserver. Finally it checks that
// --vaultserver was given and parses the two lifetimes.
//
// Errors, in the order they can happen:
//   - *SourceError when $HTGETTOKENOPTS cannot be split (fatal; htgettoken
//     would crash with a traceback);
//   - *Error, ErrHelp and ErrVersion from [Parser.Parse];
//   - *vaultcred.OptionError{Usage: true} "no non-option arguments expected"
//     when a positional argument appears in any source;
//   - *SourceError for the optserver fetch or split (fatal);
//   - *vaultcred.OptionError{Usage: true} for a missing --vaultserver;
//   - *vaultcred.OptionError for a bad --vaulttokenttl or
//     --vaulttokenminttl (fatal).
//
// With the fatal errors, the options parsed so far are returned too, so that
// the caller can honour --quiet.
func Load(ctx context.Context, p *Parser, args []string, src Sources) (*vaultcred.Options, error) {
	logw := src.Log
	if logw == nil {
		logw = io.Discard
	}
	envArgs, err := Split(src.Env.Getenv(EnvOpts))
	if err != nil {
		return nil, &SourceError{What: "parsing " + EnvOpts, Err: err}
	}
	res, err := parseAll(p, envArgs, args)
	if err != nil {
		return nil, err
	}
	opts := optionsFrom(res, src.Defaults)
	opts.ApplyCADefaults(src.Env)

	if opts.OptServer != "" {
		u := opts.OptServer
		if !strings.Contains(u, "://") {
			u = "https://" + u + "/" + OptServerFile
		}
		if opts.Verbose || opts.Debug {
			fmt.Fprintln(logw, "Fetching options from "+u)
		}
		body, err := fetchOptions(ctx, opts, u, src)
		if err != nil {
			return opts, &SourceError{What: "fetch of options from " + u, Err: err}
		}
		if opts.Debug {
			fmt.Fprintf(logw, "##### Begin additional options\n%s\n##### End additional options\n", body)
		}
		serverArgs, err := Split(body)
		if err != nil {
			return opts, &SourceError{What: "parsing options from " + u, Err: err}
		}
		res, err = parseAll(p, append(serverArgs, envArgs...), args)
		if err != nil {
			return nil, err
		}
		opts = optionsFrom(res, src.Defaults)
		opts.ApplyCADefaults(src.Env)
	}

	if opts.VaultServer == "" {
		return nil, &vaultcred.OptionError{Msg: vaultcred.MissingVaultServerMsg, Usage: true}
	}
	// Lifetimes not given keep their defaults (defaultTTLText and
	// defaultMinTTLText in NewOptions, or what Sources.Defaults set).
	if ttl, ok := res.String("vaulttokenttl"); ok {
		if opts.VaultTokenTTL, err = vaultcred.ParseTTL("--vaulttokenttl", ttl); err != nil {
			return opts, err
		}
	}
	if minTTL, ok := res.String("vaulttokenminttl"); ok {
		if opts.VaultTokenMinTTL, err = vaultcred.ParseTTL("--vaulttokenminttl", minTTL); err != nil {
			return opts, err
		}
	}
	if src.Adjust != nil {
		src.Adjust(opts, res.Given)
	}
	return opts, nil
}

// parseAll parses pre followed by args and rejects positional arguments.
func parseAll(p *Parser, pre, args []string) (*Result, error) {
	all := make([]string, 0, len(pre)+len(args))
	all = append(append(all, pre...), args...)
	res, err := p.Parse(all)
	if err != nil {
		return nil, err
	}
	if len(res.Args) > 0 {
		return nil, &vaultcred.OptionError{Msg: "no non-option arguments expected", Usage: true}
	}
	return res, nil
}

// optionsFrom converts parse results to Options, starting from the defaults
// (changed by defaults when not nil). The lifetimes are left to Load, which
// parses them after the required option check, as htgettoken does.
func optionsFrom(r *Result, defaults func(o *vaultcred.Options)) *vaultcred.Options {
	o := vaultcred.NewOptions()
	if defaults != nil {
		defaults(o)
	}
	str := func(name string, dst *string) {
		if v, ok := r.String(name); ok {
			*dst = v
		}
	}
	o.Verbose = r.Flag("verbose")
	o.Debug = r.Flag("debug")
	o.Quiet = r.Flag("quiet")
	str("optserver", &o.OptServer)
	str("vaultserver", &o.VaultServer)
	str("vaultalias", &o.VaultAlias)
	str("vaultcertname", &o.VaultCertName)
	str("issuer", &o.Issuer)
	str("role", &o.Role)
	o.NoKerberos = r.Flag("nokerberos")
	str("kerbpath", &o.KerbPath)
	str("kerbprincipal", &o.KerbPrincipal)
	o.NoOIDC = r.Flag("nooidc")
	str("oidcpath", &o.OIDCPath)
	o.NoSSH = r.Flag("nossh")
	str("sshpath", &o.SSHPath)
	o.RegisterSSH = r.Flag("registerssh")
	o.NoVaultToken = r.Flag("novaulttoken")
	str("configdir", &o.ConfigDir)
	str("credkey", &o.CredKey)
	str("secretpath", &o.SecretPath)
	str("vaulttokenfile", &o.VaultTokenFile)
	str("vaulttokeninfile", &o.VaultTokenInFile)
	o.ShowBearerURL = r.Flag("showbearerurl")
	o.NoBearerToken = r.Flag("nobearertoken")
	str("outfile", &o.OutFile)
	if v, ok := r.Int("minsecs"); ok {
		o.MinSecs = v
	}
	str("scopes", &o.Scopes)
	str("audience", &o.Audience)
	str("cafile", &o.CAFile)
	str("capath", &o.CAPath)
	if v, ok := r.String("web-open-command"); ok {
		o.WebOpenCommand, o.WebOpenCommandSet = v, true
	}
	o.QR = r.Flag("qr")
	o.ReuseBearer = r.Flag("reuse-bearer")
	return o
}
