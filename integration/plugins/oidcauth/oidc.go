package oidcauth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// RFC 6749 §4.1.2.1 error codes reported verbatim by oidc/callback.
var knownAuthzErrors = []string{
	"invalid_request", "unauthorized_client", "access_denied",
	"unsupported_response_type", "invalid_scope", "server_error",
	"temporarily_unavailable",
}

func pathOIDC(b *backend) []*framework.Path {
	return []*framework.Path{
		{
			Pattern: `oidc/auth_url`,
			Fields: map[string]*framework.FieldSchema{
				"role": {Type: framework.TypeLowerCaseString,
					Description: "The role to log in with (default: the config's default_role)."},
				"redirect_uri": {Type: framework.TypeString,
					Description: "The redirect_uri for direct mode; ignored in device mode."},
				"client_nonce": {Type: framework.TypeString,
					Description: "Client-chosen nonce that oidc/poll must repeat."},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: b.pathAuthURL,
					Summary: "Start a login and return the URL the user must visit."},
			},
			HelpSynopsis: "Start an OIDC login.",
		},
		{
			Pattern: `oidc/poll`,
			Fields: map[string]*framework.FieldSchema{
				"state":        {Type: framework.TypeString, Description: "The state from oidc/auth_url."},
				"client_nonce": {Type: framework.TypeString, Description: "The client_nonce given to oidc/auth_url."},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: b.pathPoll,
					Summary: "Poll for the result of a login."},
			},
			HelpSynopsis: "Finish an OIDC login.",
		},
		{
			Pattern: `oidc/callback`,
			Fields: map[string]*framework.FieldSchema{
				"state":             {Type: framework.TypeString, Query: true},
				"code":              {Type: framework.TypeString, Query: true},
				"client_nonce":      {Type: framework.TypeString, Query: true},
				"error":             {Type: framework.TypeString, Query: true},
				"error_description": {Type: framework.TypeString, Query: true},
				"error_uri":         {Type: framework.TypeString, Query: true},
				"confirmation":      {Type: framework.TypeString, Query: true},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathCallback,
					Summary: "Browser redirect target of a direct-mode login."},
			},
			HelpSynopsis: "Complete a direct-mode OIDC login.",
		},
	}
}

