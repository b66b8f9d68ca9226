// Package oidcauth is gettoken's test substitute for the `oidc` auth method
// that htvault-config configures: OpenBao's builtin jwt/oidc plugin with
// Dave Dykstra's device flow, direct callback mode and oauth2_metadata.
// That plugin cannot be built here, so this is the smallest faithful
// stand-in, written with github.com/hashicorp/vault/sdk v0.20.0 and loaded
// by a real Vault 1.21.0 as the external auth plugin `oidc`
// (cmd/vault-plugin-auth-oidc), mounted at auth/oidc-<issuer>.
//
// Paths (names, field types and error strings follow OpenBao):
//
//   - config (read, update): oidc_discovery_url, oidc_discovery_ca_pem,
//     oidc_client_id, oidc_client_secret (never returned), default_role.
//     Discovery (github.com/coreos/go-oidc/v3, issuer must match) runs at
//     write time; failure is 400 "error checking oidc discovery URL". The
//     discovered endpoints are cached in memory and discovered again lazily
//     after a plugin restart.
//   - role/<name> (create, read, update, delete) and role/ (list): the
//     fields of htvault-config's roles plus the sdk tokenutil token fields
//     and their deprecated names (policies, ttl, …).
//   - oidc/auth_url, oidc/poll, oidc/callback (unauthenticated): the
//     device-flow and direct-callback protocol. Pending logins live in
//     process memory (as in OpenBao); configuration and roles in
//     logical.Storage.
//
// Device mode: auth_url POSTs client_id, client_secret and
// scope="openid <oidc_scopes…>" to the discovered
// device_authorization_endpoint and answers auth_url (the
// verification_uri_complete, else verification_uri plus user_code), state
// and poll_interval (a string: the role's, else the IdP's interval, else
// "5"). poll redeems the device code once per call at the token endpoint
// (client_secret_post); authorization_pending and slow_down come back as
// 400 errors with exactly that text and keep the state; any other outcome
// ends it. The ID token's claims are read without a signature check (it
// came straight from the token endpoint) and merged with userinfo.
//
// Direct mode: auth_url returns the IdP authorization URL (code flow, PKCE
// S256, nonce; redirect_uri must be allowed by the role), the browser comes
// back to oidc/callback, which exchanges the code, verifies the ID token
// (JWKS signature, issuer, audience, expiry, nonce), parks the login in the
// state and answers a small HTML page; poll answers authorization_pending
// until then and hands the login out once.
//
// A successful login is a logical.Auth with Alias{Name: claim[user_claim],
// Metadata: {role, <claim_mappings targets>}}, Metadata = alias metadata +
// oauth2_<name> for each oauth2_metadata entry, the role's policies and
// token settings, Renewable true and DisplayName = the alias name. Tokens
// are never logged; verbose_oidc_logging logs claim names only.
//
// # Deviations from OpenBao's plugin
//
//   - Only OIDC discovery configuration: jwks_url, jwt_validation_pubkeys,
//     provider_config, oidc_response_mode/types, bound_issuer,
//     namespace_in_state and override_allowed_server_names are not fields
//     (Vault ignores them with a warning); config read has no `status`.
//   - Only role_type `oidc` and callback modes `device` and `direct`;
//     `callback_mode` defaults to `device` (OpenBao: `client`). The `login`
//     (JWT) path, client callback mode, form_post callbacks and the legacy
//     oidc/device_wait are not served.
//   - bound_audiences, bound_subject, bound_claims, bound_claims_type, the
//     *_leeway fields, max_age and token_policies_template_claims are
//     accepted but not enforced; a write that sets any of them gets a
//     warning naming them. An update keeps the stored callback_mode when the
//     field is omitted (OpenBao resets it to its default).
//   - A state lives for the device code's expires_in (10 minutes when absent
//     and in direct mode; OpenBao: always 10 minutes); at most 10000 pending
//     logins are kept (auth_url then answers an empty auth_url). Concurrent
//     polls of one state are serialised.
//   - Transport failures and non-200/400 answers of the IdP are returned as
//     errors (Vault: 500) naming the endpoint, HTTP status and OAuth error
//     code, never the body. OpenBao swallows transport errors and quotes
//     the body.
//   - The direct-mode code exchange always authenticates with
//     client_secret_post (OpenBao, through golang.org/x/oauth2, auto-detects
//     basic or post); the device flow posts the secret as OpenBao does.
//   - No provider-specific group or userinfo fetching (Azure, GSuite …);
//     groups_claim is read from the merged claims only.
//   - The HTML pages are project-written and minimal; the direct-mode
//     confirmation page (unless oidc_disable_confirmation) is a GET form
//     back to oidc/callback adding confirmation=yes. The token bound-CIDR
//     check OpenBao makes on the browser's callback request is left to
//     Vault's token store.
package oidcauth
