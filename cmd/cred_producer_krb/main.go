// Command cred_producer_krb is HTCondor's Kerberos credential producer
// (SEC_CREDENTIAL_PRODUCER of "use feature : KRB"): condor_submit runs it
// with no arguments and stores what it writes on standard output with the
// credd, which keeps it as <user>.cred for the Kerberos credmon.
//
//	Usage: cred_producer_krb [-h]
//
// It finds the user's credentials cache as MIT Kerberos does (KRB5CCNAME,
// else krb5.conf's default_ccache_name, else /tmp/krb5cc_<uid>), of any
// type package krb reads: FILE, DIR, KEYRING (persistent, user, session)
// and KCM, the primary cache of a collection. It writes a version 4 FILE
// credentials cache holding the default principal, its ticket-granting
// ticket and the cache's configuration entries, at most 64 KiB, the most
// condor_submit reads.
//
// Exit status: 0 with the cache on standard output; 1 with one line on
// standard error and nothing on standard output when there is no usable
// ticket-granting ticket (no cache, empty, expired, unreadable); 2 for a
// usage error.
//
// # Differences from HTCondor's shell script
//
//   - KEYRING, KCM and DIR caches work (the script accepts only a FILE
//     cache that is a regular file, and exits 1 silently otherwise), and
//     krb5.conf's default_ccache_name is honoured.
//   - Service tickets are left out, so the output stays small.
//   - condor_aklog (AFS tokens) is not run; sites that need it keep a
//     wrapper script that runs it and then this command.
//   - Nothing is logged to /tmp/htckrb5debug.$USER.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vaultcred/gettoken/krb"
)

const prog = "cred_producer_krb"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet(prog, flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nWrites the ticket-granting ticket of the default Kerberos credentials cache\n(any of FILE, DIR, KEYRING, KCM) to standard output as a FILE credentials\ncache, for condor_submit's SEC_CREDENTIAL_PRODUCER.\n", prog)
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", prog, fl.Arg(0))
		fl.Usage()
		return 2
	}
	c, err := krb.Open("", krb.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	b, err := krb.ProducerImage(c, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	if _, err := stdout.Write(b); err != nil {
		fmt.Fprintf(stderr, "%s: writing the credentials: %v\n", prog, err)
		return 1
	}
	return 0
}
