// Command mangen writes the man pages and the bash and zsh completion
// scripts of the project's programs, for the packages (make man).
//
//	mangen -bin DIR -out DIR [-version V] [-date YYYY-MM-DD] program...
//
// Nothing in a page is a second copy of a program's help:
//
//   - gettoken (and so htgettoken) gets its OPTIONS section and its
//     completion from the option table in internal/optparse, the same
//     table its --help is formatted from;
//   - the storer's completion comes from storer.Usage, the text its usage
//     message prints;
//   - every other program's page shows the help text the built program
//     (in -bin) prints for its help option, verbatim.
//
// Only the one-line summary of each page (its NAME line) and a short
// DESCRIPTION of gettoken live here. A program without an entry in the
// programs table still gets a page (from its --help output), so that new
// programs are covered as soon as they are packaged.
//
// The output is a pure function of the inputs: -date (default: the date of
// $SOURCE_DATE_EPOCH, else 1970-01-01) and -version go in the page
// footers, and nothing else varies between runs.
//
// Files written: DIR/man1/<program>.1 for each program, and, when gettoken
// or the storer is among them, DIR/bash-completion/<name> and
// DIR/zsh/_<name>.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// program is what mangen knows about a program beyond its help.
type program struct {
	// summary is the NAME line's text after the dash.
	summary string
	// help are the arguments that make the program print its help (on
	// stdout or stderr, whatever its exit status); nil means --help.
	help []string
	// section is the man section; 0 means 1 (8 for programs in sbin is
	// the packager's business: HTCondor's own pages are all in section 1).
	section int
}

// programs are the known programs. Programs not listed get a page from
// their --help output with a generic summary.
var programs = map[string]program{
	"gettoken":                    {summary: "get an OIDC bearer token from an htvault-config Vault server (htgettoken 2.6 compatible)"},
	"htdecodetoken":               {summary: "print the header and claims of a JSON Web Token", help: []string{"-h"}},
	"htdestroytoken":              {summary: "remove the bearer and vault token files, and optionally the refresh token in Vault", help: []string{"-h"}},
	"httokensh":                   {summary: "run a command with a bearer token kept fresh in the background"},
	"condor_vault_storer":         {summary: "HTCondor credential storer for Vault tokens", help: []string{"-h"}},
	"condor_credmon_vault":        {summary: "HTCondor credential monitor for Vault, OAuth, local-issuer and client-credentials tokens"},
	"condor_credmon_vault_keygen": {summary: "create the signing key of condor_credmon_vault's local SciTokens issuer and print its JWKS", help: []string{"-h"}},
}

func main() {
	bin := flag.String("bin", "bin", "`directory` of the built programs")
	out := flag.String("out", "build/man", "output `directory`")
	version := flag.String("version", "", "version shown in the page footers")
	date := flag.String("date", "", "date shown in the page footers (default: from $SOURCE_DATE_EPOCH)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "mangen: no programs given")
		os.Exit(2)
	}
	if *date == "" {
		*date = sourceDate(os.Getenv("SOURCE_DATE_EPOCH"))
	}
	g := &generator{bin: *bin, out: *out, version: *version, date: *date}
	for _, name := range flag.Args() {
		if err := g.program(name); err != nil {
			fmt.Fprintf(os.Stderr, "mangen: %s: %v\n", name, err)
			os.Exit(1)
		}
	}
}

// sourceDate returns the UTC date of a SOURCE_DATE_EPOCH value.
func sourceDate(epoch string) string {
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		sec = 0
	}
	return time.Unix(sec, 0).UTC().Format("2006-01-02")
}

type generator struct {
	bin, out, version, date string
}

// program writes the page (and completions) of one program.
func (g *generator) program(name string) error {
	p, ok := programs[name]
	if !ok {
		p = program{summary: "part of the gettoken tools for Vault and HTCondor tokens"}
	}
	if p.section == 0 {
		p.section = 1
	}
	var page string
	switch name {
	case "gettoken":
		page = gettokenPage(g.header(name, p.section), p.summary)
		if err := g.write("bash-completion/gettoken", gettokenBash()); err != nil {
			return err
		}
		if err := g.write("zsh/_gettoken", gettokenZsh()); err != nil {
			return err
		}
	default:
		help, err := g.helpText(name, p.help)
		if err != nil {
			return err
		}
		page = helpPage(g.header(name, p.section), name, p.summary, help)
		if name == "condor_vault_storer" {
			if err := g.write("bash-completion/condor_vault_storer", storerBash()); err != nil {
				return err
			}
			if err := g.write("zsh/_condor_vault_storer", storerZsh()); err != nil {
				return err
			}
		}
	}
	return g.write(fmt.Sprintf("man%d/%s.%d", p.section, name, p.section), page)
}

// header is the .TH line.
func (g *generator) header(name string, section int) string {
	return fmt.Sprintf(".TH %s %d %q %q %q\n", strings.ToUpper(name), section, g.date,
		strings.TrimSpace("gettoken "+g.version), "User Commands")
}

func (g *generator) write(rel, content string) error {
	path := filepath.Join(g.out, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}

// helpText runs the built program with its help arguments in a minimal,
// fixed environment and returns what it printed.
func (g *generator) helpText(name string, args []string) (string, error) {
	if args == nil {
		args = []string{"--help"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	path, err := filepath.Abs(filepath.Join(g.bin, name))
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "COLUMNS=80", "LC_ALL=C"}
	cmd.Dir = os.TempDir()
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	runErr := cmd.Run()
	text := strings.Trim(buf.String(), "\n")
	if ctx.Err() != nil {
		return "", fmt.Errorf("%s %s did not finish", path, strings.Join(args, " "))
	}
	if _, ok := runErr.(*exec.ExitError); runErr != nil && !ok {
		return "", runErr
	}
	if !strings.Contains(strings.ToLower(text), "usage") {
		return "", fmt.Errorf("%s %s printed no usage: %q", path, strings.Join(args, " "), text)
	}
	return text + "\n", nil
}
