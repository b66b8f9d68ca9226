package webapptest

import (
	"crypto"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/vaultcred/gettoken/integration/condor/credd"
	"github.com/vaultcred/gettoken/integration/stack"
)

// client is one browser without JavaScript: a cookie jar and the stack's
// CA. When stopAtReturn is set it does not follow the IdP's redirect to
// the return endpoint and keeps that URL in returnURL.
type client struct {
	t            *testing.T
	hc           *http.Client
	stopAtReturn bool
	returnURL    string
	stopAtIdP    bool
	authURL      string
}

func newClient(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	c := &client{t: t}
	c.hc = &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: env.Stack.Certs.Pool}}}
	c.hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if c.stopAtReturn && strings.Contains(req.URL.Path, "/return/") {
			c.returnURL = req.URL.String()
			return http.ErrUseLastResponse
		}
		if c.stopAtIdP && strings.HasSuffix(req.URL.Path, "/auth") {
			c.authURL = req.URL.String()
			return http.ErrUseLastResponse
		}
		if len(via) > 20 {
			return fmt.Errorf("too many redirects")
		}
		return nil
	}
	return c
}

func (c *client) do(req *http.Request) (int, string) {
	c.t.Helper()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

func (c *client) get(u string) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	return c.do(req)
}

func (c *client) post(u string, form url.Values) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

var (
	csrfRE   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	actionRE = regexp.MustCompile(`action="(/interaction/[\w-]+/(?:login|confirm))"`)
)

// startLogin presses Log in for label on the index page (the client must
// hold a session) and answers the IdP's login and consent forms as acct;
// it returns the last page.
func (c *client) login(s *site, label string, acct stack.Account) (int, string) {
	c.t.Helper()
	_, page := c.get(s.base + "/")
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		c.t.Fatalf("no login form:\n%s", page)
	}
	code, page := c.post(s.base+"/login/"+url.PathEscape(label), url.Values{"csrf": {m[1]}})
	for i := 0; i < 3 && code == 200; i++ {
		a := actionRE.FindStringSubmatch(page)
		if a == nil {
			return code, page
		}
		form := url.Values{}
		if strings.HasSuffix(a[1], "/login") {
			form = url.Values{"login": {acct.Name}, "password": {acct.Password}}
		}
		code, page = c.post(env.Stack.IdP.URL+a[1], form)
	}
	return code, page
}

func (s *site) noFiles(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		t.Errorf("file written: %s", e.Name())
	}
}

