// Command htdecodetoken prints the header and claims of a JSON Web Token
// (JWT), found by WLCG Bearer Token Discovery, and optionally checks it
// with scitokens-verify. It replaces htgettoken 2.6's bash script of the
// same name (installed also as httokendecode): same options, messages,
// streams and exit statuses.
//
//	Usage: htdecodetoken [-a] [-H] [-s|-f] [-v] [file]
//
// The token comes from the file argument ("-" is standard input), else
// from $BEARER_TOKEN, else from the file $BEARER_TOKEN_FILE, else from
// ${XDG_RUNTIME_DIR:-/tmp}/bt_u<euid>. Only the first line of a file is
// used. The payload is printed as "jq ." would; -a prints the header first,
// -H shows digits-only numbers (exp, iat, nbf, ...) as dates. When
// verification is not skipped (-s, or by default when stdout is not a
// terminal) and scitokens-verify is in $PATH, the token is given to it on
// standard input; its failure output goes to stderr and its exit status is
// returned.
//
// Exit status: 0 on success, 1 for a usage error, a missing or empty token
// or a token that cannot be decoded, else scitokens-verify's status.
//
// # Differences from the bash original
//
//   - The decoding is done in-process (no base64, cut or jq). Number
//     literals are printed as written, as jq 1.7 does (jq 1.6 rounds them
//     through a double); strings and key order follow jq.
//   - -H converts only JSON numbers made of digits, anywhere in the
//     document; the original split the text into words, so it also
//     mangled digits-only words inside strings and collapsed runs of
//     spaces in strings. Dates are date(1)'s C-locale format with runs of
//     spaces collapsed, which is what the original printed ("Sun Nov 2 ...").
//     Numbers after the year 9999 are left as numbers.
//   - A token that cannot be decoded, in the header (with -a) or the
//     payload, gives one line "htdecodetoken: cannot decode the JWT
//     <part>: <reason>" and exit status 1, with nothing on stdout; the
//     message never contains the token. A token without a "." is an error
//     (the original decoded the whole token as the payload).
//   - A completely empty file or standard input gives "Token is empty" and
//     the usage, like an empty first line; the original exited 1 silently.
//   - Options are parsed like getopts proper: grouped flags (-aH) and "--"
//     work (the original shifted by the number of options, not of
//     arguments).
//   - Surrounding white space (including \r) is removed from the token,
//     as WLCG Bearer Token Discovery asks, and a $BEARER_TOKEN of white
//     space only counts as empty (discovery goes on to the files).
//   - Relative directories in $PATH are not searched for scitokens-verify,
//     and it is given 60 seconds to finish. An old scitokens-verify that
//     answers "Insufficient arguments" (it reads the token only from its
//     command line) is not run again with the token as an argument, as the
//     original does, because every local user can read a command line in
//     the process list: one line says to upgrade scitokens-cpp or use -s,
//     and the exit status is 1.
//   - The program name in messages is always htdecodetoken.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/vaultcred/gettoken/internal/jwtdecode"
)

// prog is the name in the usage line and in error messages.
const prog = "htdecodetoken"

// usage is printed on stderr for usage errors.
const usage = `Usage: htdecodetoken [-a] [-H] [-s|-f] [-v] [file]

Prints the claims of a JSON Web Token (JWT) as indented JSON.
  -a: also print the JWT header (with the signing algorithm) first
  -H: show numbers such as exp, iat and nbf as dates
  -s: skip the check with scitokens-verify (cannot be used with -f);
        the default when stdout is not a terminal or when
        scitokens-verify is not in $PATH
  -f: force the check with scitokens-verify (cannot be used with -s)
  -v: print on stderr where the token was read from
The file may be "-" for standard input. Without a file, WLCG Bearer Token
  Discovery is followed: $BEARER_TOKEN, else the file $BEARER_TOKEN_FILE,
  else ${XDG_RUNTIME_DIR:-/tmp}/bt_u<uid>.
`

