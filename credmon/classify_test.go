package credmon

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func classifierFor(t *testing.T, kv ...string) *Classifier {
	t.Helper()
	k := NewKnobs(newFakeKnobSource(kv...))
	if err := k.Load(context.Background(), ClassifierKnobs...); err != nil {
		t.Fatal(err)
	}
	c, err := NewClassifier(k)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClassify(t *testing.T) {
	type tc struct {
		token   string
		ids     string // providers with <P>_CLIENT_ID, comma-separated
		want    Class
		why     string // substring of Why when not served
		provide string
	}
	tables := []struct {
		name  string
		knobs []string
		cases []tc
	}{
		{"defaults (all wildcards, local scitokens)", nil, []tc{
			{token: "dune", want: ClassVault, provide: "dune"},
			{token: "dune_production", want: ClassVault, provide: "dune"},
			{token: "dune_production_h1", want: ClassVault, provide: "dune"},
			{token: "scitokens", want: ClassLocal},
			{token: "scitokens_h1", want: ClassLocal},
			{token: "box", ids: "box", want: ClassOAuth},
			{token: "box_h", ids: "box", want: ClassOAuth},
			{token: "dune_", why: "ends in '_'"},
			{token: "a.b-c", want: ClassVault, provide: "a.b-c"},
		}},
		{"explicit vault list", []string{"VAULT_CREDMON_PROVIDER_NAMES", "dune, igwn"}, []tc{
			{token: "dune", want: ClassVault},
			{token: "igwn_read", want: ClassVault},
			{token: "cms", why: "in no credmon provider list (VAULT_CREDMON_PROVIDER_NAMES is dune,igwn)"},
			{token: "box", ids: "box", want: ClassOAuth},
			{token: "dune", ids: "dune", want: ClassVault}, // explicit vault beats the oauth wildcard
			{token: "scitokens", want: ClassLocal},
		}},
		{"vault list with *", []string{"VAULT_CREDMON_PROVIDER_NAMES", "dune *"}, []tc{
			{token: "cms", want: ClassVault},
			{token: "dune", ids: "dune", want: ClassVault},
			{token: "box", ids: "box", want: ClassOAuth},
		}},
		{"explicit oauth2 list", []string{"OAUTH2_CREDMON_PROVIDER_NAMES", "box,github"}, []tc{
			{token: "box", ids: "box", want: ClassOAuth},
			{token: "github", why: "in OAUTH2_CREDMON_PROVIDER_NAMES but github_CLIENT_ID is not defined"},
			{token: "gitlab", ids: "gitlab", why: "gitlab_CLIENT_ID is defined but provider gitlab is not in OAUTH2_CREDMON_PROVIDER_NAMES"},
			{token: "dune", want: ClassVault},
		}},
		{"oauth2 and vault both explicit", []string{"OAUTH2_CREDMON_PROVIDER_NAMES", "box", "VAULT_CREDMON_PROVIDER_NAMES", "box dune"}, []tc{
			{token: "box", ids: "box", want: ClassOAuth},
			{token: "box", want: ClassVault}, // OAuth needs the client id
			{token: "dune", want: ClassVault},
		}},
		{"local and client lists", []string{"LOCAL_CREDMON_PROVIDER_NAMES", "osg,igwn", "CLIENT_CREDMON_PROVIDER_NAMES", "cc"}, []tc{
			{token: "osg", want: ClassLocal},
			{token: "igwn_h", want: ClassLocal},
			{token: "cc", want: ClassClient},
			{token: "cc", ids: "cc", want: ClassClient},
			{token: "scitokens", why: "local issuer name"}, // excluded by the vault wildcard
			{token: "dune", want: ClassVault},
		}},
		{"singular local name", []string{"LOCAL_CREDMON_PROVIDER_NAME", "mylocal"}, []tc{
			{token: "mylocal", want: ClassLocal},
			{token: "scitokens", why: "local issuer name"},
		}},
		{"plural local wins; singular still excluded from vault", []string{"LOCAL_CREDMON_PROVIDER_NAMES", "osg", "LOCAL_CREDMON_PROVIDER_NAME", "mylocal"}, []tc{
			{token: "osg", want: ClassLocal},
			{token: "mylocal", why: "local issuer name"},
		}},
		{"special characters allowed: whole names", []string{"CREDMON_ALLOW_SPECIAL_CHAR_NAMES", "true", "VAULT_CREDMON_PROVIDER_NAMES", "dune_production"}, []tc{
			{token: "dune_production", want: ClassVault, provide: "dune_production"},
			{token: "dune", why: "in no credmon provider list"},
			{token: "dune_", why: "in no credmon provider list"},
			{token: "scitokens_h1", why: "in no credmon provider list"},
		}},
	}
	for _, tb := range tables {
		t.Run(tb.name, func(t *testing.T) {
			c := classifierFor(t, tb.knobs...)
			for _, x := range tb.cases {
				ids := map[string]bool{}
				for _, p := range strings.Split(x.ids, ",") {
					ids[p] = p != ""
				}
				calls := 0
				d := c.Classify(x.token, func(p string) bool { calls++; return ids[p] })
				if d.Class != x.want {
					t.Errorf("%s (ids %q): class %v, want %v (why %q)", x.token, x.ids, d.Class, x.want, d.Why)
				}
				if x.want == ClassNone && !strings.Contains(d.Why, x.why) {
					t.Errorf("%s: why %q, want it to contain %q", x.token, d.Why, x.why)
				}
				if x.want != ClassNone && d.Why != "" {
					t.Errorf("%s: served but why %q", x.token, d.Why)
				}
				if x.provide != "" && d.Provider != x.provide {
					t.Errorf("%s: provider %q, want %q", x.token, d.Provider, x.provide)
				}
				if calls > 1 {
					t.Errorf("%s: clientID called %d times", x.token, calls)
				}
			}
		})
	}
}

func TestClassifierCheck(t *testing.T) {
	c := classifierFor(t, "VAULT_CREDMON_PROVIDER_NAMES", "dune_production *", "LOCAL_CREDMON_PROVIDER_NAMES", "o.s.g")
	_, err := c.Check()
	if !errors.Is(err, ErrBadProviderName) || !strings.Contains(err.Error(), `"dune_production" in VAULT_CREDMON_PROVIDER_NAMES`) ||
		!strings.Contains(err.Error(), `"o.s.g" in LOCAL_CREDMON_PROVIDER_NAMES`) || strings.Contains(err.Error(), `"*"`) {
		t.Errorf("Check: %v", err)
	}
	c = classifierFor(t, "VAULT_CREDMON_PROVIDER_NAMES", "dune_production", "CREDMON_ALLOW_SPECIAL_CHAR_NAMES", "1")
	if _, err := c.Check(); err != nil {
		t.Errorf("special characters allowed: %v", err)
	}
	c = classifierFor(t, "VAULT_CREDMON_PROVIDER_NAMES", "dune,box", "OAUTH2_CREDMON_PROVIDER_NAMES", "box", "LOCAL_CREDMON_PROVIDER_NAMES", "dune-x")
	w, err := c.Check()
	if err != nil || len(w) != 1 || !strings.Contains(w[0], "overlap between OAuth2 and Vault credmons") {
		t.Errorf("overlap: %q, %v", w, err)
	}
}

func TestNewClassifierBadBool(t *testing.T) {
	k := NewKnobs(newFakeKnobSource("CREDMON_ALLOW_SPECIAL_CHAR_NAMES", "maybe"))
	if _, err := NewClassifier(k); !errors.Is(err, ErrBadValue) {
		t.Errorf("err %v", err)
	}
}

func TestPerName(t *testing.T) {
	c := classifierFor(t, "LOCAL_CREDMON_PROVIDER_NAMES", "osg igwn")
	if got := c.LocalNames(); len(got) != 2 || got[0] != "osg" || got[1] != "igwn" {
		t.Errorf("LocalNames %q", got)
	}
	osg := newScriptedProvider("LOCAL")
	m := &PerName{KindName: "LOCAL", Classifier: c, Providers: map[string]Provider{"osg": osg}}
	out, err := m.Refresh(context.Background(), Cred{User: "u", Name: "osg_h1"}, []byte("u"))
	if err != nil || string(out.Use) != "AT-u-osg_h1\n" {
		t.Errorf("osg_h1: %q %v", out.Use, err)
	}
	if _, err := m.Refresh(context.Background(), Cred{User: "u", Name: "igwn"}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("igwn: %v", err)
	}
	at := time.Unix(100, 0)
	if got := m.NextRefresh(Cred{Name: "osg"}, nil, at); !got.Equal(at.Add(20 * time.Minute)) {
		t.Errorf("NextRefresh %v", got)
	}
}
