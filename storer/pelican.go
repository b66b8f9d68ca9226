package storer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/vaultcred/gettoken/internal/htcondor"
)

// Storer modes: CONDOR_CREDENTIAL_STORER_MODE as HTCondor 25.14's
// condor_submit sets it, once per kind of credential.
const (
	// ModeEnv is the environment variable naming the mode.
	ModeEnv = "CONDOR_CREDENTIAL_STORER_MODE"
	// ModeVault stores vault tokens (the only mode before 25.14).
	ModeVault = "vault"
	// ModePelican stores Pelican subject tokens.
	ModePelican = "pelican"
)

// The knobs of the pelican mode; the per-service ones are
// <SERVICE>_PELICAN_X.
const (
	KnobPelicanProviders = "PELICAN_CREDMON_PROVIDER_NAMES"
	pelicanURLSuffix     = "_PELICAN_URL"
	pelicanPrefixSuffix  = "_PELICAN_PREFIX"
	pelicanPermsSuffix   = "_PELICAN_PERMISSIONS"
	// maxPelicanOutput bounds what is read of the client's standard output.
	maxPelicanOutput = 1 << 20
)

// RouteKnobs are the knobs RouteRequests reads when no mode is set.
var RouteKnobs = []string{KnobPelicanProviders, "LOCAL_CREDMON_PROVIDER_NAMES", "LOCAL_CREDMON_PROVIDER_NAME",
	"OAUTH2_CREDMON_PROVIDER_NAMES", "CLIENT_CREDMON_PROVIDER_NAMES"}

// Prefetched wraps a Condor so that one batch of knobs is fetched once
// (one condor_config_val run) and later Config calls asking only for
// knobs of that batch are answered from it.
type Prefetched struct {
	Condor
	knobs map[string]bool
	vals  map[string]string
}

// Prefetch fetches knobs from c in one batch.
func Prefetch(ctx context.Context, c Condor, knobs ...string) (*Prefetched, error) {
	vals, err := c.Config(ctx, knobs...)
	if err != nil {
		return nil, err
	}
	p := &Prefetched{Condor: c, knobs: map[string]bool{}, vals: map[string]string{}}
	for _, k := range knobs {
		p.knobs[strings.ToUpper(k)] = true
	}
	for k, v := range vals {
		p.vals[strings.ToUpper(k)] = v
	}
	return p, nil
}

// Config implements Condor.
func (p *Prefetched) Config(ctx context.Context, knobs ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range knobs {
		if !p.knobs[strings.ToUpper(k)] {
			return p.Condor.Config(ctx, knobs...)
		}
		if v, ok := p.vals[strings.ToUpper(k)]; ok {
			out[k] = v
		}
	}
	return out, nil
}

// Route is what each request of a storer run is for.
type Route struct {
	// Vault and Pelican are the request arguments for each mode, in the
	// order given.
	Vault, Pelican []string
	// Skipped are the requests another credmon serves (mode unset only):
	// request argument → why.
	Skipped [][2]string
}

// RouteRequests sorts the request arguments by mode. With mode "vault" or
// "pelican" every request is that mode's. Without a mode (a condor_submit
// before 25.14), each service is decided by the provider lists, as the
// original storer does: its provider (the service, or its part before the
// first '_') in PELICAN_CREDMON_PROVIDER_NAMES → pelican; in the local,
// OAuth2 or client-credentials lists → skipped; otherwise vault. The
// configuration is read only in that case. Another mode is an error.
func RouteRequests(ctx context.Context, c Condor, mode string, requests []string) (Route, error) {
	switch mode {
	case ModeVault:
		return Route{Vault: requests}, nil
	case ModePelican:
		return Route{Pelican: requests}, nil
	case "":
	default:
		return Route{}, fatalf("%s=%s is not a mode this storer knows (%s or %s)", ModeEnv, mode, ModeVault, ModePelican)
	}
	if len(requests) == 0 {
		return Route{}, nil
	}
	knobs, err := c.Config(ctx, RouteKnobs...)
	if err != nil {
		return Route{}, fatalf("%v", err)
	}
	in := func(knob, provider string) bool {
		return slices.Contains(htcondor.SplitList(knobs[knob]), provider)
	}
	var r Route
	for _, raw := range requests {
		service, _, _ := strings.Cut(raw, "&")
		provider, _, _ := strings.Cut(service, "_")
		switch {
		case in(KnobPelicanProviders, service) || in(KnobPelicanProviders, provider):
			r.Pelican = append(r.Pelican, raw)
		case in("LOCAL_CREDMON_PROVIDER_NAMES", provider) || in("LOCAL_CREDMON_PROVIDER_NAME", provider):
			r.Skipped = append(r.Skipped, [2]string{raw, "managed by the local issuer credmon"})
		case in("OAUTH2_CREDMON_PROVIDER_NAMES", provider):
			r.Skipped = append(r.Skipped, [2]string{raw, "managed by the OAuth2 credmon"})
		case in("CLIENT_CREDMON_PROVIDER_NAMES", provider):
			r.Skipped = append(r.Skipped, [2]string{raw, "managed by the client credentials credmon"})
		default:
			r.Vault = append(r.Vault, raw)
		}
	}
	return r, nil
}

