package krb

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/krberror"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// Options controls how LoadFromEnv finds credentials. The zero value uses
// the process environment and identity.
type Options struct {
	// LookupEnv looks up environment variables (KRB5CCNAME, KRB5_CONFIG,
	// TMPDIR). Nil means os.LookupEnv.
	LookupEnv func(key string) (string, bool)
	// UID and EUID are used for the %{uid}, %{USERID}, %{euid} and
	// %{username} tokens and the built-in cache name /tmp/krb5cc_<uid>.
	// Nil means os.Getuid() / os.Geteuid().
	UID, EUID *int
	// Principal, if set, is the principal whose credentials must be used
	// (htgettoken's --kerbprincipal), as "name@REALM" or "name" (then the
	// realm is default_realm, or any realm if there is none). In a DIR
	// collection the matching cache is chosen; for a single cache a
	// different principal is an ErrPrincipalMismatch error.
	Principal string
	// ConfigPath overrides KRB5_CONFIG: a colon-separated list of krb5.conf
	// files, read and merged as MIT does (the first file that sets a value
	// wins; missing files are skipped).
	ConfigPath string
	// Now returns the current time, for the ticket expiry check. Nil means
	// time.Now.
	Now func() time.Time
}

// resolvedOptions is Options with the defaults filled in.
type resolvedOptions struct {
	lookupEnv  func(string) (string, bool)
	uid, euid  int
	principal  string
	configPath string
	now        func() time.Time
}

func (o Options) resolve() *resolvedOptions {
	r := &resolvedOptions{
		lookupEnv:  o.LookupEnv,
		uid:        os.Getuid(),
		euid:       os.Geteuid(),
		principal:  o.Principal,
		configPath: o.ConfigPath,
		now:        o.Now,
	}
	if r.lookupEnv == nil {
		r.lookupEnv = os.LookupEnv
	}
	if o.UID != nil {
		r.uid = *o.UID
	}
	if o.EUID != nil {
		r.euid = *o.EUID
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// Client holds Kerberos credentials loaded from a credentials cache and
// makes HTTP Negotiate headers from them. It is safe for concurrent use.
type Client struct {
	cl        *client.Client
	principal string
	realm     string
	cacheName string
	tgtEnd    time.Time
	now       func() time.Time

	// mu guards the fields below. An exchange abandoned on ctx expiry keeps
	// running until gokrb5's own timeout, so Close defers destroying the
	// gokrb5 client until the last exchange has finished.
	mu        sync.Mutex
	inflight  int
	closed    bool
	destroyed bool
}

// LoadFromEnv finds the credentials cache as MIT Kerberos does (KRB5CCNAME,
// else krb5.conf's default_ccache_name, else /tmp/krb5cc_<uid>), reads
// krb5.conf (Options.ConfigPath, else KRB5_CONFIG, else /etc/krb5.conf; a
// missing file is not an error) and returns a Client for the cache's
// principal. It does no network I/O.
//
// Errors match ErrNoCredentials (no cache, or no TGT in it), ErrTGTExpired,
// ErrUnsupportedCCache, ErrCCacheUnreadable, ErrPrincipalMismatch or
// ErrConfig.
func LoadFromEnv(opts Options) (*Client, error) {
	o := opts.resolve()
	prof, err := loadProfile(configPaths(o))
	if err != nil {
		return nil, err
	}
	ref, err := resolveCCacheName(o, prof)
	if err != nil {
		return nil, err
	}
	defaultRealm := ""
	if n, ok := prof.first("libdefaults", "default_realm"); ok {
		defaultRealm = cleanConfigValue(n.value)
	}
	l, err := openCCache(ref, newCacheEnv(o, prof), o.principal, defaultRealm)
	if err != nil {
		return nil, err
	}
	end, err := tgtEnd(l, o.now())
	if err != nil {
		return nil, err
	}
	cfg, err := buildConfig(prof, l.cc.DefaultPrincipal.Realm)
	if err != nil {
		return nil, err
	}
	cl, err := newGokrb5Client(l, cfg)
	if err != nil {
		return nil, err
	}
	return &Client{cl: cl, principal: l.principal(), realm: l.cc.DefaultPrincipal.Realm,
		cacheName: l.name, tgtEnd: end, now: o.now}, nil
}

func newGokrb5Client(l *loadedCCache, cfg *config.Config) (cl *client.Client, err error) {
	defer func() {
		if r := recover(); r != nil {
			cl, err = nil, newError(ErrCCacheUnreadable, "credentials cache "+l.name+": malformed ticket", nil)
		}
	}()
	c, err := client.NewFromCCache(l.cc, cfg)
	if err != nil {
		return nil, newError(ErrCCacheUnreadable, "credentials cache "+l.name, errors.New(oneLine(err.Error())))
	}
	return c, nil
}

// Principal returns the client principal as "name@REALM".
func (c *Client) Principal() string { return c.principal }

// CacheName returns the credentials cache in use, in MIT syntax (for
// example "FILE:/tmp/krb5cc_1000" or "DIR::/run/user/1000/krb5cc/tkt").
func (c *Client) CacheName() string { return c.cacheName }

// Expires returns the end time of the ticket-granting ticket.
func (c *Client) Expires() time.Time { return c.tgtEnd }

// Close stops any background TGT renewal gokrb5 may have started and drops
// the tickets held in memory (once exchanges still running in the
// background have ended). NegotiateHeader fails with ErrClosed afterwards.
func (c *Client) Close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.destroyLocked()
}

func (c *Client) destroyLocked() {
	if c.closed && c.inflight == 0 && !c.destroyed && c.cl != nil {
		c.destroyed = true
		c.cl.Destroy()
	}
}

// NegotiateHeader returns an HTTP Authorization header value
// "Negotiate <base64 SPNEGO token>" for servicePrincipal, which must be of
// the form "service/host" with no realm, e.g. "host/vault.example.org"
// (htgettoken's GSS name host@<vault host>). The host is lower-cased as
// MIT's krb5_sname_to_principal does; no DNS canonicalisation is done
// (rdns = false). A service ticket already in the cache is used as is,
// otherwise one is obtained from the KDC with the TGT.
//
// KDC exchanges time out after 5 s per KDC; ctx may shorten that: when it is
// done first the call returns at once with an error matching
// ErrKDCUnreachable (for a deadline) and ctx.Err(). Errors otherwise match
// ErrTGTExpired, ErrKDCUnreachable, ErrKDCRefused or
// ErrInvalidServicePrincipal.
func (c *Client) NegotiateHeader(ctx context.Context, servicePrincipal string) (string, error) {
	spn, err := normaliseSPN(servicePrincipal)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", ctxError(err, spn)
	}
	if !c.now().Before(c.tgtEnd) {
		return "", newError(ErrTGTExpired, fmt.Sprintf("ticket-granting ticket for %s expired at %s",
			c.principal, c.tgtEnd.UTC().Format(time.RFC3339)), nil)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return "", ErrClosed
	}
	c.inflight++
	c.mu.Unlock()
	type result struct {
		header string
		err    error
	}
	done := make(chan result, 1) // buffered: an abandoned exchange must not block
	go func() {
		defer func() {
			c.mu.Lock()
			c.inflight--
			c.destroyLocked()
			c.mu.Unlock()
		}()
		h, err := c.negotiate(spn)
		done <- result{h, err}
	}()
	select {
	case r := <-done:
		return r.header, r.err
	case <-ctx.Done():
		return "", ctxError(ctx.Err(), spn)
	}
}

