package storer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vaultcred/gettoken/internal/htcondor"
	"github.com/vaultcred/gettoken/internal/optparse"
	"github.com/vaultcred/gettoken/internal/tokenfile"
	"github.com/vaultcred/gettoken/vaultcred"
)

// Condor is what the storer needs from HTCondor: configuration values and
// condor_store_cred. Package htcondor provides the real one.
type Condor interface {
	// Config returns the values of the knobs that are defined.
	Config(ctx context.Context, knobs ...string) (map[string]string, error)
	// QueryOAuth runs condor_store_cred query-oauth for name. An error means
	// the credd could not be asked (not "not stored").
	QueryOAuth(ctx context.Context, name, scopes, audience string) (htcondor.QueryResult, error)
	// AddOAuth runs condor_store_cred add-oauth for name with payload on
	// its standard input.
	AddOAuth(ctx context.Context, name, scopes, audience string, payload []byte) error
}

// Storer is one run of condor_vault_storer.
type Storer struct {
	// Prog is the program name used in messages.
	Prog string
	// Condor reaches HTCondor.
	Condor Condor
	// Env is the process environment (HTGETTOKENOPTS, BEARER_TOKEN_FILE,
	// XDG_RUNTIME_DIR, CONDOR_VAULT_STORER_ID, terminals ...).
	Env vaultcred.Environ
	// Stderr is condor_submit's standard error: every message goes there.
	Stderr io.Writer
	// Deps are passed to every vaultcred flow (tests inject an HTTP client).
	Deps vaultcred.Deps
	// Payload builds the JSON that condor_store_cred stores.
	Payload func(token, url string) ([]byte, error)

	verbose string // "", "-v" or "-d"
	args    []string
	out     *lineWriter
	id      string
	// clients are the HTTP clients of this run, one per TLS setting, so
	// that all services share keep-alive connections to Vault (one TLS
	// handshake per run instead of one per htgettoken call).
	clients   map[vaultcred.TLSConfig]*http.Client
	clientsMu sync.Mutex
}

// httpClient returns the shared client for o's TLS settings.
func (s *Storer) httpClient(o *vaultcred.Options, log *vaultcred.Logger) *http.Client {
	key := vaultcred.TLSConfig{CAFile: o.CAFile, CAPath: o.CAPath, ServerName: o.VaultCertName}
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	if c, ok := s.clients[key]; ok {
		return c
	}
	if s.clients == nil {
		s.clients = map[vaultcred.TLSConfig]*http.Client{}
	}
	c := vaultcred.NewHTTPClient(vaultcred.HTTPClientConfig{TLS: key, Logf: log.Verbosef})
	s.clients[key] = c
	return c
}

// Knobs are the configuration knobs a Vault run reads first.
var Knobs = []string{"SEC_CREDENTIAL_VAULT_STORER_OPTS", "SEC_CREDENTIAL_GETTOKEN_OPTS"}

// FatalError is a fatal error of the storer; Main prints it with the
// original's "More details" hint.
type FatalError struct{ Msg string }

func (e *FatalError) Error() string { return e.Msg }

func fatalf(format string, args ...any) error {
	return &FatalError{Msg: fmt.Sprintf(format, args...)}
}

// lineWriter writes, when lead is set, the newline that condor_submit's
// unfinished "Submitting job(s)" line needs before the storer's first
// output. As the original storer, that is done in verbose mode and before
// "Authentication needed for <service>" (see Storer.Newline), not before
// a fatal or usage message of a quiet run.
type lineWriter struct {
	mu      sync.Mutex
	w       io.Writer
	lead    bool
	started bool
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started && len(p) > 0 {
		l.started = true
		if l.lead {
			if _, err := l.w.Write([]byte("\n")); err != nil {
				return 0, err
			}
		}
	}
	return l.w.Write(p)
}

