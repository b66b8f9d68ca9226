package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--help"}, exitOK, "--no-tls"},
		{[]string{"--bogus"}, exitUsage, "usage:"},
		{[]string{"extra"}, exitUsage, "unexpected argument"},
		{[]string{"--no-tls", "--tls-cert", "c.pem"}, exitUsage, "exclude each other"},
	} {
		var o, e bytes.Buffer
		code := run(append([]string{"condor_credmon_webserver"}, c.args...), &o, &e)
		if code != c.code || !strings.Contains(o.String()+e.String(), c.out) {
			t.Errorf("%v: exit %d\n%s%s", c.args, code, o.String(), e.String())
		}
	}
}

func TestNoCredentialDirectory(t *testing.T) {
	t.Setenv("_CONDOR_SEC_CREDENTIAL_DIRECTORY_OAUTH", "")
	t.Setenv("_CONDOR_SEC_CREDENTIAL_DIRECTORY", "")
	t.Setenv("_CONDOR_CREDMON_WEB_PREFIX", "")
	t.Setenv("PATH", t.TempDir())
	var o, e bytes.Buffer
	if code := run([]string{"condor_credmon_webserver", "--no-tls"}, &o, &e); code != exitFailure || strings.Count(e.String(), "\n") != 1 {
		t.Errorf("exit %d: %q", code, e.String())
	}
}
