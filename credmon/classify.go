package credmon

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Class is the kind of provider that serves a credential.
type Class uint8

// The classes, in the order the multi credmon's credential monitors are
// named in its configuration.
const (
	// ClassNone: no provider of this daemon serves the credential.
	ClassNone Class = iota
	// ClassVault: a vault token and URL stored by condor_vault_storer.
	ClassVault
	// ClassOAuth: an OAuth2 refresh token stored by the credd's web flow.
	ClassOAuth
	// ClassLocal: a token minted locally (the local issuer).
	ClassLocal
	// ClassClient: a client-credentials grant.
	ClassClient
	// ClassPelican: a Pelican subject token stored by the storer's
	// pelican mode, exchanged and then refreshed.
	ClassPelican

	// classCount is the number of classes, ClassNone included.
	classCount
)

// String is the class's name in logs, which is also the Kind of its
// provider: "VAULT", "OAUTH", "LOCAL", "CLIENT", "PELICAN" (and "NONE").
func (c Class) String() string {
	switch c {
	case ClassVault:
		return "VAULT"
	case ClassOAuth:
		return "OAUTH"
	case ClassLocal:
		return "LOCAL"
	case ClassClient:
		return "CLIENT"
	case ClassPelican:
		return "PELICAN"
	}
	return "NONE"
}

// The knobs that decide which provider serves a credential.
const (
	KnobVaultProviders       = "VAULT_CREDMON_PROVIDER_NAMES"
	KnobOAuth2Providers      = "OAUTH2_CREDMON_PROVIDER_NAMES"
	KnobLocalProviders       = "LOCAL_CREDMON_PROVIDER_NAMES"
	KnobLocalProvider        = "LOCAL_CREDMON_PROVIDER_NAME"
	KnobClientProviders      = "CLIENT_CREDMON_PROVIDER_NAMES"
	KnobAllowSpecialChars    = "CREDMON_ALLOW_SPECIAL_CHAR_NAMES"
	clientIDSuffix           = "_CLIENT_ID"
	defaultLocalProviderName = "scitokens"
)

// ClassifierKnobs lists the knobs NewClassifier reads (to load in the
// start-up batch).
var ClassifierKnobs = []string{
	KnobVaultProviders, KnobOAuth2Providers, KnobLocalProviders,
	KnobLocalProvider, KnobClientProviders, KnobPelicanProviders, KnobAllowSpecialChars,
}

// ErrBadProviderName is matched by the error of Classifier.Check: a
// provider list names a provider that HTCondor 25.13's multi credmon
// refuses (it exits 99, DAEMON_NO_RESTART).
var ErrBadProviderName = errors.New("invalid credmon provider name")

// Classifier decides which provider serves a .top file, with the rules of
// HTCondor 25.13's multi credmon (condor_credmon_oauth), so that this one
// daemon serves exactly the files the Python credmons would:
//
//   - The provider name of a token name is the text before its first '_'
//     ("dune_production" and "dune_production_h1" are both "dune"), or the
//     whole name when CREDMON_ALLOW_SPECIAL_CHAR_NAMES is true. Without
//     that knob, a name ending in '_' is served by nobody.
//   - Lists (split on commas and white space): local =
//     LOCAL_CREDMON_PROVIDER_NAMES, else LOCAL_CREDMON_PROVIDER_NAME, else
//     "scitokens"; client = CLIENT_CREDMON_PROVIDER_NAMES; oauth2 =
//     OAUTH2_CREDMON_PROVIDER_NAMES and vault =
//     VAULT_CREDMON_PROVIDER_NAMES, each a wildcard when unset, empty or
//     containing "*"; pelican = PELICAN_CREDMON_PROVIDER_NAMES (HTCondor
//     25.14; never a wildcard).
//
// First match wins (the Python credmons run independently and may serve
// one file twice; the order below is HTCondor's C++ CredSorter order, so
// the daemon agrees with condor_submit and the credd where they overlap):
//
//  1. provider in the local list: LOCAL;
//  2. provider in the client list: CLIENT;
//  3. provider in the pelican list: PELICAN (HTCondor 25.14 sorts Pelican
//     before the Vault wildcard; checking it with the other explicit
//     lists gives the same answers);
//  4. provider named in the oauth2 list and <provider>_CLIENT_ID defined:
//     OAUTH (the OAuth credmon requires the client id);
//  5. provider named in the vault list: VAULT;
//  6. oauth2 is a wildcard and <provider>_CLIENT_ID is defined: OAUTH;
//  7. vault is a wildcard and the provider is not "scitokens", not
//     LOCAL_CREDMON_PROVIDER_NAME, has no <provider>_CLIENT_ID and is in
//     no oauth2, client or pelican list: VAULT (the Vault credmon's wildcard
//     exclusions);
//  8. otherwise nobody.
type Classifier struct {
	local, client, oauth2, vault, pelican map[string]bool
	oauth2Wild, vaultWild                 bool
	localSingular                         string
	allowSpecial                          bool
	lists                                 [5]namedList
}

