// Command condor_store_cred is the test stand-in for HTCondor's
// condor_store_cred (OAuth credentials only); see package storecred.
package main

import (
	"os"

	"github.com/vaultcred/gettoken/integration/condor/storecred"
)

func main() {
	os.Exit(storecred.Main(os.Args[0], os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
