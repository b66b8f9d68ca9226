package vaultcred

import (
	"context"
	"io"
	"os"
	"os/exec"
)

// browserEnv is the BROWSER value htgettoken sets for the web open command
// when the user has none, keeping xdg-open away from text browsers that
// would take over the terminal.
func browserEnv() string {
	if os.Getenv("DISPLAY") == "" {
		return "no-browser"
	}
	return "x-www-browser:firefox:seamonkey:mozilla:epiphany:konqueror:chromium-browser:google-chrome"
}

// OpenURL runs the web open command as "<command> <url>" (one argv
// element, no shell) with its output on stdout and its errors discarded,
// and waits for it, as htgettoken does. When BROWSER is unset it is set for
// the command (see browserEnv).
func OpenURL(ctx context.Context, stdout io.Writer, command, url string) error {
	cmd := exec.CommandContext(ctx, command, url)
	cmd.Stdout = stdout
	cmd.Stderr = io.Discard
	if _, ok := os.LookupEnv("BROWSER"); !ok {
		cmd.Env = append(os.Environ(), "BROWSER="+browserEnv())
	}
	return cmd.Run()
}
