// Command minimal is the yardstick of gettoken's start-up cost in the
// client benchmark: the smallest Go program that links net/http (as every
// HTTPS client does) and prints one line, built with the same flags as the
// project's binaries. gettoken --version and gettoken --reuse-bearer are
// measured against it.
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	// Touch net/http so that it is linked and initialised for certain.
	if http.DefaultClient == nil {
		os.Exit(1)
	}
	fmt.Println("minimal 2.6")
}
