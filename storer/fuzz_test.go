package storer

import (
	"errors"
	"strings"
	"testing"

	"github.com/vaultcred/gettoken/internal/htcondor"
)

// FuzzParseRequest checks the request syntax of condor_submit arguments
// (<service>[&handle=..][&scopes=..][&audience=..][&options=..]): no
// panic, only the documented errors, names the credd accepts, and that an
// accepted request printed in canonical form parses to the same request.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"dune", "dune_production", "dune_a_b", "dune&handle=h1&scopes=read:/ write:/x&audience=https://a",
		"dune&scope=x", "dune&scopes=x", "&handle=h", "dune&options=--nooidc -v", "dune&handle=../x",
		"dune&&handle=&x=y&handle=h2", "dune&audience=a=b", "dün", "dune&handle=h&options=a\tb",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		r, err := ParseRequest(arg)
		if r.Raw != arg {
			t.Fatalf("Raw = %q, want %q", r.Raw, arg)
		}
		if err != nil {
			if !errors.Is(err, ErrUnderscores) && !errors.Is(err, ErrReduced) && !errors.Is(err, ErrNoService) && !errors.Is(err, ErrBadName) {
				t.Fatalf("ParseRequest(%q): undocumented error %v", arg, err)
			}
			return
		}
		if !htcondor.ValidName(r.Service) || (r.Handle != "" && !htcondor.ValidName(r.Handle)) {
			t.Fatalf("ParseRequest(%q) accepted names %q %q", arg, r.Service, r.Handle)
		}
		if hs := r.HandleService(); hs != "" && !htcondor.ValidName(hs) {
			t.Fatalf("handle service %q is not a valid name", hs)
		}
		if r.Reduced() && r.Handle == "" {
			t.Fatalf("reduced request %q without a handle accepted", arg)
		}
		if r.Role != "" && r.Issuer+"_"+r.Role != r.Service || r.Role == "" && r.Issuer != r.Service && r.Issuer+"_" != r.Service {
			t.Fatalf("service %q split into %q and %q", r.Service, r.Issuer, r.Role)
		}
		for _, w := range r.OptionWords() {
			if w == "" || strings.ContainsAny(w, " \t\n") {
				t.Fatalf("option word %q", w)
			}
		}
		// The parts are values of &-separated key=value pairs, so they
		// cannot hold '&'; put back together they give the same request.
		canon := r.Service
		for _, kv := range [][2]string{{"handle", r.Handle}, {"scopes", r.Scopes}, {"audience", r.Audience}, {"options", r.Options}} {
			if kv[1] != "" {
				canon += "&" + kv[0] + "=" + kv[1]
			}
		}
		r2, err := ParseRequest(canon)
		r2.Raw = r.Raw
		if err != nil || r2 != r {
			t.Fatalf("canonical form %q of %q parses to %+v, %v; want %+v", canon, arg, r2, err, r)
		}
	})
}
