package main

import (
	"strings"
	"testing"
)

func TestGettokenPageHasEveryOption(t *testing.T) {
	page := gettokenPage(".TH X\n", "summary")
	opts := gettokenOptions()
	if len(opts) < 30 {
		t.Fatalf("only %d options", len(opts))
	}
	for _, o := range opts {
		if !strings.Contains(page, `\fB`+esc(o.Long)+`\fR`) {
			t.Errorf("page lacks %s", o.Long)
		}
	}
	bash, zsh := gettokenBash(), gettokenZsh()
	_, words, _ := strings.Cut(bash, "compgen -W '")
	words, _, _ = strings.Cut(words, "'")
	list := " " + words + " "
	for _, o := range opts {
		if !strings.Contains(list, " "+o.Long+" ") || !strings.Contains(zsh, o.Long) {
			t.Errorf("completion lacks %s", o.Long)
		}
	}
	if !strings.Contains(bash, "--cafile|") && !strings.Contains(bash, "|--cafile") {
		t.Error("--cafile does not complete file names")
	}
}

func TestSynopsis(t *testing.T) {
	for help, want := range map[string]string{
		"Usage: htdecodetoken [-a] [file]\n\nmore":             "[-a] [file]",
		"\nUsage: condor_vault_storer [-vd] oauth_service ...": "[-vd] oauth_service ...",
		"NAME:\n   x - y\n\nUSAGE:\n   x [global options]\n":   "[global options]",
		"Usage of keygen:\n  -force\n":                         "[options]",
		"no usage line here":                                   "",
	} {
		if got := synopsis(help); got != want {
			t.Errorf("synopsis(%q) = %q, want %q", help, got, want)
		}
	}
}

func TestEscape(t *testing.T) {
	if got := escLine(`.start -x \n`); got != `\&.start \-x \en` {
		t.Errorf("escLine: %q", got)
	}
	if got := escLine("'quote"); got != `\&'quote` {
		t.Errorf("escLine: %q", got)
	}
}

func TestStorerOptions(t *testing.T) {
	got := storerOptions()
	if len(got) != 2 || got[0][0] != "-v" || got[1][0] != "-d" {
		t.Errorf("storer options %q", got)
	}
}

func TestSourceDate(t *testing.T) {
	if d := sourceDate("1700000000"); d != "2023-11-14" {
		t.Errorf("sourceDate = %s", d)
	}
	if d := sourceDate(""); d != "1970-01-01" {
		t.Errorf("sourceDate() = %s", d)
	}
}
