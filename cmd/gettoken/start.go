//go:build !gettoken_front

package main

import (
	"context"
	"os"

	"github.com/vaultcred/gettoken/vaultcred"
)

// gettokenMain runs gettoken in the process environment and returns the exit
// status. This is the full program: every flow is in it.
func gettokenMain() int {
	env := vaultcred.SystemEnviron()
	if testOnlyEnviron != nil {
		testOnlyEnviron(&env)
	}
	return runMain(context.Background(), invocation{
		args:   os.Args,
		stdout: os.Stdout,
		stderr: os.Stderr,
		env:    env,
		width:  helpWidth(env),
	})
}
