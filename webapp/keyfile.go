package webapp

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"

	"github.com/vaultcred/gettoken/internal/htcondor"
)

// Ad is one ClassAd of a key file: attribute names in lower case (ClassAd
// names are case-insensitive) mapped to their string values.
type Ad map[string]string

// AdParser parses the old-style ClassAds of a key file (blank-line
// separated) and returns their string attributes. It is the seam to the
// shared ClassAd reader.
type AdParser func(data []byte) ([]Ad, error)

// ErrBadKeyFile is matched by the errors for a key file whose contents
// cannot be used (missing attributes, invalid names or URLs).
var ErrBadKeyFile = errors.New("invalid key file")

// Request is one token a key file asks for: one ClassAd written by the
// credd.
type Request struct {
	// Provider is the service name (Provider), Handle the optional handle.
	Provider, Handle string
	// Label is "provider" or "provider handle", as the original shows it
	// and uses in /login/<label>.
	Label string
	// Name is the file name stem: provider or provider_handle.
	Name string
	// Scopes and Audience are the requested values exactly as the credd
	// wrote them (and will compare them with the .top).
	Scopes, Audience string
	// ClientID, ClientSecret, AuthURL, TokenURL, ReturnURL describe the
	// OAuth client.
	ClientID, ClientSecret, AuthURL, TokenURL, ReturnURL string
	// LocalUser is the user as the credd wrote it; User is the directory
	// name (LocalUser without any @domain).
	LocalUser, User string
}

// ScopeList splits Scopes on "," and trims each item, dropping empty
// ones.
func (r Request) ScopeList() []string {
	var out []string
	for _, s := range strings.Split(r.Scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// KeyFile is a parsed key file.
type KeyFile struct {
	// Key is the file name.
	Key string
	// User is the one user all requests are for.
	User string
	// Requests, sorted by label.
	Requests []Request
}

// Find returns the request with label.
func (k *KeyFile) Find(label string) (Request, bool) {
	for _, r := range k.Requests {
		if r.Label == label {
			return r, true
		}
	}
	return Request{}, false
}

// ParseKeyFile turns the key file's ads into requests, checking every
// value that ends up in a path or a URL.
func ParseKeyFile(key string, data []byte, parse AdParser) (*KeyFile, error) {
	ads, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKeyFile, err)
	}
	if len(ads) == 0 {
		return nil, fmt.Errorf("%w: no requests", ErrBadKeyFile)
	}
	kf := &KeyFile{Key: key}
	seen := map[string]bool{}
	for i, ad := range ads {
		r, err := requestOf(ad)
		if err != nil {
			return nil, fmt.Errorf("%w: request %d: %w", ErrBadKeyFile, i+1, err)
		}
		if kf.User == "" {
			kf.User = r.User
		} else if kf.User != r.User {
			return nil, fmt.Errorf("%w: requests for two users", ErrBadKeyFile)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("%w: %s requested twice", ErrBadKeyFile, r.Label)
		}
		seen[r.Name] = true
		kf.Requests = append(kf.Requests, r)
	}
	sort.Slice(kf.Requests, func(i, j int) bool { return kf.Requests[i].Label < kf.Requests[j].Label })
	return kf, nil
}

func requestOf(ad Ad) (Request, error) {
	r := Request{
		Provider: ad["provider"], Handle: ad["handle"], Scopes: ad["scopes"], Audience: ad["audience"],
		ClientID: ad["clientid"], ClientSecret: ad["clientsecret"], AuthURL: ad["authorizationurl"],
		TokenURL: ad["tokenurl"], ReturnURL: ad["returnurl"], LocalUser: ad["localuser"],
	}
	// The credd turns "/" in a service name into ":" for the file name.
	svc := strings.ReplaceAll(r.Provider, "/", ":")
	if !validFileName(svc) {
		return r, fmt.Errorf("invalid provider name %q", shortQ(r.Provider))
	}
	if r.Handle != "" && !htcondor.ValidName(r.Handle) {
		return r, fmt.Errorf("invalid handle %q", shortQ(r.Handle))
	}
	r.User, _, _ = strings.Cut(r.LocalUser, "@")
	if !htcondor.ValidName(r.User) || r.User == "." || r.User == ".." {
		return r, fmt.Errorf("invalid user name %q", shortQ(r.LocalUser))
	}
	r.Label, r.Name = r.Provider, svc
	if r.Handle != "" {
		r.Label += " " + r.Handle
		r.Name += "_" + r.Handle
	}
	if r.ClientID == "" {
		return r, errors.New("no ClientId")
	}
	// https only (the code and the client secret travel there), except
	// on the loopback interface.
	for _, u := range []struct{ name, v string }{{"AuthorizationUrl", r.AuthURL}, {"TokenUrl", r.TokenURL}, {"ReturnUrl", r.ReturnURL}} {
		p, err := url.Parse(u.v)
		if err != nil || p.Host == "" || p.User != nil || !(p.Scheme == "https" || p.Scheme == "http" && isLoopback(p.Hostname())) {
			return r, fmt.Errorf("%s is not an absolute https URL", u.name)
		}
	}
	return r, nil
}

// isLoopback reports a loopback host name or address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validFileName is the credd's rule for names plus ":" (from "/").
func validFileName(s string) bool {
	if s == "." || s == ".." || strings.HasPrefix(s, ".") {
		return false
	}
	return htcondor.ValidName(strings.ReplaceAll(s, ":", "_"))
}

func shortQ(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
