package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vaultcred/gettoken/vaultcred"
)

func TestSplitArgs(t *testing.T) {
	for _, c := range []struct {
		args         []string
		opts, cmd    []string
		help, wantOK bool
	}{
		{[]string{"-a", "v", "--", "sh", "-c", "x"}, []string{"-a", "v"}, []string{"sh", "-c", "x"}, false, true},
		{[]string{"-a", "v", "--"}, []string{"-a", "v"}, []string{}, false, true},
		{[]string{"-a", "v", "--", "cmd", "--", "-h"}, []string{"-a", "v"}, []string{"cmd", "--", "-h"}, false, true},
		{[]string{"-a", "v"}, nil, nil, false, false},
		{[]string{"-v", "--help", "--", "x"}, nil, nil, true, false},
		{[]string{"-a", "v", "--", "-h"}, []string{"-a", "v"}, []string{"-h"}, false, true},
	} {
		opts, cmd, help, ok := splitArgs(c.args)
		if fmt.Sprint(opts) != fmt.Sprint(c.opts) || fmt.Sprint(cmd) != fmt.Sprint(c.cmd) || help != c.help || ok != c.wantOK {
			t.Errorf("splitArgs(%q) = %q %q %v %v", c.args, opts, cmd, help, ok)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	env := vaultcred.Environ{LookupEnv: func(k string) (string, bool) {
		if k == "HTGETTOKENOPTS" {
			return "-a vault.example", true
		}
		return "", false
	}}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-a", "v"}, 1, "httokensh: No -- separator given\nUsage: httokensh"},
		{[]string{"--", "true"}, 1, "httokensh: No htgettoken options given\nUsage: httokensh"},
		{[]string{"--nosuchoption", "--", "true"}, 2, "httokensh: error: no such option: --nosuchoption"},
	} {
		var out, errb bytes.Buffer
		code := run(c.args, env, &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.msg) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", c.args, code, errb.String(), c.code, c.msg)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"--help"}, env, &out, &errb); code != 0 || !strings.Contains(out.String(), "--minsecs=seconds") {
		t.Errorf("--help: exit %d, stdout %q", code, out.String())
	}
}

func jwt(exp int64) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(fmt.Sprintf(`{"exp":%d}`, exp))) + ".sig"
}

func TestRenewWait(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	s := &session{opts: &vaultcred.Options{MinSecs: 60}}
	if w, err := s.renewWait(jwt(now.Unix()+120), now, laterMinWait); err != nil || w != 62*time.Second {
		t.Errorf("120 s token: %v %v, want 62s", w, err)
	}
	_, err := s.renewWait(jwt(now.Unix()+100), now, laterMinWait)
	if err == nil || err.Error() != "Calculated renewal time of 42 seconds is less than 60" {
		t.Errorf("short renewal: %v", err)
	}
	if _, err := s.renewWait(jwt(now.Unix()+100), now, firstMinWait); err != nil {
		t.Errorf("first renewal of 42 s refused: %v", err)
	}
	if _, err := s.renewWait("not-a-jwt", now, firstMinWait); err == nil {
		t.Error("token without exp accepted")
	}
}

func TestApplyDefaults(t *testing.T) {
	env := vaultcred.Environ{Euid: 1234, LookupEnv: func(k string) (string, bool) {
		if k == "XDG_RUNTIME_DIR" {
			return "/run/user/1234", true
		}
		return "", false
	}}
	p := parser(env)
	o := vaultcred.NewOptions()
	applyDefaults(p, o, []string{"-a", "v"}, env)
	if !strings.HasPrefix(o.OutFile, "/run/user/1234/bt_u1234.sh-") {
		t.Errorf("OutFile %q", o.OutFile)
	}
	// md5("-a v\n")
	if o.VaultTokenFile != "/tmp/vt_u1234.sh-95f13202ccaae3b0ae83132820560b64" {
		t.Errorf("VaultTokenFile %q", o.VaultTokenFile)
	}
	if o.VaultTokenMinTTL != 6*24*time.Hour {
		t.Errorf("VaultTokenMinTTL %v", o.VaultTokenMinTTL)
	}
	o = vaultcred.NewOptions()
	o.VaultTokenFile = "/x"
	applyDefaults(p, o, []string{"-a", "v", "--vaulttokent=3d"}, env)
	if o.VaultTokenFile != "/x" || o.VaultTokenMinTTL != 0 {
		t.Errorf("given options overridden: %q %v", o.VaultTokenFile, o.VaultTokenMinTTL)
	}
}