// Usage is the original's usage text (with "&scopes=", which is what
// condor_submit sends; "&scope=" is accepted too).
func Usage(prog string) string {
	return "Usage: " + prog + ` [-vd] oauth_service ...
  -v shows more progress than normal
  -d shows a lot of debug information
  Each oauth_service is an issuer optionally followed by underscore and role
  Options may be added to each oauth_service:
    &handle=<name>       A name to be added to the credential
    &scopes=<scopes>     A comma-separated list of scopes to request
    &audience=<audience> A token audience to request
    &options=<options>   Additional htgettoken options
`
}

// ErrUsage is a usage error: Main prints the usage text and exits 1.
var ErrUsage = errors.New("usage")

// parseFlags takes -v/-d (getopts "dv", bundling allowed) and returns the
// requests; an unknown option is ErrUsage.
func (s *Storer) parseFlags(words []string) ([]string, error) {
	var requests []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			return append(requests, words[i+1:]...), nil
		}
		if len(w) < 2 || w[0] != '-' {
			requests = append(requests, w)
			continue
		}
		for _, c := range w[1:] {
			switch c {
			case 'v':
				s.verbose = "-v"
			case 'd':
				s.verbose = "-d"
			default:
				return nil, ErrUsage
			}
		}
	}
	return requests, nil
}

// Run processes the command-line arguments (options and requests). It
// returns nil, ErrUsage or a *FatalError (or another error, also fatal).
func (s *Storer) Run(ctx context.Context, argv []string) error {
	s.out = &lineWriter{w: s.Stderr}
	s.args = argv
	// Requests and flags from the command line; a command line without a
	// request is a usage error before anything else is looked at.
	requests, err := s.parseFlags(argv)
	if err != nil {
		return err
	}
	s.out.lead = s.verbose != ""
	if len(requests) == 0 {
		return ErrUsage
	}
	knobs, err := s.Condor.Config(ctx, Knobs...)
	if err != nil {
		return fatalf("%v", err)
	}
	// The knob's flags count first, then the command line's again (so the
	// command line wins, as in the original's two getopts passes).
	if extra, err := s.parseFlags(strings.Fields(knobs["SEC_CREDENTIAL_VAULT_STORER_OPTS"])); err != nil || len(extra) > 0 {
		return ErrUsage
	}
	if _, err := s.parseFlags(argv); err != nil {
		return err
	}
	s.out.lead = s.verbose != ""
	gettokenOpts := strings.Fields(knobs["SEC_CREDENTIAL_GETTOKEN_OPTS"])
	if len(gettokenOpts) == 0 && s.Env.Getenv(optparse.EnvOpts) == "" {
		return fatalf("Neither SEC_CREDENTIAL_GETTOKEN_OPTS condor value nor $HTGETTOKENOPTS environment set")
	}
	s.id = s.Env.Getenv("CONDOR_VAULT_STORER_ID")
	if s.id == "" {
		s.id = "u" + strconv.Itoa(s.Env.Euid)
	}
	var plans []plan
	for _, raw := range requests {
		req, err := ParseRequest(raw)
		if err != nil {
			return &FatalError{Msg: err.Error()}
		}
		plans = append(plans, s.plan(req, gettokenOpts))
	}
	pre := s.prefetch(ctx, plans)
	for i, p := range plans {
		if err := s.process(ctx, p, pre[i]); err != nil {
			return err
		}
	}
	return nil
}

// Newline writes the newline condor_submit's unfinished line needs, if
// nothing was written yet, in verbose mode (the command calls it before a
// usage or fatal message; a quiet run's message follows condor_submit's
// line directly, as the original's does).
func (s *Storer) Newline() {
	if s.out == nil {
		s.out = &lineWriter{w: s.Stderr}
	}
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	if !s.out.started {
		s.out.started = true
		if s.out.lead {
			s.out.w.Write([]byte("\n"))
		}
	}
}

// startLine writes the newline before "Authentication needed", which the
// original prints in every mode, if nothing was written yet.
func (s *Storer) startLine() {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	if !s.out.started {
		s.out.started = true
		s.out.w.Write([]byte("\n"))
	}
}

// VerboseWriter returns a writer to the storer's output that drops what
// it is given unless -v or -d was given (decided when Run parses the
// flags). The command passes it as condor_store_cred's stdout, which the
// original storer shows in verbose mode ("Account: ...", "CredType:
// oauth", "Operation succeeded.").
func (s *Storer) VerboseWriter() io.Writer { return verboseWriter{s} }

