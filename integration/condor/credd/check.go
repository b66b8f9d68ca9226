package credd

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
)

// predefinedURLs are HTCondor's built-in <SVC>_AUTHORIZATION_URL and
// <SVC>_TOKEN_URL defaults (param_info.in).
var predefinedURLs = map[string]string{
	"BOX_AUTHORIZATION_URL":      "https://account.box.com/api/oauth2/authorize",
	"BOX_TOKEN_URL":              "https://api.box.com/oauth2/token",
	"GDRIVE_AUTHORIZATION_URL":   "https://accounts.google.com/o/oauth2/v2/auth",
	"GDRIVE_TOKEN_URL":           "https://oauth2.googleapis.com/token",
	"ONEDRIVE_AUTHORIZATION_URL": "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
	"ONEDRIVE_TOKEN_URL":         "https://login.microsoftonline.com/common/oauth2/v2.0/token",
	"DROPBOX_AUTHORIZATION_URL":  "https://www.dropbox.com/oauth2/authorize",
	"DROPBOX_TOKEN_URL":          "https://api.dropboxapi.com/oauth2/token",
}

func (s *Server) knob(name string) string {
	if s.set.Knob == nil {
		return ""
	}
	if v := s.set.Knob(name); v != "" {
		return v
	}
	return predefinedURLs[strings.ToUpper(name)]
}

// isOAuth2 is the credd's classification of a service as OAuth2-type:
// listed in OAUTH2_CREDMON_PROVIDER_NAMES, or, when that is unset or
// "*", having <SVC>_CLIENT_ID defined.
func (s *Server) isOAuth2(svc string) bool {
	names := strings.TrimSpace(s.knob("OAUTH2_CREDMON_PROVIDER_NAMES"))
	if names == "" || names == "*" {
		return s.knob(svc+"_CLIENT_ID") != ""
	}
	for _, n := range strings.FieldsFunc(names, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if strings.EqualFold(n, svc) {
			return true
		}
	}
	return false
}

// checkCreds is CREDD_CHECK_CREDS (check_creds_handler and
// check_creds_continue): for each request whose <name>.top is missing and
// that is OAuth2-type, one ad goes into a new key file, and the reply is
// <prefix>/key/<key>; a present .top whose scopes or audience differ from
// the request's is an error reply; all present is an empty reply.
func (s *Server) checkCreds(req Request, peer Peer) Reply {
	rep := s.checkCredsReply(req, peer)
	shown := rep.Message
	if strings.Contains(shown, "/key/") {
		shown = shown[:strings.Index(shown, "/key/")] + "/key/<key>"
	}
	s.log.Printf("CREDD_CHECK_CREDS from %s (uid %d pid %d): %d request(s) -> %q", peer.Name, peer.UID, peer.PID, len(req.Checks), shown)
	return rep
}

func (s *Server) checkCredsReply(req Request, peer Peer) Reply {
	username := peer.Name
	if req.User != "" && req.User != peer.Name {
		target, _, _ := strings.Cut(req.User, "@")
		if !s.allowed(peer.Name, target) || target == "" {
			return Reply{Result: FailureNotAllowed, Message: "ERROR - user " + peer.Name + " may not request credentials of " + req.User}
		}
		username = req.User
	}
	dirName, _, _ := strings.Cut(username, "@")
	if s.set.CredDir == "" {
		return Reply{Result: Failure, Message: "ERROR - SEC_CREDENTIAL_DIRECTORY_OAUTH not configured in condor_credd"}
	}
	if !okName(dirName) || dirName == "" {
		return Reply{Result: FailureBadArgs, Message: "ERROR - invalid user name"}
	}
	var missing []CheckRequest
	for _, c := range req.Checks {
		if c.Service == "" || !okName(strings.ReplaceAll(c.Service, "/", "_")) || !okName(c.Handle) {
			return Reply{Result: FailureBadArgs, Message: "ERROR - invalid service or handle name"}
		}
		if !s.isOAuth2(c.Service) {
			continue
		}
		name := strings.ReplaceAll(c.Service, "/", ":")
		if c.Handle != "" {
			name += "_" + c.Handle
		}
		top := filepath.Join(s.set.CredDir, dirName, name+".top")
		if _, err := os.Stat(top); err != nil {
			missing = append(missing, c)
			continue
		}
		if s.credMatches(top, Request{Scopes: c.Scopes, Audience: c.Audience}) != Success {
			return Reply{Result: FailureCredMismatch, Message: "ERROR - credentials exist that do not match the request.\n" +
				"They can be removed by\ncondor_store_cred delete-oauth -s " + strings.ReplaceAll(name, "_", " -H ") +
				"\nbut make sure no other job is using them."}
		}
	}
	if len(missing) == 0 {
		return Reply{Result: Success}
	}
	prefix := s.knob("CREDMON_WEB_PREFIX")
	if prefix == "" {
		h := s.knob("FULL_HOSTNAME")
		if h == "" {
			h, _ = os.Hostname()
		}
		prefix = "https://" + h
	}
	var ads []string
	for _, c := range missing {
		svc := strings.ToUpper(c.Service)
		secretFile := s.knob(svc + "_CLIENT_SECRET_FILE")
		if secretFile == "" {
			return Reply{Result: Failure, Message: "Failed to securely read client secret for service " + c.Service +
				"; Tell your admin that " + svc + "_CLIENT_SECRET_FILE is not configured"}
		}
		b, err := readLimited(secretFile, 64<<10)
		if err != nil {
			return Reply{Result: Failure, Message: "Failed to securely read client secret for service " + c.Service}
		}
		// Cut at the first control byte (or, as with a signed char, any
		// byte >= 0x80).
		for i, ch := range b {
			if ch <= 0x1f || ch >= 0x80 {
				b = b[:i]
				break
			}
		}
		attrs := [][2]string{
			{"Handle", c.Handle}, {"Scopes", c.Scopes}, {"Audience", c.Audience},
			{"ClientId", s.knob(svc + "_CLIENT_ID")}, {"Provider", c.Service}, {"TokenUrl", s.knob(svc + "_TOKEN_URL")},
			{"LocalUser", username}, {"ReturnUrl", prefix + s.knob(svc+"_RETURN_URL_SUFFIX")},
			{"ClientSecret", string(b)}, {"AuthorizationUrl", s.knob(svc + "_AUTHORIZATION_URL")},
		}
		var ad strings.Builder
		for _, a := range attrs {
			ad.WriteString(a[0] + " = \"" + strings.ReplaceAll(a[1], `"`, `\"`) + "\"\n")
		}
		ads = append(ads, ad.String())
	}
	rnd := make([]byte, 32)
	rand.Read(rnd)
	key := hex.EncodeToString(rnd)
	f, err := os.OpenFile(filepath.Join(s.set.CredDir, key), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err == nil {
		_, err = f.WriteString(strings.Join(ads, "\n"))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		// The real credd leaves the reply empty here (read by condor_submit
		// as "all present"); the stand-in says what went wrong.
		s.log.Printf("CREDD_CHECK_CREDS: writing the key file: %v", err)
		return Reply{Result: Failure, Message: "ERROR - could not write the key file"}
	}
	return Reply{Result: Success, Message: prefix + "/key/" + key}
}