// pathAuthURL starts a login. As in OpenBao, invalid redirect URIs and
// state-table trouble yield an empty auth_url rather than an error.
func (b *backend) pathAuthURL(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	resp := &logical.Response{Data: map[string]any{"auth_url": ""}}

	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return logical.ErrorResponse("could not load configuration"), nil
	}
	if cfg.OIDCClientID == "" {
		return logical.ErrorResponse(errNotOIDCFlow), nil
	}
	roleName := d.Get("role").(string)
	if roleName == "" {
		roleName = cfg.DefaultRole
	}
	if roleName == "" {
		return logical.ErrorResponse("missing role"), nil
	}
	role, err := b.role(ctx, req.Storage, roleName)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return logical.ErrorResponse("role %q could not be found", roleName), nil
	}
	clientNonce := d.Get("client_nonce").(string)
	if clientNonce == "" {
		return logical.ErrorResponse("missing client_nonce"), nil
	}
	var requesterIP string
	if req.Connection != nil {
		requesterIP = req.Connection.RemoteAddr
	}

	if role.CallbackMode == callbackModeDevice {
		idp, err := b.provider(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("error authorizing device: %w", err)
		}
		da, err := idp.startDevice(ctx, append([]string{"openid"}, role.OIDCScopes...))
		if err != nil {
			return nil, fmt.Errorf("error authorizing device: %w", err)
		}
		ttl := defaultStateTTL
		if da.ExpiresIn > 0 {
			ttl = time.Duration(da.ExpiresIn) * time.Second
		}
		st := &authState{roleName: roleName, clientNonce: clientNonce, deviceCode: da.DeviceCode,
			requesterIP: requesterIP, expires: b.now().Add(ttl)}
		if err := b.states.add(st); err != nil {
			b.Logger().Warn("error generating OAuth state", "error", err)
			return resp, nil
		}
		switch {
		case da.VerificationURIComplete != "":
			resp.Data["auth_url"] = da.VerificationURIComplete
		case da.VerificationURLComplete != "":
			resp.Data["auth_url"] = da.VerificationURLComplete
		default:
			if da.VerificationURI != "" {
				resp.Data["auth_url"] = da.VerificationURI
			} else {
				resp.Data["auth_url"] = da.VerificationURL
			}
			resp.Data["user_code"] = da.UserCode
		}
		resp.Data["state"] = st.id
		interval := 5
		if role.PollInterval != 0 {
			interval = role.PollInterval
		} else if da.Interval > 0 {
			interval = da.Interval
		}
		resp.Data["poll_interval"] = strconv.Itoa(interval)
		return resp, nil
	}

	// direct mode
	redirectURI := d.Get("redirect_uri").(string)
	if redirectURI == "" {
		return logical.ErrorResponse("missing redirect_uri"), nil
	}
	if !validRedirect(redirectURI, role.AllowedRedirectURIs) {
		b.Logger().Warn("unauthorized redirect_uri", "redirect_uri", redirectURI)
		return resp, nil
	}
	idp, err := b.provider(ctx, cfg)
	if err != nil {
		b.Logger().Warn("error getting provider for login operation", "error", err)
		return resp, nil
	}
	if idp.ep.AuthURL == "" {
		b.Logger().Warn("error generating auth URL", "error", "no authorization_endpoint discovered")
		return resp, nil
	}
	authURL, err := url.Parse(idp.ep.AuthURL)
	if err != nil {
		b.Logger().Warn("error generating auth URL", "error", err)
		return resp, nil
	}
	st := &authState{roleName: roleName, clientNonce: clientNonce, direct: true,
		redirectURI: redirectURI, codeVerifier: randomToken(), nonce: randomToken(),
		requesterIP: requesterIP, expires: b.now().Add(defaultStateTTL)}
	if err := b.states.add(st); err != nil {
		b.Logger().Warn("error generating OAuth state", "error", err)
		return resp, nil
	}
	q := authURL.Query()
	q.Set("response_type", "code")
	q.Set("client_id", cfg.OIDCClientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("scope", strings.Join(append([]string{"openid"}, role.OIDCScopes...), " "))
	q.Set("state", st.id)
	q.Set("nonce", st.nonce)
	q.Set("code_challenge", pkceChallenge(st.codeVerifier))
	q.Set("code_challenge_method", "S256")
	authURL.RawQuery = q.Encode()

	resp.Data["auth_url"] = authURL.String()
	resp.Data["state"] = st.id
	interval := 5
	if role.PollInterval != 0 {
		interval = role.PollInterval
	}
	resp.Data["poll_interval"] = strconv.Itoa(interval)
	return resp, nil
}

// pathPoll is the second half of device and direct logins.
func (b *backend) pathPoll(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	st := b.states.get(d.Get("state").(string))
	if st == nil {
		return logical.ErrorResponse(errExpiredState), nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if !b.states.live(st) {
		// another poll finished it while we waited
		return logical.ErrorResponse(errExpiredState), nil
	}
	keep := false
	defer func() {
		if !keep {
			b.states.remove(st)
		}
	}()

	if st.clientNonce != "" && d.Get("client_nonce").(string) != st.clientNonce {
		return logical.ErrorResponse("invalid client_nonce"), nil
	}
	role, err := b.role(ctx, req.Storage, st.roleName)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return logical.ErrorResponse(errLoginFailed + " Role could not be found"), nil
	}

	if st.direct {
		if st.auth == nil {
			keep = true
			return logical.ErrorResponse("authorization_pending"), nil
		}
		return &logical.Response{Auth: st.auth}, nil
	}

	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return logical.ErrorResponse(errLoginFailed + " Could not load configuration"), nil
	}
	idp, err := b.provider(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("error getting provider for poll operation: %w", err)
	}
	ta, err := idp.pollDevice(ctx, st.deviceCode)
	if err != nil {
		return nil, fmt.Errorf("error polling for device authorization: %w", err)
	}
	if ta.Error != "" {
		if ta.Error == "authorization_pending" || ta.Error == "slow_down" {
			keep = true
			return logical.ErrorResponse(ta.Error), nil
		}
		return logical.ErrorResponse("authorization failed: %s", ta.Error), nil
	}
	if !ta.HasIDToken {
		return logical.ErrorResponse(errTokenVerification + " No id_token found in response."), nil
	}
	claims, err := unverifiedClaims(ta.IDToken)
	if err != nil {
		return nil, fmt.Errorf("error creating oidc token: %w", err)
	}
	delete(claims, "nonce")
	auth, failure := b.buildAuth(ctx, idp, st.roleName, role, claims, ta)
	if failure != "" {
		return logical.ErrorResponse(errLoginFailed + " " + failure), nil
	}
	return &logical.Response{Auth: auth}, nil
}

