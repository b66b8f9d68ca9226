package main

import (
	"os"
	"strconv"

	"golang.org/x/term"

	"github.com/vaultcred/gettoken/vaultcred"
)

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
