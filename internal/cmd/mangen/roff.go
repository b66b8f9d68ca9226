package main

import (
	"fmt"
	"strings"

	"github.com/vaultcred/gettoken/internal/optparse"
	"github.com/vaultcred/gettoken/vaultcred"
)

// esc escapes text for roff: backslashes, hyphens (so that options can be
// copied from the rendered page) and a leading control character.
func esc(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	return s
}

// escLine escapes one line that starts a roff input line.
func escLine(s string) string {
	s = esc(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// gettokenPage is gettoken's page, its options from the optparse table.
func gettokenPage(th, summary string) string {
	p := optparse.HTGetToken("gettoken", vaultcred.DefaultCAFile(vaultcred.Environ{}))
	var b strings.Builder
	b.WriteString(th)
	fmt.Fprintf(&b, ".SH NAME\ngettoken, htgettoken \\- %s\n", esc(summary))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.B gettoken\n%s\n.br\n.B htgettoken\n%s\n", esc(p.Usage), esc(p.Usage))
	b.WriteString(".SH DESCRIPTION\n" + esc(`gettoken gets a vault token and a bearer (access) token from an htvault-config Vault or OpenBao server, authenticating with an existing vault token, Kerberos, an ssh-agent key or an OIDC device login, and writes the bearer token to a file that WLCG bearer token discovery finds. It is a drop-in replacement for htgettoken `+optparse.Version+`, also installed under that name, and accepts the same options, option sources, files, messages and exit statuses.`) + "\n")
	b.WriteString(".PP\n" + esc("Options are read from $"+optparse.EnvOpts+" first, then from the command line; with -s, the optserver file is read before both. Long options may be abbreviated to any unique prefix.") + "\n")
	b.WriteString(".SH OPTIONS\n")
	for _, o := range p.AllOptions() {
		b.WriteString(".TP\n" + optionHeading(&o) + "\n")
		text := o.Help
		if o.Default != "" {
			text += " [default: " + o.Default + "]"
		}
		b.WriteString(escLine(text) + "\n")
	}
	b.WriteString(".SH ENVIRONMENT\n")
	for _, e := range [][2]string{
		{optparse.EnvOpts, "options read before the command line"},
		{"BEARER_TOKEN_FILE", "default bearer token file"},
		{"XDG_RUNTIME_DIR", "directory of the default bearer token file (else /tmp)"},
		{"X509_CERT_DIR", "default --capath"},
	} {
		fmt.Fprintf(&b, ".TP\n.B %s\n%s\n", esc(e[0]), escLine(e[1]))
	}
	b.WriteString(".SH EXIT STATUS\n0 on success, 1 on a fatal error, 2 on a usage error.\n")
	b.WriteString(".SH SEE ALSO\n.BR httokensh (1),\n.BR htdecodetoken (1),\n.BR htdestroytoken (1)\n")
	return b.String()
}

// optionHeading renders "-s HostOrURL, --optserver=HostOrURL" in roff,
// the option names in bold and the value names in italics.
func optionHeading(o *optparse.Option) string {
	var parts []string
	if o.Short != "" {
		s := `\fB` + esc(o.Short) + `\fR`
		if o.TakesValue() {
			s += ` \fI` + esc(o.Metavar) + `\fR`
		}
		parts = append(parts, s)
	}
	l := `\fB` + esc(o.Long) + `\fR`
	if o.TakesValue() {
		l += `=\fI` + esc(o.Metavar) + `\fR`
	}
	return strings.Join(append(parts, l), ", ")
}

// helpPage is the page of a program whose help text is shown verbatim.
func helpPage(th, name, summary, help string) string {
	var b strings.Builder
	b.WriteString(th)
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", esc(name), esc(summary))
	if syn := synopsis(help); syn != "" {
		fmt.Fprintf(&b, ".SH SYNOPSIS\n.B %s\n%s\n", esc(name), esc(syn))
	}
	b.WriteString(".SH DESCRIPTION\nThe help that \\fB" + esc(name) + "\\fR prints:\n.PP\n.nf\n")
	for _, l := range strings.Split(strings.TrimRight(help, "\n"), "\n") {
		b.WriteString(escLine(l) + "\n")
	}
	b.WriteString(".fi\n")
	return b.String()
}

// synopsis finds the arguments of the usage line in a help text: the line
// "Usage: <name> <args>" or, in urfave/cli's layout, the line after
// "USAGE:".
func synopsis(help string) string {
	lines := strings.Split(help, "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(strings.ToLower(t), "usage of ") {
			return "[options]" // Go's flag package: "Usage of <name>:"
		}
		if strings.EqualFold(t, "usage:") && i+1 < len(lines) {
			t = strings.TrimSpace(lines[i+1])
		} else if len(t) > 6 && strings.EqualFold(t[:6], "usage:") {
			t = strings.TrimSpace(t[6:])
		} else {
			continue
		}
		if _, args, ok := strings.Cut(t, " "); ok {
			return args
		}
		return ""
	}
	return ""
}
