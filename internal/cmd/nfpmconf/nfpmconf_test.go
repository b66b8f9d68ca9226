package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadTableErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ line, want string }{
		{"client bin gettoken", "want 4 or 5 columns"},
		{"nosuch bin gettoken /usr/bin", "unknown package"},
		{"client exe gettoken /usr/bin", "unknown kind"},
		{"client link htgettoken /usr/bin", "takes an argument"},
		{"client bin gettoken /usr/bin extra", "takes no argument"},
		{"client bin gettoken usr/bin", "not absolute"},
	} {
		f := filepath.Join(dir, "t.tsv")
		writeFile(t, f, "# comment\n\n"+c.line+"\n")
		if _, err := readTable(f); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.line, err, c.want)
		}
	}
}

func TestContents(t *testing.T) {
	dir := t.TempDir()
	bin, man, cmd := filepath.Join(dir, "bin"), filepath.Join(dir, "man"), filepath.Join(dir, "cmd")
	d := dirs{bin: bin, libexec: filepath.Join(dir, "libexec"), man: man, cmd: cmd}
	writeFile(t, filepath.Join(bin, "gettoken"), "x")
	writeFile(t, filepath.Join(d.libexec, "gettoken"), "x")
	writeFile(t, filepath.Join(man, "man1", "gettoken.1.gz"), "x")
	writeFile(t, filepath.Join(man, "bash-completion", "gettoken"), "complete -F _g gettoken htgettoken httokensh\n")
	writeFile(t, filepath.Join(man, "zsh", "_gettoken"), "#compdef gettoken htgettoken\n")
	writeFile(t, filepath.Join(dir, "c.conf"), "X = 1\n")
	table := filepath.Join(dir, "t.tsv")
	writeFile(t, table, `client bin gettoken /usr/bin
client link htgettoken /usr/bin gettoken
client libexec gettoken /usr/libexec/gettoken
client bin? notyet /usr/sbin
condor config `+filepath.Join(dir, "c.conf")+` /etc/condor/config.d
condor dir - /var/lib/condor/oauth_credentials root:condor:2770
`)
	entries, err := readTable(table)
	if err != nil {
		t.Fatal(err)
	}
	var notes bytes.Buffer
	cs, err := contents(entries, "client", d, &notes)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]content{}
	for _, c := range cs {
		got[c.Dst+" "+c.Packager] = c
	}
	for dst, want := range map[string]string{
		"/usr/bin/gettoken ":                                 "",
		"/usr/bin/htgettoken ":                               "symlink",
		"/usr/libexec/gettoken/gettoken ":                    "",
		"/usr/share/man/man1/gettoken.1.gz ":                 "",
		"/usr/share/man/man1/htgettoken.1.gz ":               "symlink",
		"/usr/share/bash-completion/completions/gettoken ":   "",
		"/usr/share/bash-completion/completions/htgettoken ": "symlink",
		"/usr/share/zsh/vendor-completions/_gettoken deb":    "",
		"/usr/share/zsh/site-functions/_gettoken rpm":        "",
	} {
		c, ok := got[dst]
		if !ok || c.Type != want {
			t.Errorf("%s: %+v (present %v), want type %q", dst, c, ok, want)
		}
	}
	for _, p := range []string{"/usr/bin/gettoken ", "/usr/libexec/gettoken/gettoken "} {
		if got[p].Mode != 0o755 {
			t.Errorf("%s: mode %o", p, got[p].Mode)
		}
	}
	if _, ok := got["/usr/share/man/man1/gettoken.1.gz "]; !ok || len(cs) != 9 {
		t.Errorf("%d items (want 9: no man page for the libexec program): %+v", len(cs), cs)
	}
	if _, ok := got["/usr/share/bash-completion/completions/httokensh "]; ok {
		t.Error("completion link for a program not in the package")
	}
	if !strings.Contains(notes.String(), "notyet not packaged yet") {
		t.Errorf("notes: %q", notes.String())
	}

	cs, err = contents(entries, "condor", d, &notes)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Type != "config|noreplace" || cs[1].Type != "dir" || cs[1].Mode != 0o2770 || cs[1].Group != "condor" {
		t.Errorf("condor contents %+v", cs)
	}
	var out bytes.Buffer
	meta := filepath.Join(dir, "meta.yaml")
	writeFile(t, meta, "name: x\n")
	if err := write(&out, meta, cs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "mode: 02770\n      owner: \"root\"\n      group: \"condor\"") {
		t.Errorf("yaml:\n%s", out.String())
	}
}