// Limits.
const (
	// maxLine bounds the first line read from a token file or stdin.
	maxLine = 1 << 20
	// verifyTimeout bounds each scitokens-verify run.
	verifyTimeout = 60 * time.Second
	// verifyTool is the program that checks the token.
	verifyTool = "scitokens-verify"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
)

func main() {
	os.Exit(decodeMain())
}

// decodeMain runs htdecodetoken in the process environment.
func decodeMain() int {
	inv := invocation{
		args:      os.Args,
		stdin:     os.Stdin,
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		env:       os.Environ(),
		euid:      os.Geteuid(),
		stdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		location:  time.Local,
		tmpDir:    "/tmp",
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
	stdin          io.Reader
	stdout, stderr io.Writer
	env            []string // KEY=VALUE, also given to scitokens-verify
	euid           int
	stdoutTTY      bool
	location       *time.Location // for -H
	tmpDir         string         // "/tmp"
}

func (inv invocation) getenv(key string) string {
	for i := len(inv.env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(inv.env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// flags are the parsed options.
type flags struct {
	header, human, verbose bool
	skipSet, forceSet      bool
	args                   []string
}

// errUsage means: print the usage and exit 1. Its message, when not empty,
// is printed first.
type errUsage struct{ msg string }

func (e *errUsage) Error() string { return e.msg }

// parseArgs parses the options as bash's getopts ":vaHsf" does.
func parseArgs(args []string) (*flags, error) {
	f := &flags{}
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		for _, c := range a[1:] {
			switch c {
			case 'a':
				f.header = true
			case 'H':
				f.human = true
			case 'v':
				f.verbose = true
			case 's':
				if f.forceSet {
					return nil, &errUsage{"Cannot use both -s and -f options together"}
				}
				f.skipSet = true
			case 'f':
				if f.skipSet {
					return nil, &errUsage{"Cannot use both -s and -f options together"}
				}
				f.forceSet = true
			default:
				return nil, &errUsage{}
			}
		}
	}
	f.args = args[i:]
	if len(f.args) > 1 {
		return nil, &errUsage{}
	}
	return f, nil
}

// errSilent is a failure already reported (or, for the original, silent).
var errSilent = errors.New("failed")

// run is the whole program; it returns the exit status.
func run(ctx context.Context, inv invocation) int {
	var args []string
	if len(inv.args) > 0 {
		args = inv.args[1:]
	}
	f, err := parseArgs(args)
	if err != nil {
		return usageError(inv, err)
	}
	token, err := findToken(inv, f)
	var ue *errUsage
	switch {
	case errors.As(err, &ue):
		return usageError(inv, err)
	case err != nil:
		fmt.Fprintln(inv.stderr, err)
		return exitError
	}

	var out bytes.Buffer
	fo := jwtdecode.FormatOptions{HumanDates: f.human, Location: inv.location}
	parts := []jwtdecode.Part{jwtdecode.Payload}
	if f.header {
		parts = []jwtdecode.Part{jwtdecode.Header, jwtdecode.Payload}
	}
	for _, p := range parts {
		b, err := jwtdecode.Decode(token, p, fo)
		if err != nil {
			fmt.Fprintf(inv.stderr, "%s: %v\n", prog, err)
			return exitError
		}
		out.Write(b)
	}
	if _, err := inv.stdout.Write(out.Bytes()); err != nil {
		fmt.Fprintf(inv.stderr, "%s: writing output: %v\n", prog, err)
		return exitError
	}

	skip := f.skipSet || (!inv.stdoutTTY && !f.forceSet)
	if skip {
		return exitOK
	}
	return verify(ctx, inv, token)
}

// usageError prints err's message (if any) and the usage, and returns 1.
func usageError(inv invocation, err error) int {
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(inv.stderr, msg)
	}
	io.WriteString(inv.stderr, usage)
	return exitError
}

// notFoundError is "<file> not found".
type notFoundError struct{ path string }

func (e *notFoundError) Error() string { return e.path + " not found" }

// findToken applies the discovery order and returns the token with
// surrounding white space removed.
func findToken(inv invocation, f *flags) (string, error) {
	var (
		tok  string
		path string
		err  error
	)
	switch {
	case len(f.args) == 1 && f.args[0] == "-":
		if f.verbose {
			fmt.Fprintln(inv.stderr, "Token source: stdin")
		}
		tok, err = firstLine(inv.stdin, "standard input")
	case len(f.args) == 1:
		path = f.args[0]
	case strings.TrimSpace(inv.getenv("BEARER_TOKEN")) != "":
		if f.verbose {
			fmt.Fprintln(inv.stderr, "Token source: $BEARER_TOKEN")
		}
		tok = inv.getenv("BEARER_TOKEN")
	default:
		path = inv.getenv("BEARER_TOKEN_FILE")
		if path == "" {
			dir := inv.getenv("XDG_RUNTIME_DIR")
			if dir == "" {
				dir = inv.tmpDir
			}
			path = dir + "/bt_u" + strconv.Itoa(inv.euid)
		}
	}
	if path != "" {
		if f.verbose {
			fmt.Fprintln(inv.stderr, "Token source: "+path)
		}
		tok, err = readFirstLine(path)
	}
	if err != nil {
		return "", err
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", &errUsage{"Token is empty"}
	}
	return tok, nil
}

// readFirstLine returns the first line of the file at path.
func readFirstLine(path string) (string, error) {
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", &notFoundError{path}
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", prog, err)
	}
	defer fh.Close()
	return firstLine(fh, path)
}

// firstLine reads up to the first newline (or the end) of r.
func firstLine(r io.Reader, name string) (string, error) {
	br := bufio.NewReader(io.LimitReader(r, maxLine+1))
	line, err := br.ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("%s: reading %s: %w", prog, name, err)
	}
	if len(line) > maxLine {
		return "", fmt.Errorf("%s: reading %s: the first line is longer than %d bytes", prog, name, maxLine)
	}
	return line, nil
}

