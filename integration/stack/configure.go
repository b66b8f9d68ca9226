package stack

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	vaultapi "github.com/hashicorp/vault/api"
)

// Issuer is one issuer as htvault-config's config.d YAML describes it: an
// OpenID provider client, the claim that names a user's credential, and
// the roles with their scopes.
type Issuer struct {
	Name         string // e.g. "default", "cilogon": mount and path component
	URL          string // OIDC issuer (discovery) URL
	ClientID     string
	ClientSecret string
	CredClaim    string // e.g. "wlcg.credkey"
	Roles        []Role
	// CallbackMode is the oidc roles' callback_mode: "device" (default) or "direct".
	CallbackMode string
}

// Role is one role of an issuer.
type Role struct {
	Name   string   // "default", "readonly"
	Scopes []string // oidc_scopes (openid is added by the plugin)
}

// ConfigureOptions are the inputs of Configure that do not come from the
// issuers: the Kerberos keytab and service account, the LDAP server, the
// device-flow poll interval and the address clients use.
type ConfigureOptions struct {
	Keytab         string // path of the keytab with the service principal(s)
	ServiceAccount string // e.g. "host/localhost"
	LDAPURL        string
	PolicyDomain   string // Kerberos realm accepted in policy paths, e.g. TEST.REALM
	PollInterval   int    // oidc role poll_interval in seconds (htvault-config: 3)
	ServiceAddr    string // https://localhost:<port>, for allowed_redirect_uris
	// NoPACMount, when set, also mounts kerberos-<issuer>_<role> under this
	// name for the first issuer and role with NoPACServiceAccount: the
	// negative test's mount whose service ticket carries an MIT PAC.
	NoPACMount          string
	NoPACServiceAccount string
}

// tokenopsPolicy is htvault-config's global tokenops policy.
const tokenopsPolicy = `path "auth/token/create" {
  capabilities = ["update"]
}
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
`

// oidcPolicy follows htvault-config's oidcpolicy.template: a user may store
// a refresh token (only for this issuer's server) and read, list and delete
// their own credentials, and read their own sts tokens.
func oidcPolicy(issuer, role, accessor string) string {
	who := "{{identity.entity.aliases." + accessor + ".name}}"
	var b strings.Builder
	for _, suffix := range []string{":" + role, ":" + role + "/*"} {
		fmt.Fprintf(&b, `path "secret/oauth/creds/%[1]s/%[2]s%[3]s" {
  capabilities = ["update", "list", "read", "delete"]
  allowed_parameters = {
    "server" = ["%[1]s"]
    "*" = []
  }
}
path "secret/oauth/sts/%[1]s/%[2]s%[3]s" {
  capabilities = ["list", "read"]
}
`, issuer, who, suffix)
	}
	return b.String()
}

// kerberosPolicy follows htvault-config's kerberos policy template: read
// only (no update, so no refresh token can be stored with it), with and
// without the realm in the credkey.
func kerberosPolicy(issuer, role, accessor, domain string) string {
	who := "{{identity.entity.aliases." + accessor + ".name}}"
	var b strings.Builder
	for _, name := range []string{who + "@" + domain, who} {
		fmt.Fprintf(&b, `path "secret/oauth/creds/%[1]s/%[2]s:%[3]s" {
  capabilities = ["list", "read", "delete"]
}
path "secret/oauth/sts/%[1]s/%[2]s:%[3]s" {
  capabilities = ["list", "read"]
}
`, issuer, name, role)
	}
	return b.String()
}

