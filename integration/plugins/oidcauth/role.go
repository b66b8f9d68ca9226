package oidcauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/tokenutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// reservedMetadata are metadata keys claim_mappings may not target.
var reservedMetadata = []string{"role"}

// oauth2MetadataNames are the accepted oauth2_metadata entries.
var oauth2MetadataNames = []string{"id_token", "refresh_token", "access_token"}

// ignoredRoleFields are OpenBao jwt role fields this substitute accepts
// (so writes do not fail) but does not enforce; a write that sets one gets
// a warning.
var ignoredRoleFields = map[string]*framework.FieldSchema{
	"bound_audiences":                {Type: framework.TypeCommaStringSlice, Description: "Accepted, not enforced by this substitute."},
	"bound_subject":                  {Type: framework.TypeString, Description: "Accepted, not enforced by this substitute."},
	"bound_claims":                   {Type: framework.TypeMap, Description: "Accepted, not enforced by this substitute."},
	"bound_claims_type":              {Type: framework.TypeString, Description: "Accepted, not enforced by this substitute."},
	"expiration_leeway":              {Type: framework.TypeSignedDurationSecond, Description: "Accepted, not used by this substitute."},
	"not_before_leeway":              {Type: framework.TypeSignedDurationSecond, Description: "Accepted, not used by this substitute."},
	"clock_skew_leeway":              {Type: framework.TypeSignedDurationSecond, Description: "Accepted, not used by this substitute."},
	"max_age":                        {Type: framework.TypeDurationSecond, Description: "Accepted, not used by this substitute."},
	"token_policies_template_claims": {Type: framework.TypeBool, Description: "Accepted, not used by this substitute."},
}

// oidcRole is a stored role.
type oidcRole struct {
	tokenutil.TokenParams

	RoleType                string            `json:"role_type"`
	UserClaim               string            `json:"user_claim"`
	UserClaimJSONPointer    bool              `json:"user_claim_json_pointer"`
	GroupsClaim             string            `json:"groups_claim"`
	OIDCScopes              []string          `json:"oidc_scopes"`
	AllowedRedirectURIs     []string          `json:"allowed_redirect_uris"`
	CallbackMode            string            `json:"callback_mode"`
	PollInterval            int               `json:"poll_interval"`
	VerboseOIDCLogging      bool              `json:"verbose_oidc_logging"`
	OIDCDisableConfirmation bool              `json:"oidc_disable_confirmation"`
	ClaimMappings           map[string]string `json:"claim_mappings"`
	Oauth2Metadata          []string          `json:"oauth2_metadata"`

	// Deprecated names of token fields, kept as OpenBao keeps them.
	Policies   []string                      `json:"policies"`
	NumUses    int                           `json:"num_uses"`
	TTL        time.Duration                 `json:"ttl"`
	MaxTTL     time.Duration                 `json:"max_ttl"`
	Period     time.Duration                 `json:"period"`
	BoundCIDRs []*sockaddr.SockAddrMarshaler `json:"bound_cidrs"`
}

func pathRoleList(b *backend) *framework.Path {
	return &framework.Path{
		Pattern: "role/?",
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ListOperation: &framework.PathOperation{Callback: b.pathRoleList, Summary: "List the roles."},
		},
		HelpSynopsis: "List the roles.",
	}
}

