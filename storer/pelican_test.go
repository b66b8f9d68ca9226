package storer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vaultcred/gettoken/internal/htcondor"
)

// pelicanCondor is a fake Condor for the pelican mode: knobs from a map,
// query answers per name, and the add-oauth calls recorded.
type pelicanCondor struct {
	knobs   map[string]string
	stored  map[string]bool
	adds    []pelicanAdd
	configs [][]string
	addErr  error
}

type pelicanAdd struct {
	name, scopes, audience string
	payload                map[string]string
}

func (f *pelicanCondor) Config(ctx context.Context, knobs ...string) (map[string]string, error) {
	f.configs = append(f.configs, knobs)
	out := map[string]string{}
	for _, k := range knobs {
		if v, ok := f.knobs[strings.ToUpper(k)]; ok {
			out[k] = v
		}
	}
	return out, nil
}

func (f *pelicanCondor) QueryOAuth(ctx context.Context, name, scopes, audience string) (htcondor.QueryResult, error) {
	if f.stored[name] {
		return htcondor.Stored, nil
	}
	return htcondor.NotStored, nil
}

func (f *pelicanCondor) AddOAuth(ctx context.Context, name, scopes, audience string, payload []byte) error {
	var m map[string]string
	if err := json.Unmarshal(payload, &m); err != nil {
		return err
	}
	f.adds = append(f.adds, pelicanAdd{name, scopes, audience, m})
	return f.addErr
}

// fakeClient stands for the pelican client: it records its arguments and
// prints out.
type fakeClient struct {
	args [][]string
	out  string
	err  error
}

func (c *fakeClient) run(ctx context.Context, path string, args []string, stdin io.Reader, stderr io.Writer) ([]byte, error) {
	c.args = append(c.args, args)
	io.WriteString(stderr, "To log in, visit https://idp/device and enter ABCD\n")
	return []byte(c.out), c.err
}

// pelicanBin is an executable file standing for the client on PATH (only
// found, never run: Run is the fake).
func pelicanBin(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "pelican")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPelicanStore(t *testing.T) {
	bin := pelicanBin(t)
	condor := &pelicanCondor{knobs: map[string]string{
		"OSDF_PELICAN_URL": "https://osg-htc.org", "OSDF_PELICAN_PREFIX": "/ospool/ap20/data",
		"OSDF_PELICAN_PERMISSIONS": "read, write create",
	}, stored: map[string]bool{"osdf_done": true}}
	client := &fakeClient{out: "Token for you:\n\neyJhbGciOi.payload.sig\n\n"}
	var stderr bytes.Buffer
	p := &Pelican{Prog: "condor_credential_storer", Condor: condor, Stderr: &stderr, Run: client.run,
		Getenv: func(k string) string {
			if k == "PELICAN_BIN" {
				return bin
			}
			return ""
		}}
	err := p.Store(context.Background(), []string{"osdf", "osdf&handle=done", "osdf&handle=w&scope=storage.read:/a&audience=https://o"})
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := []string{"token", "fetch", "--read", "--write", "pelican://osg-htc.org/ospool/ap20/data"}
	if len(client.args) != 2 || !reflect.DeepEqual(client.args[0], wantArgs) {
		t.Errorf("client runs %q, want two of %q (the stored handle skipped)", client.args, wantArgs)
	}
	want := []pelicanAdd{
		{"osdf", "", "", map[string]string{"access_token": "eyJhbGciOi.payload.sig"}},
		{"osdf_w", "storage.read:/a", "https://o", map[string]string{"access_token": "eyJhbGciOi.payload.sig"}},
	}
	if !reflect.DeepEqual(condor.adds, want) {
		t.Errorf("stored %+v, want %+v", condor.adds, want)
	}
	msg := "condor_credential_storer: Obtaining a Pelican token for service 'osdf' (pelican://osg-htc.org/ospool/ap20/data, read,write,create)\n"
	if !strings.HasPrefix(stderr.String(), msg) || !strings.Contains(stderr.String(), "enter ABCD") {
		t.Errorf("stderr = %q", stderr.String())
	}
	if strings.Contains(stderr.String(), "eyJhbGciOi") {
		t.Error("the token reached stderr")
	}
}

