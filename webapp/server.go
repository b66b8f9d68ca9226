package webapp

import (
	"context"
	"crypto"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/vaultcred/gettoken/credmon"
)

// Defaults of Config fields.
const (
	// DefaultKeyLifetime is how long a key file stays usable (the OAuth
	// credmon removes key files older than this).
	DefaultKeyLifetime = 12 * time.Hour
	// DefaultTokenTimeout bounds one request to a token endpoint.
	DefaultTokenTimeout = 30 * time.Second
	// SessionKeyFile is the name, in the credential directory, of the
	// file holding the session cookie signing key.
	SessionKeyFile = "webserver_session_key"
	// CookieName is the session cookie.
	CookieName = "credmon_session"
	// refreshSeconds is the live page's meta refresh interval.
	refreshSeconds = 5
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// Config configures the web application.
type Config struct {
	// Prefix is CREDMON_WEB_PREFIX: the URL (or only its path) under which
	// the routes are served; its path, without a trailing "/", prefixes
	// every route.
	Prefix string
	// Store holds the credential directory.
	Store CredStore
	// ParseAds reads key files.
	ParseAds AdParser
	// Lookup returns a configuration knob (per-provider settings:
	// <PROVIDER>_AUTHORIZATION_PARAMETERS, <PROVIDER>_AUDIENCE_PARAMETER);
	// nil means none is defined.
	Lookup func(name string) (string, bool)
	// Preload, when set, loads the per-provider knobs of a provider in one
	// batch before Lookup asks for them (one condor_config_val run instead
	// of one per knob).
	Preload func(ctx context.Context, names ...string) error
	// StoreClientSecret puts the client secret into each .meta, as the
	// original does (HTCondor's Python credmon reads it from there).
	StoreClientSecret bool
	// Issuer is LOCAL_CREDMON_ISSUER, PublicKey the local issuer's public
	// key (nil: the discovery routes answer 404) and KeyID its kid.
	Issuer    string
	PublicKey crypto.PublicKey
	KeyID     string
	// KeyLifetime: key files older than this (by change time) are expired
	// (default DefaultKeyLifetime).
	KeyLifetime time.Duration
	// HTTPClient talks to token endpoints (nil: the system's CAs, which Go
	// extends with SSL_CERT_FILE and SSL_CERT_DIR).
	HTTPClient *http.Client
	// TokenTimeout bounds each token request (default DefaultTokenTimeout).
	TokenTimeout time.Duration
	// Log receives one line per event, never a key, token or secret.
	Log *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server is the web application, an http.Handler.
type Server struct {
	cfg      Config
	base     string // path prefix without trailing "/"
	sess     *sessions
	mux      *http.ServeMux
	log      *slog.Logger
	jwks     []byte
	discover []byte
}

// New returns the web application. It reads (or creates) the session
// signing key in the credential directory.
func New(cfg Config) (*Server, error) {
	if cfg.KeyLifetime <= 0 {
		cfg.KeyLifetime = DefaultKeyLifetime
	}
	if cfg.TokenTimeout <= 0 {
		cfg.TokenTimeout = DefaultTokenTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Lookup == nil {
		cfg.Lookup = func(string) (string, bool) { return "", false }
	}
	if cfg.Store == nil || cfg.ParseAds == nil {
		return nil, errors.New("webapp: Store and ParseAds are required")
	}
	s := &Server{cfg: cfg, log: cfg.Log, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	base, err := BasePath(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	s.base = base
	key, err := cfg.Store.SessionKey(SessionKeyFile)
	if err != nil {
		return nil, err
	}
	s.sess = newSessions(key)
	if cfg.PublicKey != nil {
		if s.jwks, err = credmon.PublicJWKS(cfg.PublicKey, cfg.KeyID); err != nil {
			return nil, err
		}
		if s.discover, err = credmon.OpenIDConfiguration(cfg.Issuer, s.publicURL("/.well-known/jwks-uri")); err != nil {
			return nil, err
		}
	}
	b := s.base
	s.mux.HandleFunc("GET "+b+"/{$}", s.handleIndex)
	s.mux.HandleFunc("GET "+b+"/key/{key}", s.handleKey)
	s.mux.HandleFunc("POST "+b+"/login/{label}", s.handleLogin)
	s.mux.HandleFunc("GET "+b+"/login/{label}", s.handleLoginGet)
	s.mux.HandleFunc("GET "+b+"/return/{svc}", s.handleReturn)
	s.mux.HandleFunc("GET "+b+"/.well-known/openid-configuration", s.handleDiscovery)
	s.mux.HandleFunc("GET "+b+"/.well-known/jwks-uri", s.handleJWKS)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, http.StatusNotFound, "Not found", "There is no such page.", "")
	})
	return s, nil
}

// BasePath returns the path part of CREDMON_WEB_PREFIX without a
// trailing "/" ("" for the root).
func BasePath(prefix string) (string, error) {
	if prefix == "" {
		return "", nil
	}
	u, err := url.Parse(prefix)
	if err != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(u.Path, "{}") {
		return "", errors.New("webapp: CREDMON_WEB_PREFIX is not a URL without query")
	}
	return strings.TrimRight(u.Path, "/"), nil
}

// publicURL is the absolute URL of path under the prefix.
func (s *Server) publicURL(path string) string {
	return strings.TrimRight(s.cfg.Prefix, "/") + path
}

// Sweep removes stale key files and idle sessions; the command runs it
// periodically.
func (s *Server) Sweep() {
	now := s.cfg.Now()
	s.sess.expire(now)
	removed, err := s.cfg.Store.StaleKeyFiles(now.Add(-s.cfg.KeyLifetime))
	if err != nil {
		s.log.Warn("removing stale key files", "error", err)
	}
	if len(removed) > 0 {
		s.log.Info("removed stale key files", "count", len(removed))
	}
}

// ServeHTTP implements http.Handler, adding headers that keep pages out
// of caches, frames and Referer headers (the key is in the URL).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	s.mux.ServeHTTP(w, r)
}

// errorPage is the data of the error template.
type errorPage struct {
	Title, Message, Hint, Back string
	Status                     int
	Refresh                    int
}

func (s *Server) fail(w http.ResponseWriter, status int, title, msg, hint string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	pages.ExecuteTemplate(w, "error", errorPage{Title: title, Message: msg, Hint: hint, Back: s.base + "/", Status: status})
}

// sessionID returns the browser's session id, if its cookie is valid.
func (s *Server) sessionID(r *http.Request) (string, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return "", false
	}
	return s.sess.verify(c.Value)
}