func pathRole(b *backend) *framework.Path {
	fields := map[string]*framework.FieldSchema{
		"name":      {Type: framework.TypeLowerCaseString, Description: "Name of the role."},
		"role_type": {Type: framework.TypeString, Description: "Type of the role; only 'oidc' is served."},
		"policies": {Type: framework.TypeCommaStringSlice, Deprecated: true,
			Description: tokenutil.DeprecationText("token_policies")},
		"num_uses": {Type: framework.TypeInt, Deprecated: true,
			Description: tokenutil.DeprecationText("token_num_uses")},
		"ttl": {Type: framework.TypeDurationSecond, Deprecated: true,
			Description: tokenutil.DeprecationText("token_ttl")},
		"max_ttl": {Type: framework.TypeDurationSecond, Deprecated: true,
			Description: tokenutil.DeprecationText("token_max_ttl")},
		"period": {Type: framework.TypeDurationSecond, Deprecated: true,
			Description: tokenutil.DeprecationText("token_period")},
		"bound_cidrs": {Type: framework.TypeCommaStringSlice, Deprecated: true,
			Description: tokenutil.DeprecationText("token_bound_cidrs")},
		"user_claim": {Type: framework.TypeString,
			Description: "The claim whose value is the entity alias name."},
		"user_claim_json_pointer": {Type: framework.TypeBool,
			Description: "Interpret user_claim as a JSON pointer."},
		"groups_claim": {Type: framework.TypeString,
			Description: "The claim holding group alias names."},
		"oidc_scopes": {Type: framework.TypeCommaStringSlice,
			Description: "Scopes requested besides 'openid'."},
		"allowed_redirect_uris": {Type: framework.TypeCommaStringSlice,
			Description: "Allowed redirect_uri values (direct mode)."},
		"callback_mode": {Type: framework.TypeString, Default: callbackModeDevice,
			Description: "'device' (device flow, default here) or 'direct' (code flow to oidc/callback)."},
		"poll_interval": {Type: framework.TypeInt,
			Description: "Seconds between polls told to clients; default the IdP's interval, else 5."},
		"verbose_oidc_logging": {Type: framework.TypeBool,
			Description: "Log the names of received claims at debug level."},
		"oidc_disable_confirmation": {Type: framework.TypeBool,
			Description: "Skip the confirmation page in direct mode."},
		"claim_mappings": {Type: framework.TypeKVPairs,
			Description: "Claims (key) copied to metadata fields (value)."},
		"oauth2_metadata": {Type: framework.TypeCommaStringSlice,
			Description: "Any of access_token, id_token, refresh_token to return as oauth2_<name> token metadata."},
	}
	for k, v := range ignoredRoleFields {
		fields[k] = v
	}
	tokenutil.AddTokenFields(fields)
	return &framework.Path{
		Pattern:        "role/" + framework.GenericNameRegex("name"),
		Fields:         fields,
		ExistenceCheck: b.pathRoleExistenceCheck,
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation:   &framework.PathOperation{Callback: b.pathRoleRead, Summary: "Read a role."},
			logical.CreateOperation: &framework.PathOperation{Callback: b.pathRoleCreateUpdate, Summary: "Create a role."},
			logical.UpdateOperation: &framework.PathOperation{Callback: b.pathRoleCreateUpdate, Summary: "Update a role."},
			logical.DeleteOperation: &framework.PathOperation{Callback: b.pathRoleDelete, Summary: "Delete a role."},
		},
		HelpSynopsis: "Manage the roles logins are made against.",
	}
}

// role loads a role, applying the deprecated-field fallbacks.
func (b *backend) role(ctx context.Context, s logical.Storage, name string) (*oidcRole, error) {
	entry, err := s.Get(ctx, rolePrefix+name)
	if err != nil {
		return nil, fmt.Errorf("reading role: %w", err)
	}
	if entry == nil {
		return nil, nil
	}
	r := &oidcRole{}
	if err := entry.DecodeJSON(r); err != nil {
		return nil, fmt.Errorf("decoding role: %w", err)
	}
	if r.TokenTTL == 0 && r.TTL > 0 {
		r.TokenTTL = r.TTL
	}
	if r.TokenMaxTTL == 0 && r.MaxTTL > 0 {
		r.TokenMaxTTL = r.MaxTTL
	}
	if r.TokenPeriod == 0 && r.Period > 0 {
		r.TokenPeriod = r.Period
	}
	if r.TokenNumUses == 0 && r.NumUses > 0 {
		r.TokenNumUses = r.NumUses
	}
	if len(r.TokenPolicies) == 0 && len(r.Policies) > 0 {
		r.TokenPolicies = r.Policies
	}
	if len(r.TokenBoundCIDRs) == 0 && len(r.BoundCIDRs) > 0 {
		r.TokenBoundCIDRs = r.BoundCIDRs
	}
	if r.CallbackMode == "" {
		r.CallbackMode = callbackModeDevice
	}
	return r, nil
}

