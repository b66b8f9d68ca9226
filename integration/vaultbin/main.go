// Command vault is the HashiCorp Vault server and CLI, built from the
// github.com/hashicorp/vault module at the version pinned in go.mod.
//
// It lives in a module of its own so that the server's very large dependency
// graph never touches the gettoken module or the integration test module, and
// so that the project's own github.com/hashicorp/vault/api version can move
// without changing what the server is built from. The integration harness
// builds it once into a cache directory keyed by this module's go.sum.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() { os.Exit(command.Run(os.Args[1:])) }
