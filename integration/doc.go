// Package integration holds the real test stack (MIT KDC, slapd, an OpenID
// provider, a Vault server built from source and two project-written Vault
// plugins) and the end-to-end tests that run gettoken's programs against it.
//
// It is a Go module of its own so that Vault's SDK and every other heavy
// dependency stay out of the gettoken module's go.mod.
package integration