// Configure applies the configuration htvault-config's config.sh applies,
// through Vault's HTTP API with the root token: the oauth secrets mount and
// its config, tokenops, and per issuer the oidc auth mount, config and
// roles, a kerberos auth mount per role, the templated policies, and the
// secrets engine's server entry (which performs OIDC discovery, so the IdP
// must be up).
func Configure(ctx context.Context, c *vaultapi.Client, issuers []Issuer, o ConfigureOptions) error {
	sys := c.Sys()
	if err := sys.MountWithContext(ctx, "secret/oauth", &vaultapi.MountInput{Type: "oauth"}); err != nil {
		return fmt.Errorf("mount secret/oauth: %w", err)
	}
	if _, err := c.Logical().WriteWithContext(ctx, "secret/oauth/config", map[string]any{
		"tune_refresh_check_interval_seconds": 0,
		"default_server":                      "legacy",
	}); err != nil {
		return fmt.Errorf("secret/oauth/config: %w", err)
	}
	if err := sys.PutPolicyWithContext(ctx, "tokenops", tokenopsPolicy); err != nil {
		return fmt.Errorf("policy tokenops: %w", err)
	}
	keytab, err := os.ReadFile(o.Keytab)
	if err != nil {
		return fmt.Errorf("keytab: %w", err)
	}
	pollInterval := o.PollInterval
	if pollInterval == 0 {
		pollInterval = 3
	}
	for i, iss := range issuers {
		oidcMount := "oidc-" + iss.Name
		if err := sys.EnableAuthWithOptionsWithContext(ctx, oidcMount, &vaultapi.EnableAuthOptions{Type: "oidc"}); err != nil {
			return fmt.Errorf("enable auth %s: %w", oidcMount, err)
		}
		if _, err := c.Logical().WriteWithContext(ctx, "auth/"+oidcMount+"/config", map[string]any{
			"default_role":       "default",
			"oidc_discovery_url": iss.URL,
			"oidc_client_id":     iss.ClientID,
			"oidc_client_secret": iss.ClientSecret,
		}); err != nil {
			return fmt.Errorf("%s config: %w", oidcMount, err)
		}
		oidcAcc, err := mountAccessor(ctx, c, oidcMount)
		if err != nil {
			return err
		}
		mode := iss.CallbackMode
		if mode == "" {
			mode = "device"
		}
		for j, r := range iss.Roles {
			policy := "oidc-" + iss.Name + "_" + r.Name
			if err := sys.PutPolicyWithContext(ctx, policy, oidcPolicy(iss.Name, r.Name, oidcAcc)); err != nil {
				return fmt.Errorf("policy %s: %w", policy, err)
			}
			if _, err := c.Logical().WriteWithContext(ctx, "auth/"+oidcMount+"/role/"+r.Name, map[string]any{
				"role_type":               "oidc",
				"user_claim":              iss.CredClaim,
				"groups_claim":            "",
				"oidc_scopes":             strings.Join(r.Scopes, ","),
				"token_no_default_policy": true,
				"policies":                policy + ",tokenops",
				"callback_mode":           mode,
				"poll_interval":           pollInterval,
				"allowed_redirect_uris":   o.ServiceAddr + "/v1/auth/" + oidcMount + "/oidc/callback",
				"verbose_oidc_logging":    true,
				"claim_mappings":          map[string]string{iss.CredClaim: "credkey"},
				"oauth2_metadata":         []string{"refresh_token"},
			}); err != nil {
				return fmt.Errorf("%s role %s: %w", oidcMount, r.Name, err)
			}
			krbMount := "kerberos-" + iss.Name + "_" + r.Name
			if err := enableKerberos(ctx, c, krbMount, keytab, o.ServiceAccount, o, iss.Name, r.Name); err != nil {
				return err
			}
			if i == 0 && j == 0 && o.NoPACMount != "" {
				if err := enableKerberos(ctx, c, o.NoPACMount, keytab, o.NoPACServiceAccount, o, iss.Name, r.Name); err != nil {
					return err
				}
			}
		}
		if _, err := c.Logical().WriteWithContext(ctx, "secret/oauth/servers/"+iss.Name, map[string]any{
			"provider":         "oidc",
			"provider_options": map[string]string{"issuer_url": iss.URL},
			"client_id":        iss.ClientID,
			"client_secret":    iss.ClientSecret,
		}); err != nil {
			return fmt.Errorf("secret/oauth/servers/%s: %w", iss.Name, err)
		}
	}
	return nil
}

func enableKerberos(ctx context.Context, c *vaultapi.Client, mount string, keytab []byte, account string, o ConfigureOptions, issuer, role string) error {
	if err := c.Sys().EnableAuthWithOptionsWithContext(ctx, mount, &vaultapi.EnableAuthOptions{
		Type: "kerberos",
		Config: vaultapi.AuthConfigInput{
			PassthroughRequestHeaders: []string{"Authorization"},
			AllowedResponseHeaders:    []string{"www-authenticate"},
		},
	}); err != nil {
		return fmt.Errorf("enable auth %s: %w", mount, err)
	}
	if _, err := c.Logical().WriteWithContext(ctx, "auth/"+mount+"/config", map[string]any{
		"keytab":          base64.StdEncoding.EncodeToString(keytab),
		"service_account": account,
	}); err != nil {
		return fmt.Errorf("%s config: %w", mount, err)
	}
	// The policy is named after the mount: kerberos-<issuer>_<role> for
	// htvault-config's mounts, and the extra negative-test mount gets its
	// own, since the alias template names the mount's accessor.
	policy := mount
	if _, err := c.Logical().WriteWithContext(ctx, "auth/"+mount+"/config/ldap", map[string]any{
		"url":                     o.LDAPURL,
		"userdn":                  "ou=users," + LDAPSuffix,
		"userattr":                "uid",
		"token_no_default_policy": true,
		"token_policies":          policy + ",tokenops",
	}); err != nil {
		return fmt.Errorf("%s config/ldap: %w", mount, err)
	}
	acc, err := mountAccessor(ctx, c, mount)
	if err != nil {
		return err
	}
	if err := c.Sys().PutPolicyWithContext(ctx, policy, kerberosPolicy(issuer, role, acc, o.PolicyDomain)); err != nil {
		return fmt.Errorf("policy %s: %w", policy, err)
	}
	return nil
}

func mountAccessor(ctx context.Context, c *vaultapi.Client, mount string) (string, error) {
	auths, err := c.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return "", fmt.Errorf("list auth mounts: %w", err)
	}
	m, ok := auths[mount+"/"]
	if !ok {
		return "", fmt.Errorf("auth mount %s not found", mount)
	}
	return m.Accessor, nil
}
