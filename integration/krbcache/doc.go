// Package krbcache proves that gettoken, condor_vault_storer and
// cred_producer_krb use the Kerberos credentials caches EL8/EL9 users
// have: MIT kinit, run as the (unprivileged) user, fills a DIR collection,
// KEYRING:persistent:<uid>, KEYRING:user:<name>, or KCM: served by a real
// Heimdal kcm and a real sssd_kcm; the commands then renew an expired
// vault token through Vault's kerberos auth with no browser, pick the
// --kerbprincipal member of a collection, and explain an empty cache or a
// missing principal in one line.
//
// The KCM daemons run as root in private mount namespaces (Heimdal's kcm
// ignores --socket-path): a scratch directory is bind-mounted over /run
// (and, for SSSD, over its database, secrets and log directories), so the
// socket appears in the scratch directory, which clients name in
// krb5.conf's kcm_socket, and the host's real KCM socket is never touched.
package krbcache