// Pelican is one run of the storer's pelican mode: for each request it
// makes sure the credd holds a Pelican subject token, obtained with the
// pelican client's device-code login ("pelican token fetch") and stored
// with condor_store_cred add-oauth as {"access_token": ...}, without a
// vault_url so that the credd does not take it for a Vault credential.
// The credmon then exchanges it for an access and a refresh token.
type Pelican struct {
	// Prog is the program name used in messages.
	Prog string
	// Condor reaches HTCondor.
	Condor Condor
	// Getenv reads the environment (PELICAN_BIN).
	Getenv func(string) string
	// Stderr is condor_submit's standard error; the client's device-code
	// prompt is relayed there.
	Stderr io.Writer
	// Stdin is given to the client (nil: none).
	Stdin io.Reader
	// Verbose prints what is done and why.
	Verbose bool
	// Run runs the client and returns its standard output; nil means
	// RunPelicanClient.
	Run func(ctx context.Context, path string, args []string, stdin io.Reader, stderr io.Writer) ([]byte, error)
}

// Store processes the requests in order and stops at the first fatal
// error (a *FatalError).
func (p *Pelican) Store(ctx context.Context, requests []string) error {
	for _, raw := range requests {
		req, err := ParseRequest(raw)
		if err != nil && !errors.Is(err, ErrUnderscores) {
			return &FatalError{Msg: err.Error()}
		}
		if err := p.store(ctx, req); err != nil {
			return err
		}
	}
	return nil
}

func (p *Pelican) verbosef(format string, args ...any) {
	if p.Verbose {
		fmt.Fprintf(p.Stderr, format+"\n", args...)
	}
}

func (p *Pelican) store(ctx context.Context, req Request) error {
	name := req.Service
	if req.Handle != "" {
		name = req.HandleService()
	}
	res, err := p.Condor.QueryOAuth(ctx, name, req.Scopes, req.Audience)
	if err != nil {
		return fatalf("%v", err)
	}
	if res == htcondor.Stored {
		p.verbosef("Credentials for %s are already stored", name)
		return nil
	}
	bin := "pelican"
	if p.Getenv != nil {
		if v := p.Getenv("PELICAN_BIN"); v != "" {
			bin = v
		}
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return fatalf("The pelican client %s was not found (set PELICAN_BIN to its path)", bin)
	}
	resource, flags, perms, err := p.resource(ctx, req.Service)
	if err != nil {
		return err
	}
	fmt.Fprintf(p.Stderr, "%s: Obtaining a Pelican token for service '%s' (%s, %s)\n", p.Prog, req.Service, resource, strings.Join(perms, ","))
	run := p.Run
	if run == nil {
		run = RunPelicanClient
	}
	args := append(append([]string{"token", "fetch"}, flags...), resource)
	out, err := run(ctx, path, args, p.Stdin, p.Stderr)
	if err != nil {
		return fatalf("Failed to obtain a Pelican token for %s: %v", req.Service, err)
	}
	token := lastLine(out)
	if token == "" {
		return fatalf("Failed to obtain a Pelican token for %s: the pelican client printed no token", req.Service)
	}
	if strings.ContainsAny(token, " \t\"\\") {
		return fatalf("Failed to obtain a Pelican token for %s: the pelican client's last line is not a token", req.Service)
	}
	payload, err := json.Marshal(map[string]string{"access_token": token})
	if err != nil {
		return fatalf("Failed to store condor credentials for %s: %v", name, err)
	}
	if err := p.Condor.AddOAuth(ctx, name, req.Scopes, req.Audience, payload); err != nil {
		var se *htcondor.StoreError
		if errors.As(err, &se) && len(se.Stderr) > 0 {
			p.Stderr.Write(se.Stderr)
		} else {
			fmt.Fprintf(p.Stderr, "%v\n", err)
		}
		return fatalf("Failed to store condor credentials for %s", name)
	}
	p.verbosef("Stored a Pelican token for %s", name)
	return nil
}

