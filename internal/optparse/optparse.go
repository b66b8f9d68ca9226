// Package optparse is gettoken's command line: htgettoken 2.6's options,
// parsed with the semantics of Python's optparse module, which htgettoken
// uses and which scripts written for it rely on.
//
// Parsing happens in two steps. First the arguments are walked exactly as
// optparse walks them, which finds every error optparse would report (with
// its exact text), stops at -h/--help and --version, expands unique
// prefixes of long options, splits "-avalue" and bundled flags ("-vq"), and
// collects positional arguments. The result is a canonical "--name=value"
// list that github.com/urfave/cli/v2 then parses into typed flag values.
//
// [Load] adds htgettoken's option sources ($HTGETTOKENOPTS and the -s
// optserver file) and its checks, and returns a [vaultcred.Options].
//
// Compatibility notes:
//   - Long options may be abbreviated to any unique prefix. The gettoken-only
//     options (--qr, --reuse-bearer) never make an abbreviation that worked
//     with htgettoken 2.6 ambiguous: a prefix that matches exactly one
//     htgettoken option selects it (so --q is still --quiet and --re still
//     --registerssh); gettoken-only options are reached by their full name
//     or by a prefix no htgettoken option has.
//   - Integer values outside the int64 range are rejected as invalid.
package optparse

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// Kind is what an option takes.
type Kind int

const (
	// Flag is a boolean switch (optparse "store_true"): it takes no value
	// and can only be turned on.
	Flag Kind = iota
	// String takes one string value.
	String
	// Int takes one integer value (optparse type "int").
	Int
	// help and version are the built-in actions of -h/--help and --version.
	help
	version
)

// Option describes one command-line option.
type Option struct {
	// Short is the short form, such as "-v", or "".
	Short string
	// Long is the long form, such as "--verbose". Every option has one.
	Long string
	// Kind says whether the option takes a value.
	Kind Kind
	// Metavar names the value in the help text.
	Metavar string
	// Help is the help text.
	Help string
	// Default, if not empty, is appended to Help as " [default: <Default>]".
	Default string
	// Extension marks options that htgettoken does not have. They lose
	// prefix ties to htgettoken options (see the package documentation).
	Extension bool
}

func (o *Option) takesValue() bool { return o.Kind == String || o.Kind == Int }

// name is the long name without dashes, used as the urfave/cli flag name.
func (o *Option) name() string { return strings.TrimPrefix(o.Long, "--") }

// Parser parses a command line.
type Parser struct {
	// Prog is the program name used in messages.
	Prog string
	// Usage is the usage text after the program name.
	Usage string
	// Version is what --version prints.
	Version string
	// Options are the options, in help order. --version and -h/--help are
	// added in front of them.
	Options []Option
	// Width is the width the help is formatted to; 0 means 78, optparse's
	// width for an 80-column terminal.
	Width int
}

// ErrHelp is returned by [Parser.Parse] when -h or --help was reached: the
// caller prints [Parser.Help] to stdout and exits 0.
var ErrHelp = errors.New("help requested")

// ErrVersion is returned by [Parser.Parse] when --version was reached: the
// caller prints the version to stdout and exits 0.
var ErrVersion = errors.New("version requested")