func (b *backend) pathRoleExistenceCheck(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	r, err := b.role(ctx, req.Storage, d.Get("name").(string))
	if err != nil {
		return false, err
	}
	return r != nil, nil
}

func (b *backend) pathRoleList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, rolePrefix)
	if err != nil {
		return nil, fmt.Errorf("listing roles: %w", err)
	}
	return logical.ListResponse(names), nil
}

func (b *backend) pathRoleRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if name == "" {
		return logical.ErrorResponse("missing name"), nil
	}
	r, err := b.role(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, nil
	}
	data := map[string]any{
		"role_type":                 r.RoleType,
		"user_claim":                r.UserClaim,
		"user_claim_json_pointer":   r.UserClaimJSONPointer,
		"groups_claim":              r.GroupsClaim,
		"oidc_scopes":               r.OIDCScopes,
		"allowed_redirect_uris":     r.AllowedRedirectURIs,
		"callback_mode":             r.CallbackMode,
		"verbose_oidc_logging":      r.VerboseOIDCLogging,
		"oidc_disable_confirmation": r.OIDCDisableConfirmation,
		"claim_mappings":            r.ClaimMappings,
		"oauth2_metadata":           r.Oauth2Metadata,
	}
	r.PopulateTokenData(data)
	if r.PollInterval > 0 {
		data["poll_interval"] = r.PollInterval
	}
	if len(r.Policies) > 0 {
		data["policies"] = data["token_policies"]
	}
	if len(r.BoundCIDRs) > 0 {
		data["bound_cidrs"] = data["token_bound_cidrs"]
	}
	if r.TTL > 0 {
		data["ttl"] = int64(r.TTL.Seconds())
	}
	if r.MaxTTL > 0 {
		data["max_ttl"] = int64(r.MaxTTL.Seconds())
	}
	if r.Period > 0 {
		data["period"] = int64(r.Period.Seconds())
	}
	if r.NumUses > 0 {
		data["num_uses"] = r.NumUses
	}
	return &logical.Response{Data: data}, nil
}

func (b *backend) pathRoleDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if name == "" {
		return logical.ErrorResponse("role name required"), nil
	}
	if err := req.Storage.Delete(ctx, rolePrefix+name); err != nil {
		return nil, fmt.Errorf("deleting role: %w", err)
	}
	return nil, nil
}