// resource reads <SERVICE>_PELICAN_URL, _PREFIX and _PERMISSIONS and
// returns the pelican:// resource, the client's flags and the permission
// names.
func (p *Pelican) resource(ctx context.Context, service string) (string, []string, []string, error) {
	urlKnob, prefixKnob, permsKnob := service+pelicanURLSuffix, service+pelicanPrefixSuffix, service+pelicanPermsSuffix
	knobs, err := p.Condor.Config(ctx, urlKnob, prefixKnob, permsKnob)
	if err != nil {
		return "", nil, nil, fatalf("%v", err)
	}
	get := func(k string) string {
		for n, v := range knobs {
			if strings.EqualFold(n, k) {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	res, err := PelicanResource(get(urlKnob), get(prefixKnob))
	if err != nil {
		return "", nil, nil, fatalf("%s: %v", urlKnob, err)
	}
	flags, perms, err := PelicanPermissions(get(permsKnob))
	if err != nil {
		return "", nil, nil, fatalf("%s: %v", permsKnob, err)
	}
	return res, flags, perms, nil
}

// PelicanResource builds the resource the client is asked a token for:
// the URL (pelican:// and osdf:// kept, https:// and http:// rewritten to
// pelican://), with prefix appended after exactly one '/'.
func PelicanResource(rawURL, prefix string) (string, error) {
	if rawURL == "" {
		return "", errors.New("not set; it must name the Pelican federation (pelican://...)")
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || rest == "" {
		return "", fmt.Errorf("%q is not a URL", rawURL)
	}
	switch strings.ToLower(scheme) {
	case "pelican", "osdf":
	case "https", "http":
		rawURL = "pelican://" + rest
	default:
		return "", fmt.Errorf("%q: the scheme must be pelican, osdf, https or http", rawURL)
	}
	if strings.ContainsAny(rawURL, " \t\n\r") {
		return "", fmt.Errorf("%q contains white space", rawURL)
	}
	if prefix != "" {
		rawURL = strings.TrimRight(rawURL, "/") + "/" + strings.TrimLeft(prefix, "/")
	}
	return rawURL, nil
}

// PelicanPermissions maps <SERVICE>_PELICAN_PERMISSIONS (default "read";
// split on blanks and commas) to the client's flags: read → --read,
// write and create → --write, modify and delete → --modify. They do not
// imply one another; anything else, or nothing, is an error.
func PelicanPermissions(v string) (flags, names []string, err error) {
	if strings.TrimSpace(v) == "" {
		v = "read"
	}
	for _, p := range htcondor.SplitList(v) {
		var f string
		switch strings.ToLower(p) {
		case "read":
			f = "--read"
		case "write", "create":
			f = "--write"
		case "modify", "delete":
			f = "--modify"
		default:
			return nil, nil, fmt.Errorf("unknown permission %q (read, write, create, modify or delete)", p)
		}
		names = append(names, strings.ToLower(p))
		if !slices.Contains(flags, f) {
			flags = append(flags, f)
		}
	}
	if len(flags) == 0 {
		return nil, nil, errors.New("no permission")
	}
	return flags, names, nil
}

// lastLine is the last non-empty line of out, trimmed.
func lastLine(out []byte) string {
	lines := bytes.Split(out, []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(string(lines[i])); l != "" {
			return l
		}
	}
	return ""
}

// RunPelicanClient runs the pelican client with PELICAN_SKIP_TERMINAL_CHECK=1
// (its prompt goes to stderr, which condor_submit relays), stdin given,
// and returns its standard output (at most 1 MiB). A non-zero exit is an
// error naming the status, never the output.
func RunPelicanClient(ctx context.Context, path string, args []string, stdin io.Reader, stderr io.Writer) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "PELICAN_SKIP_TERMINAL_CHECK=1")
	cmd.Stdin, cmd.Stderr = stdin, stderr
	var out limitedBuffer
	out.max = maxPelicanOutput
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%s exited with status %d", path, ee.ExitCode())
		}
		return nil, err
	}
	if out.over {
		return nil, fmt.Errorf("%s printed more than %d bytes", path, maxPelicanOutput)
	}
	return out.Bytes(), nil
}

// limitedBuffer keeps at most max bytes and notes when more came.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
