// Package storecred is the condor_store_cred stand-in: HTCondor's command
// line, messages and exit codes for OAuth credentials, talking to the
// condor_credd stand-in on the Unix socket named by the CREDD_SOCKET knob.
package storecred

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vaultcred/gettoken/integration/condor/config"
	"github.com/vaultcred/gettoken/integration/condor/credd"
)

// Timeout bounds the whole exchange with the credd.
const Timeout = 30 * time.Second

// options are the parsed command line.
type options struct {
	mode                              credd.Mode
	credType                          string // "oauth", "pwd", "krb"
	username                          string
	daemonName                        string
	pw                                string
	service, handle, scopes, audience string
	credFile                          string
	help, debug, plain                bool
}

// Main runs condor_store_cred with args (without the program name) and
// returns the exit status: 0 success, 2 credential mismatch, 1 anything
// else.
func Main(prog string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	prog = filepath.Base(prog)
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintf(stderr, "ERROR: %v\n", err)
		return 1
	}
	o, ok := parse(prog, args, stderr)
	if !ok {
		return 1
	}
	if o.help || o.mode == "" {
		usage(prog, stderr)
		return 1
	}
	if o.credType != "oauth" {
		fmt.Fprintf(stderr, "ERROR: this condor_store_cred stand-in handles only OAuth credentials (add-oauth, query-oauth, delete-oauth)\n")
		return 1
	}
	return run(o, cfg, stdin, stdout, stderr)
}

func usage(prog string, w io.Writer) {
	fmt.Fprintf(w, `Usage: %s action [options]
  where action is one of:
    add[-type]        Add credential to secure storage
    delete[-type]     Remove credential from secure storage
    query[-type]      Check if a credential has been stored
  and -type is an optional credential type. it must be one of:
    -pwd              Credential is a password (default)
    -krb              Credential is Kerberos/AFS token
    -oauth            Credential is Scitoken or OAuth2 token
  and where [options] is zero or more of:
    -u username       Use the specified username
    -p <password>     Use the specified password rather than prompting
    -i <filename>     Read the credential from <filename>
                         If <filename> is -, read from stdin
    -s <service>      Add/Remove/Query for the given OAuth2 service
    -H <handle>       Specify a handle for the given OAuth2 service
    -S <scopes>       Add the given OAuth2 comma-separated scopes, or make sure
                         a Query matches
    -A <audience>     Add the given OAuth2 audience, or make sure a Query matches
    -P                The credential is a plain access token (stored as .use)
    -n <name>         Manage credentials on the named machine
    -d                Display debugging messages
    -h                Display this message

If no -u argument is supplied, the name of the current user will be used.
The add-krb and add-oauth action must be used with the -i argument to specify
a file to read the credential from.
Using -A or -S with oauth requires the credential to be in JSON format.

`, prog)
}

// dashPrefix reports whether tag (like "-oauth" or "--oa") abbreviates
// word with at least min characters.
func dashPrefix(tag, word string, min int) bool {
	t := strings.TrimPrefix(strings.TrimPrefix(tag, "-"), "-")
	return len(t) >= min && len(t) <= len(word) && strings.EqualFold(word[:len(t)], t)
}

func qualify(tag string) (string, bool) {
	if tag == "" {
		return "pwd", true
	}
	switch {
	case dashPrefix(tag, "pwd", 1), dashPrefix(tag, "password", 2):
		return "pwd", true
	case dashPrefix(tag, "krb", 2), dashPrefix(tag, "kerberos", 2):
		return "krb", true
	case dashPrefix(tag, "oauth", 2), dashPrefix(tag, "oath", 2), dashPrefix(tag, "scitokens", 3):
		return "oauth", true
	}
	return "", false
}

