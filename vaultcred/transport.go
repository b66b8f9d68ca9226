//go:build !gettoken_front

package vaultcred

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Timeouts of every HTTP request, as htgettoken: 2 s to connect, 10 s to
// read. Each call's context adds an overall deadline on top.
const (
	ConnectTimeout = 2 * time.Second
	ReadTimeout    = 10 * time.Second
	maxCAFileSize  = 4 << 20
)

// TLSConfig says which certificate authorities to trust and which name the
// server's certificate must carry.
type TLSConfig struct {
	// CAFile is a PEM bundle; CAPath a directory of PEM files. Trust is
	// their union. When both are empty the system roots are used.
	CAFile, CAPath string
	// ServerName is the name checked in the server certificate
	// (--vaultcertname); empty means the host of the URL being dialled: a
	// DNS name, or an IP address that must be among the certificate's IP
	// addresses.
	ServerName string
}

// HTTPClientConfig configures NewHTTPClient.
type HTTPClientConfig struct {
	TLS TLSConfig
	// Logf receives the round-robin fail-over messages
	// ("Connection timeout on <host> ip <a>, trying <b>"); nil discards them.
	Logf func(format string, args ...any)
	// LookupIPAddr resolves host names; nil means net.DefaultResolver.
	LookupIPAddr func(ctx context.Context, host string) ([]net.IPAddr, error)
	// ResolveTTL, when positive, re-resolves a host name that was resolved
	// longer ago than this (a daemon's clients live for days; HTCondor's
	// credmon re-resolves every 5 minutes). Zero resolves once per client,
	// as htgettoken.
	ResolveTTL time.Duration
	// MaxIdleConnsPerHost is how many idle keep-alive connections are kept
	// per host; 0 means Go's default (2). A daemon with a pool of
	// concurrent requests sets it to the pool size.
	MaxIdleConnsPerHost int
	// Now is the clock for ResolveTTL; nil means time.Now.
	Now func() time.Time
}

