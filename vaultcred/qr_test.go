package vaultcred

import (
	"strings"
	"testing"
	"unicode/utf8"

	"rsc.io/qr"
)

func TestWriteQR(t *testing.T) {
	url := "https://idp.example.org/device?user_code=ABCD-EFGH"
	var b strings.Builder
	if err := WriteQR(&b, url); err != nil {
		t.Fatal(err)
	}
	code, _ := qr.Encode(url, qr.L)
	n := code.Size + 4 // two quiet modules on each side
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != (n+1)/2 {
		t.Fatalf("%d lines, want %d", len(lines), (n+1)/2)
	}
	for i, l := range lines {
		if utf8.RuneCountInString(l) != n {
			t.Fatalf("line %d is %d cells wide, want %d", i, utf8.RuneCountInString(l), n)
		}
	}
	// Text row 1 holds image rows 0 and 1; column 2 is module x=0, where
	// the finder pattern is dark in both rows: a blank cell (the light
	// colour is the drawn block).
	if cells := []rune(lines[1]); cells[2] != ' ' || cells[1] != '█' {
		t.Errorf("finder pattern corner or quiet zone wrong: %q %q", cells[1], cells[2])
	}
	// Every cell is one of the four half-block states.
	for _, l := range lines {
		for _, r := range l {
			if !strings.ContainsRune(" ▄▀█", r) {
				t.Fatalf("unexpected rune %q", r)
			}
		}
	}
}