type verboseWriter struct{ s *Storer }

func (w verboseWriter) Write(p []byte) (int, error) {
	if w.s.verbose == "" || w.s.out == nil {
		return len(p), nil
	}
	return w.s.out.Write(p)
}

// Verbose reports whether -v or -d was given.
func (s *Storer) Verbose() bool { return s.verbose != "" }

func (s *Storer) verbosef(format string, args ...any) {
	if s.verbose != "" {
		fmt.Fprintf(s.out, format+"\n", args...)
	}
}

// vaultTokenFile is /tmp/vt_<ID>[-<service>].
func (s *Storer) vaultTokenFile(service string) string {
	if service == "" {
		return "/tmp/vt_" + s.id
	}
	return "/tmp/vt_" + s.id + "-" + service
}

// bearerBase is BTOKEN: "" when BEARER_TOKEN_FILE is set, else
// ${XDG_RUNTIME_DIR:-/tmp}/bt_<ID>.
func (s *Storer) bearerBase() string {
	if s.Env.Getenv("BEARER_TOKEN_FILE") != "" {
		return ""
	}
	dir := s.Env.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = "/tmp"
	}
	return filepath.Join(dir, "bt_"+s.id)
}

// flowRun is one in-process htgettoken run.
type flowRun struct {
	res      *vaultcred.Result
	newToken string // a vault token the flow produced (the "first line")
}

// htRun is one in-process htgettoken run of the storer.
type htRun struct {
	// args are the user's htgettoken options: SEC_CREDENTIAL_GETTOKEN_OPTS,
	// -i, -r and the request's &options= words.
	args []string
	// defaults are the storer's choices that args may override (the
	// 28-day lifetime of step 1, its bearer token file); fixed are those
	// args cannot change (the token files, --showbearerurl, which methods
	// are tried, the verbosity).
	defaults, fixed func(o *vaultcred.Options)
	// quiet silences the run's messages (the original's -q).
	quiet bool
	// vaultIn, when not empty, is the vault token htgettoken would read
	// from /dev/stdin.
	vaultIn string
	// bearerOut, when set, receives the bearer token instead of a file.
	bearerOut func(string) error
}

// verbosity sets the -v or -d the storer was given.
func (s *Storer) verbosity(o *vaultcred.Options) {
	switch s.verbose {
	case "-v":
		o.Verbose = true
	case "-d":
		o.Debug = true
	}
}

// gettoken runs the htgettoken flow in-process for r.
func (s *Storer) gettoken(ctx context.Context, r htRun) (*flowRun, error) {
	quiet, vaultIn, bearerOut := r.quiet, r.vaultIn, r.bearerOut
	fe := optparse.Frontend{Prog: "htgettoken", Env: s.Env, Log: s.out, Defaults: r.defaults, Fixed: r.fixed}
	_, opts, err := fe.Setup(ctx, r.args)
	if err != nil {
		// Said on the terminal as htgettoken would say it (the storer's
		// own fatal message is only "htgettoken failed").
		msg := err.Error()
		var perr *optparse.Error
		if errors.As(err, &perr) {
			msg = "error: " + perr.Msg
			err = errors.New(perr.Msg)
		}
		if !quiet {
			fmt.Fprintf(s.out, "htgettoken: %s\n", msg)
		}
		return nil, fmt.Errorf("htgettoken options: %w", err)
	}
	run := &flowRun{}
	d := s.Deps
	d.Log = &vaultcred.Logger{W: s.out, Quiet: quiet, Verbose: opts.Verbose, Debug: opts.Debug}
	d.VaultTokenOut = func(tok string) error {
		if tokenfile.IsStdio(opts.VaultTokenFile) {
			// The 28-day token never touches the disk: htgettoken would
			// print it on the pipe to the storer.
			run.newToken = tok
			return nil
		}
		d.Log.Infof("Storing vault token in %s", opts.VaultTokenFile)
		if err := tokenfile.WriteToken(opts.VaultTokenFile, tok); err != nil {
			return err
		}
		run.newToken = tok
		return nil
	}
	if vaultIn != "" {
		d.VaultTokenIn = func() (string, error) { return vaultIn, nil }
	}
	d.BearerOut = bearerOut
	if d.HTTPClient == nil {
		d.HTTPClient = s.httpClient(opts, d.Log)
	}
	res, err := vaultcred.Get(ctx, opts, d)
	run.res = res
	if err != nil && !quiet {
		fmt.Fprintf(s.out, "htgettoken: %v\n", err)
	}
	return run, err
}

