package credmon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/vaultcred/gettoken/internal/tokenfile"
)

// defaultMaxLog is the size at which the log is rotated when neither
// MAX_<NAME>_LOG nor MAX_DEFAULT_LOG is set (HTCondor's default, 10 MiB).
const defaultMaxLog = 10 << 20

// LogMode is the mode of a new log file: readable by its group (the
// HTCondor administrators' group when the log directory is setgid), never
// by others. A log holds user names, token names, URLs from users' files
// and short error texts from remote servers, so, as Vault does for its
// audit files, it is not world-readable; an existing log that others may
// read is made private on open.
const LogMode = 0o640

// rotatingLog is a log file rotated the way HTCondor's dprintf rotates daemon
// logs: when a write would take it past Max bytes, the file is renamed to
// <path>.old (replacing the previous one) and a new file is started. Max
// <= 0 disables rotation. Writes are serialized; each Write should be one
// whole line. rotatingLog is safe for concurrent use.
//
// The log directory is often writable by the condor account, while the
// credmon runs as root: the file is opened and rotated relative to the
// directory, never through a symlink, never blocking on a FIFO, and a log
// owned by another user or with other hard links is refused (it would let
// whoever planted it make root append to, or chmod, a file of their
// choice).
type rotatingLog struct {
	Path string
	Max  int64

	mu   sync.Mutex
	dir  *tokenfile.Dir
	name string
	f    *os.File
	size int64
}

// openLog opens (creating, mode LogMode) path for appending.
func openLog(path string, max int64) (*rotatingLog, error) {
	dir, err := tokenfile.OpenDir(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("opening log file: %w", err)
	}
	l := &rotatingLog{Path: path, Max: max, dir: dir, name: filepath.Base(path)}
	if err := l.open(); err != nil {
		dir.Close()
		return nil, err
	}
	return l, nil
}

