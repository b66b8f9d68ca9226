// Package stack starts the real test stack on loopback: a throw-away CA and
// server certificate, an MIT KDC, slapd, the OpenID provider (npm
// oidc-provider), and a Vault server with the project's substitute plugins,
// configured the way htvault-config configures a production server.
//
// One Start call brings everything up with all state in one temporary
// directory and every child process logging to its own file; Stop kills every
// child by process group. The integration tests start one stack per test
// package, and `make demo` runs one in the foreground.
package stack