func (s *Server) setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: s.sess.sign(id), Path: s.base + "/",
		MaxAge: int(sessionLifetime / time.Second), Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// keyFile reads and parses the key file, mapping failures to pages. ok
// false means a page was written.
func (s *Server) keyFile(w http.ResponseWriter, key string) (*KeyFile, bool) {
	data, ctime, err := s.cfg.Store.ReadKeyFile(key)
	switch {
	case errors.Is(err, ErrNoKey):
		s.fail(w, http.StatusNotFound, "Unknown or used-up login link",
			"This login link is not known: it was used up, has expired, or was never issued.",
			"Run condor_submit again: it prints a new link if a token is still missing.")
		return nil, false
	case err != nil:
		s.log.Error("refusing a key file", "error", err)
		s.fail(w, http.StatusInternalServerError, "Login request unreadable",
			"The login request cannot be read safely on this access point.", "Tell your HTCondor administrator.")
		return nil, false
	}
	if s.cfg.Now().Sub(ctime) > s.cfg.KeyLifetime {
		s.cfg.Store.RemoveKeyFile(key)
		s.fail(w, http.StatusNotFound, "Expired login link",
			"This login link has expired.", "Run condor_submit again to get a new one.")
		return nil, false
	}
	kf, err := ParseKeyFile(key, data, s.cfg.ParseAds)
	if err != nil {
		s.log.Error("refusing a key file", "error", err)
		s.fail(w, http.StatusBadRequest, "Invalid login request",
			"The login request this link points to is invalid: "+err.Error()+".", "Tell your HTCondor administrator.")
		return nil, false
	}
	return kf, true
}

