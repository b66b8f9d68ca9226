// Package config is the HTCondor configuration source shared by the
// stand-in tools (condor_config_val, condor_store_cred, condor_credd): one
// file named by the environment variable CONDOR_CONFIG, overridden by
// environment variables _CONDOR_<KNOB>.
//
// The file holds `KNOB = value` lines. Knob names are case-insensitive;
// lines whose first non-blank character is `#` are comments (a `#` later in
// a line is part of the value, as in HTCondor); a line ending in a
// backslash continues on the next line. Values are expanded when looked up:
// `$(KNOB)` is the value of another knob (empty when undefined),
// `$(KNOB:default)` falls back to default, and `$ENV(VAR)` is an
// environment variable. A knob that refers to itself (`X = $(X) more`)
// sees its previous value, as in HTCondor. As with HTCondor's param(), a
// knob whose expanded value is empty counts as undefined.
//
// Not supported (an error, so a test notices): `use`, `include`,
// `if`/`else` blocks and `@=` multi-line values.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// DefaultFile is read when CONDOR_CONFIG is unset, like HTCondor's first
// fallback location.
const DefaultFile = "/etc/condor/condor_config"

// EnvPrefix marks environment variables that override knobs.
const EnvPrefix = "_CONDOR_"

// maxDepth bounds macro expansion, so a reference cycle cannot loop.
const maxDepth = 32

// maxFileSize bounds the configuration file.
const maxFileSize = 4 << 20

// ErrNoConfig is returned when neither CONDOR_CONFIG nor DefaultFile names
// a configuration file.
var ErrNoConfig = errors.New("neither the environment variable CONDOR_CONFIG nor " + DefaultFile + " names a configuration source")

// SyntaxError is a line of the configuration file that is not a knob
// assignment.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

// Error describes the bad line.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("configuration error in %s, line %d: %s", e.File, e.Line, e.Msg)
}

// Config is a parsed configuration: raw (unexpanded) values by upper-cased
// knob name, plus the environment used for $ENV().
type Config struct {
	// File is the configuration file that was read ("" if none).
	File string
	raw  map[string]string
	// names keeps the spelling of each knob as first written.
	names map[string]string
	env   map[string]string
}

// Load reads the configuration the way every stand-in tool does: the file
// named by CONDOR_CONFIG (or DefaultFile), then _CONDOR_ overrides from the
// process environment.
func Load() (*Config, error) {
	path := os.Getenv("CONDOR_CONFIG")
	if path == "" {
		if _, err := os.Stat(DefaultFile); err != nil {
			return nil, ErrNoConfig
		}
		path = DefaultFile
	}
	return LoadFile(path, os.Environ())
}

// LoadFile reads the configuration file at path, then applies _CONDOR_
// overrides found in environ (KEY=VALUE strings).
func LoadFile(path string, environ []string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := Parse(io.LimitReader(f, maxFileSize), path, environ)
	if err != nil {
		return nil, err
	}
	c.File = path
	return c, nil
}

