// Command condor_credmon_krb is HTCondor's Kerberos credential monitor
// (use feature : KRB). The condor_master runs it as CREDMON_KRB, with no
// arguments:
//
//	condor_credmon_krb [-n NAME] [-c CREDDIR] [-l LOGFILE] [-d] [-v] [CREDDIR]
//
// The credential directory is the argument (or -c), else
// SEC_CREDENTIAL_DIRECTORY_KRB; the log is -l, else CREDMON_KRB_LOG, else
// SEC_CREDENTIAL_MONITOR_KRB_LOG, else $(LOG)/CredmonKrbLog. For each
// <user>.cred the credd stores it writes <user>.cc, renews renewable
// tickets before they expire, and removes the user's files for
// <user>.mark. See package github.com/vaultcred/gettoken/krbcredmon for
// what is done per user, and package github.com/vaultcred/gettoken/credmon
// for the process contract (signals, pid file, CREDMON_COMPLETE, logging,
// exit statuses), which it shares with condor_credmon_vault.
package main

import (
	"context"
	"os"

	"github.com/vaultcred/gettoken/credmon"
	"github.com/vaultcred/gettoken/krbcredmon"
)

func main() {
	os.Exit(credmon.Main(context.Background(), os.Args, credmon.MainOptions{
		Program:   krbcredmon.Program,
		Providers: []credmon.ProviderFactory{krbcredmon.Factory()},
	}))
}
