package optparse

import (
	"strings"
	"unicode/utf8"
)

// Layout constants of optparse's IndentedHelpFormatter.
const (
	indentIncrement = 2
	maxHelpPosition = 24
	defaultWidth    = 78 // an 80-column terminal, minus 2
	minHelpWidth    = 11
)

// UsageLine returns the usage line, for example
// "Usage: htgettoken [-h] [otheroptions]\n".
func (p *Parser) UsageLine() string {
	return "Usage: " + p.Prog + " " + p.Usage + "\n"
}

// FormatError renders a parse error as optparse prints it to stderr: the
// usage line, an empty line, then "<prog>: error: <msg>".
func (p *Parser) FormatError(e *Error) string {
	return p.UsageLine() + "\n" + p.Prog + ": error: " + e.Msg + "\n"
}

// optionStrings returns how an option is shown in the help, for example
// "-s HostOrURL, --optserver=HostOrURL".
func optionStrings(o *Option) string {
	var parts []string
	if o.Short != "" {
		if o.takesValue() {
			parts = append(parts, o.Short+" "+o.Metavar)
		} else {
			parts = append(parts, o.Short)
		}
	}
	if o.takesValue() {
		parts = append(parts, o.Long+"="+o.Metavar)
	} else {
		parts = append(parts, o.Long)
	}
	return strings.Join(parts, ", ")
}

// Help returns the full help text, formatted like optparse's
// IndentedHelpFormatter: the usage line, an empty line, "Options:", then
// each option indented by 2 with its help starting in column 24 (on the
// next line when the option strings are too long) and wrapped to the width.
func (p *Parser) Help() string {
	width := p.Width
	if width <= 0 {
		width = defaultWidth
	}
	opts := p.allOptions()
	strs := make([]string, len(opts))
	maxLen := 0
	for i := range opts {
		strs[i] = optionStrings(&opts[i])
		maxLen = max(maxLen, utf8.RuneCountInString(strs[i])+indentIncrement)
	}
	helpPos := min(maxLen+2, min(maxHelpPosition, max(width-20, 2*indentIncrement)))
	helpWidth := max(width-helpPos, minHelpWidth)

	var b strings.Builder
	b.WriteString(p.UsageLine())
	b.WriteString("\n")
	b.WriteString("Options:\n")
	optWidth := helpPos - indentIncrement - 2
	for i := range opts {
		o := &opts[i]
		s := strs[i]
		indentFirst := 0
		b.WriteString(strings.Repeat(" ", indentIncrement))
		if n := utf8.RuneCountInString(s); n > optWidth {
			b.WriteString(s + "\n")
			indentFirst = helpPos
		} else {
			b.WriteString(s + strings.Repeat(" ", optWidth-n) + "  ")
		}
		text := o.Help
		if o.Default != "" {
			text += " [default: " + o.Default + "]"
		}
		lines := wrapText(text, helpWidth)
		if len(lines) == 0 {
			if indentFirst == 0 {
				b.WriteString("\n")
			}
			continue
		}
		b.WriteString(strings.Repeat(" ", indentFirst) + lines[0] + "\n")
		for _, l := range lines[1:] {
			b.WriteString(strings.Repeat(" ", helpPos) + l + "\n")
		}
	}
	return b.String()
}
