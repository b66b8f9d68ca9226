// Command condor_config_val is the test stand-in for HTCondor's
// condor_config_val: it prints knobs from the configuration described in
// package config.
//
//	condor_config_val KNOB...   each value on its own line; an undefined
//	                            knob gives "Not defined: KNOB" on stderr
//	                            and exit status 1
//	condor_config_val -dump [PATTERN...]
//	                            every knob (whose name contains one of the
//	                            patterns, case-insensitively) as
//	                            "KNOB = value"
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vaultcred/gettoken/integration/condor/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "Usage: condor_config_val [-dump] [KNOB ...]\n")
		return 1
	}
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintf(stderr, "ERROR: %v\n", err)
		return 1
	}
	var knobs []string
	dump := false
	for _, a := range args {
		switch {
		case strings.EqualFold(a, "-dump"), strings.EqualFold(a, "--dump"):
			dump = true
		case strings.HasPrefix(a, "-"):
			fmt.Fprintf(stderr, "ERROR: option %s is not supported by this condor_config_val stand-in\n", a)
			return 1
		default:
			knobs = append(knobs, a)
		}
	}
	if dump {
		for _, n := range cfg.Names() {
			if matchesAny(n, knobs) {
				fmt.Fprintf(stdout, "%s = %s\n", n, cfg.Value(n))
			}
		}
		return 0
	}
	code := 0
	for _, k := range knobs {
		v, ok := cfg.Get(k)
		if !ok {
			fmt.Fprintf(stderr, "Not defined: %s\n", strings.ToUpper(k))
			code = 1
			continue
		}
		fmt.Fprintln(stdout, v)
	}
	return code
}

// matchesAny reports whether name contains one of the patterns
// (case-insensitively); no patterns match everything.
func matchesAny(name string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if strings.Contains(strings.ToUpper(name), strings.ToUpper(p)) {
			return true
		}
	}
	return false
}
