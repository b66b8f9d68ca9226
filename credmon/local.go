package credmon

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/vaultcred/gettoken/internal/jwtdecode"
)

// Defaults of the LOCAL_CREDMON_* (and CLIENT_CREDMON_*) knobs, as in
// HTCondor's LocalCredmon.
const (
	DefaultAuthzTemplate = "read:/user/{username} write:/user/{username}"
	DefaultTokenLifetime = 1200 * time.Second
	DefaultTokenVersion  = "scitoken:2.0"
	DefaultLocalKeyID    = "local"
	DefaultLocalProvider = "scitokens"
)

// ScopePolicy derives a user's scopes, as the LOCAL_CREDMON_AUTHZ_* knobs
// (and their CLIENT_CREDMON_ twins) do.
type ScopePolicy struct {
	// AuthzTemplate is AUTHZ_TEMPLATE: space-separated scopes in which
	// {username} is replaced by the user name ({{ and }} are literal
	// braces; any other {name} is an error, as in Python's str.format).
	AuthzTemplate string
	// GroupTemplate is AUTHZ_GROUP_TEMPLATE: scopes added once per group
	// the user has in GroupMapfile, with {groupname} replaced. Ignored
	// (with a warning at construction) without GroupMapfile.
	GroupTemplate string
	// GroupMapfile is AUTHZ_GROUP_MAPFILE, re-read at every use. Its lines
	// are "* <user> <group>[,<group>...]"; other lines are ignored, and
	// the first line for the user wins.
	GroupMapfile string
	// GroupRequirement is AUTHZ_GROUP_REQUIREMENT: when set, a group the
	// user must have in GroupMapfile to get a token at all (the original
	// compares the group name; despite the manual's wording it is not a
	// ClassAd expression). A user without it gets a *GroupDeniedError.
	GroupRequirement string
}

// GroupDeniedError is returned for a user who lacks the group that
// AUTHZ_GROUP_REQUIREMENT names: no token is issued. It is not ErrInvalid
// (the mapfile may change), so the daemon retries with back-off.
type GroupDeniedError struct {
	// User is the user denied.
	User string
	// Group is the required group.
	Group string
}

// Error says who was denied and why.
func (e *GroupDeniedError) Error() string {
	return fmt.Sprintf("user %s is not a member of group %s (AUTHZ_GROUP_REQUIREMENT), no token issued", e.User, e.Group)
}

// check reports configuration errors in the templates.
func (s ScopePolicy) check() error {
	if _, err := expandBraceTemplate(s.AuthzTemplate, map[string]string{"username": "u"}); err != nil {
		return fmt.Errorf("AUTHZ_TEMPLATE: %w", err)
	}
	if _, err := expandBraceTemplate(s.GroupTemplate, map[string]string{"groupname": "g"}); err != nil {
		return fmt.Errorf("AUTHZ_GROUP_TEMPLATE: %w", err)
	}
	if s.GroupRequirement != "" && s.GroupMapfile == "" {
		return errors.New("AUTHZ_GROUP_REQUIREMENT is set but AUTHZ_GROUP_MAPFILE is not")
	}
	return nil
}

// Scopes returns user's scopes: AuthzTemplate for the user, then
// GroupTemplate for each of the user's groups in GroupMapfile (when both
// are set). It returns a *GroupDeniedError when GroupRequirement is set
// and the user lacks it, and an error when the mapfile cannot be read
// (rather than issuing a token with fewer scopes, as the original did).
func (s ScopePolicy) Scopes(user string) ([]string, error) {
	var groups []string
	if s.GroupMapfile != "" && (s.GroupTemplate != "" || s.GroupRequirement != "") {
		var err error
		if groups, err = readGroupMapfile(s.GroupMapfile, user); err != nil {
			return nil, err
		}
	}
	if s.GroupRequirement != "" {
		found := false
		for _, g := range groups {
			found = found || g == s.GroupRequirement
		}
		if !found {
			return nil, &GroupDeniedError{User: user, Group: s.GroupRequirement}
		}
	}
	first, err := expandBraceTemplate(s.AuthzTemplate, map[string]string{"username": user})
	if err != nil {
		return nil, fmt.Errorf("AUTHZ_TEMPLATE: %w", err)
	}
	var scopes []string
	if first != "" {
		scopes = append(scopes, first)
	}
	if s.GroupTemplate != "" && s.GroupMapfile != "" {
		for _, g := range groups {
			sc, err := expandBraceTemplate(s.GroupTemplate, map[string]string{"groupname": g})
			if err != nil {
				return nil, fmt.Errorf("AUTHZ_GROUP_TEMPLATE: %w", err)
			}
			scopes = append(scopes, sc)
		}
	}
	return scopes, nil
}

