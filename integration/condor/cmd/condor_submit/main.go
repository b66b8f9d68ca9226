// Command condor_submit is the test stand-in for the OAuth part of
// HTCondor's condor_submit: it reads a submit file's use_oauth_services,
// <svc>_oauth_permissions[_<handle>] and <svc>_oauth_resource[_<handle>]
// (falling back to the knobs <SVC>_DEFAULT_SCOPES and
// <SVC>_DEFAULT_AUDIENCE), sends CREDD_CHECK_CREDS to the credd stand-in
// and reacts to its reply as the real tool does:
//
//   - a URL: stdout "\nHellow, <user>.\nPlease visit: <URL>\n\n", exit 1;
//   - another non-empty reply: "Failed to process job credential
//     requests: 'OAuth error: <reply>'; BAILING OUT." on stderr, exit 1;
//   - empty: "Submitting job(s).\n1 job(s) submitted to cluster 1.\n",
//     exit 0.
//
// Deviations: nothing is queued (there is no schedd), only the OAuth
// submit commands are read (no macros, queue statements or other
// commands), and the <SVC>_USER_DEFINE_* rules are not implemented.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/vaultcred/gettoken/integration/condor/config"
	"github.com/vaultcred/gettoken/integration/condor/credd"
)

func main() {
	os.Exit(run())
}

func run() int {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: condor_submit SUBMITFILE")
		return 1
	}
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: %v\n", err)
		return 1
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: Failed to open command file (%v)\n", err)
		return 1
	}
	cmds := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		cmds[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	f.Close()
	var checks []credd.CheckRequest
	for _, svc := range strings.FieldsFunc(cmds["use_oauth_services"], func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		handles := map[string]bool{}
		lsvc := strings.ToLower(svc)
		for k := range cmds {
			for _, p := range []string{lsvc + "_oauth_permissions", lsvc + "_oauth_resource"} {
				if k == p {
					handles[""] = true
				} else if h, ok := strings.CutPrefix(k, p+"_"); ok && h != "" {
					handles[h] = true
				}
			}
		}
		if len(handles) == 0 {
			handles[""] = true
		}
		var hs []string
		for h := range handles {
			hs = append(hs, h)
		}
		sort.Strings(hs)
		for _, h := range hs {
			suf := ""
			if h != "" {
				suf = "_" + h
			}
			scopes, ok := cmds[lsvc+"_oauth_permissions"+suf]
			if !ok {
				scopes = cfg.Value(strings.ToUpper(svc) + "_DEFAULT_SCOPES")
			}
			aud, ok := cmds[lsvc+"_oauth_resource"+suf]
			if !ok {
				aud = cfg.Value(strings.ToUpper(svc) + "_DEFAULT_AUDIENCE")
			}
			checks = append(checks, credd.CheckRequest{Service: svc, Handle: h, Scopes: scopes, Audience: aud})
		}
	}
	if len(checks) > 0 {
		socket, _ := cfg.Get("CREDD_SOCKET")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		rep, err := credd.Do(ctx, socket, credd.Request{Mode: credd.ModeCheck, Checks: checks})
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "ERROR: Can't locate credd: %v\n", err)
			return 1
		}
		switch msg := rep.Message; {
		case strings.HasPrefix(msg, "http://") || strings.HasPrefix(msg, "https://"):
			fmt.Printf("\nHellow, %s.\nPlease visit: %s\n\n", credd.UserName(os.Geteuid()), msg)
			return 1
		case msg != "":
			fmt.Fprintf(os.Stderr, "Failed to process job credential requests: 'OAuth error: %s'; BAILING OUT.\n", msg)
			return 1
		}
	}
	fmt.Print("Submitting job(s).\n1 job(s) submitted to cluster 1.\n")
	return 0
}
