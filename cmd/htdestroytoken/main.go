// Command htdestroytoken removes the bearer token and vault token files
// that htgettoken (or gettoken) stored and, with -f, first deletes the
// user's refresh token in Vault. It replaces htgettoken 2.6's bash script
// of the same name: same options, messages, streams and exit statuses.
//
//	Usage: htdestroytoken [-h] [-q] [-f [htgettoken options]]
//
// The vault token file is $VAULT_TOKEN_FILE (also given to the htgettoken
// options as --vaulttokenfile), else /tmp/vt_u<euid>. The bearer token
// file is $BEARER_TOKEN_FILE, else ${XDG_RUNTIME_DIR:-/tmp}/bt_u<euid>.
// Each is removed when it is a regular file (a symlink to one is removed
// itself, not its target), with "Removing <file>" on stdout unless -q.
//
// With -f, when the vault token file exists, the arguments after -f (with
// $HTGETTOKENOPTS) are parsed as htgettoken options, plus --novaulttoken
// --nobearertoken --showbearerurl, and htgettoken's flow is run in-process
// to learn the Vault URL of the refresh token, without any request
// (unless --vaulttokenminttl asks for a lookup). Then "Deleting refresh
// token" and "  at path <URL>" are printed unless -q, and the URL is sent
// a DELETE with the token of the vault token file in X-Vault-Token, through
// the same Vault client as htgettoken's requests (--cafile, --capath,
// --vaultcertname), within 5 seconds. Only a 200 or 204 answer (what Vault
// sends) counts as success.
//
// Exit status: 0 on success, 2 for a usage error (including -h), 3 when
// the URL could not be found ("htdestroytoken: Unable to obtain vault URL
// to remove refresh token") or the DELETE failed ("htdestroytoken: Unable
// to delete refresh token"; nothing is removed then), 1 when a file could
// not be removed.
//
// # Differences from the bash original
//
//   - htgettoken and curl are not run: the option parsing and flow of
//     package vaultcred run in-process, and the DELETE is made with
//     vaultcred.Delete. Errors of the htgettoken part are printed
//     as htgettoken would print them ("htgettoken: ...", silenced by -q);
//     the DELETE failure is explained on a line of its own
//     ("htdestroytoken: DELETE <URL> failed: HTTPError: Forbidden: ...")
//     where curl printed its own message. The vault token never appears
//     in a message or in the process list.
//   - Arguments after -f are passed on as they are, not re-split by the
//     shell, so values with spaces or glob characters survive.
//   - "no htgettoken options were given" is reported whenever no argument
//     other than -q follows -f and $HTGETTOKENOPTS is empty, even with
//     $VAULT_TOKEN_FILE set or -q given (the original's test missed both
//     cases and then failed with exit 3).
//   - A redirect (3xx) answer to the DELETE is a failure (curl -f without
//     -L accepted it).
//   - File names use the effective uid, as htgettoken does when it writes
//     them (the original used bash's $UID, the real uid).
//   - A file that cannot be removed is reported and gives exit status 1
//     after the other removals (the original only noticed the last one).
//
// As in the original, -h and -q are recognised anywhere, also after -f;
// -q then also passes -q to htgettoken. The vault token sent is the one in
// the vault token file above, whatever --vaulttokeninfile says.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/vaultcred/gettoken/internal/optparse"
	"github.com/vaultcred/gettoken/vaultcred"
)

// prog is the name in messages.
const prog = "htdestroytoken"

// usage is printed on stderr for -h and usage errors.
const usage = `Usage: htdestroytoken [-h] [-q] [-f [htgettoken options]]
Removes the bearer token and vault token files, if present.
  -h prints this help and exits
  -q removes silently
  -f first deletes the refresh token in Vault, if there is a vault token.
     The Vault path is found with the htgettoken options that follow, or
     those in $HTGETTOKENOPTS (at least -a, usually also -i and -r).
$BEARER_TOKEN_FILE sets where the bearer token is, and $VAULT_TOKEN_FILE
  where the vault token is.
`

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1 // a file could not be removed
	exitUsage   = 2
	exitRefresh = 3 // the refresh token could not be deleted
)

// DeleteTimeout bounds the DELETE request (curl -m 5 in the original).
const DeleteTimeout = 5 * time.Second

// urlTimeout bounds the in-process htgettoken run (an optserver fetch and
// at most a lookup-self, each with its own shorter timeout).
const urlTimeout = 60 * time.Second

// htgettokenExtra are the options the original added to htgettoken's
// command line to get the URL only.
var htgettokenExtra = []string{"--novaulttoken", "--nobearertoken", "--showbearerurl"}

func main() {
	os.Exit(destroyMain())
}

// destroyMain runs htdestroytoken in the process environment.
func destroyMain() int {
	inv := invocation{
		args:          os.Args,
		stdout:        os.Stdout,
		stderr:        os.Stderr,
		env:           vaultcred.SystemEnviron(),
		tmpDir:        "/tmp",
		deleteTimeout: DeleteTimeout,
	}
	if testOnlyInvocation != nil {
		testOnlyInvocation(&inv)
	}
	return run(context.Background(), inv)
}

// testOnlyInvocation, set only by TestMain, adjusts the invocation (fake
// euid and /tmp) so that scripts do not depend on the machine.
var testOnlyInvocation func(*invocation)

