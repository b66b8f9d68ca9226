package krb

import (
	"fmt"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// Where a credentials cache name came from, for messages.
const (
	sourceEnv     = "KRB5CCNAME"
	sourceConfig  = "default_ccache_name"
	sourceBuiltin = "built-in default"
)

// builtinCCacheName is MIT's compiled-in DEFCCNAME.
const builtinCCacheName = "FILE:/tmp/krb5cc_%{uid}"

// ccacheRef is a parsed credentials cache name.
type ccacheRef struct {
	// typ is "FILE", "DIR", "KEYRING" or "KCM".
	typ string
	// path is the cache file (FILE, or DIR with subsidiary), the
	// collection directory (DIR without subsidiary), or the residual of
	// KEYRING and KCM names.
	path string
	// subsidiary is true for "DIR::/dir/tktXXX" names.
	subsidiary bool
	// source is sourceEnv, sourceConfig or sourceBuiltin.
	source string
}

// String returns the name in MIT syntax.
func (r ccacheRef) String() string {
	if r.subsidiary {
		return r.typ + "::" + r.path
	}
	return r.typ + ":" + r.path
}

// resolveCCacheName finds the credentials cache name the way MIT's
// krb5_cc_default_name does: KRB5CCNAME if set and not empty, else
// [libdefaults] default_ccache_name (with %{...} tokens expanded), else
// FILE:/tmp/krb5cc_%{uid}.
func resolveCCacheName(o *resolvedOptions, prof *profile) (ccacheRef, error) {
	if v, ok := o.lookupEnv("KRB5CCNAME"); ok && v != "" {
		return parseCCacheName(v, sourceEnv)
	}
	name, source, file, line := builtinCCacheName, sourceBuiltin, "", 0
	if prof != nil {
		if n, ok := prof.first("libdefaults", "default_ccache_name"); ok {
			name, source, file, line = n.value, sourceConfig, n.file, n.line
		}
	}
	expanded, err := expandPathTokens(name, o)
	if err != nil {
		return ccacheRef{}, &ConfigError{Path: file, Line: line, Msg: "default_ccache_name", Err: err}
	}
	return parseCCacheName(expanded, source)
}

// parseCCacheName splits "TYPE:residual". A name with no colon, or starting
// with '/', is a FILE path (MIT would read "/a:b" as type "/a"; a path is the
// only sensible reading). Types are case-sensitive, as in MIT.
func parseCCacheName(name, source string) (ccacheRef, error) {
	colon := strings.IndexByte(name, ':')
	if colon < 0 || strings.HasPrefix(name, "/") {
		return ccacheRef{typ: "FILE", path: name, source: source}, nil
	}
	typ, rest := name[:colon], name[colon+1:]
	switch typ {
	case "FILE":
		return ccacheRef{typ: "FILE", path: rest, source: source}, nil
	case "DIR":
		if strings.HasPrefix(rest, ":") {
			return ccacheRef{typ: "DIR", path: rest[1:], subsidiary: true, source: source}, nil
		}
		return ccacheRef{typ: "DIR", path: rest, source: source}, nil
	case "KEYRING", "KCM":
		return ccacheRef{typ: typ, path: rest, source: source}, nil
	default:
		return ccacheRef{}, &UnsupportedCCacheError{Type: typ, Source: source}
	}
}

// expandPathTokens expands MIT's %{token} path tokens (k5_expand_path_tokens)
// as found on Unix: TEMP, uid, USERID, euid, username, null, LIBDIR, BINDIR,
// SBINDIR. An unknown or unterminated token is an error, as in MIT.
func expandPathTokens(s string, o *resolvedOptions) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "%{")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated %%{ token in %q", s)
		}
		tok := s[i+2 : i+2+end]
		s = s[i+2+end+1:]
		switch tok {
		case "TEMP":
			if t, ok := o.lookupEnv("TMPDIR"); ok && t != "" {
				b.WriteString(t)
			} else {
				b.WriteString("/tmp")
			}
		case "uid", "USERID":
			b.WriteString(strconv.Itoa(o.uid))
		case "euid":
			b.WriteString(strconv.Itoa(o.euid))
		case "username":
			u, err := user.LookupId(strconv.Itoa(o.euid))
			if err != nil {
				return "", fmt.Errorf("cannot expand %%{username}: %w", err)
			}
			b.WriteString(u.Username)
		case "null":
		case "LIBDIR":
			b.WriteString("/usr/lib")
		case "BINDIR":
			b.WriteString("/usr/bin")
		case "SBINDIR":
			b.WriteString("/usr/sbin")
		default:
			return "", fmt.Errorf("unsupported path token %%{%s}", tok)
		}
	}
}

// collectionDir is the directory of a DIR cache.
func (r ccacheRef) collectionDir() string {
	if r.subsidiary {
		return filepath.Dir(r.path)
	}
	return r.path
}