// pathCallback is the browser's redirect target in direct mode. It parks
// the finished login in the state for oidc/poll and answers HTML. As in
// OpenBao, once the role is known a failure leaves the state in place (poll
// keeps answering authorization_pending until it expires).
func (b *backend) pathCallback(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return logical.ErrorResponse(errLoginFailed + " Could not load configuration"), nil
	}
	st := b.states.get(d.Get("state").(string))
	if st == nil || !st.direct {
		return logical.ErrorResponse(errExpiredState), nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if !b.states.live(st) || st.auth != nil {
		return logical.ErrorResponse(errExpiredState), nil
	}
	role, err := b.role(ctx, req.Storage, st.roleName)
	if err != nil {
		b.states.remove(st)
		return nil, err
	}
	if role == nil {
		b.states.remove(st)
		return logical.ErrorResponse(errLoginFailed + " Role could not be found"), nil
	}

	code := d.Get("code").(string)
	oidcErr := strings.ToLower(strings.TrimSpace(d.Get("error").(string)))
	if !role.OIDCDisableConfirmation && d.Get("confirmation").(string) == "" {
		page, err := confirmPage(st.requesterIP, st.roleName, d.Get("state").(string), code, oidcErr)
		if err != nil {
			return nil, err
		}
		return htmlResponse(http.StatusOK, page), nil
	}

	if oidcErr != "" {
		b.Logger().Warn("OIDC callback received error from provider",
			"error", strconv.Quote(oidcErr),
			"error_description", strconv.Quote(d.Get("error_description").(string)))
		if slices.Contains(knownAuthzErrors, oidcErr) {
			return failurePage(oidcErr), nil
		}
		return failurePage("An unknown error occurred during OIDC authentication. Check server logs for details"), nil
	}
	if code == "" {
		return failurePage("No code or id_token received."), nil
	}
	idp, err := b.provider(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("error getting provider for login operation: %w", err)
	}
	ta, err := idp.exchangeCode(ctx, code, st.redirectURI, st.codeVerifier)
	if err == nil && !ta.HasIDToken {
		err = errors.New("no id_token found in token response")
	}
	var claims map[string]any
	var nonce string
	if err == nil {
		claims, nonce, err = idp.verifyIDToken(ctx, ta.IDToken)
	}
	if err != nil {
		return failurePage(fmt.Sprintf("Error exchanging oidc code: %q.", err.Error())), nil
	}
	if nonce != st.nonce {
		return failurePage("invalid ID token nonce."), nil
	}
	delete(claims, "nonce")
	auth, failure := b.buildAuth(ctx, idp, st.roleName, role, claims, ta)
	if failure != "" {
		return failurePage(failure), nil
	}
	st.auth = auth
	return htmlResponse(http.StatusOK, successHTML), nil
}

