// Command nfpmconf writes the nfpm configuration of one package: the
// package's metadata file (packaging/<package>.yaml) followed by the file
// list built from packaging/programs.tsv, the built programs and the
// generated man pages and completions (make package runs it).
//
//	nfpmconf -table packaging/programs.tsv -package client \
//	    -meta packaging/gettoken.yaml -bin bin -man build/man -cmd cmd > nfpm.yaml
//
// For every program it lists the binary (0755), its gzipped man page
// (<man>/man1/<name>.1.gz, which must exist) and, when mangen wrote them,
// its bash completion (/usr/share/bash-completion/completions/<name>) and
// zsh completion (/usr/share/zsh/vendor-completions on Debian,
// /usr/share/zsh/site-functions on RPM systems). Another name of a program
// (a "link" line) gets a symlink for each of these. The output depends
// only on the inputs, in table order.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// Package names in the table and what they are called.
var packageNames = map[string]string{"client": "gettoken", "condor": "gettoken-condor"}

// entry is one line of the table.
type entry struct {
	pkg, kind, name, dir, arg string
	line                      int
}

// content is one item of nfpm's contents list.
type content struct {
	Src, Dst, Type, Packager string
	Mode                     uint32 // permission bits, with 02000 for setgid
	Owner, Group             string
}

func main() {
	table := flag.String("table", "packaging/programs.tsv", "the package `table`")
	pkg := flag.String("package", "", "package to write: client or condor")
	meta := flag.String("meta", "", "`file` of package metadata (nfpm YAML without contents)")
	bin := flag.String("bin", "bin", "`directory` of the built programs")
	man := flag.String("man", "build/man", "`directory` of mangen's output, man pages gzipped")
	cmdDir := flag.String("cmd", "cmd", "`directory` of the program sources (for bin? lines)")
	libexec := flag.String("libexec", "libexec", "`directory` of the built full programs (for libexec lines)")
	flag.Parse()
	if packageNames[*pkg] == "" || *meta == "" {
		fmt.Fprintln(os.Stderr, "nfpmconf: -package client|condor and -meta are required")
		os.Exit(2)
	}
	entries, err := readTable(*table)
	if err == nil {
		var cs []content
		if cs, err = contents(entries, *pkg, dirs{bin: *bin, libexec: *libexec, man: *man, cmd: *cmdDir}, os.Stderr); err == nil {
			err = write(os.Stdout, *meta, cs)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nfpmconf: %v\n", err)
		os.Exit(1)
	}
}

// kinds are the table's kinds of line.
var kinds = map[string]bool{"bin": true, "bin?": true, "libexec": true, "link": true, "config": true, "doc": true, "dir": true}

// dirs are where contents finds the built files.
type dirs struct {
	bin, libexec, man, cmd string
}

// readTable parses the table.
func readTable(name string) ([]entry, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []entry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		w := strings.Fields(line)
		if len(w) < 4 || len(w) > 5 {
			return nil, fmt.Errorf("%s:%d: want 4 or 5 columns, have %d", name, n, len(w))
		}
		e := entry{pkg: w[0], kind: w[1], name: w[2], dir: w[3], line: n}
		if len(w) == 5 {
			e.arg = w[4]
		}
		if packageNames[e.pkg] == "" {
			return nil, fmt.Errorf("%s:%d: unknown package %q", name, n, e.pkg)
		}
		needArg := e.kind == "link" || e.kind == "dir"
		switch {
		case !kinds[e.kind]:
			return nil, fmt.Errorf("%s:%d: unknown kind %q", name, n, e.kind)
		case needArg != (e.arg != ""):
			return nil, fmt.Errorf("%s:%d: %s takes %s argument", name, n, e.kind, map[bool]string{true: "an", false: "no"}[needArg])
		case !path.IsAbs(e.dir):
			return nil, fmt.Errorf("%s:%d: directory %q is not absolute", name, n, e.dir)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// Completion locations.
const (
	bashDir    = "/usr/share/bash-completion/completions"
	zshDirDeb  = "/usr/share/zsh/vendor-completions"
	zshDirRPM  = "/usr/share/zsh/site-functions"
	manDir     = "/usr/share/man/man1"
	configMode = 0o644
)

// compdefRE finds the names a zsh completion is for.
var compdefRE = regexp.MustCompile(`(?m)^#compdef (.+)$`)

// contents builds the file list of package pkg.
func contents(entries []entry, pkg string, d dirs, notes io.Writer) ([]content, error) {
	bin, man, cmdDir := d.bin, d.man, d.cmd
	var cs []content
	programs := map[string]bool{}  // programs (and links) in this package
	bashFiles := map[string]bool{} // bash completion files installed
	var bashLater []string         // names without a completion file of their own
	for _, e := range entries {
		if e.pkg != pkg {
			continue
		}
		switch e.kind {
		case "bin?":
			if _, err := os.Stat(filepath.Join(cmdDir, e.name)); errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(notes, "nfpmconf: %s not packaged yet (no %s/%s)\n", e.name, cmdDir, e.name)
				continue
			}
			fallthrough
		case "bin":
			src := filepath.Join(bin, e.name)
			page := filepath.Join(man, "man1", e.name+".1.gz")
			for _, f := range []string{src, page} {
				if _, err := os.Stat(f); err != nil {
					return nil, fmt.Errorf("%s: %w", e.name, err)
				}
			}
			programs[e.name] = true
			cs = append(cs,
				content{Src: src, Dst: path.Join(e.dir, e.name), Mode: 0o755},
				content{Src: page, Dst: path.Join(manDir, e.name+".1.gz"), Mode: 0o644})
			if f := filepath.Join(man, "bash-completion", e.name); exists(f) {
				cs = append(cs, content{Src: f, Dst: path.Join(bashDir, e.name), Mode: 0o644})
				bashFiles[e.name] = true
			} else {
				bashLater = append(bashLater, e.name)
			}
			if f := filepath.Join(man, "zsh", "_"+e.name); exists(f) {
				cs = append(cs,
					content{Src: f, Dst: path.Join(zshDirDeb, "_"+e.name), Mode: 0o644, Packager: "deb"},
					content{Src: f, Dst: path.Join(zshDirRPM, "_"+e.name), Mode: 0o644, Packager: "rpm"})
			}
		case "libexec":
			src := filepath.Join(d.libexec, e.name)
			if _, err := os.Stat(src); err != nil {
				return nil, fmt.Errorf("%s: %w", e.name, err)
			}
			cs = append(cs, content{Src: src, Dst: path.Join(e.dir, e.name), Mode: 0o755})
		case "link":
			if !programs[e.arg] {
				return nil, fmt.Errorf("line %d: %s links to %s, which is not a program of this package listed above", e.line, e.name, e.arg)
			}
			programs[e.name] = true
			cs = append(cs,
				content{Src: e.arg, Dst: path.Join(e.dir, e.name), Type: "symlink"},
				content{Src: e.arg + ".1.gz", Dst: path.Join(manDir, e.name+".1.gz"), Type: "symlink"})
			bashLater = append(bashLater, e.name)
			// zsh finds the target's file by its #compdef line; check that
			// it names the link.
			if f := filepath.Join(man, "zsh", "_"+e.arg); exists(f) {
				b, err := os.ReadFile(f)
				if err != nil {
					return nil, err
				}
				m := compdefRE.FindSubmatch(b)
				if m == nil || !contains(strings.Fields(string(m[1])), e.name) {
					return nil, fmt.Errorf("%s: its #compdef line does not name %s", f, e.name)
				}
			}
		case "config":
			src := e.name
			if _, err := os.Stat(src); err != nil {
				return nil, err
			}
			cs = append(cs, content{Src: src, Dst: path.Join(e.dir, filepath.Base(src)), Type: "config|noreplace", Mode: configMode})
		case "doc":
			src := e.name
			if _, err := os.Stat(src); err != nil {
				return nil, err
			}
			cs = append(cs, content{Src: src, Dst: path.Join(e.dir, filepath.Base(src)), Type: "doc", Mode: configMode})
		case "dir":
			f := strings.Split(e.arg, ":")
			var mode uint32
			if len(f) != 3 {
				return nil, fmt.Errorf("line %d: dir argument %q is not owner:group:mode", e.line, e.arg)
			}
			if _, err := fmt.Sscanf(f[2], "%o", &mode); err != nil {
				return nil, fmt.Errorf("line %d: mode %q: %w", e.line, f[2], err)
			}
			cs = append(cs, content{Dst: e.dir, Type: "dir", Owner: f[0], Group: f[1], Mode: mode})
		}
	}
	// bash-completion loads completions/<command>: a name covered by
	// another program's script (its "complete -F" line) gets a symlink.
	covers, err := bashCoverage(filepath.Join(man, "bash-completion"))
	if err != nil {
		return nil, err
	}
	for _, name := range bashLater {
		if f := covers[name]; f != "" && bashFiles[f] {
			cs = append(cs, content{Src: f, Dst: path.Join(bashDir, name), Type: "symlink"})
		}
	}
	return cs, nil
}

// completeRE finds the commands a bash completion script is for.
var completeRE = regexp.MustCompile(`(?m)^complete -F \S+ (.+)$`)

// bashCoverage maps each command named in a bash completion script of dir
// to the script's name.
func bashCoverage(dir string) (map[string]string, error) {
	out := map[string]string{}
	files, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	} else if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			return nil, err
		}
		for _, m := range completeRE.FindAllSubmatch(b, -1) {
			for _, name := range strings.Fields(string(m[1])) {
				if out[name] == "" {
					out[name] = f.Name()
				}
			}
		}
	}
	return out, nil
}

