// Package vaultcred is the htgettoken flow as a library: it turns an Options
// value (the parsed gettoken command line, or what the HTCondor credential
// storer builds for one service) into a Vault token, a bearer token and the
// Vault URL the bearer token was read from.
//
// It authenticates to Vault with an existing vault token, Kerberos, an
// ssh-agent key or the OIDC device flow, exchanges long-lived vault tokens for
// shorter ones, stores refresh tokens, and reads access tokens from the
// oauthapp secrets engine (creds or sts paths). It never prints to the
// terminal on its own or exits the process: callers decide what a user sees
// and which exit code an error maps to. The HTTP client, clock, terminal and
// browser opener are injected.
//
// # Start here
//
// A run is NewOptions, then the caller's settings (package optparse fills
// them from an htgettoken command line), then [Options.Derive], which
// checks them and works out the defaults that depend on the environment
// (file names, CA locations, whether OIDC can run), then [Get]. Get (in
// flow.go) first checks --reuse-bearer's local token, then (steps.go)
// tries the ways to a vault token in htgettoken's order, each in a file of
// its own: the vault token file (existingToken), Kerberos
// (kerberos.go), the ssh-agent (ssh.go) and the OIDC device flow
// (oidc.go); the first one whose vault token yields a bearer token ends the
// run. Every Vault request goes through one vault/api client (vault.go)
// over one HTTP client (transport.go: TLS verified against the host
// dialled, htgettoken's timeouts and DNS round robin, no proxy). Messages
// go through a [Logger] that renders htgettoken's default, -v, -d and -q
// modes. Errors: *FlowError for fatal flow errors (its text is
// htgettoken's message), *OptionError for bad options, *HTTPError and
// *ConnectionError for Vault's answers and unreachable servers.
//
// # The front end build
//
// Built with the tag gettoken_front, the package leaves out everything
// that talks to Vault, a KDC, an ssh-agent or a browser, and the HTTP
// transport (steps.go, vault.go, kerberos.go, ssh.go, oidc.go, qr.go,
// transport.go; optparse leaves out its -s fetch the same way), so that a program
// linking it starts as fast as a minimal Go program; Get then returns
// ErrHandOff whenever the local reuse check does not finish the run
// (front.go). Only gettoken's installed front end uses that build.
package vaultcred