func (s *Server) handleKey(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if !keyName.MatchString(key) {
		s.fail(w, http.StatusBadRequest, "Malformed login link",
			"This is not a login link: the part after /key/ must be 64 lowercase hexadecimal digits.",
			"Copy the whole link condor_submit printed.")
		return
	}
	kf, ok := s.keyFile(w, key)
	if !ok {
		return
	}
	now := s.cfg.Now()
	if id, ok := s.sessionID(r); ok {
		same := false
		s.sess.with(id, now, func(ss *session) { same = ss.key == key })
		if same {
			http.Redirect(w, r, s.base+"/", http.StatusSeeOther)
			return
		}
	}
	ss := s.sess.create(key, kf.User, kf.Requests, now)
	s.setCookie(w, ss.id)
	s.log.Info("login page opened", "user", kf.User, "providers", len(kf.Requests))
	http.Redirect(w, r, s.base+"/", http.StatusSeeOther)
}

// requestView is one provider on the index page.
type requestView struct {
	Provider, Handle, Name, Audience string
	Scopes                           []string
	State, Class, Error, LoginURL    string
	Done, CanLogin                   bool
}

type indexPage struct {
	Title, User, CSRF string
	Requests          []requestView
	AllDone, Finished bool
	Refresh           int
}

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	p := indexPage{Title: "Token logins"}
	var ss session
	id, ok := s.sessionID(r)
	if ok {
		ok = s.sess.with(id, s.cfg.Now(), func(x *session) {
			ss = *x
			ss.pending = map[string]*pending{}
			for k, v := range x.pending {
				ss.pending[k] = v
			}
			ss.failed = map[string]string{}
			for k, v := range x.failed {
				ss.failed[k] = v
			}
		})
	}
	if ok {
		p.User, p.CSRF = ss.user, ss.csrf
		data, _, err := s.cfg.Store.ReadKeyFile(ss.key)
		var kf *KeyFile
		if err == nil {
			kf, err = ParseKeyFile(ss.key, data, s.cfg.ParseAds)
		}
		keyGone := err != nil
		if keyGone {
			// Used up (all done) or gone: show what the session asked for.
			kf = &KeyFile{Key: ss.key, User: ss.user, Requests: ss.reqs}
			p.Finished = true
		}
		{
			waiting := map[string]bool{}
			for _, pe := range ss.pending {
				waiting[pe.label] = true
			}
			p.AllDone = true
			for _, rq := range kf.Requests {
				v := requestView{Provider: rq.Provider, Handle: rq.Handle, Name: rq.Name, Audience: rq.Audience,
					Scopes: rq.ScopeList(), LoginURL: s.base + "/login/" + url.PathEscape(rq.Label), CanLogin: !keyGone}
				v.Done = s.cfg.Store.UserFileExists(kf.User, rq.Name+".top")
				switch {
				case v.Done:
					v.State, v.Class = "done", "done"
				case ss.failed[rq.Label] != "":
					v.State, v.Class, v.Error = "failed", "fail", ss.failed[rq.Label]
				case waiting[rq.Label]:
					v.State, v.Class = "waiting for login", "wait"
				default:
					v.State, v.Class = "not logged in", "todo"
				}
				p.AllDone = p.AllDone && v.Done
				p.Requests = append(p.Requests, v)
			}
			if p.AllDone {
				p.Finished = false
			} else if !p.Finished {
				p.Refresh = refreshSeconds
			}
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pages.ExecuteTemplate(w, "index", p); err != nil {
		s.log.Error("rendering the index page", "error", err)
	}
}

func (s *Server) handleLoginGet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "POST")
	s.fail(w, http.StatusMethodNotAllowed, "Use the Log in button",
		"Logins start from the button on the login page.", "")
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		s.fail(w, http.StatusBadRequest, "Bad request", "The form could not be read.", "")
		return
	}
	id, ok := s.sessionID(r)
	var ss session
	if ok {
		ok = s.sess.with(id, s.cfg.Now(), func(x *session) { ss = *x })
	}
	if !ok {
		s.fail(w, http.StatusBadRequest, "No login in progress",
			"This browser has no login in progress (or it expired).", "Open the link condor_submit printed again.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(ss.csrf)) != 1 {
		s.fail(w, http.StatusBadRequest, "Forged request",
			"This login request did not come from the login page.", "Start again from the login page.")
		return
	}
	kf, ok := s.keyFile(w, ss.key)
	if !ok {
		return
	}
	label := r.PathValue("label")
	rq, ok := kf.Find(label)
	if !ok {
		s.fail(w, http.StatusNotFound, "Unknown provider", "This login link does not ask for that provider.", "")
		return
	}
	if s.cfg.Preload != nil {
		pctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		if err := s.cfg.Preload(pctx, rq.Provider+"_AUTHORIZATION_PARAMETERS", rq.Provider+"_AUDIENCE_PARAMETER"); err != nil {
			s.log.Warn("reading the provider's knobs", "provider", rq.Provider, "error", err)
		}
		cancel()
	}
	state, verifier := randomToken(), oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if rq.Audience != "" {
		opts = append(opts, oauth2.SetAuthURLParam(s.audienceParam(rq), rq.Audience))
	}
	extra, err := s.extraParams(rq)
	if err != nil {
		s.log.Error("bad knob", "error", err)
		s.fail(w, http.StatusInternalServerError, "Configuration error", "This provider is misconfigured on the access point.", "Tell your HTCondor administrator.")
		return
	}
	for k, vs := range extra {
		for _, v := range vs {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
	}
	authURL := oauthConfig(rq).AuthCodeURL(state, opts...)
	s.sess.with(id, s.cfg.Now(), func(x *session) {
		for st, p := range x.pending {
			if p.label == label {
				delete(x.pending, st)
			}
		}
		delete(x.failed, label)
		x.pending[state] = &pending{label: label, state: state, verifier: verifier, started: s.cfg.Now()}
	})
	s.log.Info("login started", "user", kf.User, "provider", label)
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

// audienceParam is the authorization parameter that carries the audience:
// <PROVIDER>_AUDIENCE_PARAMETER, default "resource" (RFC 8707, what the
// original sends).
func (s *Server) audienceParam(rq Request) string {
	if v, ok := s.cfg.Lookup(rq.Provider + "_AUDIENCE_PARAMETER"); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return "resource"
}

// extraParams are <PROVIDER>_AUTHORIZATION_PARAMETERS, a query string
// such as "access_type=offline&prompt=consent".
func (s *Server) extraParams(rq Request) (url.Values, error) {
	v, ok := s.cfg.Lookup(rq.Provider + "_AUTHORIZATION_PARAMETERS")
	if !ok {
		return nil, nil
	}
	vals, err := url.ParseQuery(strings.TrimSpace(v))
	if err != nil {
		return nil, errors.New(rq.Provider + "_AUTHORIZATION_PARAMETERS is not a query string")
	}
	for _, k := range []string{"state", "code_challenge", "code_challenge_method", "redirect_uri", "client_id", "response_type"} {
		delete(vals, k)
	}
	return vals, nil
}

func (s *Server) handleReturn(w http.ResponseWriter, r *http.Request) {
	id, ok := s.sessionID(r)
	q := r.URL.Query()
	state := q.Get("state")
	if !ok {
		s.fail(w, http.StatusBadRequest, "No login in progress",
			"This browser has no login in progress, so the provider's answer cannot be accepted.",
			"Open the link condor_submit printed again and log in from there, in this browser.")
		return
	}
	if state == "" {
		s.fail(w, http.StatusBadRequest, "Missing state",
			"The provider's answer has no state parameter, so it cannot be matched to a login.", "Log in again from the login page.")
		return
	}
	var pe *pending
	var ss session
	ok = s.sess.with(id, s.cfg.Now(), func(x *session) {
		ss = *x
		if p, found := x.pending[state]; found {
			pe = p
			delete(x.pending, state) // one use only
		}
	})
	if !ok {
		s.fail(w, http.StatusBadRequest, "No login in progress", "This browser's login expired.", "Open the link condor_submit printed again.")
		return
	}
	if pe == nil {
		s.fail(w, http.StatusBadRequest, "Unknown or reused state",
			"The provider's answer does not belong to a login started in this browser (forged, replayed or already used).",
			"Log in again from the login page.")
		return
	}
	setFailed := func(msg string) {
		s.sess.with(id, s.cfg.Now(), func(x *session) { x.failed[pe.label] = msg })
	}
	kf, ok := s.keyFile(w, ss.key)
	if !ok {
		return
	}
	rq, ok := kf.Find(pe.label)
	if !ok {
		s.fail(w, http.StatusNotFound, "Unknown provider", "This login link does not ask for that provider.", "")
		return
	}
	if e := q.Get("error"); e != "" {
		msg := "The provider refused the login: " + clean(e, 64)
		if d := q.Get("error_description"); d != "" {
			msg += " (" + clean(d, 200) + ")"
		}
		setFailed(msg)
		s.log.Info("the provider refused the login", "user", kf.User, "provider", pe.label, "error", clean(e, 64))
		status := http.StatusBadGateway
		if e == "access_denied" {
			status = http.StatusForbidden
		}
		s.fail(w, status, "Login refused", msg+".", "Try again from the login page.")
		return
	}
	code := q.Get("code")
	if code == "" {
		setFailed("The provider's answer had no code.")
		s.fail(w, http.StatusBadRequest, "Missing code", "The provider's answer has no authorization code.", "Log in again from the login page.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.TokenTimeout)
	defer cancel()
	var extra url.Values
	if rq.Audience != "" && s.audienceParam(rq) == "resource" {
		extra = url.Values{"resource": {rq.Audience}}
	}
	ans, err := exchange(ctx, s.cfg.HTTPClient, rq, code, pe.verifier, extra)
	if err != nil {
		setFailed("The provider's token endpoint failed: " + err.Error())
		s.log.Warn("token request failed", "user", kf.User, "provider", pe.label, "error", err)
		s.fail(w, http.StatusBadGateway, "Token request failed",
			"The provider did not give a usable token: "+err.Error()+".", "Log in again from the login page; if it keeps failing, tell your HTCondor administrator.")
		return
	}
	files, err := buildFiles(rq, ans, s.cfg.Now(), s.cfg.StoreClientSecret)
	if err == nil {
		// .meta first (the credmon needs it to refresh), then .use, then
		// .top: the credd takes a present .top for "stored". The .use is
		// not flushed (as the credmon writes it: a lost one is made again
		// from the .top); .meta and .top are.
		for _, f := range []struct {
			ext  string
			data []byte
			sync bool
		}{{".meta", files.Meta, true}, {".use", files.Use, false}, {".top", files.Top, true}} {
			if err = s.cfg.Store.WriteUserFile(kf.User, rq.Name+f.ext, f.data, 0o400, f.sync); err != nil {
				break
			}
		}
	}
	if err != nil {
		setFailed("The token could not be stored on the access point.")
		s.log.Error("storing tokens", "user", kf.User, "provider", pe.label, "error", err)
		s.fail(w, http.StatusInternalServerError, "Could not store the token",
			"The login worked but the token could not be stored on the access point.", "Tell your HTCondor administrator.")
		return
	}
	s.log.Info("stored tokens", "user", kf.User, "provider", pe.label, "refresh_token", ans.refreshToken != "")
	all := true
	for _, o := range kf.Requests {
		all = all && s.cfg.Store.UserFileExists(kf.User, o.Name+".top")
	}
	if all {
		if err := s.cfg.Store.RemoveKeyFile(kf.Key); err != nil {
			s.log.Warn("removing the used key file", "user", kf.User, "error", err)
		}
	}
	http.Redirect(w, r, s.base+"/", http.StatusSeeOther)
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	s.json(w, s.discover)
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	s.json(w, s.jwks)
}

func (s *Server) json(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	if b == nil {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error": "no local issuer is configured"}`))
		return
	}
	w.Header().Set("Cache-Control", "max-age=300")
	w.Write(b)
}
