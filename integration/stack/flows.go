package stack

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// DeviceLogin is a device-flow login in progress through Vault's oidc auth
// path, driven with plain Vault API calls (the way htgettoken's OIDC stage
// talks to Vault). It proves the stack and drives the demo; it is not the
// project's client.
type DeviceLogin struct {
	// AuthURL is where the user logs in (verification_uri_complete).
	AuthURL string
	// UserCode is the code shown at the IdP's device page.
	UserCode string
	// PollInterval is the interval Vault asked for.
	PollInterval time.Duration

	client      *vaultapi.Client
	path        string
	state       string
	clientNonce string
}

// StartDeviceLogin posts to auth/oidc-<issuer>/oidc/auth_url for role.
func StartDeviceLogin(ctx context.Context, c *vaultapi.Client, issuer, role string) (*DeviceLogin, error) {
	d := &DeviceLogin{client: c, path: "auth/oidc-" + issuer + "/oidc", clientNonce: randHex(16)}
	sec, err := c.Logical().WriteWithContext(ctx, d.path+"/auth_url", map[string]any{
		"role": role, "client_nonce": d.clientNonce, "redirect_uri": c.Address() + "/v1/" + d.path + "/callback",
	})
	if err != nil {
		return nil, fmt.Errorf("auth_url: %w", err)
	}
	if sec == nil || sec.Data == nil {
		return nil, errors.New("auth_url: empty answer")
	}
	d.AuthURL, _ = sec.Data["auth_url"].(string)
	d.state, _ = sec.Data["state"].(string)
	if d.AuthURL == "" || d.state == "" {
		return nil, fmt.Errorf("auth_url: no auth_url or state in %v", keys(sec.Data))
	}
	pi, _ := sec.Data["poll_interval"].(string)
	secs, err := strconv.Atoi(pi)
	if err != nil {
		return nil, fmt.Errorf("auth_url: poll_interval %q is not a string of digits", pi)
	}
	d.PollInterval = time.Duration(secs) * time.Second
	if uc, ok := sec.Data["user_code"].(string); ok {
		d.UserCode = uc
	} else if u, err := url.Parse(d.AuthURL); err == nil {
		d.UserCode = u.Query().Get("user_code")
	}
	return d, nil
}

// Poll makes one oidc/poll request. It returns the login secret on
// success, and the plugin's first error string (e.g.
// "authorization_pending") as a *PollError otherwise.
func (d *DeviceLogin) Poll(ctx context.Context) (*vaultapi.Secret, error) {
	sec, err := d.client.Logical().WriteWithContext(ctx, d.path+"/poll", map[string]any{
		"state": d.state, "client_nonce": d.clientNonce,
	})
	if err != nil {
		var re *vaultapi.ResponseError
		if errors.As(err, &re) && len(re.Errors) > 0 {
			return nil, &PollError{Status: re.StatusCode, Message: re.Errors[0]}
		}
		return nil, err
	}
	if sec == nil || sec.Auth == nil {
		return nil, errors.New("poll: no auth in answer")
	}
	return sec, nil
}

// Wait polls at the requested interval (doubling it on slow_down, as
// htgettoken does) until the login completes, fails, or ctx ends.
func (d *DeviceLogin) Wait(ctx context.Context) (*vaultapi.Secret, error) {
	interval := d.PollInterval
	for {
		sec, err := d.Poll(ctx)
		var pe *PollError
		switch {
		case err == nil:
			return sec, nil
		case errors.As(err, &pe) && pe.Message == "authorization_pending":
		case errors.As(err, &pe) && pe.Message == "slow_down":
			interval *= 2
		default:
			return nil, err
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// PollError is a non-2xx answer to oidc/poll.
type PollError struct {
	Status  int
	Message string
}

func (e *PollError) Error() string { return fmt.Sprintf("poll: %d %s", e.Status, e.Message) }

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// Login logs account in through issuer/role's device flow, approving the
// user code at the IdP's test route instead of a browser, and returns
// Vault's login answer (auth.metadata holds credkey and
// oauth2_refresh_token).
func (s *Stack) Login(ctx context.Context, issuer, role, account string) (*vaultapi.Secret, error) {
	c, err := s.Vault.Client(s.Certs, "")
	if err != nil {
		return nil, err
	}
	d, err := StartDeviceLogin(ctx, c, issuer, role)
	if err != nil {
		return nil, err
	}
	if err := s.IdP.Approve(ctx, d.UserCode, account); err != nil {
		return nil, err
	}
	return d.Wait(ctx)
}

// LoginAndStore is Login followed by what htgettoken does next: storing
// the refresh token at secret/oauth/creds/<issuer>/<credkey>:<role> with
// the new vault token. It returns the vault token and that path.
func (s *Stack) LoginAndStore(ctx context.Context, issuer, role, account string) (token, path string, err error) {
	sec, err := s.Login(ctx, issuer, role, account)
	if err != nil {
		return "", "", err
	}
	c, err := s.Vault.Client(s.Certs, sec.Auth.ClientToken)
	if err != nil {
		return "", "", err
	}
	path = "secret/oauth/creds/" + issuer + "/" + sec.Auth.Metadata["credkey"] + ":" + role
	if _, err := c.Logical().WriteWithContext(ctx, path, map[string]any{
		"server": issuer, "refresh_token": sec.Auth.Metadata["oauth2_refresh_token"]}); err != nil {
		return "", "", fmt.Errorf("store refresh token: %w", err)
	}
	return sec.Auth.ClientToken, path, nil
}
