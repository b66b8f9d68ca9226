package storer

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseRequest(t *testing.T) {
	cases := []struct {
		arg  string
		want Request
		err  error
	}{
		{"dune", Request{Service: "dune", Issuer: "dune"}, nil},
		{"dune_production", Request{Service: "dune_production", Issuer: "dune", Role: "production"}, nil},
		{"dune_production&handle=ro&scopes=read:/a,read:/b&audience=https://x",
			Request{Service: "dune_production", Issuer: "dune", Role: "production", Handle: "ro", Scopes: "read:/a,read:/b", Audience: "https://x"}, nil},
		{"dune&handle=h&scope=read:/a", Request{Service: "dune", Issuer: "dune", Handle: "h", Scopes: "read:/a"}, nil},
		{"dune&options=--credkey abc&bogus=1&noequals", Request{Service: "dune", Issuer: "dune", Options: "--credkey abc"}, nil},
		{"dune&audience=a=b&handle=h", Request{Service: "dune", Issuer: "dune", Audience: "a=b", Handle: "h"}, nil},
		{"a_b_c", Request{}, ErrUnderscores},
		{"dune&scopes=x", Request{}, ErrReduced},
		{"dune&audience=x", Request{}, ErrReduced},
		{"&handle=x", Request{}, ErrNoService},
		{"bad/name", Request{}, ErrBadName},
		{"dune&handle=a b", Request{}, ErrBadName},
	}
	for _, tc := range cases {
		got, err := ParseRequest(tc.arg)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%q: err %v, want %v", tc.arg, err, tc.err)
			}
			continue
		}
		tc.want.Raw = tc.arg
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %+v, %v; want %+v", tc.arg, got, err, tc.want)
		}
	}
	r, _ := ParseRequest("dune&handle=h&options=--credkey  * x")
	if w := r.OptionWords(); !reflect.DeepEqual(w, []string{"--credkey", "*", "x"}) {
		t.Errorf("option words %q: no glob expansion expected", w)
	}
	if r.HandleService() != "dune_h" {
		t.Error(r.HandleService())
	}
}