// Error is an error found while parsing the arguments, such as an unknown
// option or a missing value. optparse prints it to stderr as the usage line,
// an empty line and "<prog>: error: <Msg>" (see [Parser.FormatError]), and
// exits 2.
type Error struct {
	// Msg is optparse's message, for example "no such option: --foo".
	Msg string
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

// Result holds the options set on a command line.
type Result struct {
	strs  map[string]string
	flags map[string]bool
	ints  map[string]int64
	// Args are the positional (non-option) arguments.
	Args []string
}

// String returns the value of a String option given by its long name
// without dashes, and whether it was set.
func (r *Result) String(name string) (string, bool) {
	v, ok := r.strs[name]
	return v, ok
}

// Flag reports whether a Flag option was given.
func (r *Result) Flag(name string) bool { return r.flags[name] }

// Int returns the value of an Int option and whether it was set.
func (r *Result) Int(name string) (int64, bool) {
	v, ok := r.ints[name]
	return v, ok
}

// allOptions returns the built-in options followed by p.Options.
func (p *Parser) allOptions() []Option {
	opts := make([]Option, 0, len(p.Options)+2)
	if p.Version != "" {
		opts = append(opts, Option{Long: "--version", Kind: version,
			Help: "show program's version number and exit"})
	}
	opts = append(opts, Option{Short: "-h", Long: "--help", Kind: help,
		Help: "show this help message and exit"})
	return append(opts, p.Options...)
}

// Parse parses args (without the program name). Options may be repeated;
// the last value wins. Errors are *Error, [ErrHelp] or [ErrVersion],
// whichever comes first from the left, as in optparse.
func (p *Parser) Parse(args []string) (*Result, error) {
	canon, positional, err := p.normalize(args)
	if err != nil {
		return nil, err
	}
	res, err := p.decode(canon)
	if err != nil {
		return nil, err
	}
	res.Args = positional
	return res, nil
}

// normalize walks args as optparse does and returns the options as
// "--name" or "--name=value" words, plus the positional arguments.
func (p *Parser) normalize(args []string) (canon, positional []string, err error) {
	opts := p.allOptions()
	long := make(map[string]*Option, len(opts))
	short := make(map[string]*Option, len(opts))
	for i := range opts {
		o := &opts[i]
		long[o.Long] = o
		if o.Short != "" {
			short[o.Short] = o
		}
	}
	// take processes option o, given as optStr, with a value if it takes
	// one.
	take := func(o *Option, optStr, value string) error {
		switch o.Kind {
		case help:
			return ErrHelp
		case version:
			return ErrVersion
		case Flag:
			canon = append(canon, o.Long)
		case Int:
			n, ok := parseOptInt(value)
			if !ok {
				return &Error{Msg: fmt.Sprintf("option %s: invalid integer value: %s", optStr, pyRepr(value))}
			}
			canon = append(canon, o.Long+"="+strconv.FormatInt(n, 10))
		case String:
			canon = append(canon, o.Long+"="+value)
		}
		return nil
	}
	missing := func(optStr string) error {
		return &Error{Msg: optStr + " option requires 1 argument"}
	}

	for i := 0; i < len(args); {
		arg := args[i]
		i++
		switch {
		case arg == "--":
			positional = append(positional, args[i:]...)
			return canon, positional, nil
		case strings.HasPrefix(arg, "--"):
			optStr, value, hasValue := strings.Cut(arg, "=")
			o, err := p.matchLong(optStr, opts, long)
			if err != nil {
				return nil, nil, err
			}
			if o.takesValue() {
				if !hasValue {
					if i >= len(args) {
						return nil, nil, missing(o.Long)
					}
					value = args[i]
					i++
				}
			} else if hasValue {
				return nil, nil, &Error{Msg: o.Long + " option does not take a value"}
			}
			if err := take(o, o.Long, value); err != nil {
				return nil, nil, err
			}
		case strings.HasPrefix(arg, "-") && len([]rune(arg)) > 1:
			rs := []rune(arg[1:])
			for j, r := range rs {
				optStr := "-" + string(r)
				o := short[optStr]
				if o == nil {
					return nil, nil, &Error{Msg: "no such option: " + optStr}
				}
				if !o.takesValue() {
					if err := take(o, optStr, ""); err != nil {
						return nil, nil, err
					}
					continue
				}
				var value string
				if j+1 < len(rs) {
					value = string(rs[j+1:])
				} else {
					if i >= len(args) {
						return nil, nil, missing(optStr)
					}
					value = args[i]
					i++
				}
				if err := take(o, optStr, value); err != nil {
					return nil, nil, err
				}
				break
			}
		default:
			positional = append(positional, arg)
		}
	}
	return canon, positional, nil
}

// matchLong resolves a possibly abbreviated long option.
func (p *Parser) matchLong(s string, opts []Option, long map[string]*Option) (*Option, error) {
	if o, ok := long[s]; ok {
		return o, nil
	}
	var all, legacy []*Option
	for i := range opts {
		o := &opts[i]
		if strings.HasPrefix(o.Long, s) {
			all = append(all, o)
			if !o.Extension {
				legacy = append(legacy, o)
			}
		}
	}
	switch {
	case len(legacy) == 1:
		return legacy[0], nil
	case len(legacy) == 0 && len(all) == 1:
		return all[0], nil
	case len(all) == 0:
		return nil, &Error{Msg: "no such option: " + s}
	}
	names := make([]string, len(all))
	for i, o := range all {
		names[i] = o.Long
	}
	sort.Strings(names)
	return nil, &Error{Msg: fmt.Sprintf("ambiguous option: %s (%s?)", s, strings.Join(names, ", "))}
}

// decode parses canonical words with urfave/cli.
func (p *Parser) decode(canon []string) (*Result, error) {
	res := &Result{
		strs:  map[string]string{},
		flags: map[string]bool{},
		ints:  map[string]int64{},
	}
	// Only the options present in canon are declared to urfave/cli: its
	// flag lookups are quadratic in the number of declared flags (a regexp
	// per name per lookup), which made parsing the bulk of a local-reuse
	// run. The normaliser has already rejected unknown options.
	present := map[string]bool{}
	for _, w := range canon {
		name, _, _ := strings.Cut(w, "=")
		present[name] = true
	}
	var flags []cli.Flag
	var used []*Option
	for i := range p.Options {
		o := &p.Options[i]
		if !present[o.Long] {
			continue
		}
		used = append(used, o)
		switch o.Kind {
		case Flag:
			flags = append(flags, &cli.BoolFlag{Name: o.name()})
		case String:
			flags = append(flags, &cli.StringFlag{Name: o.name()})
		case Int:
			flags = append(flags, &cli.Int64Flag{Name: o.name()})
		}
	}
	app := &cli.App{
		Name:            p.Prog,
		Flags:           flags,
		HideHelp:        true,
		HideHelpCommand: true,
		HideVersion:     true,
		Writer:          io.Discard,
		ErrWriter:       io.Discard,
		ExitErrHandler:  func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return err
		},
		Action: func(c *cli.Context) error {
			for _, o := range used {
				n := o.name()
				switch o.Kind {
				case Flag:
					res.flags[n] = c.Bool(n)
				case String:
					res.strs[n] = c.String(n)
				case Int:
					res.ints[n] = c.Int64(n)
				}
			}
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected arguments after normalization: %d", c.NArg())
			}
			return nil
		},
	}
	if err := app.Run(append([]string{p.Prog}, canon...)); err != nil {
		// Cannot happen for words built by normalize; report it as an
		// internal parse error rather than panicking.
		return nil, fmt.Errorf("internal option parsing error: %w", err)
	}
	return res, nil
}