func TestBadInput(t *testing.T) {
	s := newSite(t, nil)
	sub := env.NewSubmitter(t, s.condor)
	link := s.submit(sub)
	ud := sub.CredDir()
	key := link[strings.LastIndex(link, "/")+1:]

	page := func(t *testing.T, code int, body string, want int) {
		t.Helper()
		if code != want || !strings.Contains(body, `id="error"`) {
			t.Errorf("HTTP %d, want %d, with an error page:\n%.600s", code, want, body)
		}
		for _, secret := range []string{s.secret, key} {
			if strings.Contains(body, secret) {
				t.Errorf("the page leaks %.8s...", secret)
			}
		}
	}

	t.Run("forged key", func(t *testing.T) {
		c := newClient(t)
		code, body := c.get(s.base + "/key/" + strings.Repeat("ab", 32))
		page(t, code, body, 404)
		code, body = c.get(s.base + "/key/" + key[:63] + "G")
		page(t, code, body, 400)
		code, body = c.get(s.base + "/key/CREDMON_COMPLETE")
		page(t, code, body, 400)
	})
	t.Run("key file planted by another user", func(t *testing.T) {
		planted := strings.Repeat("c", 64)
		p := filepath.Join(s.condor.CredDir, planted)
		os.WriteFile(p, []byte(readFile(t, filepath.Join(s.condor.CredDir, key))), 0o600)
		os.Chown(p, env.UID, env.GID)
		defer os.Remove(p)
		code, body := newClient(t).get(s.base + "/key/" + planted)
		page(t, code, body, 500)
	})
	t.Run("path-traversal provider", func(t *testing.T) {
		c := newClient(t)
		c.get(link)
		_, idx := c.get(s.base + "/")
		csrf := csrfRE.FindStringSubmatch(idx)[1]
		for _, l := range []string{"..%2F..%2Fetc", "box%2F..%2F..%2Fx", "..", "box%00"} {
			code, body := c.post(s.base+"/login/"+l, url.Values{"csrf": {csrf}})
			if code != 404 && code != 400 || !strings.Contains(body, "error") {
				t.Errorf("login/%s: %d\n%.300s", l, code, body)
			}
		}
		planted := strings.Repeat("d", 64)
		p := filepath.Join(s.condor.CredDir, planted)
		os.WriteFile(p, []byte(strings.Replace(readFile(t, filepath.Join(s.condor.CredDir, key)), `Provider = "box"`, `Provider = "../../../etc/box"`, 1)), 0o640)
		defer os.Remove(p)
		code, body := newClient(t).get(s.base + "/key/" + planted)
		page(t, code, body, 400)
	})
	t.Run("missing and forged state", func(t *testing.T) {
		c := newClient(t)
		c.get(link)
		code, body := c.get(s.base + "/return/box?code=x")
		page(t, code, body, 400)
		code, body = c.get(s.base + "/return/box?code=x&state=forged")
		page(t, code, body, 400)
		code, body = newClient(t).get(s.base + "/return/box?code=x&state=y")
		page(t, code, body, 400)
		code, body = c.post(s.base+"/login/box", url.Values{"csrf": {"forged"}})
		page(t, code, body, 400)
	})
	t.Run("replayed state and code reuse", func(t *testing.T) {
		c := newClient(t)
		c.get(link)
		c.stopAtReturn = true
		c.login(s, "box", stack.Alice)
		first := c.returnURL
		c.stopAtReturn = false
		if first == "" {
			t.Fatal("no redirect to the return endpoint")
		}
		if code, body := c.get(first); code != 200 || !strings.Contains(body, "done") {
			t.Fatalf("the real return: %d\n%.800s", code, body)
		}
		top := readFile(t, filepath.Join(ud, "box.top"))
		code, body := c.get(first)
		page(t, code, body, 400)
		// The used code with a fresh state: the IdP refuses it.
		c.stopAtReturn = true
		c.login(s, "box", stack.Alice)
		c.stopAtReturn = false
		fresh, _ := url.Parse(c.returnURL)
		old, _ := url.Parse(first)
		q := fresh.Query()
		q.Set("code", old.Query().Get("code"))
		fresh.RawQuery = q.Encode()
		code, body = c.get(fresh.String())
		page(t, code, body, 502)
		if readFile(t, filepath.Join(ud, "box.top")) != top {
			t.Error("box.top changed after a reused code")
		}
		os.Remove(filepath.Join(ud, "box.top"))
		os.Remove(filepath.Join(ud, "box.use"))
		os.Remove(filepath.Join(ud, "box.meta"))
	})
	t.Run("IdP error", func(t *testing.T) {
		c := newClient(t)
		c.get(link)
		_, idx := c.get(s.base + "/")
		csrf := csrfRE.FindStringSubmatch(idx)[1]
		c.stopAtIdP = true
		c.post(s.base+"/login/box", url.Values{"csrf": {csrf}})
		c.stopAtIdP = false
		au, err := url.Parse(c.authURL)
		if err != nil || au.Query().Get("code_challenge_method") != "S256" {
			t.Fatalf("authorization URL %v", err)
		}
		code, body := c.get(s.base + "/return/box?error=server_error&error_description=boom&state=" + url.QueryEscape(au.Query().Get("state")))
		page(t, code, body, 502)
		if !strings.Contains(body, "server_error") {
			t.Errorf("the page does not name the error:\n%.600s", body)
		}
	})
	t.Run("huge request", func(t *testing.T) {
		c := newClient(t)
		code, _ := c.get(s.base + "/key/" + strings.Repeat("a", 200000))
		if code != 431 && code != 400 && code != 414 {
			t.Errorf("huge URL: %d", code)
		}
		c.get(link)
		_, idx := c.get(s.base + "/")
		csrf := csrfRE.FindStringSubmatch(idx)[1]
		code, body := c.post(s.base+"/login/box", url.Values{"csrf": {csrf}, "pad": {strings.Repeat("x", 1<<20)}})
		page(t, code, body, 400)
		if code, _ := c.get(s.base + "/"); code != 200 {
			t.Errorf("the server does not answer after huge requests: %d", code)
		}
	})
	s.noFiles(t, ud)
	if !exists(filepath.Join(s.condor.CredDir, key)) {
		t.Error("the key file went although nothing was stored")
	}
	assertNoSecretInLog(t, s)
}