// invocation is everything a run depends on.
type invocation struct {
	args           []string // including the program name
	stdout, stderr io.Writer
	env            vaultcred.Environ
	tmpDir         string        // "/tmp"
	deleteTimeout  time.Duration // DeleteTimeout
}

// request is the parsed command line.
type request struct {
	quiet      bool
	rmRefresh  bool
	htArgs     []string // htgettoken options, -q included
	userHTArgs int      // how many of htArgs are not -q
}

// errUsage asks for the usage text and exit status 2.
var errUsage = errors.New("usage")

// parseArgs parses the command line as the original's loop does: -h, -q
// and -f anywhere; anything else only after -f, as an htgettoken option.
func parseArgs(args []string) (*request, error) {
	r := &request{}
	for _, a := range args {
		switch a {
		case "-h":
			return nil, errUsage
		case "-q":
			r.quiet = true
			r.htArgs = append(r.htArgs, a)
		case "-f":
			r.rmRefresh = true
		default:
			if !r.rmRefresh {
				return nil, errUsage
			}
			r.htArgs = append(r.htArgs, a)
			r.userHTArgs++
		}
	}
	return r, nil
}

// run is the whole program; it returns the exit status.
func run(ctx context.Context, inv invocation) int {
	var args []string
	if len(inv.args) > 0 {
		args = inv.args[1:]
	}
	r, err := parseArgs(args)
	if err != nil {
		io.WriteString(inv.stderr, usage)
		return exitUsage
	}
	uid := strconv.Itoa(inv.env.Euid)
	vtFile := inv.tmpDir + "/vt_u" + uid
	if f := inv.env.Getenv("VAULT_TOKEN_FILE"); f != "" {
		vtFile = f
		r.htArgs = append(r.htArgs, "--vaulttokenfile="+f)
	}
	if r.rmRefresh && isRegular(vtFile) {
		if r.userHTArgs == 0 && inv.env.Getenv(optparse.EnvOpts) == "" {
			fmt.Fprintf(inv.stderr, "%s: no htgettoken options were given\n", prog)
			io.WriteString(inv.stderr, usage)
			return exitUsage
		}
		if code := deleteRefresh(ctx, inv, r, vtFile); code != exitOK {
			return code
		}
	}

	btFile := inv.env.Getenv("BEARER_TOKEN_FILE")
	if btFile == "" {
		dir := inv.env.Getenv("XDG_RUNTIME_DIR")
		if dir == "" {
			dir = inv.tmpDir
		}
		btFile = dir + "/bt_u" + uid
	}
	code := exitOK
	for _, f := range []string{btFile, vtFile} {
		if !isRegular(f) {
			continue
		}
		if !r.quiet {
			fmt.Fprintln(inv.stdout, "Removing "+f)
		}
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(inv.stderr, "%s: %v\n", prog, err)
			code = exitFailed
		}
	}
	return code
}

// isRegular reports whether path is, or links to, a regular file (test -f).
func isRegular(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// deleteRefresh finds the refresh token URL and deletes it. It returns
// exitOK, exitUsage or exitRefresh.
func deleteRefresh(ctx context.Context, inv invocation, r *request, vtFile string) int {
	htArgs := append(append([]string(nil), r.htArgs...), htgettokenExtra...)
	uctx, cancel := context.WithTimeout(ctx, urlTimeout)
	opts, url := bearerURL(uctx, inv, htArgs)
	cancel()
	if url == "" {
		fmt.Fprintf(inv.stderr, "%s: Unable to obtain vault URL to remove refresh token\n", prog)
		return exitRefresh
	}
	if !r.quiet {
		fmt.Fprintln(inv.stdout, "Deleting refresh token")
		fmt.Fprintln(inv.stdout, "  at path "+url)
	}
	dctx, cancel := context.WithTimeout(ctx, inv.deleteTimeout)
	defer cancel()
	if err := deleteRefreshToken(dctx, opts, url, vtFile); err != nil {
		fmt.Fprintf(inv.stderr, "%s: DELETE %s failed: %v\n", prog, url, err)
		fmt.Fprintf(inv.stderr, "%s: Unable to delete refresh token\n", prog)
		return exitRefresh
	}
	return exitOK
}

// bearerURL runs "htgettoken <htArgs>" in-process and returns the derived
// options and the bearer URL it would print (empty on failure). Its
// messages go to stderr as htgettoken's would.
func bearerURL(ctx context.Context, inv invocation, htArgs []string) (*vaultcred.Options, string) {
	const htProg = "htgettoken"
	fe := optparse.Frontend{Prog: htProg, Env: inv.env, Log: inv.stderr}
	p, opts, err := fe.Setup(ctx, htArgs)
	if err != nil {
		// htgettoken would print the help and --version on stdout, where
		// the original captured them as the URL; there is no URL. Its log
		// stream is stderr here, because of --showbearerurl.
		p.WriteSetupError(io.Discard, inv.stderr, opts, err)
		return nil, ""
	}
	log := &vaultcred.Logger{W: inv.stderr, Quiet: opts.Quiet, Verbose: opts.Verbose, Debug: opts.Debug}
	res, err := vaultcred.Get(ctx, opts, vaultcred.Deps{Log: log})
	if err != nil && !opts.Quiet {
		if opts.ShowProgress {
			fmt.Fprintln(inv.stderr)
		}
		fmt.Fprintf(inv.stderr, "%s: %s\n", htProg, err)
	}
	return opts, res.BearerURL
}