// plan is what one request needs: its htgettoken options and files.
type plan struct {
	req       Request
	base      []string // GETTOKEN_OPTS, -i, -r, &options= words
	vtService string   // /tmp/vt_<ID>-<service>
	btoken    string   // BTOKEN, "" with BEARER_TOKEN_FILE
}

// StoredVaultTokenTTL is the lifetime of the vault token the storer gets
// for the credd (the credmon renews access tokens with it for 28 days).
const StoredVaultTokenTTL = 28 * 24 * time.Hour

func (s *Storer) plan(req Request, gettokenOpts []string) plan {
	p := plan{req: req, vtService: s.vaultTokenFile(req.Service), btoken: s.bearerBase()}
	p.base = append([]string{}, gettokenOpts...)
	p.base = append(p.base, "-i", req.Issuer)
	if req.Role != "" {
		p.base = append(p.base, "-r", req.Role)
	}
	p.base = append(p.base, req.OptionWords()...)
	return p
}

// step1 is step 1's htgettoken run: a 28-day token (printed on
// /dev/stdout, which here means kept in memory) from the service's local
// token or a new login, and the base bearer token in BTOKEN-<service>.
// withOIDC false is the quiet first try, which may not start a login.
func (s *Storer) step1(p plan, withOIDC, quiet bool) htRun {
	return htRun{
		args: p.base,
		defaults: func(o *vaultcred.Options) {
			o.VaultTokenTTL = StoredVaultTokenTTL
			if p.btoken != "" {
				o.OutFile = p.btoken + "-" + p.req.Service
			}
		},
		fixed: func(o *vaultcred.Options) {
			o.VaultTokenInFile = p.vtService
			o.VaultTokenFile = "/dev/stdout"
			o.ShowBearerURL = true
			if !withOIDC {
				o.NoOIDC = true
			}
			s.verbosity(o)
		},
		quiet: quiet,
	}
}

// firstTry is step 1's quiet attempt (no OIDC) and, when it reused the
// local token, the credd query that follows it.
type firstTry struct {
	run     *flowRun
	err     error
	queried bool
	q       htcondor.QueryResult
	qerr    error
}

func (s *Storer) quietTry(ctx context.Context, p plan) firstTry {
	s.verbosef("Attempting to get tokens for %s", p.req.Service)
	var t firstTry
	t.run, t.err = s.gettoken(ctx, s.step1(p, false, s.verbose == ""))
	if t.err == nil && t.run.newToken == "" {
		// The local token worked: does the credd have the service?
		s.verbosef("Checking if %s credentials exist", p.req.Service)
		t.queried = true
		t.q, t.qerr = s.Condor.QueryOAuth(ctx, p.req.Service, "", "")
	}
	return t
}

// prefetch runs the quiet first tries of requests for distinct services
// concurrently (each is one Vault read and one condor_store_cred query in
// the common case of valid tokens), so that a submit naming several
// services waits for one round trip rather than one per service. Nothing
// is printed: requests are then processed in order as before, using these
// results for their first try. A service named twice is tried again in
// order, since the first request may change its local token.
func (s *Storer) prefetch(ctx context.Context, plans []plan) []*firstTry {
	out := make([]*firstTry, len(plans))
	if s.verbose != "" || len(plans) < 2 {
		return out
	}
	seen := map[string]bool{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, p := range plans {
		if seen[p.req.Service] {
			continue
		}
		seen[p.req.Service] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t := s.quietTry(ctx, p)
			out[i] = &t
		}()
	}
	wg.Wait()
	return out
}

