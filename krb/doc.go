// Package krb turns a user's Kerberos credentials into an HTTP Negotiate
// (SPNEGO) header for a service principal, for htgettoken's Kerberos stage
// (POST <kerberos mount>/login with "Authorization: Negotiate ..."), and
// reads and writes MIT credentials caches of every type Linux users have.
// It knows nothing about Vault. It is built on gokrb5 v8, is pure Go (no
// libkrb5, no cgo) and never asks for a password.
//
// # Credentials cache
//
// The cache is found as MIT's krb5_cc_default_name does: KRB5CCNAME if set
// and not empty, else [libdefaults] default_ccache_name from krb5.conf with
// the %{TEMP}, %{uid}, %{USERID}, %{euid}, %{username} and %{null} tokens
// expanded, else FILE:/tmp/krb5cc_<uid>. Supported types:
//
//   - FILE:<path> or a plain path (format versions 3 and 4);
//   - DIR:<directory>, a collection whose "primary" file names the primary
//     cache ("tkt" when absent), and DIR::<file>, one member;
//   - KEYRING:persistent:<uid> (EL8/EL9's default), KEYRING:user:<name>,
//     KEYRING:session:<name> and legacy KEYRING:<name>, collections in
//     MIT's kernel keyring layout, with :<subsidiary> naming one cache;
//   - KCM: (the server's collection, default cache first) and KCM:<name>,
//     over the Unix socket of krb5.conf's kcm_socket (DefaultKCMSocket
//     when unset), against Heimdal's kcm or sssd_kcm.
//
// KEYRING:process and KEYRING:thread caches are private to the process
// that made them and give an ErrUnsupportedCCache error, as do MEMORY,
// API and other types (*UnsupportedCCacheError).
//
// With Options.Principal (htgettoken's --kerbprincipal, which htgettoken 2.x
// silently ignores) the first cache of a collection, primary first, whose
// default principal is that one is chosen; a cache named on its own must
// belong to it, else ErrPrincipalMismatch.
//
// # Reading and writing caches
//
// Cache is the one interface over all types: Open (a name, or the default
// name, with collections standing for their primary cache) and
// OpenCollection (all caches of a collection) return Caches, which Read
// into Contents (principal, KDC offset, credentials including
// configuration entries) and, for the Kerberos credmon, Initialize, Store
// and Replace; SetPrimary switches a collection's primary cache and
// NewKCMCache makes a new KCM cache. Contents.MarshalFile and DecodeFile
// convert to and from the version 4 FILE format, which KEYRING payloads and
// KCM messages share (DecodePrincipal, DecodeCredential). Every decoder is
// bounds-checked: bad input gives an error, never a panic or a large
// allocation.
//
// Each KEYRING operation runs on an OS thread of its own that exits
// afterwards: the kernel keeps possession per thread, and the operation
// links what it finds into that thread's keyring only, so nothing is
// created by a read and nothing lingers. A KEYRING cache disappears when
// its TGT's end time passes (the kernel expires the keys), renewable or
// not. Root writing a user's KEYRING:persistent:<uid> collection gives the
// new keys to that uid.
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