// buildAuth turns ID token claims (merged with userinfo) into the login
// result. A non-empty failure is a user-facing reason the login failed.
func (b *backend) buildAuth(ctx context.Context, idp *idpClient, roleName string, role *oidcRole, claims map[string]any, ta *tokenAnswer) (*logical.Auth, string) {
	if role.VerboseOIDCLogging {
		b.Logger().Debug("OIDC provider response", "id_token_claim_names", sortedKeys(claims))
	}
	if ta.AccessToken != "" {
		sub, _ := claims["sub"].(string)
		info, err := idp.userInfo(ctx, ta.AccessToken, sub)
		switch {
		case err == nil:
			maps.Copy(claims, info)
		case strings.Contains(err.Error(), "not supported"):
			b.Logger().Info("error reading /userinfo endpoint", "error", err)
		default:
			b.Logger().Warn("error reading /userinfo endpoint", "error", err)
		}
	}
	if role.VerboseOIDCLogging {
		b.Logger().Debug("OIDC provider response", "claim_names", sortedKeys(claims))
	}

	var userRaw any
	if role.UserClaimJSONPointer {
		userRaw = getClaim(claims, role.UserClaim)
	} else {
		userRaw = claims[role.UserClaim]
	}
	if userRaw == nil {
		return nil, fmt.Sprintf("claim %q not found in token", role.UserClaim)
	}
	userName, ok := userRaw.(string)
	if !ok {
		return nil, fmt.Sprintf("claim %q could not be converted to string", role.UserClaim)
	}

	aliasMeta := map[string]string{}
	for source, target := range role.ClaimMappings {
		v := getClaim(claims, source)
		if v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Sprintf("error converting claim '%s' to string", source)
		}
		aliasMeta[target] = s
	}
	aliasMeta["role"] = roleName

	var groups []*logical.Alias
	if role.GroupsClaim != "" {
		raw := getClaim(claims, role.GroupsClaim)
		if raw == nil {
			return nil, fmt.Sprintf("failed to fetch groups: %q claim not found in token", role.GroupsClaim)
		}
		var list []any
		switch v := raw.(type) {
		case []any:
			list = v
		case string:
			list = []any{v}
		default:
			return nil, fmt.Sprintf("%q claim could not be converted to string list", role.GroupsClaim)
		}
		for _, g := range list {
			s, ok := g.(string)
			if !ok {
				return nil, fmt.Sprintf("value in %q claim could not be parsed as string", role.GroupsClaim)
			}
			if s != "" {
				groups = append(groups, &logical.Alias{Name: s})
			}
		}
	}

	tokenMeta := maps.Clone(aliasMeta)
	for _, name := range role.Oauth2Metadata {
		var v string
		switch name {
		case "id_token":
			v = ta.IDToken
		case "refresh_token":
			v = ta.RefreshToken
		case "access_token":
			v = ta.AccessToken
		}
		tokenMeta["oauth2_"+name] = v
	}

	auth := &logical.Auth{
		DisplayName:  userName,
		Alias:        &logical.Alias{Name: userName, Metadata: aliasMeta},
		GroupAliases: groups,
		InternalData: map[string]any{"role": roleName},
		Metadata:     tokenMeta,
	}
	role.PopulateTokenAuth(auth)
	auth.Renewable = true
	return auth, ""
}

// getClaim returns a top-level claim, or the value at an RFC 6901 JSON
// pointer when claim starts with "/".
func getClaim(claims map[string]any, claim string) any {
	if !strings.HasPrefix(claim, "/") {
		return claims[claim]
	}
	var cur any = claims
	for _, tok := range strings.Split(claim[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

// validRedirect reports whether uri is allowed: an exact match, or for
// loopback hosts a match ignoring the port (RFC 8252 §7.3).
func validRedirect(uri string, allowed []string) bool {
	in, err := url.Parse(uri)
	if err != nil {
		return false
	}
	if !slices.Contains([]string{"localhost", "127.0.0.1", "::1"}, in.Hostname()) {
		return slices.Contains(allowed, uri)
	}
	in.Host = in.Hostname()
	for _, a := range allowed {
		au, err := url.Parse(a)
		if err != nil {
			return false
		}
		au.Host = au.Hostname()
		if in.String() == au.String() {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}