// process handles one request in three steps: get or reuse the service's
// vault token (a quiet try without OIDC, then one with it), exchange it and
// get the handle's token, and store what is new with condor_store_cred. pre, when not
// nil, is the result of its first quiet try.
func (s *Storer) process(ctx context.Context, p plan, pre *firstTry) error {
	req := p.req
	service := req.Service
	showStoring := s.verbose != ""
	base, vtService, btoken := p.base, p.vtService, p.btoken
	var cred, vaultURL string
	storeVaultToken := false
	for attempt := 1; ; attempt++ {
		var t firstTry
		if attempt == 1 && pre != nil {
			t = *pre
		} else {
			t = s.quietTry(ctx, p)
		}
		run, err := t.run, t.err
		if err != nil {
			// OIDC is probably needed: say so, and run again with it.
			showStoring = true
			s.startLine()
			fmt.Fprintf(s.out, "Authentication needed for %s\n", service)
			if run, err = s.gettoken(ctx, s.step1(p, true, false)); err != nil {
				return fatalf("htgettoken failed")
			}
		}
		if btoken != "" {
			if err := copyFileAtomic(btoken+"-"+service, btoken); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fatalf("copying the bearer token to %s failed: %v", btoken, err)
			}
			s.verbosef("Copying bearer token to %s", btoken)
		}
		if run.newToken != "" {
			cred, vaultURL, storeVaultToken = run.newToken, run.res.BearerURL, true
			break
		}
		q, qerr := t.q, t.qerr
		if !t.queried {
			s.verbosef("Checking if %s credentials exist", service)
			q, qerr = s.Condor.QueryOAuth(ctx, service, "", "")
		}
		if qerr != nil {
			// gettoken fix: a credd that cannot be asked is reported, not
			// taken as "not stored" (which forced a needless browser login).
			return fatalf("%v\nQuerying condor credentials failed", qerr)
		}
		switch q {
		case htcondor.Mismatch:
			return s.mismatch(service)
		case htcondor.Stored:
		case htcondor.NotStored:
			if attempt > 1 {
				return fatalf("No new vault token after second try; logic error")
			}
			if writable, exists := fileWritable(vtService); exists && !writable {
				return fatalf("No %s credentials stored and %s is readonly", service, vtService)
			}
			s.verbosef("Removing %s because there are no %s credentials stored", vtService, service)
			if err := os.Remove(vtService); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fatalf("removing %s failed: %v", vtService, err)
			}
			pre = nil
			continue
		}
		if req.Handle == "" {
			return nil // nothing new to store
		}
		tok, err := tokenfile.ReadToken(vtService)
		if err != nil {
			return fatalf("reading %s failed: %v", vtService, err)
		}
		cred = tok
		break
	}

	// Step 2: exchange the new 28-day token for the user's 7-day one, and
	// get the handle's URL (sts when reduced).
	if req.Handle != "" {
		s.verbosef("Weakening token for %s", req.HandleService())
	}
	// The 7-day lifetime is htgettoken's default (or what the options say).
	step2 := htRun{args: base, quiet: s.verbose == ""}
	handleFile := ""
	if req.Handle != "" && btoken != "" {
		handleFile = btoken + "-" + req.HandleService()
	} else {
		// No file the user keeps: the bearer token stays in memory (the
		// original wrote a temporary file and did not always remove it).
		step2.bearerOut = func(string) error { return nil }
	}
	if storeVaultToken {
		step2.vaultIn = cred
	}
	step2.fixed = func(o *vaultcred.Options) {
		if req.Scopes != "" {
			o.Scopes = req.Scopes
		}
		if req.Audience != "" {
			o.Audience = req.Audience
		}
		o.NoOIDC, o.NoKerberos, o.NoSSH = true, true, true
		o.VaultTokenFile = vtService
		o.ShowBearerURL = true
		if handleFile != "" {
			o.OutFile = handleFile
		}
		if storeVaultToken {
			// The new token is exchanged, as when piped on /dev/stdin.
			o.VaultTokenInFile = "/dev/stdin"
		}
		s.verbosity(o)
	}
	run, err := s.gettoken(ctx, step2)
	if err != nil {
		if storeVaultToken {
			return fatalf("Failed to exchange vault token")
		}
		return fatalf("Failed to obtain weakened token")
	}
	handleURL := run.res.BearerURL
	s.verbosef("Copying %s to %s", vtService, s.vaultTokenFile(""))
	if err := copyFileAtomic(vtService, s.vaultTokenFile("")); err != nil {
		return fatalf("copying %s failed: %v", vtService, err)
	}

	// Step 3: store.
	if storeVaultToken {
		if showStoring {
			fmt.Fprintf(s.out, "Storing condor credentials for %s\n", service)
		}
		if err := s.store(ctx, service, "", "", cred, vaultURL); err != nil {
			return err
		}
	}
	if hs := req.HandleService(); hs != "" {
		need := storeVaultToken
		if !need {
			q, err := s.Condor.QueryOAuth(ctx, hs, req.Scopes, req.Audience)
			if err != nil {
				return fatalf("%v\nQuerying condor credentials failed", err)
			}
			switch q {
			case htcondor.Mismatch:
				return s.mismatch(hs)
			case htcondor.NotStored:
				need = true
			}
		}
		if need {
			if showStoring {
				fmt.Fprintf(s.out, "Storing condor credentials for %s\n", hs)
			}
			tok := ""
			if storeVaultToken {
				tok = cred
			}
			if err := s.store(ctx, hs, req.Scopes, req.Audience, tok, handleURL); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Storer) store(ctx context.Context, name, scopes, audience, token, url string) error {
	payload, err := s.Payload(token, url)
	if err != nil {
		return fatalf("Failed to store condor credentials for %s: %v", name, err)
	}
	if err := s.Condor.AddOAuth(ctx, name, scopes, audience, payload); err != nil {
		// As the original, condor_store_cred's own complaint (e.g. "Credential
		// requires interacting with an untrusted host") reaches the terminal.
		var se *htcondor.StoreError
		if errors.As(err, &se) && len(se.Stderr) > 0 {
			s.out.Write(se.Stderr)
		} else {
			fmt.Fprintf(s.out, "%v\n", err)
		}
		return fatalf("Failed to store condor credentials for %s", name)
	}
	return nil
}

func (s *Storer) mismatch(name string) error {
	u := ""
	if user := s.Env.Getenv("CONDOR_VAULT_STORER_USER"); user != "" {
		u = " -u " + user
	}
	return fatalf("Credentials exist that do not match the request.\nThey can be removed by\n  condor_store_cred delete-oauth%s -s %s\nbut make sure no other job is using them.", u, name)
}

// fileWritable reports whether path exists and whether this user may write
// it (the original's `[ -w ]`).
func fileWritable(path string) (writable, exists bool) {
	if _, err := os.Lstat(path); err != nil {
		return false, false
	}
	return syscallAccessW(path), true
}

// copyFileAtomic copies a token file to dst through tokenfile (temp file
// and rename, 0600).
func copyFileAtomic(src, dst string) error {
	b, err := tokenfile.Read(src)
	if err != nil {
		return err
	}
	return tokenfile.Write(dst, b, tokenfile.Options{})
}

// HTCondor is the real Condor: condor_config_val and condor_store_cred
// through package htcondor.
type HTCondor struct {
	Knobs     *htcondor.Config
	StoreCred *htcondor.StoreCred
}

// Config implements Condor.
func (h HTCondor) Config(ctx context.Context, knobs ...string) (map[string]string, error) {
	return h.Knobs.Get(ctx, knobs...)
}

// QueryOAuth implements Condor.
func (h HTCondor) QueryOAuth(ctx context.Context, name, scopes, audience string) (htcondor.QueryResult, error) {
	return h.StoreCred.QueryOAuth(ctx, name, scopes, audience)
}

// AddOAuth implements Condor.
func (h HTCondor) AddOAuth(ctx context.Context, name, scopes, audience string, payload []byte) error {
	return h.StoreCred.AddOAuth(ctx, name, scopes, audience, payload)
}
