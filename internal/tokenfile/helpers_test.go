package tokenfile

import (
	"strconv"
	"syscall"
)

func mustUmask(m int) int { return syscall.Umask(m) }

func itoa(i int) string { return strconv.Itoa(i) }