// NewHTTPClient returns the HTTP client of every gettoken request: TLS
// always verified against the union of the CA file and directory, a 2 s
// connect and 10 s read timeout, no proxy (htgettoken never uses one), no
// redirects, and htgettoken's DNS round robin (see rrDialer).
func NewHTTPClient(c HTTPClientConfig) *http.Client {
	logf := c.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	lookup := c.LookupIPAddr
	if lookup == nil {
		lookup = net.DefaultResolver.LookupIPAddr
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	d := &rrDialer{lookup: lookup, logf: logf, addrs: map[string][]net.IP{}, resolved: map[string]time.Time{}, ttl: c.ResolveTTL, now: now}
	v := &verifier{cfg: c.TLS}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		DialTLSContext:        v.dialTLS(d.DialContext),
		ResponseHeaderTimeout: ReadTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   c.MaxIdleConnsPerHost,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// dialTLS returns the transport's TLS dialer. It dials the TCP connection
// with dial and verifies the server certificate against the host being
// dialled, taken from the address itself: a DNS name, or an IP address
// matched against the certificate's IP SANs. Verifying inside the TLS
// handshake's callbacks alone cannot do that, because Go sends no SNI for
// an IP address and the callbacks would then see an empty name, for which
// x509 skips the name check.
func (v *verifier) dialTLS(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		name := v.cfg.ServerName
		if name == "" {
			name = host
		}
		if name == "" {
			return nil, errors.New("no host name to verify the server certificate against")
		}
		raw, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := tls.Client(raw, &tls.Config{
			MinVersion: tls.VersionTLS12,
			// SNI is the URL's host (Go omits it for an IP address).
			ServerName: host,
			NextProtos: []string{"h2", "http/1.1"},
			// The certificate is verified in VerifyConnection, against
			// name and the lazily-unioned pools.
			InsecureSkipVerify: true,
			VerifyConnection:   func(cs tls.ConnectionState) error { return v.verify(cs, name) },
		})
		hctx, cancel := context.WithTimeout(ctx, ReadTimeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			raw.Close()
			return nil, err
		}
		return tc, nil
	}
}

// verifier checks server certificates against CAFile first and, only if
// that does not establish trust, against CAFile plus every certificate in
// CAPath. That is the union htgettoken trusts, without reading a large CA
// directory on every run when the bundle suffices (OpenSSL reads capath
// lazily too).
type verifier struct {
	cfg      TLSConfig
	fileOnce sync.Once
	filePool *x509.CertPool
	fileErr  error
	dirOnce  sync.Once
	dirPool  *x509.CertPool
	dirErr   error
}

// verify checks the certificate chain of cs for name, a DNS name or an IP
// address; an empty name is refused rather than skipping the name check.
func (v *verifier) verify(cs tls.ConnectionState, name string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("server presented no certificate")
	}
	if name == "" {
		return errors.New("no host name to verify the server certificate against")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{DNSName: name, Intermediates: inter}
	leaf := cs.PeerCertificates[0]

	if v.cfg.CAFile == "" && v.cfg.CAPath == "" {
		_, err := leaf.Verify(opts) // nil Roots: the system pool
		return err
	}
	v.fileOnce.Do(func() { v.filePool, v.fileErr = loadCAFile(v.cfg.CAFile) })
	if v.fileErr != nil {
		return v.fileErr
	}
	opts.Roots = v.filePool
	_, err := leaf.Verify(opts)
	var ua x509.UnknownAuthorityError
	if err == nil || v.cfg.CAPath == "" || !errors.As(err, &ua) {
		return err
	}
	v.dirOnce.Do(func() { v.dirPool, v.dirErr = loadCADir(v.filePool, v.cfg.CAPath) })
	if v.dirErr != nil {
		return v.dirErr
	}
	opts.Roots = v.dirPool
	_, err = leaf.Verify(opts)
	return err
}

func loadCAFile(path string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if path == "" {
		return pool, nil
	}
	b, err := readCA(path)
	if err != nil {
		return nil, err
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// loadCADir returns base plus the certificates of every PEM file in dir.
// Files without certificates (CRLs, signing policies, namespaces files in
// IGTF directories) are ignored; a missing directory adds nothing.
func loadCADir(base *x509.CertPool, dir string) (*x509.CertPool, error) {
	pool := base.Clone()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return pool, nil
	}
	if err != nil {
		return nil, fmt.Errorf("CA directory: %w", err)
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxCAFileSize {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for len(b) > 0 {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue
			}
			if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
				pool.AddCert(c)
			}
		}
	}
	return pool, nil
}

func readCA(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	if fi.Size() > maxCAFileSize {
		return nil, fmt.Errorf("CA file %s is larger than %d bytes", path, maxCAFileSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	return b, nil
}

// rrDialer is htgettoken's (and HTCondor's VaultCredmon's) round robin: a
// host name is resolved once per client; only its IPv4 addresses are used
// when it has any, else the IPv6 ones; the first address serves every
// request (sticky), and only a connect timeout (not a refusal, not a TLS
// error) moves on to the next address.
type rrDialer struct {
	lookup   func(ctx context.Context, host string) ([]net.IPAddr, error)
	logf     func(string, ...any)
	ttl      time.Duration
	now      func() time.Time
	mu       sync.Mutex
	addrs    map[string][]net.IP
	resolved map[string]time.Time
}

func (d *rrDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	nd := net.Dialer{Timeout: ConnectTimeout}
	if net.ParseIP(host) != nil {
		return nd.DialContext(ctx, network, addr)
	}
	ips, err := d.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	for {
		ip := ips[0]
		c, err := nd.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || len(ips) < 2 || ctx.Err() != nil {
			return nil, err
		}
		d.mu.Lock()
		if cur := d.addrs[host]; len(cur) > 1 && cur[0].Equal(ip) {
			d.addrs[host] = cur[1:]
		}
		next := d.addrs[host]
		d.mu.Unlock()
		if len(next) == 0 {
			// Being re-resolved by another request (ResolveTTL): this
			// one fails with its timeout.
			return nil, err
		}
		ips = next
		d.logf("Connection timeout on %s ip %s, trying %s", host, ip, ips[0])
	}
}

func (d *rrDialer) resolve(ctx context.Context, host string) ([]net.IP, error) {
	d.mu.Lock()
	ips := d.addrs[host]
	if ips != nil && d.ttl > 0 && d.now().Sub(d.resolved[host]) > d.ttl {
		ips = nil
		delete(d.addrs, host)
	}
	d.mu.Unlock()
	if ips != nil {
		return ips, nil
	}
	res, err := d.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	var v4, v6 []net.IP
	for _, a := range res {
		if ip4 := a.IP.To4(); ip4 != nil {
			v4 = append(v4, ip4)
		} else {
			v6 = append(v6, a.IP)
		}
	}
	ips = v4
	if len(ips) == 0 {
		ips = v6
	}
	if len(ips) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	d.mu.Lock()
	if cur := d.addrs[host]; cur != nil {
		ips = cur
	} else {
		d.addrs[host] = ips
		d.resolved[host] = d.now()
	}
	d.mu.Unlock()
	return ips, nil
}
