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
package vaultcred
