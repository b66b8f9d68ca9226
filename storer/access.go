package storer

import "golang.org/x/sys/unix"

// syscallAccessW is access(2) with W_OK: what the shell's [ -w ] tests.
func syscallAccessW(path string) bool { return unix.Access(path, unix.W_OK) == nil }
