// Package oauthapp is a small stand-in for the oauthapp Vault secrets plugin
// (puppetlabs/vault-plugin-secrets-oauthapp 3.x and its OpenBao fork), which
// htvault-config mounts at secret/oauth under the catalog name "oauth".
//
// The real plugin cannot be obtained from the Go module proxy, so this
// package reimplements the part that htgettoken, condor_vault_storer and the
// HTCondor Vault credmon use, with the same framework field types so that
// Vault parses requests and warns about unknown parameters exactly as it does
// for the real plugin:
//
//   - config (read, update, delete): default_server and the tune_* options;
//     an update replaces the whole configuration.
//   - servers/ (list) and servers/<name> (read, update, delete): OIDC
//     discovery at write time; a read never returns client secrets.
//   - creds/<name> (read, update, delete): an update redeems the refresh
//     token (or authorization code) at once and stores the access token,
//     its expiry and the rotated refresh token; a read returns the cached
//     access token unless it expires within minimum_seconds (floor 10 s), in
//     which case it refreshes first.
//   - sts/<name> (read): RFC 8693 exchange of the creds access token, cached
//     per (scopes, audiences, resources) while valid for minimum_seconds.
//
// Credential names match (?:[^:]|:[^/])+, so "<issuer>/<credkey>:<role>"
// with slashes in the credkey is one name.
//
// Like the real plugin, a read whose token is still inside the
// minimum_seconds window after a refresh (because the provider issues
// shorter-lived tokens) answers 400 "token expired"; a refresh the provider
// rejects is reported as "refresh failed: ..." on that and later reads.
//
// Deviations from oauthapp:
//
//   - Only the "oidc" provider exists; every other provider name is refused
//     with `provider "x" does not exist`. provider_options other than
//     issuer_url (extra_data_fields, nonce, ...) are stored and echoed but
//     have no effect, so extra_data is never returned.
//   - Grant types: refresh_token and authorization_code only. The device
//     code grant, auth-code-url, self/ and config/self are not served.
//   - No background refresher and no reaper: the tune_* options are
//     validated, stored and read back like the real plugin's, but only
//     tune_provider_timeout_seconds has an effect (timeout of each provider
//     call; 0 means the 30 s default, never "no timeout"). The expiry
//     leeway factor is not applied.
//   - Token-exchange client authentication: HTTP Basic when the provider
//     lists client_secret_basic (or lists nothing and a secret is set),
//     otherwise client_secret_post; the real plugin auto-detects with
//     golang.org/x/oauth2 when nothing is listed.
//   - client_secrets are tried in order only after an invalid_client (or
//     HTTP 401) answer.
//   - sts refreshes the subject access token when it expires within the
//     requested minimum_seconds (the real plugin uses its 10 s default),
//     so that an exchanged token can live as long as the caller asked.
//   - Credentials are stored under creds/<sha256 of name> (the real plugin
//     uses sha1 buckets), the sts cache under sts/<sha256 of name>; server
//     names are stored verbatim, so listing a name containing "/" shows only
//     its first segment.
//   - Error texts for cases that htgettoken and the credmon never parse
//     (discovery failures, transport errors) are this package's own.
package oauthapp