func TestPelicanStoreFatal(t *testing.T) {
	bin := pelicanBin(t)
	cases := []struct {
		name   string
		knobs  map[string]string
		client *fakeClient
		bin    string
		add    error
		want   string
	}{
		{"no URL", map[string]string{}, &fakeClient{out: "t"}, bin, nil, "osdf_PELICAN_URL: not set"},
		{"bad scheme", map[string]string{"OSDF_PELICAN_URL": "ftp://x"}, &fakeClient{out: "t"}, bin, nil, "the scheme must be"},
		{"bad permission", map[string]string{"OSDF_PELICAN_URL": "osdf://x", "OSDF_PELICAN_PERMISSIONS": "read,admin"}, &fakeClient{out: "t"}, bin, nil, `unknown permission "admin"`},
		{"client fails", map[string]string{"OSDF_PELICAN_URL": "osdf://x"}, &fakeClient{err: errors.New("pelican exited with status 3")}, bin, nil, "status 3"},
		{"no output", map[string]string{"OSDF_PELICAN_URL": "osdf://x"}, &fakeClient{out: "\n \n"}, bin, nil, "printed no token"},
		{"not a token", map[string]string{"OSDF_PELICAN_URL": "osdf://x"}, &fakeClient{out: "error: \"bad\" thing"}, bin, nil, "not a token"},
		{"no client", map[string]string{"OSDF_PELICAN_URL": "osdf://x"}, &fakeClient{out: "t"}, filepath.Join(t.TempDir(), "none"), nil, "was not found"},
		{"store fails", map[string]string{"OSDF_PELICAN_URL": "osdf://x"}, &fakeClient{out: "tok"}, bin, errors.New("credd says no"), "Failed to store condor credentials for osdf"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			condor := &pelicanCondor{knobs: tc.knobs, addErr: tc.add}
			var stderr bytes.Buffer
			p := &Pelican{Prog: "s", Condor: condor, Stderr: &stderr, Run: tc.client.run,
				Getenv: func(string) string { return tc.bin }}
			err := p.Store(context.Background(), []string{"osdf"})
			var fe *FatalError
			if !errors.As(err, &fe) || !strings.Contains(fe.Msg, tc.want) {
				t.Fatalf("error %v, want a fatal one containing %q", err, tc.want)
			}
			if tc.add == nil && len(condor.adds) > 0 {
				t.Errorf("stored after a failure: %+v", condor.adds)
			}
		})
	}
}

func TestPelicanResourceAndPermissions(t *testing.T) {
	for _, tc := range []struct{ url, prefix, want string }{
		{"pelican://fed.example", "", "pelican://fed.example"},
		{"osdf://fed.example/", "/a/b", "osdf://fed.example/a/b"},
		{"https://fed.example", "a", "pelican://fed.example/a"},
		{"HTTP://fed.example//", "//a", "pelican://fed.example/a"},
	} {
		got, err := PelicanResource(tc.url, tc.prefix)
		if err != nil || got != tc.want {
			t.Errorf("PelicanResource(%q, %q) = %q, %v; want %q", tc.url, tc.prefix, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "fed.example", "file:///x", "pelican://a b"} {
		if _, err := PelicanResource(bad, ""); err == nil {
			t.Errorf("PelicanResource(%q) accepted", bad)
		}
	}
	for v, want := range map[string][]string{
		"":                    {"--read"},
		"write":               {"--write"},
		"modify delete,read":  {"--modify", "--read"},
		"Create":              {"--write"},
		"read,write,modify":   {"--read", "--write", "--modify"},
		" , read ,, delete ,": {"--read", "--modify"},
	} {
		got, _, err := PelicanPermissions(v)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("PelicanPermissions(%q) = %q, %v; want %q", v, got, err, want)
		}
	}
	if _, _, err := PelicanPermissions(", ,"); err == nil {
		t.Error("an empty permission list was accepted")
	}
}

func TestRouteRequests(t *testing.T) {
	c := &pelicanCondor{knobs: map[string]string{
		"PELICAN_CREDMON_PROVIDER_NAMES": "osdf", "LOCAL_CREDMON_PROVIDER_NAME": "scitokens",
		"OAUTH2_CREDMON_PROVIDER_NAMES": "box", "CLIENT_CREDMON_PROVIDER_NAMES": "cc",
	}}
	reqs := []string{"dune", "osdf&handle=h", "osdf_x", "scitokens", "box", "cc_a", "dune_prod&handle=h"}
	r, err := RouteRequests(context.Background(), c, "", reqs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Vault, []string{"dune", "dune_prod&handle=h"}) || !reflect.DeepEqual(r.Pelican, []string{"osdf&handle=h", "osdf_x"}) || len(r.Skipped) != 3 {
		t.Errorf("route = %+v", r)
	}
	if r, _ := RouteRequests(context.Background(), c, "pelican", reqs); len(r.Pelican) != len(reqs) || len(r.Vault) != 0 {
		t.Errorf("mode pelican: %+v", r)
	}
	if r, _ := RouteRequests(context.Background(), c, "vault", reqs); len(r.Vault) != len(reqs) {
		t.Errorf("mode vault: %+v", r)
	}
	if _, err := RouteRequests(context.Background(), c, "kerberos", reqs); err == nil {
		t.Error("an unknown mode was accepted")
	}
	// One configuration batch serves the routing and the Vault run.
	c.configs = nil
	pre, err := Prefetch(context.Background(), c, append(RouteKnobs, Knobs...)...)
	if err != nil {
		t.Fatal(err)
	}
	RouteRequests(context.Background(), pre, "", reqs)
	pre.Config(context.Background(), Knobs...)
	if len(c.configs) != 1 {
		t.Errorf("%d configuration batches, want 1", len(c.configs))
	}
}