// pathRoleCreateUpdate creates a role or merges the given fields into an
// existing one, with OpenBao's validation and error strings.
func (b *backend) pathRoleCreateUpdate(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	if name == "" {
		return logical.ErrorResponse("missing role name"), nil
	}
	r, err := b.role(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		if req.Operation == logical.UpdateOperation {
			return nil, errors.New("role entry not found during update operation")
		}
		r = &oidcRole{}
	}

	roleType := d.Get("role_type").(string)
	if roleType == "" {
		roleType = "oidc"
	}
	if roleType != "oidc" {
		return logical.ErrorResponse("invalid 'role_type': %s", roleType), nil
	}
	r.RoleType = roleType

	if err := r.ParseTokenFields(req, d); err != nil {
		return logical.ErrorResponse(err.Error()), logical.ErrInvalidRequest
	}
	for _, up := range []struct {
		old, new   string
		oldV, newV any
	}{
		{"policies", "token_policies", &r.Policies, &r.TokenPolicies},
		{"bound_cidrs", "token_bound_cidrs", &r.BoundCIDRs, &r.TokenBoundCIDRs},
		{"num_uses", "token_num_uses", &r.NumUses, &r.TokenNumUses},
		{"ttl", "token_ttl", &r.TTL, &r.TokenTTL},
		{"max_ttl", "token_max_ttl", &r.MaxTTL, &r.TokenMaxTTL},
		{"period", "token_period", &r.Period, &r.TokenPeriod},
	} {
		if err := tokenutil.UpgradeValue(d, up.old, up.new, up.oldV, up.newV); err != nil {
			return logical.ErrorResponse(err.Error()), nil
		}
	}
	if r.TokenPeriod > b.System().MaxLeaseTTL() {
		return logical.ErrorResponse("'period' of '%q' is greater than the backend's maximum lease TTL of '%q'",
			r.TokenPeriod.String(), b.System().MaxLeaseTTL().String()), nil
	}

	resp := &logical.Response{}
	var ignored []string
	for k := range ignoredRoleFields {
		if _, ok := d.GetOk(k); ok {
			ignored = append(ignored, k)
		}
	}
	if len(ignored) > 0 {
		slices.Sort(ignored)
		resp.AddWarning(fmt.Sprintf("the gettoken substitute oidc plugin accepts but does not enforce: %v", ignored))
	}

	if v, ok := d.GetOk("verbose_oidc_logging"); ok {
		r.VerboseOIDCLogging = v.(bool)
	}
	if v, ok := d.GetOk("oidc_disable_confirmation"); ok {
		r.OIDCDisableConfirmation = v.(bool)
	}
	if v, ok := d.GetOk("claim_mappings"); ok {
		mappings := v.(map[string]string)
		targets := map[string]bool{}
		for _, key := range mappings {
			if slices.Contains(reservedMetadata, key) {
				return logical.ErrorResponse("metadata key %q is reserved and may not be a mapping destination", key), nil
			}
			if targets[key] {
				return logical.ErrorResponse("multiple keys are mapped to metadata key %q", key), nil
			}
			targets[key] = true
		}
		r.ClaimMappings = mappings
	}
	if v, ok := d.GetOk("oauth2_metadata"); ok {
		names := v.([]string)
		for _, n := range names {
			if !slices.Contains(oauth2MetadataNames, n) {
				return logical.ErrorResponse("Unrecognized oauth2 metadata name " + n), nil
			}
		}
		r.Oauth2Metadata = names
	}
	if v, ok := d.GetOk("user_claim"); ok {
		r.UserClaim = v.(string)
	}
	if r.UserClaim == "" {
		return logical.ErrorResponse("a user claim must be defined on the role"), nil
	}
	if v, ok := d.GetOk("user_claim_json_pointer"); ok {
		r.UserClaimJSONPointer = v.(bool)
	}
	if v, ok := d.GetOk("groups_claim"); ok {
		r.GroupsClaim = v.(string)
	}
	if v, ok := d.GetOk("oidc_scopes"); ok {
		r.OIDCScopes = v.([]string)
	}
	if v, ok := d.GetOk("allowed_redirect_uris"); ok {
		r.AllowedRedirectURIs = v.([]string)
	}
	if v, ok := d.GetOk("poll_interval"); ok {
		r.PollInterval = v.(int)
	}
	if r.PollInterval < 0 {
		return logical.ErrorResponse("'poll_interval' cannot be negative"), nil
	}

	mode := r.CallbackMode
	if v, ok := d.GetOk("callback_mode"); ok {
		mode = v.(string)
	} else if mode == "" {
		mode = callbackModeDevice
	}
	switch mode {
	case callbackModeDevice, callbackModeDirect:
		r.CallbackMode = mode
	default:
		return logical.ErrorResponse("invalid 'callback_mode': %s", mode), nil
	}

	if len(r.AllowedRedirectURIs) == 0 {
		return logical.ErrorResponse("'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified."), nil
	}
	if r.TokenMaxTTL > 0 && r.TokenTTL > r.TokenMaxTTL {
		return logical.ErrorResponse("ttl should not be greater than max ttl"), nil
	}
	if r.TokenMaxTTL > b.System().MaxLeaseTTL() {
		resp.AddWarning("token max ttl is greater than the system or backend mount's maximum TTL value; issued tokens' max TTL value will be truncated")
	}
	if r.VerboseOIDCLogging {
		resp.AddWarning("verbose_oidc_logging has been enabled for this role. " +
			"This substitute logs only claim names, never tokens or claim values.")
	}

	entry, err := logical.StorageEntryJSON(rolePrefix+name, r)
	if err != nil {
		return nil, fmt.Errorf("encoding role: %w", err)
	}
	if err := req.Storage.Put(ctx, entry); err != nil {
		return nil, fmt.Errorf("storing role: %w", err)
	}
	if len(resp.Warnings) == 0 {
		return nil, nil
	}
	return resp, nil
}
