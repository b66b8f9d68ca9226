// Package krb turns a user's Kerberos credentials into an HTTP Negotiate
// (SPNEGO) header for a service principal, for htgettoken's Kerberos stage
// (POST <kerberos mount>/login with "Authorization: Negotiate ..."). It
// knows nothing about Vault. It is built on gokrb5 v8 and reads, but never
// writes, MIT credentials caches; it never asks for a password.
//
// # Credentials cache
//
// The cache is found as MIT's krb5_cc_default_name does: KRB5CCNAME if set
// and not empty, else [libdefaults] default_ccache_name from krb5.conf with
// the %{TEMP}, %{uid}, %{USERID}, %{euid}, %{username} and %{null} tokens
// expanded, else FILE:/tmp/krb5cc_<uid>. Supported types are FILE:<path>, a
// plain path, DIR:<directory> (the "primary" file names the cache, "tkt"
// when absent) and DIR::<file>. KEYRING, KCM, MEMORY, API and any other type
// give an *UnsupportedCCacheError (ErrUnsupportedCCache).
//
// With Options.Principal (htgettoken's --kerbprincipal, which htgettoken 2.x
// silently ignores) the cache of that principal is chosen in a DIR
// collection; any other cache must belong to it, else ErrPrincipalMismatch.
//
// # krb5.conf
//
// The files are Options.ConfigPath, else KRB5_CONFIG, else /etc/krb5.conf;
// a list "a:b" is merged as MIT does (the first file that sets a value wins,
// kdc lists are gathered from all). Files that are missing or unreadable are
// skipped, so no krb5.conf at all is fine. The files are parsed with MIT's
// syntax (include, includedir, subsections, quoted values, final markers,
// unknown sections) and only what gokrb5 needs is handed to it, which keeps
// gokrb5's stricter parser away from real-world files. A syntax error or an
// unusable value is a *ConfigError naming file and line on one line.
//
// As htgettoken does with its temporary krb5.conf, rdns is forced to false:
// the service principal is used exactly as given (host lower-cased), with no
// reverse or forward DNS canonicalisation. dns_lookup_kdc defaults to true
// as in MIT (gokrb5 defaults to false), and default_realm defaults to the
// realm of the cache's principal. So without any krb5.conf, a cache with a
// valid TGT works when the realm's KDCs are published as DNS SRV records
// (_kerberos._tcp.REALM), or when the cache already holds a ticket for the
// service; otherwise NegotiateHeader fails with ErrKDCUnreachable.
//
// Unlike htgettoken (which first tries without /etc/krb5.conf and retries
// with it), the system krb5.conf is read from the start: gokrb5 maps a
// service host to a realm only through [domain_realm] and otherwise uses the
// client's realm, so the "missing domain" problem that made htgettoken skip
// /etc/krb5.conf does not arise.
//
// # Errors
//
// ErrNoCredentials (no cache, or no TGT in it) is the case in which
// htgettoken silently moves on to the next method. Other errors match
// ErrTGTExpired, ErrCCacheUnreadable, ErrUnsupportedCCache,
// ErrPrincipalMismatch, ErrConfig, ErrKDCUnreachable, ErrKDCRefused or
// ErrInvalidServicePrincipal. Messages are one line and never contain
// ticket or key material.
package krb
