package optparse

import (
	"strings"
	"unicode"
)

// wrapText breaks text into lines of at most width characters, following
// Python's textwrap.wrap with its default settings (which optparse uses for
// option help): every whitespace character becomes a space, lines break at
// spaces and after hyphens inside words ("ca-certificates"), words longer
// than a line are cut (at a hyphen when one fits), and spaces at line breaks
// are dropped. Tabs are first expanded to 8-column stops. Widths are
// counted in code points, as Python does.
func wrapText(text string, width int) []string {
	text = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\v', '\f', '\r':
			return ' '
		}
		return r
	}, expandTabs(text))
	chunks := splitChunks([]rune(text))

	var lines []string
	// chunks is consumed from the front.
	for len(chunks) > 0 {
		var cur [][]rune
		curLen := 0
		if len(lines) > 0 && isBlank(chunks[0]) {
			chunks = chunks[1:]
		}
		for len(chunks) > 0 {
			l := len(chunks[0])
			if curLen+l > width {
				break
			}
			cur = append(cur, chunks[0])
			curLen += l
			chunks = chunks[1:]
		}
		if len(chunks) > 0 && len(chunks[0]) > width {
			// handle a long word
			spaceLeft := width - curLen
			if width < 1 {
				spaceLeft = 1
			}
			chunk := chunks[0]
			end := spaceLeft
			if len(chunk) > spaceLeft {
				if h := lastIndexRune(chunk[:spaceLeft], '-'); h > 0 && hasNonHyphen(chunk[:h]) {
					end = h + 1
				}
			}
			cur = append(cur, chunk[:end])
			chunks[0] = chunk[end:]
		}
		if len(cur) > 0 && isBlank(cur[len(cur)-1]) {
			cur = cur[:len(cur)-1]
		}
		if len(cur) > 0 {
			var b strings.Builder
			for _, c := range cur {
				b.WriteString(string(c))
			}
			lines = append(lines, b.String())
		}
	}
	return lines
}

// expandTabs is Python's str.expandtabs(8).
func expandTabs(s string) string {
	if !strings.ContainsRune(s, '\t') {
		return s
	}
	var b strings.Builder
	col := 0
	for _, r := range s {
		switch r {
		case '\t':
			n := 8 - col%8
			b.WriteString(strings.Repeat(" ", n))
			col += n
		case '\n', '\r':
			b.WriteRune(r)
			col = 0
		default:
			b.WriteRune(r)
			col++
		}
	}
	return b.String()
}

// splitChunks cuts text the way textwrap's wordsep_re does: into runs of
// spaces, em-dashes (two or more hyphens between a word character and a
// word character, "a--b") and words, where a word also ends after a hyphen
// that has two letters (or letter-hyphen-letter) before it and a letter, an
// optional hyphen and a letter after it, or before an em-dash. A "letter" is
// what Python's [^\d\W] matches.
func splitChunks(text []rune) [][]rune {
	var chunks [][]rune
	for i := 0; i < len(text); {
		j := i
		switch {
		case text[i] == ' ':
			for j < len(text) && text[j] == ' ' {
				j++
			}
		case emDashAt(text, i):
			for j < len(text) && text[j] == '-' {
				j++
			}
		default:
			for j < len(text) && text[j] != ' ' {
				if j > i && text[j] == '-' && hyphenBreak(text, j) {
					j++
					break
				}
				if j > i && emDashAt(text, j) {
					break
				}
				j++
			}
		}
		chunks = append(chunks, text[i:j])
		i = j
	}
	return chunks
}

// emDashAt reports whether an em-dash starts at text[i]: a word punctuation
// character before it, two or more hyphens, and a word character after them.
func emDashAt(text []rune, i int) bool {
	if i == 0 || !isWordPunct(text[i-1]) {
		return false
	}
	j := i
	for j < len(text) && text[j] == '-' {
		j++
	}
	return j-i >= 2 && j < len(text) && isWordChar(text[j])
}

// isWordChar is Python's \w.
func isWordChar(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// isWordPunct is textwrap's word_punct, [\w!"'&.,?].
func isWordPunct(r rune) bool {
	return isWordChar(r) || strings.ContainsRune(`!"'&.,?`, r)
}

// hyphenBreak reports whether textwrap may break after the hyphen at text[j].
func hyphenBreak(text []rune, j int) bool {
	before := (j >= 2 && isLetter(text[j-2]) && isLetter(text[j-1])) ||
		(j >= 3 && isLetter(text[j-3]) && text[j-2] == '-' && isLetter(text[j-1]))
	if !before {
		return false
	}
	k := j + 1
	if k >= len(text) || !isLetter(text[k]) {
		return false
	}
	k++
	if k < len(text) && text[k] == '-' {
		k++
	}
	return k < len(text) && isLetter(text[k])
}

func isLetter(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || (unicode.IsNumber(r) && !unicode.IsDigit(r))
}

func isBlank(c []rune) bool {
	return strings.TrimSpace(string(c)) == ""
}

func lastIndexRune(rs []rune, r rune) int {
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i] == r {
			return i
		}
	}
	return -1
}

func hasNonHyphen(rs []rune) bool {
	for _, r := range rs {
		if r != '-' {
			return true
		}
	}
	return false
}
