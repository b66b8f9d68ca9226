package krb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// This file holds a reader for MIT's profile syntax (krb5.conf), following
// the rules of MIT's util/profile/prof_parse.c:
//   - lines before the first "[section]" header are ignored;
//   - "include FILE" and "includedir DIR" must start at column 0 and merge the
//     named files into the same tree (each included file starts afresh and
//     needs its own section header);
//   - comments are whole lines starting with '#' or ';' (a '#' later in a
//     value is part of the value);
//   - "tag = value", "tag = {" ... "}" subsections, the opening brace may be on
//     the next line; a trailing '*' on a tag, "]" or "}" marks the node final;
//   - values may be double-quoted with \n \t \b \\ escapes.
// Several files (KRB5_CONFIG=a:b) are kept as separate trees and looked up in
// order, as MIT does: the first file that has a relation wins for single
// values, and multi-valued relations (kdc, ...) are gathered from all files
// unless a node is marked final.

const (
	maxConfigFileSize = 1 << 20
	maxIncludeDepth   = 10
)

// pnode is a section, subsection or relation in a profile tree.
type pnode struct {
	name     string
	value    string
	isValue  bool
	final    bool
	children []*pnode
	file     string
	line     int
}

func (n *pnode) find(name string) []*pnode {
	var out []*pnode
	for _, c := range n.children {
		if c.name == name {
			out = append(out, c)
		}
	}
	return out
}

// profile is the set of parsed krb5.conf trees, one per top-level file.
type profile struct {
	roots []*pnode
	// files lists every file that was read, includes included, in order.
	files []string
}

// loadProfile reads the given krb5.conf files. Files that do not exist or
// cannot be opened for lack of permission are skipped, as MIT does; if none
// can be read the profile is empty (not an error).
func loadProfile(paths []string) (*profile, error) {
	p := &profile{}
	for _, path := range paths {
		if path == "" {
			continue
		}
		data, err := readLimited(path, maxConfigFileSize)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, errIsDir) {
				continue
			}
			return nil, &ConfigError{Path: path, Msg: "cannot read file", Err: err}
		}
		root := &pnode{file: path}
		p.files = append(p.files, path)
		if err := p.parse(path, data, root, 0); err != nil {
			return nil, err
		}
		p.roots = append(p.roots, root)
	}
	return p, nil
}

var errIsDir = errors.New("is a directory")

// readLimited reads a regular file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errIsDir}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("file larger than %d bytes", limit)
	}
	return data, nil
}

type parseState int

const (
	stateInitComment parseState = iota
	stateStdLine
	stateGetOBrace
)

// parse parses one file's data into root, following include directives.
func (p *profile) parse(path string, data []byte, root *pnode, depth int) error {
	state := stateInitComment
	var stack []*pnode // stack[len-1] is the current section or subsection
	lines := bytes.Split(data, []byte("\n"))
	for i, raw := range lines {
		lineNo := i + 1
		line := strings.TrimRight(string(raw), "\r")
		cerr := func(msg string) error { return &ConfigError{Path: path, Line: lineNo, Msg: msg} }

		// Directives must start at column 0.
		if arg, ok := directive(line, "include"); ok {
			if err := p.include(path, lineNo, arg, root, depth); err != nil {
				return err
			}
			continue
		}
		if arg, ok := directive(line, "includedir"); ok {
			if err := p.includeDir(path, lineNo, arg, root, depth); err != nil {
				return err
			}
			continue
		}
		if _, ok := directive(line, "module"); ok {
			continue // profile modules are not supported; MIT allows them only as line 1
		}

		switch state {
		case stateInitComment:
			if !strings.HasPrefix(line, "[") {
				continue
			}
			state = stateStdLine
		case stateGetOBrace:
			t := strings.TrimLeft(line, " \t")
			if !strings.HasPrefix(t, "{") {
				return cerr("missing '{' after a relation with no value")
			}
			rest := strings.TrimLeft(t[1:], " \t")
			if rest != "" && rest[0] != '#' && rest[0] != ';' {
				return cerr("text after '{'")
			}
			state = stateStdLine
			continue
		}

		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		switch t[0] {
		case '[':
			if len(stack) > 1 {
				return cerr("section header inside a { } group")
			}
			end := strings.IndexByte(t, ']')
			if end < 0 {
				return cerr("section header without ']'")
			}
			name := t[1:end]
			if name == "" {
				return cerr("empty section name")
			}
			rest := t[end+1:]
			final := false
			if strings.HasPrefix(rest, "*") {
				final = true
				rest = rest[1:]
			}
			if strings.TrimSpace(rest) != "" {
				return cerr("text after section header")
			}
			var sec *pnode
			if found := root.find(name); len(found) > 0 {
				sec = found[0]
			} else {
				sec = &pnode{name: name, file: path, line: lineNo}
				root.children = append(root.children, sec)
			}
			if final {
				sec.final = true
			}
			stack = []*pnode{sec}
			continue
		case '}':
			if len(stack) <= 1 {
				return cerr("'}' without a matching '{'")
			}
			if strings.HasPrefix(t[1:], "*") {
				stack[len(stack)-1].final = true
			}
			stack = stack[:len(stack)-1]
			continue
		}

		// A relation: tag = value | tag = { | tag =
		eq := strings.IndexByte(t, '=')
		if eq <= 0 {
			return cerr("expected 'name = value'")
		}
		tag := t[:eq]
		if strings.HasPrefix(tag, "\"") {
			tag = unquote(tag[1:])
		} else {
			tag = strings.TrimRight(tag, " \t")
			if strings.ContainsAny(tag, " \t") {
				return cerr("space inside a relation name")
			}
		}
		final := false
		if k := strings.IndexByte(tag, '*'); k >= 0 {
			final = true
			tag = tag[:k]
		}
		value := strings.TrimLeft(t[eq+1:], " \t")
		cur := stack[len(stack)-1]
		subsection := false
		switch {
		case strings.HasPrefix(value, "\""):
			value = unquote(value[1:])
		case value == "" || value[0] == '#' || value[0] == ';':
			subsection = true
			state = stateGetOBrace
		case value[0] == '{':
			rest := strings.TrimLeft(value[1:], " \t")
			if rest != "" && rest[0] != '#' && rest[0] != ';' {
				return cerr("text after '{'")
			}
			subsection = true
		}
		if subsection {
			sub := &pnode{name: tag, final: final, file: path, line: lineNo}
			cur.children = append(cur.children, sub)
			stack = append(stack, sub)
			continue
		}
		cur.children = append(cur.children, &pnode{name: tag, value: value, isValue: true, final: final, file: path, line: lineNo})
	}
	if state == stateGetOBrace {
		return &ConfigError{Path: path, Line: len(lines), Msg: "missing '{' at end of file"}
	}
	return nil
}

