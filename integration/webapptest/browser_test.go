package webapptest

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fsnotify/fsnotify"

	"github.com/vaultcred/gettoken/integration/harness"
	"github.com/vaultcred/gettoken/integration/stack"
)

// browser starts headless Chromium with a new empty profile, trusting
// only the stack's server key (besides the system's CAs).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (integration/scripts/prereqs.sh installs it)")
		}
		t.Skip("chromium is not installed; run integration/scripts/prereqs.sh")
	}
	pemBytes, err := os.ReadFile(env.Stack.Certs.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])),
		chromedp.WindowSize(1000, 900),
	}
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// shot saves a full-page screenshot as name.png in the artifact
// directory.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.OuterHTML("html"))
		t.Fatalf("%s: %v\npage:\n%s", what, err, page)
	}
}

// value runs one action that returns a string.
func value(t *testing.T, ctx context.Context, what string, a chromedp.Action[string]) string {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// idpLogin answers the IdP's pages in the browser (the login form when it
// shows one, the consent page when it asks) until the browser is back on
// one of our pages.
func idpLogin(t *testing.T, ctx context.Context, prefix string, acct stack.Account) {
	t.Helper()
	// Off our pages first (they have a header, the IdP's do not).
	run(t, ctx, "leaving for the IdP", chromedp.WaitNotPresent("header"))
	for i := 0; ; i++ {
		run(t, ctx, "a page", chromedp.WaitReady("body"))
		title := value(t, ctx, "the page title", chromedp.Title())
		switch {
		case strings.HasSuffix(title, "HTCondor token login"):
			return
		case i > 4:
			t.Fatalf("still at the IdP (%q) after %d steps", title, i)
		case strings.Contains(title, "Sign in"):
			shot(t, ctx, prefix+"-idp-login")
			run(t, ctx, "the IdP login",
				chromedp.SendKeys(`input[name="login"]`, acct.Name),
				chromedp.SendKeys(`input[name="password"]`, acct.Password),
				chromedp.Submit(`input[name="login"]`),
				chromedp.WaitNotPresent(`input[name="password"]`))
		case strings.Contains(title, "Authorize"):
			shot(t, ctx, prefix+"-idp-consent")
			run(t, ctx, "the IdP consent", chromedp.Click(`//button[text()="Allow"]`),
				chromedp.WaitNotPresent(`//button[text()="Allow"]`))
		default:
			page, _ := chromedp.Run(ctx, chromedp.OuterHTML("html"))
			t.Fatalf("unexpected page %q:\n%s", title, page)
		}
	}
}

func TestBrowserLoginStoresFilesTheCredmonRefreshes(t *testing.T) {
	ctx := browser(t)
	s := newSite(t, nil)
	sub := env.NewSubmitter(t, s.condor)
	link := s.submit(sub)
	user := filepath.Base(sub.CredDir())
	key := link[strings.LastIndex(link, "/")+1:]

	// The key page: two providers, one with a handle, scopes and audience.
	run(t, ctx, "opening the link", chromedp.Navigate(link), chromedp.WaitVisible(`#login-box`))
	text := value(t, ctx, "the key page", chromedp.Text("main"))
	shot(t, ctx, "1-key-page")
	for _, w := range []string{"Token logins for " + user, "box", "mytokens (handle personal)", "storage.read:/", "storage.create:/", "https://storage.example.org", "not logged in"} {
		if !strings.Contains(text, w) {
			t.Errorf("the key page lacks %q:\n%s", w, text)
		}
	}
	if strings.Contains(text, s.secret) {
		t.Error("the client secret is on the page")
	}

	run(t, ctx, "box login", chromedp.Click(`#login-box`))
	idpLogin(t, ctx, "2-box", stack.Alice)
	run(t, ctx, "back from box", chromedp.WaitVisible(`#login-mytokens_personal`))
	text = value(t, ctx, "the box card", chromedp.Text("#p-box"))
	shot(t, ctx, "3-box-done")
	if !strings.Contains(text, "done") {
		t.Errorf("box is not done: %s", text)
	}
	if !exists(filepath.Join(s.condor.CredDir, key)) {
		t.Error("the key file went after one of two providers")
	}

	run(t, ctx, "mytokens login", chromedp.Click(`#login-mytokens_personal`))
	idpLogin(t, ctx, "4-mytokens", stack.Alice)
	run(t, ctx, "back from mytokens", chromedp.WaitVisible(`//*[contains(text(), "All done")]`))
	text = value(t, ctx, "the final page", chromedp.Text("main"))
	shot(t, ctx, "5-all-done")
	if strings.Count(text, "done") < 3 || !strings.Contains(text, "condor_submit") {
		t.Errorf("the final page:\n%s", text)
	}
	if exists(filepath.Join(s.condor.CredDir, key)) {
		t.Error("the key file is still there")
	}

	// The files, exactly.
	ud := sub.CredDir()
	checkFiles(t, s, ud, "box", "compute.read", "")
	checkFiles(t, s, ud, "mytokens_personal", "storage.read:/, storage.create:/", "https://storage.example.org")

	// condor_submit now finds every token.
	f := filepath.Join(sub.Dir, "job.sub")
	if r := sub.Exec(filepath.Join(s.condor.Bin, "condor_submit"), "", f); r.Code != 0 || !strings.Contains(r.Stdout, "1 job(s) submitted") {
		t.Errorf("second condor_submit:\n%s", r)
	}

	// The credmon refreshes box.use at the IdP.
	before := readFile(t, filepath.Join(ud, "box.use"))
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Add(ud)
	cm, err := stack.StartProc(env.Stack.LogDir, "credmon-"+user, append(append([]string{}, s.condor.Env...), "SSL_CERT_FILE="+env.CAFile),
		s.condor.Dir, filepath.Join(env.Bin, "condor_credmon_vault"))
	if err != nil {
		t.Fatal(err)
	}
	defer cm.Stop(5 * time.Second)
	deadline := time.NewTimer(3*accessTTL + 30*time.Second)
	defer deadline.Stop()
	for readFile(t, filepath.Join(ud, "box.use")) == before {
		select {
		case <-w.Events:
		case <-cm.Done():
			t.Fatalf("the credmon exited:\n%s", cm.Tail(3000))
		case <-deadline.C:
			log, _ := os.ReadFile(filepath.Join(s.condor.Dir, "CredmonOauthLog"))
			t.Fatalf("the credmon did not refresh box.use within %v; log:\n%s", 3*accessTTL+30*time.Second, log)
		}
	}
	var use map[string]any
	json.Unmarshal([]byte(readFile(t, filepath.Join(ud, "box.use"))), &use)
	at, _ := use["access_token"].(string)
	if at == "" || harness.JWTClaims(t, at)["sub"] != "alice" {
		t.Errorf("refreshed box.use: %v", use)
	}
	if st, err := os.Stat(filepath.Join(ud, "box.use")); err != nil || st.Mode().Perm() != 0o400 {
		t.Errorf("refreshed box.use mode: %v", err)
	}
	assertNoSecretInLog(t, s)
}

// checkFiles checks name's .top, .use and .meta against the JSON HTCondor's
// web application writes.
func checkFiles(t *testing.T, s *site, dir, name, scopes, aud string) {
	t.Helper()
	for _, ext := range []string{".top", ".use", ".meta"} {
		st, err := os.Lstat(filepath.Join(dir, name+ext))
		if err != nil || st.Mode().Perm() != 0o400 || !st.Mode().IsRegular() {
			t.Errorf("%s%s: %v %v", name, ext, st, err)
		}
	}
	meta := readFile(t, filepath.Join(dir, name+".meta"))
	wantMeta := fmt.Sprintf(`{"client_id": %q, "client_secret": %q, "token_url": %q, "use_refresh_token": true}`, s.cid, s.secret, s.idpTLS+"/token")
	if meta != wantMeta {
		t.Errorf("%s.meta:\n got %s\nwant %s", name, meta, wantMeta)
	}
	top := readFile(t, filepath.Join(dir, name+".top"))
	m := regexp.MustCompile(`^\{"refresh_token": "([^"]+)"(.*)\}$`).FindStringSubmatch(top)
	wantRest := ""
	if scopes != "" {
		wantRest += fmt.Sprintf(`, "scopes": %q`, scopes)
	}
	if aud != "" {
		wantRest += fmt.Sprintf(`, "audience": %q`, aud)
	}
	if m == nil || m[2] != wantRest {
		t.Errorf("%s.top: %s", name, top)
	}
	use := readFile(t, filepath.Join(dir, name+".use"))
	var u map[string]any
	if err := json.Unmarshal([]byte(use), &u); err != nil || strings.Contains(use, `":"`) || strings.Contains(use, `","`) ||
		!strings.HasPrefix(use, `{"access_token": "`) || strings.HasSuffix(use, "\n") {
		t.Errorf("%s.use is not JSON as Python writes it: %s", name, use)
		return
	}
	if _, ok := u["refresh_token"]; ok {
		t.Errorf("%s.use holds the refresh token", name)
	}
	exp, _ := u["expires_in"].(float64)
	at, _ := u["expires_at"].(float64)
	st, _ := os.Stat(filepath.Join(dir, name+".use"))
	if exp <= 0 || at-exp < float64(st.ModTime().Unix()-5) || at-exp > float64(st.ModTime().Unix()+1) || !regexp.MustCompile(`, "expires_at": \d+\}$`).MatchString(use) {
		t.Errorf("%s.use expiry fields: %s", name, use)
	}
	tok, _ := u["access_token"].(string)
	cl := harness.JWTClaims(t, tok)
	if cl["sub"] != "alice" {
		t.Errorf("%s.use access token sub %v", name, cl["sub"])
	}
	if aud != "" && fmt.Sprint(cl["aud"]) != aud {
		t.Errorf("%s.use access token aud %v, want %s", name, cl["aud"], aud)
	}
	if sc, _ := u["scope"].(string); !strings.Contains(sc, strings.Split(scopes, ",")[0]) {
		t.Errorf("%s.use scope %q", name, sc)
	}
}

func assertNoSecretInLog(t *testing.T, s *site) {
	t.Helper()
	log, _ := os.ReadFile(s.web.LogPath)
	if strings.Contains(string(log), s.secret) || regexp.MustCompile(`[0-9a-f]{64}`).Match(log) || strings.Contains(string(log), "eyJ") {
		t.Errorf("the web server log holds a secret, a key or a token:\n%s", log)
	}
}

func TestBrowserDenyAtTheIdP(t *testing.T) {
	ctx := browser(t)
	s := newSite(t, nil)
	sub := env.NewSubmitter(t, s.condor)
	link := s.submit(sub)
	run(t, ctx, "opening the link", chromedp.Navigate(link), chromedp.WaitVisible(`#login-box`), chromedp.Click(`#login-box`))
	run(t, ctx, "the IdP page", chromedp.WaitNotPresent("header"), chromedp.WaitReady("body"))
	if title := value(t, ctx, "the IdP title", chromedp.Title()); strings.Contains(title, "Sign in") {
		run(t, ctx, "the IdP login",
			chromedp.SendKeys(`input[name="login"]`, stack.Bob.Name),
			chromedp.SendKeys(`input[name="password"]`, stack.Bob.Password),
			chromedp.Submit(`input[name="login"]`),
			chromedp.WaitVisible(`//button[text()="Deny"]`))
	}
	run(t, ctx, "deny", chromedp.Click(`//button[text()="Deny"]`), chromedp.WaitVisible(`#error`))
	text := value(t, ctx, "the error page", chromedp.Text("main"))
	shot(t, ctx, "denied")
	if !strings.Contains(text, "access_denied") {
		t.Errorf("the error page:\n%s", text)
	}
	if exists(filepath.Join(sub.CredDir(), "box.top")) || exists(filepath.Join(sub.CredDir(), "box.use")) {
		t.Error("files written after a denied login")
	}
}
