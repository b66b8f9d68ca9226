package main

import (
	"os"
	"os/user"
	"runtime"
	"strconv"

	"golang.org/x/term"

	"github.com/vaultcred/gettoken/vaultcred"
)

// systemEnviron reads the process environment that option handling uses.
func systemEnviron() vaultcred.Environ {
	home := os.Getenv("HOME")
	if home == "" {
		if u, err := user.Current(); err == nil {
			home = u.HomeDir
		}
	}
	return vaultcred.Environ{
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

// helpWidth returns the width optparse would format the help to: the
// terminal width (from $COLUMNS, else the size of the terminal on stdout,
// else 80) minus 2.
func helpWidth(env vaultcred.Environ) int {
	cols, err := strconv.Atoi(env.Getenv("COLUMNS"))
	if err != nil || cols <= 0 {
		cols = 80
		if env.StdoutTTY {
			if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil && w > 0 {
				cols = w
			}
		}
	}
	return cols - 2
}
