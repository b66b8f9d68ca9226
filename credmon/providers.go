package credmon

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// DefaultProviders are condor_credmon_vault's providers: Vault, OAuth
// (refresh tokens from the credd's web flow), the local issuer, client
// credentials and Pelican, so that one process serves every kind of .top the multi
// credmon serves. Main uses them unless MainOptions.Providers says
// otherwise.
func DefaultProviders() []ProviderFactory {
	return []ProviderFactory{{
		Class: ClassVault,
		Knobs: []string{"CREDMON_OAUTH_TOKEN_MINIMUM", "CREDMON_OAUTH_TOKEN_REFRESH", "AUTH_SSL_CLIENT_CAFILE", "AUTH_SSL_CLIENT_CADIR"},
		New:   newVaultFromKnobs,
	}, {
		Class: ClassOAuth,
		New: func(ctx context.Context, env ProviderEnv) (Provider, error) {
			peek := func(name string) (string, bool) { v, ok, _ := env.Knobs.Cached(name); return v, ok }
			return NewOAuthProvider(OAuthConfig{Lookup: env.Knobs.LookupContext, Peek: peek, Log: env.Log}), nil
		},
	}, {
		Class: ClassLocal,
		Knobs: []string{KnobLocalProviders, KnobLocalProvider},
		New: func(ctx context.Context, env ProviderEnv) (Provider, error) {
			configure := func(name string, lookup func(string) (string, bool)) {
				LocalConfigFromKnobs(name, lookup)
				lookup("LOCAL_CREDMON_PUBLIC_KEY")
			}
			return perName("LOCAL", env, configure, func(name string, lookup func(string) (string, bool)) (Provider, error) {
				cfg, err := LocalConfigFromKnobs(name, lookup)
				if err != nil {
					return nil, err
				}
				pub, _ := lookup("LOCAL_CREDMON_PUBLIC_KEY")
				if pub == "" {
					pub = DefaultLocalPublicKey
				}
				// As the multi credmon: create the issuer's key pair when
				// it does not exist yet.
				if created, err := EnsureKeyPair(cfg.PrivateKeyPath, pub, KeyEC); err != nil {
					return nil, err
				} else if created {
					env.Log.Info("Created the local issuer's key pair", "private", cfg.PrivateKeyPath, "public", pub)
				}
				return NewLocalProvider(cfg)
			}), nil
		},
	}, {
		Class: ClassClient,
		Knobs: []string{KnobClientProviders},
		New: func(ctx context.Context, env ProviderEnv) (Provider, error) {
			configure := func(name string, lookup func(string) (string, bool)) { ClientConfigFromKnobs(name, lookup) }
			return perName("CLIENT", env, configure, func(name string, lookup func(string) (string, bool)) (Provider, error) {
				cfg, err := ClientConfigFromKnobs(name, lookup)
				if err != nil {
					return nil, err
				}
				return NewClientProvider(cfg)
			}), nil
		},
	}, {
		Class: ClassPelican,
		Knobs: []string{KnobPelicanProviders, KnobPelicanCAFile, KnobPelicanSkipVerify, "CREDMON_OAUTH_TOKEN_MINIMUM"},
		New: func(ctx context.Context, env ProviderEnv) (Provider, error) {
			configure := func(name string, lookup func(string) (string, bool)) { PelicanConfigFromKnobs(name, lookup) }
			return perName("PELICAN", env, configure, func(name string, lookup func(string) (string, bool)) (Provider, error) {
				cfg, err := PelicanConfigFromKnobs(name, lookup)
				if err != nil {
					return nil, err
				}
				cfg.Log = env.Log
				return NewPelicanProvider(cfg)
			}), nil
		},
	}}
}

func newVaultFromKnobs(ctx context.Context, env ProviderEnv) (Provider, error) {
	k := env.Knobs
	min, err := k.Int("CREDMON_OAUTH_TOKEN_MINIMUM", 2400)
	if err != nil || min <= 0 {
		return nil, fmt.Errorf("CREDMON_OAUTH_TOKEN_MINIMUM must be a positive number of seconds")
	}
	var refresh int64
	if _, ok := k.Lookup("CREDMON_OAUTH_TOKEN_REFRESH"); ok {
		if refresh, err = k.Int("CREDMON_OAUTH_TOKEN_REFRESH", 0); err != nil || refresh <= 0 {
			return nil, fmt.Errorf("CREDMON_OAUTH_TOKEN_REFRESH must be a positive number of seconds")
		}
	}
	conc, _ := k.Int(knobMaxConcurrent, defaultConcurrency)
	return NewVault(VaultConfig{
		Minimum:     time.Duration(min) * time.Second,
		Refresh:     time.Duration(refresh) * time.Second,
		CAFile:      strings.TrimSpace(k.String("AUTH_SSL_CLIENT_CAFILE", "")),
		CADir:       strings.TrimSpace(k.String("AUTH_SSL_CLIENT_CADIR", "")),
		Concurrency: int(conc),
		Log:         env.Log,
	}), nil
}

// batchLookup runs configure (which only reads configuration: no side
// effects) with a lookup that records the knob names it asks for, fetches
// all of them from HTCondor in one batch within ctx, and returns the
// lookup to build with for real. Configuration lookups do not depend on
// values, so the names asked are the same both times.
func batchLookup(ctx context.Context, k *Knobs, configure func(lookup func(string) (string, bool))) (func(string) (string, bool), error) {
	var names []string
	configure(func(name string) (string, bool) {
		names = append(names, name)
		return "", false
	})
	if err := k.Load(ctx, names...); err != nil {
		return nil, err
	}
	return func(name string) (string, bool) { return k.LookupContext(ctx, name) }, nil
}

// perName is a PerName whose providers are built on first use, their
// knobs (those configure asks for) fetched in one batch.
func perName(kind string, env ProviderEnv, configure func(name string, lookup func(string) (string, bool)),
	build func(name string, lookup func(string) (string, bool)) (Provider, error)) *PerName {
	return &PerName{KindName: kind, Classifier: env.Classifier, Build: func(ctx context.Context, name string) (Provider, error) {
		lookup, err := batchLookup(ctx, env.Knobs, func(l func(string) (string, bool)) { configure(name, l) })
		if err != nil {
			return nil, err
		}
		return build(name, lookup)
	}, Unbuilt: func(c Cred, use []byte, written time.Time) time.Time {
		// Both kinds write formatIssuedUse's .use.
		return issuedNextRefresh(use, written, DefaultTokenLifetime)
	}}
}
