package krb

import (
	"fmt"
	"strings"

	"github.com/jcmturner/gokrb5/v8/config"
)

// DefaultConfigPath is read when neither Options.ConfigPath nor KRB5_CONFIG
// is set.
const DefaultConfigPath = "/etc/krb5.conf"

// libdefaultsForGokrb5 are the [libdefaults] relations handed to gokrb5.
// The others only matter to programs this package does not replace (kinit,
// kadmin, the KDC) or to features gokrb5 lacks, and gokrb5's strict parser
// rejects some of their real-world values, so they are left out.
var libdefaultsForGokrb5 = []string{
	"default_realm",
	"dns_lookup_kdc",
	"dns_lookup_realm",
	"udp_preference_limit",
	"clockskew",
	"kdc_timesync",
	"default_tgs_enctypes",
	"default_tkt_enctypes",
	"permitted_enctypes",
	"allow_weak_crypto",
	"kdc_default_options",
	"noaddresses",
	"canonicalize",
	"forwardable",
	"proxiable",
	"ticket_lifetime",
	"renew_lifetime",
}

// realmRelations are the per-realm relations handed to gokrb5.
var realmRelations = []string{"kdc", "admin_server", "master_kdc", "kpasswd_server"}

// configPaths returns the krb5.conf files to read: Options.ConfigPath, else
// KRB5_CONFIG, else /etc/krb5.conf. The first two are colon-separated lists.
func configPaths(o *resolvedOptions) []string {
	list := o.configPath
	if list == "" {
		if v, ok := o.lookupEnv("KRB5_CONFIG"); ok && v != "" {
			list = v
		}
	}
	if list == "" {
		return []string{DefaultConfigPath}
	}
	return strings.Split(list, ":")
}

// buildConfig turns the profile into a gokrb5 configuration. Only the parts
// gokrb5 understands are rendered, in a form its parser accepts, so that
// include directives, unknown sections, subsections and trailing comments in
// the user's files cannot break it. Then, as htgettoken does:
//   - rdns is forced off;
//   - dns_lookup_kdc defaults to true (MIT's default; gokrb5's is false), so a
//     realm with no kdc lines is looked up in DNS SRV records;
//   - default_realm defaults to the credentials cache's realm, so an empty or
//     missing krb5.conf still works when the KDC can be found.
func buildConfig(prof *profile, ccRealm string) (*config.Config, error) {
	var b strings.Builder
	b.WriteString("[libdefaults]\n")
	for _, key := range libdefaultsForGokrb5 {
		n, ok := prof.first("libdefaults", key)
		if !ok {
			continue
		}
		v := cleanConfigValue(n.value)
		if !safeConfigValue(v) {
			return nil, &ConfigError{Path: n.file, Line: n.line, Msg: fmt.Sprintf("[libdefaults] %s: unusable value %q", key, n.value)}
		}
		line := "  " + key + " = " + v + "\n"
		if _, err := config.NewFromString("[libdefaults]\n" + line); err != nil {
			return nil, &ConfigError{Path: n.file, Line: n.line, Msg: fmt.Sprintf("[libdefaults] %s: value %q not understood", key, n.value)}
		}
		b.WriteString(line)
	}
	b.WriteString("[realms]\n")
	for _, realm := range prof.subsections("realms") {
		if !safeConfigToken(realm) {
			continue
		}
		b.WriteString("  " + realm + " = {\n")
		for _, rel := range realmRelations {
			for _, v := range prof.values("realms", realm, rel) {
				v = cleanConfigValue(v)
				if safeConfigValue(v) && !strings.Contains(v, "v4_") {
					b.WriteString("    " + rel + " = " + v + "\n")
				}
			}
		}
		if dd := prof.values("realms", realm, "default_domain"); len(dd) > 0 && safeConfigValue(cleanConfigValue(dd[0])) {
			b.WriteString("    default_domain = " + cleanConfigValue(dd[0]) + "\n")
		}
		b.WriteString("  }\n")
	}
	b.WriteString("[domain_realm]\n")
	for _, key := range prof.keys("domain_realm") {
		n, _ := prof.first("domain_realm", key)
		if v := cleanConfigValue(n.value); safeConfigToken(key) && safeConfigValue(v) {
			b.WriteString("  " + key + " = " + v + "\n")
		}
	}
	cfg, err := config.NewFromString(b.String())
	if err != nil {
		if _, unsupported := err.(config.UnsupportedDirective); !unsupported || cfg == nil {
			return nil, &ConfigError{Path: strings.Join(prof.files, ":"), Msg: "unusable configuration", Err: err}
		}
	}
	cfg.LibDefaults.RDNS = false
	if _, ok := prof.first("libdefaults", "dns_lookup_kdc"); !ok {
		cfg.LibDefaults.DNSLookupKDC = true
	}
	if cfg.LibDefaults.DefaultRealm == "" {
		cfg.LibDefaults.DefaultRealm = ccRealm
	}
	return cfg, nil
}

// cleanConfigValue drops a trailing "# comment" or "; comment": MIT keeps
// it as part of the value, but no value this package uses can hold one, and
// the user certainly meant a comment.
func cleanConfigValue(v string) string {
	if i := strings.IndexAny(v, "#;"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// safeConfigValue reports whether v can be written on a gokrb5 config line
// without changing its meaning (gokrb5 cuts values at '=', '#' and ';').
func safeConfigValue(v string) bool {
	return v != "" && !strings.ContainsAny(v, "={}#;\n\r")
}

// safeConfigToken is safeConfigValue for names, which also may not hold blanks.
func safeConfigToken(v string) bool {
	return safeConfigValue(v) && !strings.ContainsAny(v, " \t[]")
}