func TestGarbageTokenEndpoint(t *testing.T) {
	junk := tlsProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `<html>JUNK-BODY</html>`)
	}))
	s := newSite(t, map[string]string{"BOX_TOKEN_URL": junk + "/token"})
	sub := env.NewSubmitter(t, s.condor)
	link := s.submit(sub)
	c := newClient(t)
	c.get(link)
	code, body := c.login(s, "box", stack.Alice)
	if code != 502 || !strings.Contains(body, `id="error"`) || strings.Contains(body, "JUNK-BODY") {
		t.Errorf("HTTP %d\n%.800s", code, body)
	}
	s.noFiles(t, sub.CredDir())
	if _, idx := c.get(s.base + "/"); !strings.Contains(idx, "failed") {
		t.Errorf("the index page does not show the failure:\n%s", idx)
	}
}

func TestFiftyUsersAtOnce(t *testing.T) {
	s := newSite(t, nil)
	const n = 50
	links := make([]string, n)
	for i := range links {
		// As root the credd accepts any user (CRED_SUPER_USERS).
		rep, err := credd.Do(t.Context(), s.condor.Socket, credd.Request{Mode: credd.ModeCheck, User: fmt.Sprintf("wu%02d@test", i),
			Checks: []credd.CheckRequest{{Service: "box", Scopes: "compute.read"}, {Service: "mytokens", Handle: "personal", Scopes: "storage.read:/", Audience: "https://storage.example.org"}}})
		if err != nil || !strings.Contains(rep.Message, "/key/") {
			t.Fatalf("check creds: %v %q", err, rep.Message)
		}
		links[i] = rep.Message
	}
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t)
			c.get(links[i])
			for _, l := range []string{"box", "mytokens personal"} {
				if code, body := c.login(s, l, stack.Bob); code != 200 {
					errs <- fmt.Sprintf("user %d %s: %d %.200s", i, l, code, body)
					return
				}
			}
			if _, body := c.get(s.base + "/"); !strings.Contains(body, "All done") {
				errs <- fmt.Sprintf("user %d: not all done", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for i := range n {
		d := filepath.Join(s.condor.CredDir, fmt.Sprintf("wu%02d", i))
		for _, f := range []string{"box.top", "box.use", "box.meta", "mytokens_personal.top", "mytokens_personal.use", "mytokens_personal.meta"} {
			if !exists(filepath.Join(d, f)) {
				t.Errorf("missing %s/%s", filepath.Base(d), f)
			}
		}
	}
	left, _ := filepath.Glob(filepath.Join(s.condor.CredDir, strings.Repeat("[0-9a-f]", 64)))
	if len(left) != 0 {
		t.Errorf("%d key files left", len(left))
	}
}

func TestDiscoveryDocuments(t *testing.T) {
	s := newSite(t, nil)
	c := newClient(t)
	code, body := c.get(s.base + "/.well-known/openid-configuration")
	var d map[string]string
	if code != 200 || json.Unmarshal([]byte(body), &d) != nil || d["issuer"] != "https://ap.example.org" || d["jwks_uri"] != s.base+"/.well-known/jwks-uri" {
		t.Errorf("openid-configuration: %d %s", code, body)
	}
	code, body = c.get(s.base + "/.well-known/jwks-uri")
	var set jose.JSONWebKeySet
	if code != 200 || json.Unmarshal([]byte(body), &set) != nil || len(set.Keys) != 1 || set.Keys[0].KeyID != "key1" || set.Keys[0].Algorithm == "" {
		t.Errorf("jwks: %d %s", code, body)
	}
	// The same key the credmon's keygen published.
	out, err := exec.Command(filepath.Join(env.Bin, "condor_credmon_vault_keygen"), "-private", filepath.Join(filepath.Dir(s.pubFile), "issuer.pem"), "-public", s.pubFile, "-kid", "key1").Output()
	if err != nil {
		t.Fatal(err)
	}
	var want jose.JSONWebKeySet
	if json.Unmarshal(out, &want) != nil || len(want.Keys) != 1 || want.Keys[0].KeyID != "key1" {
		t.Fatalf("keygen JWKS: %s", out)
	}
	a, _ := set.Keys[0].Thumbprint(crypto.SHA256)
	b, _ := want.Keys[0].Thumbprint(crypto.SHA256)
	if string(a) != string(b) {
		t.Error("the served JWKS is not the issuer's key")
	}
}