// directive reports whether line is "<word><blank>arg" starting at column 0.
func directive(line, word string) (string, bool) {
	if len(line) <= len(word) || !strings.HasPrefix(line, word) {
		return "", false
	}
	if c := line[len(word)]; c != ' ' && c != '\t' {
		return "", false
	}
	return strings.TrimSpace(line[len(word):]), true
}

// unquote decodes an MIT profile quoted string (the opening quote already
// removed); text after the closing quote is ignored.
func unquote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			break
		}
		if c == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (p *profile) include(from string, line int, path string, root *pnode, depth int) error {
	if depth >= maxIncludeDepth {
		return &ConfigError{Path: from, Line: line, Msg: "includes nested too deeply (loop?)"}
	}
	if path == "" {
		return &ConfigError{Path: from, Line: line, Msg: "include without a file name"}
	}
	data, err := readLimited(path, maxConfigFileSize)
	if err != nil {
		return &ConfigError{Path: from, Line: line, Msg: "cannot include " + path, Err: unwrapPathErr(err)}
	}
	p.files = append(p.files, path)
	return p.parse(path, data, root, depth+1)
}

func (p *profile) includeDir(from string, line int, dir string, root *pnode, depth int) error {
	if depth >= maxIncludeDepth {
		return &ConfigError{Path: from, Line: line, Msg: "includes nested too deeply (loop?)"}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return &ConfigError{Path: from, Line: line, Msg: "cannot include directory " + dir, Err: unwrapPathErr(err)}
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.IsDir() || !includableName(e.Name()) {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		if err := p.include(from, line, filepath.Join(dir, n), root, depth); err != nil {
			return err
		}
	}
	return nil
}

// includableName mirrors MIT: names made only of letters, digits, '-' and
// '_', or ending in ".conf" (and not hidden).
func includableName(n string) bool {
	if n == "" || n[0] == '.' {
		return false
	}
	if strings.HasSuffix(n, ".conf") {
		return true
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// first returns the first value of section/name (a top-level relation of a
// section) across the files, with the node that holds it.
func (p *profile) first(section, name string) (*pnode, bool) {
	for _, root := range p.roots {
		stop := false
		for _, sec := range root.find(section) {
			for _, c := range sec.children {
				if c.isValue && c.name == name {
					return c, true
				}
			}
			stop = stop || sec.final
		}
		if stop {
			break
		}
	}
	return nil, false
}

// keys returns the names of the top-level value relations of a section, in
// first-seen order across the files.
func (p *profile) keys(section string) []string {
	seen := map[string]bool{}
	var out []string
	for _, root := range p.roots {
		stop := false
		for _, sec := range root.find(section) {
			for _, c := range sec.children {
				if c.isValue && !seen[c.name] {
					seen[c.name] = true
					out = append(out, c.name)
				}
			}
			stop = stop || sec.final
		}
		if stop {
			break
		}
	}
	return out
}

// subsections returns the names of the subsections of a section, in
// first-seen order across the files.
func (p *profile) subsections(section string) []string {
	seen := map[string]bool{}
	var out []string
	for _, root := range p.roots {
		stop := false
		for _, sec := range root.find(section) {
			for _, c := range sec.children {
				if !c.isValue && !seen[c.name] {
					seen[c.name] = true
					out = append(out, c.name)
				}
			}
			stop = stop || sec.final
		}
		if stop {
			break
		}
	}
	return out
}

// values returns all values of section/sub/name across the files, in order,
// honouring final marks on the section and subsection.
func (p *profile) values(section, sub, name string) []string {
	var out []string
	for _, root := range p.roots {
		stop := false
		for _, sec := range root.find(section) {
			stop = stop || sec.final
			for _, s := range sec.find(sub) {
				if s.isValue {
					continue
				}
				stop = stop || s.final
				for _, c := range s.children {
					if c.isValue && c.name == name {
						out = append(out, c.value)
						stop = stop || c.final
					}
				}
			}
		}
		if stop {
			break
		}
	}
	return out
}