// verify runs scitokens-verify on the token, if it is in $PATH.
func verify(ctx context.Context, inv invocation, token string) int {
	tool := lookPath(verifyTool, inv.getenv("PATH"))
	if tool == "" {
		return exitOK
	}
	out, code, err := runVerify(ctx, inv, tool, token)
	if err == nil && bytes.Contains(out, []byte("Insufficient arguments")) {
		fmt.Fprintf(inv.stderr, "%s: this %s is too old to read the token from standard input, "+
			"and the token is not put on its command line, where other users could read it; "+
			"upgrade scitokens-cpp, or skip the check with -s\n", prog, verifyTool)
		return exitError
	}
	if err != nil {
		fmt.Fprintf(inv.stderr, "%s: %v\n", prog, err)
		return exitError
	}
	if code != 0 && len(bytes.TrimSpace(out)) > 0 {
		inv.stderr.Write(out)
		if !bytes.HasSuffix(out, []byte("\n")) {
			io.WriteString(inv.stderr, "\n")
		}
	}
	return code
}

// runVerify runs the tool once with the token on its standard input (a
// pipe; never on its command line, which every local user can read), and
// returns its combined output and exit status. err is set only when the
// tool could not be run or did not finish in time.
func runVerify(ctx context.Context, inv invocation, tool, token string) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool)
	cmd.Stdin = strings.NewReader(token + "\n")
	cmd.Env = inv.env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, 0, fmt.Errorf("%s did not finish within %v", verifyTool, verifyTimeout)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if code := ee.ExitCode(); code > 0 {
			return out.Bytes(), code, nil
		}
		return out.Bytes(), exitError, nil // killed by a signal
	}
	if err != nil {
		return nil, 0, fmt.Errorf("running %s: %w", verifyTool, err)
	}
	return out.Bytes(), 0, nil
}

// lookPath finds an executable regular file named name in the absolute
// directories of path, as "command -v" does (relative entries are skipped).
func lookPath(name, path string) string {
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}
