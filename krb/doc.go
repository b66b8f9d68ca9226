// Package krb turns a user's Kerberos credentials into an HTTP Negotiate
// (SPNEGO) header for a service principal. It finds the credential cache the
// way MIT Kerberos does (KRB5CCNAME, then krb5.conf's default_ccache_name),
// reads krb5.conf with the quirks htgettoken relies on (rdns = false), and
// knows nothing about Vault.
package krb