func (l *rotatingLog) open() error {
	f, err := l.dir.OpenFile(l.name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, LogMode)
	if err != nil {
		return fmt.Errorf("opening log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening log file: %w", err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	switch {
	case st == nil:
	case int(st.Uid) != os.Geteuid():
		f.Close()
		return fmt.Errorf("opening log file: %s is owned by uid %d, not by this daemon (uid %d); remove it", l.Path, st.Uid, os.Geteuid())
	case st.Nlink > 1:
		f.Close()
		return fmt.Errorf("opening log file: %s has %d hard links; remove it", l.Path, st.Nlink)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		if err := f.Chmod(fi.Mode().Perm() &^ 0o007); err != nil {
			f.Close()
			return fmt.Errorf("opening log file: %w", err)
		}
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write appends p, rotating first if p would take the file past Max.
func (l *rotatingLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		if err := l.open(); err != nil {
			return 0, err
		}
	}
	if l.Max > 0 && l.size > 0 && l.size+int64(len(p)) > l.Max {
		l.rotate()
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

// rotate renames the file to .old and opens a new one. If that fails the
// old file is kept and written to (a log that grows beats no log).
func (l *rotatingLog) rotate() {
	if err := l.dir.Rename(l.name, l.name+".old"); err != nil {
		return
	}
	old := l.f
	if err := l.open(); err != nil {
		l.f = old
		return
	}
	old.Close()
}

// Close closes the file.
func (l *rotatingLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	l.dir.Close()
	return err
}

// lockedWriter serializes whole-line writes to several writers.
type lockedWriter struct {
	mu sync.Mutex
	ws []io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var first error
	for _, x := range w.ws {
		if _, err := x.Write(p); err != nil && first == nil {
			first = err
		}
	}
	return len(p), first
}

// lineWriter returns a writer that writes each line to every one of ws,
// one line at a time.
func lineWriter(ws ...io.Writer) io.Writer { return &lockedWriter{ws: ws} }

// Handler is a slog.Handler writing HTCondor dprintf-style lines:
//
//	MM/DD/YY HH:MM:SS [WARNING: |ERROR: ][PREFIX: ]message key=value ...
//
// PREFIX is the provider's Kind ("VAULT", "OAUTH", ...) for provider
// loggers (see WithPrefix), as the Python credmon classes prefix their
// messages. Attribute values are quoted when they contain spaces or
// special characters. Each record is one Write of one line.
type Handler struct {
	w      io.Writer
	level  slog.Leveler
	prefix string
	attrs  string // pre-formatted " key=value" pairs
	group  string
	now    func() time.Time
}

// NewHandler returns a handler writing records at level or above to w.
func NewHandler(w io.Writer, level slog.Leveler) *Handler {
	return &Handler{w: w, level: level, now: time.Now}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// Handle implements slog.Handler.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	t := r.Time
	if t.IsZero() {
		t = h.now()
	}
	buf := make([]byte, 0, 128)
	buf = t.AppendFormat(buf, "01/02/06 15:04:05 ")
	switch {
	case r.Level >= slog.LevelError:
		buf = append(buf, "ERROR: "...)
	case r.Level >= slog.LevelWarn:
		buf = append(buf, "WARNING: "...)
	}
	if h.prefix != "" {
		buf = append(buf, h.prefix...)
		buf = append(buf, ": "...)
	}
	buf = appendClean(buf, r.Message)
	buf = append(buf, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		buf = appendAttr(buf, h.group, a)
		return true
	})
	buf = append(buf, '\n')
	_, err := h.w.Write(buf)
	return err
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	b := []byte(h.attrs)
	for _, a := range as {
		b = appendAttr(b, h.group, a)
	}
	h2.attrs = string(b)
	return &h2
}

// WithGroup implements slog.Handler: later keys are qualified "group.key".
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	if h.group != "" {
		h2.group = h.group + "." + name
	} else {
		h2.group = name
	}
	return &h2
}

// WithPrefix returns a handler whose messages start with "<prefix>: ".
func (h *Handler) WithPrefix(prefix string) *Handler {
	h2 := *h
	h2.prefix = prefix
	return &h2
}

// prefixLogger returns l with messages prefixed "<prefix>: " when l uses a
// *Handler, else l with a "provider" attribute.
func prefixLogger(l *slog.Logger, prefix string) *slog.Logger {
	if h, ok := l.Handler().(*Handler); ok {
		return slog.New(h.WithPrefix(prefix))
	}
	return l.With("provider", prefix)
}

func appendAttr(buf []byte, group string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return buf
	}
	if a.Value.Kind() == slog.KindGroup {
		g := a.Key
		if group != "" && g != "" {
			g = group + "." + g
		} else if g == "" {
			g = group
		}
		for _, x := range a.Value.Group() {
			buf = appendAttr(buf, g, x)
		}
		return buf
	}
	buf = append(buf, ' ')
	if group != "" {
		buf = append(buf, group...)
		buf = append(buf, '.')
	}
	buf = append(buf, a.Key...)
	buf = append(buf, '=')
	var s string
	switch a.Value.Kind() {
	case slog.KindTime:
		s = a.Value.Time().Format(time.RFC3339)
	default:
		s = a.Value.String()
	}
	if needsQuote(s) {
		return strconv.AppendQuote(buf, s)
	}
	return append(buf, s...)
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for _, r := range s {
		if r <= ' ' || r == '"' || r == '=' || r >= utf8.RuneSelf || r == 0x7f {
			return true
		}
	}
	return false
}

// appendClean appends a message with control characters (a newline in an
// error from a provider) replaced, so that one record stays one line.
func appendClean(buf []byte, s string) []byte {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
		return append(buf, s...)
	}
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r':
			buf = append(buf, ' ')
		case r < ' ' && r != '\t' || r == 0x7f:
			buf = append(buf, '?')
		default:
			buf = utf8.AppendRune(buf, r)
		}
	}
	return buf
}

// camelName is the log file base name the Python credmon derives from a
// daemon name: "CREDMON_OAUTH" gives "CredmonOauth" (each '_'-separated
// word capitalized, the rest lower case).
func camelName(name string) string {
	var b strings.Builder
	for _, w := range strings.Split(name, "_") {
		if w == "" {
			continue
		}
		b.WriteString(strings.ToUpper(w[:1]))
		b.WriteString(strings.ToLower(w[1:]))
	}
	return b.String()
}