func exists(name string) bool { _, err := os.Stat(name); return err == nil }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// q quotes a string for YAML (a JSON string is a YAML string).
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// octal renders mode bits as nfpm reads them.
func octal(m uint32) string { return fmt.Sprintf("0%o", m) }

// write prints the metadata file followed by the contents list.
func write(w io.Writer, meta string, cs []content) error {
	b, err := os.ReadFile(meta)
	if err != nil {
		return err
	}
	if strings.Contains(string(b), "\ncontents:") {
		return fmt.Errorf("%s: has its own contents list", meta)
	}
	var o strings.Builder
	o.Write(b)
	o.WriteString("\n# Generated by internal/cmd/nfpmconf from packaging/programs.tsv.\ncontents:\n")
	for _, c := range cs {
		if c.Src != "" {
			fmt.Fprintf(&o, "  - src: %s\n    dst: %s\n", q(c.Src), q(c.Dst))
		} else {
			fmt.Fprintf(&o, "  - dst: %s\n", q(c.Dst))
		}
		if c.Type != "" {
			fmt.Fprintf(&o, "    type: %s\n", q(c.Type))
		}
		if c.Packager != "" {
			fmt.Fprintf(&o, "    packager: %s\n", q(c.Packager))
		}
		if c.Type != "symlink" {
			fmt.Fprintf(&o, "    file_info:\n      mode: %s\n      owner: %s\n      group: %s\n", octal(c.Mode), q(or(c.Owner, "root")), q(or(c.Group, "root")))
		}
	}
	_, err = io.WriteString(w, o.String())
	return err
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