// Parse reads configuration text from r (name is used in errors) and
// applies _CONDOR_ overrides from environ.
func Parse(r io.Reader, name string, environ []string) (*Config, error) {
	c := &Config{raw: map[string]string{}, names: map[string]string{}, env: map[string]string{}}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			c.env[k] = v
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxFileSize)
	lineNo := 0
	var pending strings.Builder
	startLine := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), " \t\r")
		if pending.Len() == 0 {
			startLine = lineNo
			if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
				continue
			}
		}
		if strings.HasSuffix(line, `\`) {
			pending.WriteString(strings.TrimSuffix(line, `\`))
			continue
		}
		pending.WriteString(line)
		full := pending.String()
		pending.Reset()
		if err := c.assign(full); err != nil {
			return nil, &SyntaxError{File: name, Line: startLine, Msg: err.Error()}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", name, err)
	}
	if pending.Len() > 0 {
		if err := c.assign(pending.String()); err != nil {
			return nil, &SyntaxError{File: name, Line: startLine, Msg: err.Error()}
		}
	}
	// In environment order, so the last of several matching variables
	// (prefix and name are case-insensitive) wins.
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && len(k) > len(EnvPrefix) && strings.EqualFold(k[:len(EnvPrefix)], EnvPrefix) {
			knob := k[len(EnvPrefix):]
			if validName(knob) {
				c.setEnv(knob, strings.TrimSpace(v))
			}
		}
	}
	return c, nil
}

// assign handles one logical `NAME = value` line.
func (c *Config) assign(line string) error {
	name, value, ok := strings.Cut(line, "=")
	name = strings.TrimSpace(name)
	if !ok {
		if f := strings.Fields(name); len(f) > 0 {
			switch strings.ToLower(f[0]) {
			case "use", "include", "if", "elif", "else", "endif", "error", "warning":
				return fmt.Errorf("%q statements are not supported by this stand-in", f[0])
			}
		}
		return errors.New("expected KNOB = value")
	}
	if strings.HasPrefix(value, "@") {
		return errors.New("@= multi-line values are not supported by this stand-in")
	}
	if !validName(name) {
		return fmt.Errorf("invalid knob name %q", name)
	}
	c.set(name, strings.TrimSpace(value))
	return nil
}

// set stores a raw value, resolving references to the knob itself to its
// previous raw value.
func (c *Config) set(name, value string) {
	key := strings.ToUpper(name)
	prev := c.raw[key]
	value = replaceSelf(value, key, prev)
	c.raw[key] = value
	if _, ok := c.names[key]; !ok {
		c.names[key] = name
	}
}

// setEnv stores an environment override verbatim (no self-reference
// resolution).
func (c *Config) setEnv(name, value string) {
	key := strings.ToUpper(name)
	c.raw[key] = value
	if _, ok := c.names[key]; !ok {
		c.names[key] = name
	}
}

// replaceSelf substitutes $(NAME) (any case) in value with prev.
func replaceSelf(value, key, prev string) string {
	var b strings.Builder
	for {
		i := strings.Index(value, "$(")
		if i < 0 {
			b.WriteString(value)
			return b.String()
		}
		j := strings.IndexByte(value[i:], ')')
		if j < 0 {
			b.WriteString(value)
			return b.String()
		}
		ref := value[i+2 : i+j]
		if strings.EqualFold(ref, key) {
			b.WriteString(value[:i])
			b.WriteString(prev)
		} else {
			b.WriteString(value[:i+j+1])
		}
		value = value[i+j+1:]
	}
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// Get returns the expanded value of knob and whether it is defined (a knob
// whose expanded value is empty is not defined, as with HTCondor's param()).
func (c *Config) Get(knob string) (string, bool) {
	v := c.Value(knob)
	return v, v != ""
}

// Value returns the expanded value of knob, "" when undefined.
func (c *Config) Value(knob string) string {
	raw, ok := c.raw[strings.ToUpper(knob)]
	if !ok {
		return ""
	}
	return strings.TrimSpace(c.expand(raw, 0))
}

// Names returns every knob defined in the file or the environment, in the
// spelling first used, sorted case-insensitively.
func (c *Config) Names() []string {
	out := make([]string, 0, len(c.names))
	for _, n := range c.names {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToUpper(out[i]) < strings.ToUpper(out[j]) })
	return out
}

// expand replaces $(KNOB), $(KNOB:default) and $ENV(VAR) in s.
func (c *Config) expand(s string, depth int) string {
	if depth > maxDepth {
		return ""
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i+1 >= len(s) {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		rest := s[i:]
		switch {
		case strings.HasPrefix(rest, "$("):
			end := matchParen(rest, 1)
			if end < 0 {
				b.WriteString(rest)
				return b.String()
			}
			inner := rest[2:end]
			name, def, hasDef := strings.Cut(inner, ":")
			raw, ok := c.raw[strings.ToUpper(strings.TrimSpace(name))]
			var v string
			if ok {
				v = strings.TrimSpace(c.expand(raw, depth+1))
			}
			if v == "" && hasDef {
				v = c.expand(def, depth+1)
			}
			b.WriteString(v)
			s = rest[end+1:]
		case strings.HasPrefix(strings.ToUpper(rest), "$ENV("):
			end := matchParen(rest, 4)
			if end < 0 {
				b.WriteString(rest)
				return b.String()
			}
			name, def, hasDef := strings.Cut(rest[5:end], ":")
			v := c.env[strings.TrimSpace(name)]
			if v == "" && hasDef {
				v = def
			}
			b.WriteString(v)
			s = rest[end+1:]
		default:
			b.WriteByte('$')
			s = rest[1:]
		}
	}
}

// matchParen returns the index in s of the ')' matching the '(' at open,
// or -1.
func matchParen(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// SplitList splits a list-valued knob on commas and whitespace, as
// HTCondor's StringList does, dropping empty items.
func SplitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
}