// readGroupMapfile returns the groups of user in an AUTHZ_GROUP_MAPFILE.
func readGroupMapfile(path, user string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the group mapfile: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[0] != "*" || fields[1] != user {
			continue
		}
		var groups []string
		for _, g := range strings.Split(fields[2], ",") {
			if g != "" {
				groups = append(groups, g)
			}
		}
		return groups, nil
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the group mapfile %s: %w", path, err)
	}
	return nil, nil
}

// expandBraceTemplate is the subset of Python's str.format the credmon
// templates use: {name} from vars, {{ and }} for literal braces.
func expandBraceTemplate(tmpl string, vars map[string]string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		switch {
		case c == '{' && i+1 < len(tmpl) && tmpl[i+1] == '{':
			b.WriteByte('{')
			i++
		case c == '}' && i+1 < len(tmpl) && tmpl[i+1] == '}':
			b.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(tmpl[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unmatched '{' at offset %d", i)
			}
			name := tmpl[i+1 : i+end]
			v, ok := vars[name]
			if !ok {
				return "", fmt.Errorf("unknown placeholder {%s}", name)
			}
			b.WriteString(v)
			i += end
		case c == '}':
			return "", fmt.Errorf("single '}' at offset %d", i)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// knobReader reads HTCondor knobs for one provider of one credmon kind:
// <PREFIX>_<PROVIDER>_<X>, then <PREFIX>_<X>.
type knobReader struct {
	prefix, provider string
	lookup           func(string) (string, bool)
}

// get returns the first defined, non-blank value of names.
func (k knobReader) get(names ...string) (string, bool) {
	if k.lookup == nil {
		return "", false
	}
	for _, n := range names {
		if v, ok := k.lookup(n); ok {
			if v = strings.TrimSpace(v); v != "" {
				return v, true
			}
		}
	}
	return "", false
}

// knob returns <PREFIX>_<PROVIDER>_<x>, else <PREFIX>_<x>, else def.
func (k knobReader) knob(x, def string) string {
	if v, ok := k.get(k.prefix+"_"+k.provider+"_"+x, k.prefix+"_"+x); ok {
		return v
	}
	return def
}

// seconds reads a knob holding a positive number of seconds.
func (k knobReader) seconds(x string, def time.Duration) (time.Duration, error) {
	v := k.knob(x, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > 10*365*24*3600 {
		return 0, fmt.Errorf("%s_%s: %q is not a positive number of seconds", k.prefix, x, v)
	}
	return time.Duration(n) * time.Second, nil
}

// boolean reads a knob holding an HTCondor boolean.
func (k knobReader) boolean(x string, def bool) (bool, error) {
	v := k.knob(x, "")
	if v == "" {
		return def, nil
	}
	switch strings.ToLower(v) {
	case "true", "t", "yes", "y", "1", "on":
		return true, nil
	case "false", "f", "no", "n", "0", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s_%s: %q is not a boolean", k.prefix, x, v)
}

// scopePolicy reads the AUTHZ_* knobs.
func (k knobReader) scopePolicy() ScopePolicy {
	return ScopePolicy{
		AuthzTemplate:    k.knob("AUTHZ_TEMPLATE", DefaultAuthzTemplate),
		GroupTemplate:    k.knob("AUTHZ_GROUP_TEMPLATE", ""),
		GroupMapfile:     k.knob("AUTHZ_GROUP_MAPFILE", ""),
		GroupRequirement: k.knob("AUTHZ_GROUP_REQUIREMENT", ""),
	}
}

// defaultIssuer is https://$(FULL_HOSTNAME), the original's default.
func (k knobReader) defaultIssuer() string {
	if h, ok := k.get("FULL_HOSTNAME"); ok {
		return "https://" + h
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return "https://" + h
	}
	return ""
}

// LocalConfig configures a local issuer (LocalProvider). Use
// LocalConfigFromKnobs to fill it from HTCondor's configuration.
type LocalConfig struct {
	// Provider is the provider (service) name, such as "scitokens".
	Provider string
	// PrivateKeyPath is LOCAL_CREDMON_PRIVATE_KEY: the PEM private key
	// (EC or RSA, see ParsePrivateKeyPEM). It is read once, by
	// NewLocalProvider.
	PrivateKeyPath string
	// KeyID is LOCAL_CREDMON_KEY_ID, the "kid" header (default "local").
	KeyID string
	// Issuer is LOCAL_CREDMON_ISSUER, the "iss" claim. Required.
	Issuer string
	// Audience is LOCAL_CREDMON_TOKEN_AUDIENCE split on white space: the
	// "aud" claim (a JSON array, as the original writes it).
	Audience []string
	// Version is LOCAL_CREDMON_TOKEN_VERSION: "wlcg" or "wlcg:1.0" give
	// "wlcg.ver": "1.0" (which the original meant to do but could not),
	// anything else is the "ver" claim; "" gives no version claim
	// (SciTokens 1.0). "scitoken:2.0" needs an Audience.
	Version string
	// Lifetime is LOCAL_CREDMON_TOKEN_LIFETIME (default 1200 s).
	Lifetime time.Duration
	// BareToken is LOCAL_CREDMON_TOKEN_USE_JSON = false: the .use holds
	// the token and a newline instead of JSON.
	BareToken bool
	// Scopes derive the "scope" claim.
	Scopes ScopePolicy
	// Log receives the provider's messages.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// LocalConfigFromKnobs reads the configuration of the local issuer
// provider from HTCondor knobs. lookup returns a knob's value and whether
// it is defined; it must match names case-insensitively, as HTCondor does
// (the provider name is used as spelled). Each setting X is LOCAL_CREDMON_<provider>_X, else
// LOCAL_CREDMON_X, else the original's default: PRIVATE_KEY
// (/etc/condor/scitokens-private.pem), KEY_ID (local), ISSUER
// (https://$(FULL_HOSTNAME)), TOKEN_AUDIENCE (none), TOKEN_VERSION
// (scitoken:2.0), TOKEN_LIFETIME (1200), TOKEN_USE_JSON (true),
// AUTHZ_TEMPLATE (read:/user/{username} write:/user/{username}),
// AUTHZ_GROUP_TEMPLATE, AUTHZ_GROUP_MAPFILE, AUTHZ_GROUP_REQUIREMENT.
func LocalConfigFromKnobs(provider string, lookup func(string) (string, bool)) (LocalConfig, error) {
	return issuerKnobs("LOCAL_CREDMON", provider, lookup)
}

func issuerKnobs(prefix, provider string, lookup func(string) (string, bool)) (LocalConfig, error) {
	k := knobReader{prefix: prefix, provider: provider, lookup: lookup}
	cfg := LocalConfig{
		Provider:       provider,
		PrivateKeyPath: k.knob("PRIVATE_KEY", DefaultLocalPrivateKey),
		KeyID:          k.knob("KEY_ID", DefaultLocalKeyID),
		Issuer:         k.knob("ISSUER", ""),
		Audience:       strings.Fields(k.knob("TOKEN_AUDIENCE", "")),
		Version:        k.knob("TOKEN_VERSION", DefaultTokenVersion),
		Scopes:         k.scopePolicy(),
	}
	if cfg.Issuer == "" {
		cfg.Issuer = k.defaultIssuer()
	}
	var err error
	if cfg.Lifetime, err = k.seconds("TOKEN_LIFETIME", DefaultTokenLifetime); err != nil {
		return cfg, err
	}
	useJSON, err := k.boolean("TOKEN_USE_JSON", true)
	if err != nil {
		return cfg, err
	}
	cfg.BareToken = !useJSON
	return cfg, nil
}

// LocalProvider is the local SciTokens issuer (HTCondor's LocalCredmon,
// kind "LOCAL"): it mints a token for the user whose directory holds the
// .top, signed with the configured key. The .top's content (the user name,
// written by the credd) is not read.
//
// Differences from the original, deliberate:
//   - RSA keys work (RS256); the original always signed with ES256.
//   - NextRefresh reads "iat" and "exp" from the token itself, so a bare
//     token .use (TOKEN_USE_JSON = false) is not re-minted at every scan.
//   - A user outside AUTHZ_GROUP_REQUIREMENT gets a *GroupDeniedError and
//     no .use (as the original); an unreadable group mapfile is an error
//     instead of a token with fewer scopes.
//   - Configuration errors (no audience for scitoken:2.0, bad templates,
//     unreadable key) are reported once, by NewLocalProvider.
type LocalProvider struct {
	cfg    LocalConfig
	signer jose.Signer
	log    *slog.Logger
	now    func() time.Time
}

// NewLocalProvider loads the signing key and checks the configuration.
func NewLocalProvider(cfg LocalConfig) (*LocalProvider, error) {
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = DefaultTokenLifetime
	}
	if cfg.KeyID == "" {
		cfg.KeyID = DefaultLocalKeyID
	}
	if cfg.Issuer == "" {
		return nil, errors.New("local issuer: no issuer (LOCAL_CREDMON_ISSUER)")
	}
	if len(cfg.Audience) == 0 && strings.EqualFold(cfg.Version, DefaultTokenVersion) {
		return nil, errors.New(`local issuer: no "aud" claim: LOCAL_CREDMON_TOKEN_AUDIENCE must be set for scitoken:2.0 tokens`)
	}
	if err := cfg.Scopes.check(); err != nil {
		return nil, fmt.Errorf("local issuer: %w", err)
	}
	key, err := LoadSigningKey(cfg.PrivateKeyPath)
	if err != nil {
		return nil, fmt.Errorf("local issuer: %w", err)
	}
	signer, err := newJWTSigner(key, cfg.KeyID)
	if err != nil {
		return nil, fmt.Errorf("local issuer: %w", err)
	}
	p := &LocalProvider{cfg: cfg, signer: signer, log: cfg.Log, now: cfg.Now}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if cfg.Scopes.GroupTemplate != "" && cfg.Scopes.GroupMapfile == "" {
		p.log.Warn("LOCAL_CREDMON_AUTHZ_GROUP_MAPFILE is undefined, cannot add group authorizations", "provider", cfg.Provider)
	}
	return p, nil
}

func newJWTSigner(key crypto.Signer, kid string) (jose.Signer, error) {
	alg, err := SigningAlgorithm(key.Public())
	if err != nil {
		return nil, err
	}
	s, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(alg),
		Key:       jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg},
	}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	return s, nil
}

// Kind implements Provider.
func (p *LocalProvider) Kind() string { return "LOCAL" }

// Mint returns a signed token for user with the claims sub (user), scope,
// iss, aud, ver (or wlcg.ver), iat, nbf, exp (iat + Lifetime) and a random
// jti.
func (p *LocalProvider) Mint(user string) (string, error) {
	scopes, err := p.cfg.Scopes.Scopes(user)
	if err != nil {
		return "", err
	}
	now := p.now().Unix()
	claims := map[string]any{
		"sub":   user,
		"scope": strings.Join(scopes, " "),
		"iss":   p.cfg.Issuer,
		"iat":   now,
		"nbf":   now,
		"exp":   now + int64(p.cfg.Lifetime/time.Second),
		"jti":   newTokenID(),
	}
	if len(p.cfg.Audience) > 0 {
		claims["aud"] = p.cfg.Audience
	}
	switch v := p.cfg.Version; {
	case v == "wlcg" || v == "wlcg:1.0":
		claims["wlcg.ver"] = "1.0"
	case v != "":
		claims["ver"] = v
	}
	tok, err := jwt.Signed(p.signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("signing the token: %w", err)
	}
	return tok, nil
}

// Refresh implements Provider: it mints a token for c.User and formats
// the .use.
func (p *LocalProvider) Refresh(ctx context.Context, c Cred, top []byte) (Refreshed, error) {
	if err := ctx.Err(); err != nil {
		return Refreshed{}, err
	}
	tok, err := p.Mint(c.User)
	if err != nil {
		return Refreshed{}, fmt.Errorf("LOCAL %s: %w", c.Key(), err)
	}
	use, err := formatIssuedUse(tok, p.cfg.Lifetime, p.cfg.BareToken)
	if err != nil {
		return Refreshed{}, err
	}
	return Refreshed{Use: use}, nil
}

// NextRefresh implements Provider: half-way between the token's iat and
// exp, read from the token (JSON or bare .use); else half of the JSON
// expires_in after written; else now (written). Never sooner than
// min(1 minute, half the lifetime) after written.
func (p *LocalProvider) NextRefresh(c Cred, use []byte, written time.Time) time.Time {
	return issuedNextRefresh(use, written, p.cfg.Lifetime)
}

// issuedUse is the JSON .use of the local and client providers.
type issuedUse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// formatIssuedUse is the .use content: {"access_token": ..., "expires_in":
// ...} or the bare token and a newline.
func formatIssuedUse(tok string, lifetime time.Duration, bare bool) ([]byte, error) {
	if bare {
		return []byte(tok + "\n"), nil
	}
	b, err := json.Marshal(issuedUse{AccessToken: tok, ExpiresIn: int64(lifetime / time.Second)})
	if err != nil {
		return nil, fmt.Errorf("encoding the .use: %w", err)
	}
	return b, nil
}

// issuedNextRefresh is NextRefresh for .use files written by
// formatIssuedUse; fallback is the lifetime assumed for a bare token that
// is not a JWT.
func issuedNextRefresh(use []byte, written time.Time, fallback time.Duration) time.Time {
	use = bytes.TrimSpace(use)
	if len(use) == 0 {
		return written
	}
	tok := string(use)
	var expiresIn int64
	isJSON := false
	if use[0] == '{' {
		var u issuedUse
		if err := parseIssuedUse(use, &u); err != nil {
			return written
		}
		tok, expiresIn, isJSON = u.AccessToken, u.ExpiresIn, true
	}
	var half time.Duration
	var due time.Time
	if iat, exp, ok := tokenIatExp(tok); ok && exp.After(iat) {
		half = exp.Sub(iat) / 2
		due = iat.Add(half)
	} else if exp, ok := tokenExp(tok); ok && exp.After(written) {
		half = exp.Sub(written) / 2
		due = written.Add(half)
	} else if isJSON && expiresIn > 0 {
		half = secondsDuration(float64(expiresIn)) / 2
		due = written.Add(half)
	} else if !isJSON && fallback > 0 && !strings.Contains(tok, ".") {
		half = fallback / 2
		due = written.Add(half)
	} else {
		return written
	}
	if floor := written.Add(min(time.Minute, half)); due.Before(floor) {
		return floor
	}
	return due
}

// parseIssuedUse decodes a JSON .use, accepting an expires_in written as
// a float.
func parseIssuedUse(b []byte, u *issuedUse) error {
	var raw struct {
		AccessToken string      `json:"access_token"`
		ExpiresIn   json.Number `json:"expires_in"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	u.AccessToken = raw.AccessToken
	if raw.ExpiresIn != "" {
		f, err := raw.ExpiresIn.Float64()
		if err != nil {
			return err
		}
		u.ExpiresIn = int64(secondsDuration(f) / time.Second)
	}
	return nil
}

// tokenClaimTimes reads the numeric iat and exp claims of a JWT without
// verifying it (zero when absent).
func tokenClaimTimes(tok string) (iat, exp float64, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return 0, 0, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return 0, 0, false
	}
	var claims struct {
		Iat json.Number `json:"iat"`
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return 0, 0, false
	}
	iat, _ = claims.Iat.Float64()
	exp, _ = claims.Exp.Float64()
	return iat, exp, true
}

// tokenIatExp returns a JWT's iat and exp when it has both.
func tokenIatExp(tok string) (time.Time, time.Time, bool) {
	iat, exp, ok := tokenClaimTimes(tok)
	if !ok || iat <= 0 || exp <= 0 {
		return time.Time{}, time.Time{}, false
	}
	return time.Unix(int64(iat), 0), time.Unix(int64(exp), 0), true
}

// tokenExp returns a JWT's exp.
func tokenExp(tok string) (time.Time, bool) { return jwtdecode.Expiry(tok) }

// newTokenID is a random UUID (version 4), the jti claim.
func newTokenID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
