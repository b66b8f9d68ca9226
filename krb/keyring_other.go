//go:build !linux

package krb

// KEYRING caches exist only on Linux.

func keyringUnsupported(res string) error {
	return &UnsupportedCCacheError{Type: "KEYRING", Source: "KEYRING:" + res + " (Linux only)"}
}

func openKeyring(res string, env *cacheEnv) (Cache, error) { return nil, keyringUnsupported(res) }

func keyringMembers(res string, env *cacheEnv) ([]Cache, error) {
	return nil, keyringUnsupported(res)
}

type keyringCache struct{}

func setKeyringPrimary(c *keyringCache) error { return keyringUnsupported("") }
