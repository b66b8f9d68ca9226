package krb

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveCCacheName(t *testing.T) {
	dir := t.TempDir()
	confWith := func(name, body string) string {
		return writeFile(t, filepath.Join(dir, name), []byte(body))
	}
	plainConf := confWith("plain.conf", "[libdefaults]\n default_realm = EXAMPLE.ORG\n")
	tempConf := confWith("temp.conf", "[libdefaults]\n default_ccache_name = FILE:%{TEMP}/krb5cc_%{uid}_x\n")
	euidConf := confWith("euid.conf", "[libdefaults]\n default_ccache_name = DIR:/run/user/%{euid}/krb5cc-%{USERID}%{null}\n")
	keyringConf := confWith("keyring.conf", "[libdefaults]\n default_ccache_name = KEYRING:persistent:%{uid}\n")
	badTokConf := confWith("badtok.conf", "[libdefaults]\n  # comment\n default_ccache_name = FILE:/tmp/%{bogus}\n")
	openTokConf := confWith("opentok.conf", "[libdefaults]\n default_ccache_name = FILE:/tmp/%{uid\n")

	tests := []struct {
		name       string
		env        map[string]string
		conf       string
		want       string // ccacheRef.String()
		wantSource string
		wantErr    error
		errHas     []string
	}{
		{name: "FILE type", env: map[string]string{"KRB5CCNAME": "FILE:/x/cc"}, conf: plainConf, want: "FILE:/x/cc", wantSource: sourceEnv},
		{name: "bare absolute path", env: map[string]string{"KRB5CCNAME": "/x/cc"}, conf: plainConf, want: "FILE:/x/cc", wantSource: sourceEnv},
		{name: "absolute path with colon", env: map[string]string{"KRB5CCNAME": "/x/a:b"}, conf: plainConf, want: "FILE:/x/a:b", wantSource: sourceEnv},
		{name: "bare relative path", env: map[string]string{"KRB5CCNAME": "cc"}, conf: plainConf, want: "FILE:cc", wantSource: sourceEnv},
		{name: "DIR collection", env: map[string]string{"KRB5CCNAME": "DIR:/run/user/1/krb5cc"}, conf: plainConf, want: "DIR:/run/user/1/krb5cc", wantSource: sourceEnv},
		{name: "DIR subsidiary", env: map[string]string{"KRB5CCNAME": "DIR::/run/user/1/krb5cc/tktAB"}, conf: plainConf, want: "DIR::/run/user/1/krb5cc/tktAB", wantSource: sourceEnv},
		{name: "env not expanded", env: map[string]string{"KRB5CCNAME": "FILE:/tmp/%{uid}"}, conf: plainConf, want: "FILE:/tmp/%{uid}", wantSource: sourceEnv},
		{name: "KEYRING", env: map[string]string{"KRB5CCNAME": "KEYRING:persistent:1000"}, conf: plainConf, want: "KEYRING:persistent:1000", wantSource: sourceEnv},
		{name: "KCM", env: map[string]string{"KRB5CCNAME": "KCM:"}, conf: plainConf, want: "KCM:", wantSource: sourceEnv},
		{name: "MSLSA unsupported", env: map[string]string{"KRB5CCNAME": "MSLSA:"}, conf: plainConf, wantErr: ErrUnsupportedCCache, errHas: []string{"MSLSA", "FILE:", "DIR:", "KEYRING:", "KCM:", "KRB5CCNAME"}},
		{name: "MEMORY unsupported", env: map[string]string{"KRB5CCNAME": "MEMORY:x"}, conf: plainConf, wantErr: ErrUnsupportedCCache, errHas: []string{"MEMORY"}},
		{name: "API unsupported", env: map[string]string{"KRB5CCNAME": "API:x"}, conf: plainConf, wantErr: ErrUnsupportedCCache, errHas: []string{"API"}},
		{name: "type is case sensitive", env: map[string]string{"KRB5CCNAME": "file:/x"}, conf: plainConf, wantErr: ErrUnsupportedCCache, errHas: []string{"file"}},
		{name: "empty env falls to built-in", env: map[string]string{"KRB5CCNAME": ""}, conf: plainConf, want: "FILE:/tmp/krb5cc_1234", wantSource: sourceBuiltin},
		{name: "built-in default", env: map[string]string{}, conf: plainConf, want: "FILE:/tmp/krb5cc_1234", wantSource: sourceBuiltin},
		{name: "built-in default, no krb5.conf", env: map[string]string{}, conf: filepath.Join(dir, "missing.conf"), want: "FILE:/tmp/krb5cc_1234", wantSource: sourceBuiltin},
		{name: "config TEMP from TMPDIR", env: map[string]string{"TMPDIR": "/scratch"}, conf: tempConf, want: "FILE:/scratch/krb5cc_1234_x", wantSource: sourceConfig},
		{name: "config TEMP default", env: map[string]string{}, conf: tempConf, want: "FILE:/tmp/krb5cc_1234_x", wantSource: sourceConfig},
		{name: "env beats config", env: map[string]string{"KRB5CCNAME": "FILE:/e"}, conf: tempConf, want: "FILE:/e", wantSource: sourceEnv},
		{name: "config euid USERID null", env: map[string]string{}, conf: euidConf, want: "DIR:/run/user/99/krb5cc-1234", wantSource: sourceConfig},
		{name: "config KEYRING uid", env: map[string]string{}, conf: keyringConf, want: "KEYRING:persistent:1234", wantSource: sourceConfig},
		{name: "config unknown token", env: map[string]string{}, conf: badTokConf, wantErr: ErrConfig, errHas: []string{"badtok.conf:3", "%{bogus}"}},
		{name: "config unterminated token", env: map[string]string{}, conf: openTokConf, wantErr: ErrConfig, errHas: []string{"opentok.conf:2", "unterminated"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{LookupEnv: envMap(tc.env), UID: intPtr(1234), EUID: intPtr(99), ConfigPath: tc.conf}.resolve()
			prof, err := loadProfile(configPaths(o))
			if err != nil {
				t.Fatalf("loadProfile: %v", err)
			}
			ref, err := resolveCCacheName(o, prof)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				assertNoSecrets(t, err.Error())
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if ref.String() != tc.want || ref.source != tc.wantSource {
				t.Errorf("got %s from %s, want %s from %s", ref, ref.source, tc.want, tc.wantSource)
			}
		})
	}
}

func TestUnsupportedCCacheErrorType(t *testing.T) {
	_, err := parseCCacheName("MEMORY:x", sourceEnv)
	var ue *UnsupportedCCacheError
	if !errors.As(err, &ue) || ue.Type != "MEMORY" {
		t.Fatalf("err = %#v, want *UnsupportedCCacheError for MEMORY", err)
	}
}