// parse follows condor_store_cred's parseCommandLine: actions add, delete,
// query with an optional -type suffix; options recognised by their first
// letter.
func parse(prog string, args []string, stderr io.Writer) (options, bool) {
	var o options
	seen := map[byte]bool{}
	// fail prints msg (if any) and the usage text.
	fail := func(format string, a ...any) (options, bool) {
		fmt.Fprintf(stderr, format, a...)
		usage(prog, stderr)
		return o, false
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		word, tag := arg, ""
		if j := strings.IndexByte(arg, '-'); j > 0 {
			word, tag = arg[:j], arg[j:]
		}
		if word == "" {
			return fail("ERROR: Unrecognized command - '%s'\n\n", arg)
		}
		if word[0] == '-' {
			opt := byte(0)
			if len(arg) > 1 {
				opt = arg[1]
			}
			// Options that take a value: the field, its kind for the
			// error message, and the duplicate message.
			var dst *string
			var kind, dupMsg string
			switch opt {
			case 'n':
				dst, kind, dupMsg = &o.daemonName, "name", "only one '-n' arg may be provided"
			case 'p':
				dst, kind, dupMsg = &o.pw, "password", "only one '-p' arg may be provided"
			case 'u':
				dst, kind, dupMsg = &o.username, "username", "only one of '-s' or '-u' may be provided"
			case 'i':
				dst, kind, dupMsg = &o.credFile, "filename", "credential filename already specified"
			case 's':
				dst, kind, dupMsg = &o.service, "service", "OAuth service already specified"
			case 'H':
				dst, kind, dupMsg = &o.handle, "handle", "OAuth handle already specified"
			case 'S':
				dst, kind, dupMsg = &o.scopes, "scopes", "OAuth scopes already specified"
			case 'A':
				dst, kind, dupMsg = &o.audience, "audience", "OAuth audience already specified"
			case 'P':
				o.plain = true
			case 'd':
				o.debug = true
			case 'h':
				o.help = true
			case 'c', 'f':
				fmt.Fprintf(stderr, "ERROR: option '%s' (pool password) is not supported by this stand-in\n", arg)
				return o, false
			default:
				return fail("ERROR: Unrecognized option - '%s'\n\n", arg)
			}
			if dst == nil {
				continue
			}
			if i+1 >= len(args) {
				return fail("ERROR: Option '%s' requires a %s argument\n\n", arg, kind)
			}
			if seen[opt] {
				return fail("ERROR: %s\n", dupMsg)
			}
			seen[opt] = true
			*dst = args[i+1]
			i++
			if opt == 'u' {
				if at := strings.IndexByte(*dst, '@'); at <= 0 || at == len(*dst)-1 {
					return fail("ERROR: Username '%s' is not of the form: account@domain\n", *dst)
				}
			}
			continue
		}
		var m credd.Mode
		switch {
		case strings.EqualFold(word, "add"):
			m = credd.ModeAdd
		case strings.EqualFold(word, "delete"):
			m = credd.ModeDelete
		case strings.EqualFold(word, "query"):
			m = credd.ModeQuery
		default:
			return fail("ERROR: Unrecognized command - '%s'\n\n", word)
		}
		ct, ok := qualify(tag)
		if o.mode == "" {
			if !ok {
				return fail("ERROR: %s is not a known credential type\n", tag)
			}
			o.mode, o.credType = m, ct
		} else if o.mode != m {
			return fail("ERROR: exactly one command must be provided\n")
		}
	}
	if o.mode == credd.ModeAdd && o.credType == "oauth" {
		if o.credFile == "" {
			fmt.Fprintf(stderr, "ERROR: add-krb and add-oauth commands require a credential filename argument\n")
			return o, false
		}
		if o.service == "" {
			fmt.Fprintf(stderr, "ERROR: add-oauth requires a service name argument (-s)\n")
			return o, false
		}
	}
	return o, true
}

// readCredential reads -i: "-" is stdin.
func readCredential(o options, stdin io.Reader, stderr io.Writer) ([]byte, bool) {
	var r io.Reader
	src := o.credFile
	if src == "-" {
		r, src = stdin, "stdin"
	} else {
		f, err := os.Open(o.credFile)
		if err != nil {
			fmt.Fprintf(stderr, "Could not read credential from %s\n", o.credFile)
			return nil, false
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, credd.MaxCredential+1))
	if err != nil {
		fmt.Fprintf(stderr, "Could not read credential from %s\n", src)
		return nil, false
	}
	if len(b) > credd.MaxCredential {
		fmt.Fprintf(stderr, "ERROR: the credential from %s is larger than %d bytes\n", src, credd.MaxCredential)
		return nil, false
	}
	return b, true
}

func run(o options, cfg *config.Config, stdin io.Reader, stdout, stderr io.Writer) int {
	if o.username == "" {
		fmt.Fprintf(stdout, "Account: <current> (%s)\n", credd.UserName(os.Geteuid()))
	} else {
		fmt.Fprintf(stdout, "Account: %s\n", o.username)
	}
	fmt.Fprintf(stdout, "CredType: %s\n\n", o.credType)

	req := credd.Request{Mode: o.mode, User: o.username, Service: o.service, Handle: o.handle,
		Scopes: o.scopes, Audience: o.audience, Plain: o.plain, DaemonName: o.daemonName}
	var rep credd.Reply
	result := credd.Result(-1) // FAILURE_ABORTED
	send := true
	if o.mode == credd.ModeAdd {
		cred, ok := readCredential(o, stdin, stderr)
		if !ok {
			result, send = credd.Failure, false
		} else if len(cred) == 0 {
			send = false
		}
		req.Credential = cred
	}
	if send {
		if o.debug {
			fmt.Fprintf(stderr, "STORE_CRED: In mode '%s-%s', user is %q\n", o.mode, o.credType, o.username)
		}
		rep, result = call(cfg, req, o.debug, stderr)
	}
	return report(o, rep, result, stdout, stderr)
}

