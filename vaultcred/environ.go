package vaultcred

import (
	"os"
	"os/user"
	"runtime"

	"golang.org/x/term"
)

// SystemEnviron reads the process environment that option handling uses:
// the variables, the effective uid, the home directory, which standard
// streams are terminals, and the real file system for CA defaults.
func SystemEnviron() Environ {
	home := os.Getenv("HOME")
	if home == "" {
		if u, err := user.Current(); err == nil {
			home = u.HomeDir
		}
	}
	return Environ{
		LookupEnv: os.LookupEnv,
		Euid:      os.Geteuid(),
		HomeDir:   home,
		UserHomeDir: func(name string) (string, bool) {
			u, err := user.Lookup(name)
			if err != nil {
				return "", false
			}
			return u.HomeDir, true
		},
		StdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		StdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		StderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		GOOS:      runtime.GOOS,
		Stat:      os.Stat,
	}
}