type namedList struct {
	knob  string
	class string
	names []string
}

// NewClassifier reads the classification knobs from k. A
// CREDMON_ALLOW_SPECIAL_CHAR_NAMES that is not a boolean is an error.
func NewClassifier(k *Knobs) (*Classifier, error) {
	allow, err := k.Bool(KnobAllowSpecialChars, false)
	if err != nil {
		return nil, err
	}
	c := &Classifier{allowSpecial: allow}
	localNames := k.List(KnobLocalProviders)
	singular := strings.TrimSpace(k.String(KnobLocalProvider, ""))
	c.localSingular = singular
	if c.localSingular == "" {
		c.localSingular = defaultLocalProviderName
	}
	if len(localNames) == 0 {
		localNames = []string{c.localSingular}
	}
	clientNames := k.List(KnobClientProviders)
	oauthNames := k.List(KnobOAuth2Providers)
	vaultNames := k.List(KnobVaultProviders)
	pelicanNames := k.List(KnobPelicanProviders)
	c.pelican = set(pelicanNames)
	c.local = set(localNames)
	c.client = set(clientNames)
	c.oauth2 = set(oauthNames)
	c.vault = set(vaultNames)
	c.oauth2Wild = len(oauthNames) == 0 || c.oauth2["*"]
	c.vaultWild = len(vaultNames) == 0 || c.vault["*"]
	c.lists = [5]namedList{
		{KnobLocalProviders, "local", localNames},
		{KnobClientProviders, "client", clientNames},
		{KnobOAuth2Providers, "OAuth2", oauthNames},
		{KnobVaultProviders, "Vault", vaultNames},
		{KnobPelicanProviders, "Pelican", pelicanNames},
	}
	return c, nil
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Check applies the multi credmon's start-up checks: every listed name
// must consist of ASCII letters, digits and '-' (or be "*") unless
// CREDMON_ALLOW_SPECIAL_CHAR_NAMES is true, otherwise an error matching
// ErrBadProviderName; a name listed for two kinds of credmon only gives a
// warning (returned, for the caller to log).
func (c *Classifier) Check() (warnings []string, err error) {
	var bad []string
	for _, l := range c.lists {
		for _, n := range l.names {
			if n != "*" && !c.allowSpecial && !simpleProviderName(n) {
				bad = append(bad, fmt.Sprintf("%q in %s", n, l.knob))
			}
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: %s (provider names may contain only letters, digits and '-' unless %s is true)",
			ErrBadProviderName, strings.Join(bad, ", "), KnobAllowSpecialChars)
	}
	for i := range c.lists {
		for j := i + 1; j < len(c.lists); j++ {
			for _, n := range c.lists[i].names {
				if n == "*" {
					continue
				}
				for _, m := range c.lists[j].names {
					if n == m {
						warnings = append(warnings, fmt.Sprintf("Provider %s is in both %s and %s: overlap between %s and %s credmons, continuing anyway",
							n, c.lists[i].knob, c.lists[j].knob, c.lists[i].class, c.lists[j].class))
					}
				}
			}
		}
	}
	return warnings, nil
}

func simpleProviderName(n string) bool {
	for i := 0; i < len(n); i++ {
		ch := n[i]
		if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return n != ""
}

// LocalNames are the local-issuer provider names (LOCAL_CREDMON_PROVIDER_NAMES,
// else LOCAL_CREDMON_PROVIDER_NAME, else "scitokens").
func (c *Classifier) LocalNames() []string { return slices.Clone(c.lists[0].names) }

// ClientNames are the client-credentials provider names
// (CLIENT_CREDMON_PROVIDER_NAMES).
func (c *Classifier) ClientNames() []string { return slices.Clone(c.lists[1].names) }

// ProviderName returns the provider name of a token name (see
// Classifier); ok is false for a name ending in '_' when special
// characters are not allowed.
func (c *Classifier) ProviderName(token string) (provider string, ok bool) {
	if c.allowSpecial {
		return token, true
	}
	if strings.HasSuffix(token, "_") {
		return "", false
	}
	if i := strings.IndexByte(token, '_'); i >= 0 {
		return token[:i], true
	}
	return token, true
}

// PelicanNames are the Pelican provider names
// (PELICAN_CREDMON_PROVIDER_NAMES).
func (c *Classifier) PelicanNames() []string { return slices.Clone(c.lists[4].names) }

// ClientIDKnob is the knob whose definition makes provider an OAuth2
// provider: <provider>_CLIENT_ID.
func ClientIDKnob(provider string) string { return provider + clientIDSuffix }

// Decision is the outcome of Classify.
type Decision struct {
	// Class serving the token; ClassNone when nobody does.
	Class Class
	// Provider is the provider name ("" when the token name has none).
	Provider string
	// Why the token is not served (empty when it is).
	Why string
}

// Classify decides who serves the token name token. clientID reports
// whether <provider>_CLIENT_ID is defined; it is called at most once.
func (c *Classifier) Classify(token string, clientID func(provider string) bool) Decision {
	p, ok := c.ProviderName(token)
	if !ok {
		return Decision{Why: fmt.Sprintf("the name ends in '_', which is not allowed unless %s is true", KnobAllowSpecialChars)}
	}
	d := Decision{Provider: p}
	if c.local[p] {
		d.Class = ClassLocal
		return d
	}
	if c.client[p] {
		d.Class = ClassClient
		return d
	}
	if c.pelican[p] {
		d.Class = ClassPelican
		return d
	}
	hasID := clientID(p)
	if c.oauth2[p] && hasID {
		d.Class = ClassOAuth
		return d
	}
	if c.vault[p] {
		d.Class = ClassVault
		return d
	}
	if c.oauth2Wild && hasID {
		d.Class = ClassOAuth
		return d
	}
	if c.vaultWild {
		switch {
		case p == defaultLocalProviderName || p == c.localSingular:
			d.Why = fmt.Sprintf("provider %s is a local issuer name (%s)", p, KnobLocalProvider)
		case hasID:
			d.Why = fmt.Sprintf("%s is defined but provider %s is not in %s", ClientIDKnob(p), p, KnobOAuth2Providers)
		case c.oauth2[p]:
			d.Why = fmt.Sprintf("provider %s is in %s but %s is not defined", p, KnobOAuth2Providers, ClientIDKnob(p))
		default:
			d.Class = ClassVault
		}
		return d
	}
	if c.oauth2[p] {
		d.Why = fmt.Sprintf("provider %s is in %s but %s is not defined", p, KnobOAuth2Providers, ClientIDKnob(p))
	} else {
		d.Why = fmt.Sprintf("provider %s is in no credmon provider list (%s is %s)", p, KnobVaultProviders, strings.Join(keys(c.vault), ","))
	}
	return d
}

func keys(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}
