// Command condor_credmon_vault is HTCondor's credential monitor for Vault
// tokens that can also replace the whole Python "multi" credmon
// (condor_credmon_oauth): Vault, OAuth refresh-token, local-issuer and
// client-credentials credentials in one process. The condor_master runs
// it as CREDMON_OAUTH:
//
//	condor_credmon_vault [-n NAME] [-c CREDDIR] [-l LOGFILE] [-d] [-v]
//	condor_credmon_vault [-c CREDDIR] status [--json]
//
// The second form (as root) prints the state of every credential from the
// status file the running daemon keeps. Prometheus metrics are served when
// <NAME>_METRICS_ADDRESS or CREDMON_METRICS_ADDRESS is set (package
// credmetrics).
//
// See package github.com/vaultcred/gettoken/credmon for the process
// contract (signals, pid file, CREDMON_COMPLETE, logging, exit statuses).
package main

import (
	"context"
	"os"

	"github.com/vaultcred/gettoken/credmon"
	"github.com/vaultcred/gettoken/credmon/credmetrics"
)

func main() {
	os.Exit(credmon.Main(context.Background(), os.Args, credmon.MainOptions{Metrics: credmetrics.Serve}))
}
