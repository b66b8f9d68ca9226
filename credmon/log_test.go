package credmon

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHandlerFormat(t *testing.T) {
	var buf logSink
	h := NewHandler(&buf, slog.LevelInfo)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.Local)
	emit := func(h slog.Handler, l slog.Level, msg string, attrs ...slog.Attr) {
		r := slog.NewRecord(at, l, msg, 0)
		r.AddAttrs(attrs...)
		if h.Enabled(context.Background(), l) {
			if err := h.Handle(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
	}
	emit(h, slog.LevelInfo, "Starting")
	emit(h, slog.LevelDebug, "hidden")
	emit(h.WithPrefix("VAULT"), slog.LevelWarn, "Deleting dune token", slog.String("user", "alice"), slog.String("why", "permission denied"))
	emit(h.WithPrefix("OAUTH"), slog.LevelError, "line1\nline2", slog.Any("err", errors.New("a\nb")))
	emit(h.WithAttrs([]slog.Attr{slog.Int("n", 3)}).WithGroup("g"), slog.LevelInfo, "grouped", slog.String("k", ""))
	want := "03/04/26 05:06:07 Starting\n" +
		"03/04/26 05:06:07 WARNING: VAULT: Deleting dune token user=alice why=\"permission denied\"\n" +
		"03/04/26 05:06:07 ERROR: OAUTH: line1 line2 err=\"a\\nb\"\n" +
		"03/04/26 05:06:07 grouped n=3 g.k=\"\"\n"
	if got := buf.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	l := prefixLogger(slog.New(h), "LOCAL")
	l.Info("minted")
	if !strings.HasSuffix(buf.String(), " LOCAL: minted\n") {
		t.Errorf("prefixLogger: %q", buf.String())
	}
}

func TestLogFileRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "CredmonOauthLog")
	if err := os.WriteFile(path, []byte(strings.Repeat("o", 60)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := openLog(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	line := strings.Repeat("a", 29) + "\n" // 30 bytes
	l.Write([]byte(line))                  // 91 bytes: no rotation
	l.Write([]byte(line))                  // would be 121: rotate first
	l.Write([]byte(line))
	old, _ := os.ReadFile(path + ".old")
	cur, _ := os.ReadFile(path)
	if string(old) != strings.Repeat("o", 60)+"\n"+line || string(cur) != line+line {
		t.Errorf(".old %q\ncurrent %q", old, cur)
	}
	for range 3 {
		l.Write([]byte(line))
	}
	old, _ = os.ReadFile(path + ".old")
	if string(old) != line+line+line {
		t.Errorf("second rotation: .old %q", old)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != LogMode {
		t.Errorf("mode %v", fi.Mode())
	}
}

func TestLogFileNoRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l, err := openLog(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 100 {
		l.Write([]byte("0123456789\n"))
	}
	if _, err := os.Stat(path + ".old"); err == nil {
		t.Error("rotated with MAX 0")
	}
}

func TestCamelName(t *testing.T) {
	for in, want := range map[string]string{"CREDMON_OAUTH": "CredmonOauth", "credmon_vault": "CredmonVault", "X": "X", "A__B_": "AB"} {
		if got := camelName(in); got != want {
			t.Errorf("camelName(%q) = %q, want %q", in, got, want)
		}
	}
	if !debugKnob("D_FULLDEBUG D_CAT") || !debugKnob("d_all:2") || debugKnob("D_ALWAYS") {
		t.Error("debugKnob")
	}
}