func (c *Client) negotiate(spn string) (header string, err error) {
	defer func() {
		if r := recover(); r != nil {
			header, err = "", newError(ErrKDCRefused, "malformed Kerberos message while getting a ticket for "+spn, nil)
		}
	}()
	tok, err := spnego.SPNEGOClient(c.cl, spn).InitSecContext()
	if err != nil {
		return "", classifyTicketError(err, spn, c.realm)
	}
	b, err := tok.Marshal()
	if err != nil {
		return "", newError(nil, "cannot encode SPNEGO token for "+spn, errors.New(oneLine(err.Error())))
	}
	return "Negotiate " + base64.StdEncoding.EncodeToString(b), nil
}

func ctxError(err error, spn string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return newError(ErrKDCUnreachable, "no answer from the Kerberos KDC for "+spn+" before the deadline", err)
	}
	return fmt.Errorf("getting a Kerberos ticket for %s: %w", spn, err)
}

// classifyTicketError maps a gokrb5 error to this package's kinds. gokrb5's
// messages name principals, KDC addresses and Kerberos error codes, never
// key or ticket bytes.
func classifyTicketError(err error, spn, realm string) error {
	msg := oneLine(err.Error())
	cause := errors.New(msg)
	var ke krberror.Krberror
	if errors.As(err, &ke) {
		switch ke.RootCause {
		case krberror.NetworkingError:
			return newError(ErrKDCUnreachable, "cannot reach a KDC for realm "+realm+" to get a ticket for "+spn, cause)
		case krberror.KDCError:
			if strings.Contains(msg, "TKT_EXPIRED") {
				return newError(ErrTGTExpired, "the KDC says the ticket-granting ticket has expired", cause)
			}
			return newError(ErrKDCRefused, "the KDC refused a ticket for "+spn, cause)
		}
	}
	return newError(nil, "cannot get a Kerberos ticket for "+spn, cause)
}

// normaliseSPN checks "service/host" and lower-cases the host.
func normaliseSPN(s string) (string, error) {
	svc, host, ok := strings.Cut(s, "/")
	host = strings.TrimSuffix(host, ".")
	if !ok || svc == "" || host == "" || strings.ContainsAny(host, "/@ \t\r\n") || strings.ContainsAny(svc, "@ \t\r\n") {
		return "", newError(ErrInvalidServicePrincipal,
			fmt.Sprintf("service principal %q is not of the form service/host", s), nil)
	}
	return svc + "/" + strings.ToLower(host), nil
}
