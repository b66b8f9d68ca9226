// Command gettoken_transfer_plugin is an HTCondor file transfer plugin for
// https:// and davs:// URLs that authenticates with the job's bearer token
// from $_CONDOR_CREDS. HTCondor's starter runs it; see
// docs/transfer-plugin.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vaultcred/gettoken/transfer"
)

// Exit codes, as HTCondor's starter reads them: anything but 0 holds the
// job with the code as HoldReasonSubCode.
const (
	exitOK     = 0 // -classad, -help, or every file transferred
	exitFailed = 1 // a file failed, bad arguments, unreadable input, unwritable output
)

const usage = `usage: gettoken_transfer_plugin -classad
       gettoken_transfer_plugin -infile FILE [-outfile FILE] [-upload] [-diagnostic]

An HTCondor file transfer plugin for https, davs (and, if allowed, http and
dav) URLs using the job's bearer token. HTCondor's starter runs it:

  -classad      print the capability ad (supported methods) and exit
  -infile F     read one ClassAd per file (Url, LocalFileName) from F
  -outfile F    write one result ad per file into F (default: stdout)
  -upload       upload LocalFileName to Url instead of downloading
  -diagnostic   log every HTTP request on stderr (never the token)

URL forms: <service>[.<handle>]+https://host/path uses
$_CONDOR_CREDS/<service>[_<handle>].use; <handle>+<service>://host/path
for services listed in the configuration; plain URLs send no token unless
discovery is enabled. Configuration: $GETTOKEN_TRANSFER_CONFIG, else
` + transfer.DefaultConfigPath + `.
`

func main() { os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr)) }

func run(args []string, env func(string) string, stdout, stderr io.Writer) int {
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "gettoken_transfer_plugin: "+format+"\n", a...)
	}
	var o transfer.Options
	classadMode := false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-classad", "--classad":
			classadMode = true
		case "-infile", "--infile", "-outfile", "--outfile":
			if i+1 >= len(args) || args[i+1] == "" {
				logf("%s needs a file name", a)
				fmt.Fprint(stderr, usage)
				return exitFailed
			}
			i++
			if a == "-infile" || a == "--infile" {
				o.InFile = args[i]
			} else {
				o.OutFile = args[i]
			}
		case "-upload", "--upload":
			o.Upload = true
		case "-diagnostic", "--diagnostic", "-debug", "--debug":
			o.Debug = true
		case "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return exitOK
		case "-version", "--version":
			fmt.Fprintf(stdout, "gettoken_transfer_plugin %s\n", transfer.Version)
			return exitOK
		default:
			logf("ignoring unknown argument %q", a)
		}
	}
	if classadMode && o.InFile == "" {
		cfg, err := transfer.LoadConfig(env)
		if err != nil {
			logf("%v", err)
			return exitFailed
		}
		ad, err := transfer.CapabilityAd(cfg, env)
		if err != nil {
			logf("%v", err)
			return exitFailed
		}
		stdout.Write(ad)
		return exitOK
	}
	if o.InFile == "" {
		logf("no -infile given")
		fmt.Fprint(stderr, usage)
		return exitFailed
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	ok, err := transfer.Run(ctx, o, env, stdout, logf)
	if err != nil {
		logf("%v", err)
		return exitFailed
	}
	if !ok {
		return exitFailed
	}
	return exitOK
}
