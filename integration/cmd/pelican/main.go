// Command pelican is a stand-in for the Pelican client's "token fetch",
// the only part of it that condor_credential_storer's pelican mode runs:
//
//	pelican token fetch [--read] [--write] [--modify] <pelican://federation/prefix>
//
// It does the OAuth device-code login at the test stack's OpenID provider,
// prints the prompt on stderr ("... enter code <user code>"), and prints
// the access token, the subject token the credmon later exchanges, as the
// last line of stdout. As the real client it refuses to run without a
// terminal unless PELICAN_SKIP_TERMINAL_CHECK=1, and exits non-zero with a
// message on stderr when the login fails.
//
// Deviations from the real client (which cannot be had here): no
// federation or namespace discovery — the issuer, client id and secret
// come from PELICAN_STANDIN_ISSUER, PELICAN_STANDIN_CLIENT_ID and
// PELICAN_STANDIN_CLIENT_SECRET; the permissions map to the stack's
// resource scopes at the root (--read → storage.read:/, --write →
// storage.create:/, --modify → storage.modify:/) instead of the
// namespace's path; no token cache, no other subcommand or flag.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/term"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// errUsage is a command line the stand-in does not accept.
var errUsage = errors.New("usage: pelican token fetch [--read] [--write] [--modify] <pelican://...>")

// parse returns the scopes and the resource of a "token fetch" command line.
func parse(args []string) (scopes []string, resource string, err error) {
	if len(args) < 2 || args[0] != "token" || args[1] != "fetch" {
		return nil, "", errUsage
	}
	for _, a := range args[2:] {
		switch a {
		case "--read":
			scopes = append(scopes, "storage.read:/")
		case "--write":
			scopes = append(scopes, "storage.create:/")
		case "--modify":
			scopes = append(scopes, "storage.modify:/")
		default:
			if strings.HasPrefix(a, "-") || resource != "" {
				return nil, "", errUsage
			}
			resource = a
		}
	}
	if resource == "" || len(scopes) == 0 {
		return nil, "", errUsage
	}
	u, err := url.Parse(resource)
	if err != nil || (u.Scheme != "pelican" && u.Scheme != "osdf") || u.Host == "" {
		return nil, "", fmt.Errorf("%q is not a pelican:// or osdf:// URL", resource)
	}
	return scopes, resource, nil
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	scopes, _, err := parse(args)
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	if getenv("PELICAN_SKIP_TERMINAL_CHECK") != "1" && !term.IsTerminal(int(os.Stdin.Fd())) {
		fmt.Fprintln(stderr, "Error: standard input is not a terminal (set PELICAN_SKIP_TERMINAL_CHECK=1)")
		return 1
	}
	iss := strings.TrimRight(getenv("PELICAN_STANDIN_ISSUER"), "/")
	if iss == "" {
		fmt.Fprintln(stderr, "Error: PELICAN_STANDIN_ISSUER is not set")
		return 1
	}
	conf := &oauth2.Config{
		ClientID:     getenv("PELICAN_STANDIN_CLIENT_ID"),
		ClientSecret: getenv("PELICAN_STANDIN_CLIENT_SECRET"),
		Endpoint:     oauth2.Endpoint{DeviceAuthURL: iss + "/device/auth", TokenURL: iss + "/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:       append([]string{"openid", "offline_access"}, scopes...),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// x/oauth2 sends only client_id to the device endpoint; this client
	// is confidential.
	da, err := conf.DeviceAuth(ctx, oauth2.SetAuthURLParam("client_secret", conf.ClientSecret))
	if err != nil {
		fmt.Fprintln(stderr, "Error: device authorization failed:", err)
		return 1
	}
	fmt.Fprintf(stderr, "To approve credentials for this operation, please navigate to the following URL and approve the request:\n%s\nor go to %s and enter code %s\n",
		da.VerificationURIComplete, da.VerificationURI, da.UserCode)
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil {
		fmt.Fprintln(stderr, "Error: the device login failed:", err)
		return 1
	}
	fmt.Fprintln(stdout, tok.AccessToken)
	return 0
}