// call sends the request; an unreachable credd is FAILURE, as in HTCondor.
func call(cfg *config.Config, req credd.Request, debug bool, stderr io.Writer) (credd.Reply, credd.Result) {
	socket, ok := cfg.Get("CREDD_SOCKET")
	if !ok {
		fmt.Fprintf(stderr, "STORE_CRED: Failed to start STORE_CRED command. Unable to locate the local condor_credd: CREDD_SOCKET is not defined\n")
		return credd.Reply{}, credd.Failure
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	rep, err := credd.Do(ctx, socket, req)
	if err != nil {
		var ue *credd.UnreachableError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "STORE_CRED: Failed to start STORE_CRED command. Unable to contact the local condor_credd <%s>: %v\n", socket, ue.Err)
		} else {
			fmt.Fprintf(stderr, "STORE_CRED: %v\n", err)
		}
		return credd.Reply{}, credd.Failure
	}
	if debug {
		fmt.Fprintf(stderr, "STORE_CRED: result %s\n", rep.Result)
	}
	return rep, rep.Result
}

func isoTime(ts int64) string { return time.Unix(ts, 0).Local().Format("2006-01-02 15:04:05") }

// report prints condor_store_cred's result messages and returns the exit
// status.
func report(o options, rep credd.Reply, result credd.Result, stdout, stderr io.Writer) int {
	isQuery := o.mode == credd.ModeQuery
	var stamp string
	failed, errStr := result.Failed(o.mode)
	if !failed && result.IsTimestamp() {
		stamp = isoTime(int64(result))
		result = credd.Success
	}
	switch result {
	case credd.Success, credd.SuccessPending:
		if isQuery {
			pending := " and is valid"
			if result == credd.SuccessPending {
				pending = " and is waiting for processing"
				if stamp == "" {
					stamp = pendingTime(o, rep)
				}
			}
			if stamp != "" {
				fmt.Fprintf(stdout, "A credential was stored on %s%s.\n", stamp, pending)
			} else {
				fmt.Fprintf(stdout, "A credential was stored%s.\n", pending)
			}
		} else {
			pending := ""
			if result == credd.SuccessPending {
				pending = " and is waiting for processing"
			}
			if o.mode == credd.ModeAdd && stamp != "" {
				fmt.Fprintf(stdout, "Operation succeeded%s. Credential was stored on %s\n", pending, stamp)
			} else {
				fmt.Fprintf(stdout, "Operation succeeded%s.\n", pending)
			}
		}
		if len(rep.Info) > 0 {
			fmt.Fprintf(stdout, "\nCredential info:\n")
			for _, a := range rep.Info {
				if a.Quoted {
					fmt.Fprintf(stdout, "%s = %s\n", a.Name, strconv.Quote(a.Value))
				} else {
					fmt.Fprintf(stdout, "%s = %s\n", a.Name, a.Value)
				}
			}
			fmt.Fprintf(stdout, "\n")
		}
	case credd.Failure:
		fmt.Fprintf(stdout, "Operation failed.\n    Make sure your ALLOW_WRITE setting includes this host.\n")
	case credd.FailureBadPassword:
		if isQuery {
			fmt.Fprintf(stdout, "A credential is stored, but it is invalid. Run 'condor_store_cred add' again.\n")
		} else {
			fmt.Fprintf(stdout, "Operation failed: bad password.\n")
		}
	case credd.FailureNotFound:
		if isQuery {
			fmt.Fprintf(stdout, "No credential is stored.\n")
		} else {
			fmt.Fprintf(stdout, "Operation failed: username not found.\n")
		}
	case credd.FailureNoImpersonate:
		fmt.Fprintf(stdout, "Operation failed.\n    The target daemon is not running as SYSTEM and cannot store credentials securely.\n")
	default:
		if errStr != "" {
			fmt.Fprintf(stderr, "%s\n", errStr)
		} else {
			fmt.Fprintf(stderr, "Operation failed: unknown error code %d\n", int64(result))
		}
	}
	switch result {
	case credd.Success, credd.SuccessPending:
		return 0
	case credd.FailureCredMismatch:
		return 2
	}
	return 1
}

// pendingTime is the .top time the credd reports for a pending query.
func pendingTime(o options, rep credd.Reply) string {
	name := o.service
	if name != "" && o.handle != "" {
		name += "_" + o.handle
	}
	for _, a := range rep.Info {
		if a.Name == "Top"+name+"Time" {
			if ts, err := strconv.ParseInt(a.Value, 10, 64); err == nil && ts > 0 {
				return isoTime(ts)
			}
		}
	}
	return ""
}
