//go:build !gettoken_front

package vaultcred

import (
	"io"
	"strings"

	"rsc.io/qr"
)

// WriteQR draws url as a QR code with Unicode half blocks (two modules per
// character cell), dark on light with a quiet zone, for --qr.
func WriteQR(w io.Writer, url string) error {
	code, err := qr.Encode(url, qr.L)
	if err != nil {
		return err
	}
	const quiet = 2
	n := code.Size
	dark := func(x, y int) bool {
		return x >= 0 && y >= 0 && x < n && y < n && code.Black(x, y)
	}
	var b strings.Builder
	for y := -quiet; y < n+quiet; y += 2 {
		for x := -quiet; x < n+quiet; x++ {
			top, bot := dark(x, y), dark(x, y+1)
			switch {
			case top && bot:
				b.WriteString(" ")
			case top:
				b.WriteString("▄")
			case bot:
				b.WriteString("▀")
			default:
				b.WriteString("█")
			}
		}
		b.WriteString("\n")
	}
	_, err = io.WriteString(w, b.String())
	return err
}
