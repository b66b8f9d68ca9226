package vaultcred

import (
	"fmt"
	"io"
	"sync"
)

// Logger renders the flow's messages the way htgettoken does in its three
// modes: the concise default ("Attempting ... succeeded"), verbose (-v),
// and quiet (-q), plus debug (-d) lines, which may contain tokens and are
// only shown when asked for. A nil *Logger discards everything.
type Logger struct {
	// W is the log stream: stdout, or stderr when stdout carries data.
	W io.Writer
	// Quiet, Verbose and Debug are the modes; Debug implies Verbose.
	Quiet, Verbose, Debug bool

	mu sync.Mutex
	// partial is set while a default-mode "... " line waits for its end.
	partial bool
}

// progress reports whether the concise default mode is on.
func (l *Logger) progress() bool { return l != nil && !l.Quiet && !l.Verbose && !l.Debug }

func (l *Logger) write(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.W == nil {
		return
	}
	io.WriteString(l.W, s)
	if n := len(s); n > 0 {
		l.partial = s[n-1] != '\n'
	}
}

// Start prints the first half of a default-mode progress line, such as
// "Attempting to get token from https://v:8200 ...", without a newline.
func (l *Logger) Start(format string, args ...any) {
	if l.progress() {
		l.write(fmt.Sprintf(format, args...))
	}
}

// End finishes a progress line started with Start (" succeeded").
func (l *Logger) End(s string) {
	if l.progress() {
		l.write(s + "\n")
	}
}

// endFailed ends a default-mode line left unfinished by Start with
// " failed"; it does nothing when no line is unfinished.
func (l *Logger) endFailed() {
	if l.Partial() && l.progress() {
		l.write(" failed\n")
	}
}

// Progressf prints a default-mode-only line.
func (l *Logger) Progressf(format string, args ...any) {
	if l.progress() {
		l.write(fmt.Sprintf(format, args...) + "\n")
	}
}

// Infof prints a line in the default and verbose modes (not with -q).
func (l *Logger) Infof(format string, args ...any) {
	if l != nil && !l.Quiet {
		l.write(fmt.Sprintf(format, args...) + "\n")
	}
}

// Verbosef prints a line with -v or -d.
func (l *Logger) Verbosef(format string, args ...any) {
	if l != nil && (l.Verbose || l.Debug) {
		l.write(fmt.Sprintf(format, args...) + "\n")
	}
}

// Debugf prints a line with -d only. Debug lines may contain secrets.
func (l *Logger) Debugf(format string, args ...any) {
	if l != nil && l.Debug {
		l.write(fmt.Sprintf(format, args...) + "\n")
	}
}

// Alwaysf prints a line in every mode, -q included: what the user must see
// to log in.
func (l *Logger) Alwaysf(format string, args ...any) {
	if l != nil {
		l.write(fmt.Sprintf(format, args...) + "\n")
	}
}

// Partial reports whether a default-mode line was left unfinished; the
// command ends it before printing a fatal error.
func (l *Logger) Partial() bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.partial
}
