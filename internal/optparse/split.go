package optparse

import (
	"errors"
	"strings"
)

// Errors returned by Split. Their texts are the ones Python's shlex uses.
var (
	// ErrNoClosingQuote means a quoted string was not terminated.
	ErrNoClosingQuote = errors.New("No closing quotation")
	// ErrNoEscapedChar means the input ended right after a backslash.
	ErrNoEscapedChar = errors.New("No escaped character")
)

// Split cuts s into words the way htgettoken cuts $HTGETTOKENOPTS and the
// optserver file: Python's shlex.split(s, comments=True), i.e. POSIX mode
// with whitespace splitting.
//
// The rules, which differ from a POSIX shell in a few places:
//   - space, tab, CR and LF separate words;
//   - '#' outside quotes starts a comment that runs to the end of the line,
//     even in the middle of a word ("a#b" is the word "a");
//   - single quotes keep everything literally;
//   - inside double quotes a backslash escapes only '"' and '\' (otherwise
//     it is kept), outside quotes it escapes any character, including a
//     newline (there is no line continuation);
//   - "" and ” give an empty word;
//   - no expansion of any kind ($, ~, globs) happens.
//
// A library was not used: github.com/google/shlex differs on comments inside
// words and on backslashes in double quotes, and mvdan.cc/sh implements a
// real shell grammar, not Python's shlex.
func Split(s string) ([]string, error) {
	const (
		stWhite  = iota // between words
		stWord          // inside an unquoted part of a word
		stSingle        // inside '...'
		stDouble        // inside "..."
		stEscape        // after a backslash
	)
	var (
		words   []string
		tok     strings.Builder
		state   = stWhite
		escFrom = stWord // state to return to after an escape
	)
	emit := func() {
		words = append(words, tok.String())
		tok.Reset()
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch state {
		case stWhite, stWord:
			switch {
			case c == ' ' || c == '\t' || c == '\r' || c == '\n':
				if state == stWord {
					emit()
				}
				state = stWhite
			case c == '#':
				for i < len(rs) && rs[i] != '\n' {
					i++
				}
				if state == stWord {
					emit()
				}
				state = stWhite
			case c == '\'':
				state = stSingle // a closing quote leads to stWord, so '' is a word
			case c == '"':
				state = stDouble
			case c == '\\':
				escFrom = stWord
				state = stEscape
			default:
				tok.WriteRune(c)
				state = stWord
			}
		case stSingle:
			if c == '\'' {
				state = stWord
			} else {
				tok.WriteRune(c)
			}
		case stDouble:
			switch c {
			case '"':
				state = stWord
			case '\\':
				escFrom = stDouble
				state = stEscape
			default:
				tok.WriteRune(c)
			}
		case stEscape:
			if escFrom == stDouble && c != '"' && c != '\\' {
				tok.WriteRune('\\')
			}
			tok.WriteRune(c)
			state = escFrom
		}
	}
	switch state {
	case stSingle, stDouble:
		return nil, ErrNoClosingQuote
	case stEscape:
		return nil, ErrNoEscapedChar
	case stWord:
		emit()
	}
	return words, nil
}
