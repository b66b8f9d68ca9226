// Command condor_credmon_vault is HTCondor's credential monitor for Vault
// tokens that can also replace the whole Python "multi" credmon
// (condor_credmon_oauth): Vault, OAuth refresh-token, local-issuer and
// client-credentials credentials in one process. The condor_master runs
// it as CREDMON_OAUTH:
//
//	condor_credmon_vault [-n NAME] [-c CREDDIR] [-l LOGFILE] [-d] [-v]
//
// See package github.com/vaultcred/gettoken/credmon for the process
// contract (signals, pid file, CREDMON_COMPLETE, logging, exit statuses).
package main

import (
	"context"
	"os"

	"github.com/vaultcred/gettoken/credmon"
)

func main() {
	os.Exit(credmon.Main(context.Background(), os.Args, credmon.MainOptions{}))
}
