package stack

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// FaultKind is what a LatencyProxy does to new connections besides
// delaying them.
type FaultKind int

const (
	// FaultNone forwards every connection (with the current delay).
	FaultNone FaultKind = iota
	// FaultReset resets every connection (TCP RST) as soon as it is
	// accepted: a crashing server or a load balancer without a backend.
	FaultReset
	// FaultStatus answers every HTTP request itself, over TLS with the
	// certificate given to EnableTLS, with Fault.Status and a Vault-style
	// JSON error body: an overloaded or failing server (500, 503, 429).
	FaultStatus
)

// Fault is the proxy's current misbehaviour.
type Fault struct {
	Kind FaultKind
	// Status is the HTTP status FaultStatus answers with.
	Status int
	// RetryAfter, when positive, is sent as a Retry-After header (seconds).
	RetryAfter int
}

func (f Fault) String() string {
	switch f.Kind {
	case FaultReset:
		return "reset"
	case FaultStatus:
		if f.RetryAfter > 0 {
			return fmt.Sprintf("%d Retry-After %d", f.Status, f.RetryAfter)
		}
		return strconv.Itoa(f.Status)
	}
	return "none"
}

// faultState is the fault-injection part of a LatencyProxy.
type faultState struct {
	delay    atomic.Int64 // current one-way delay, ns
	fault    atomic.Pointer[Fault]
	resets   atomic.Int64
	answered atomic.Int64
	accepted atomic.Int64

	mu   sync.Mutex
	cert *tls.Certificate
	srv  *http.Server
	ln   *connListener
}

func (p *LatencyProxy) delay() time.Duration { return time.Duration(p.faults.delay.Load()) }

// SetDelay changes the one-way delay; it applies to every byte read from
// now on, on open connections too.
func (p *LatencyProxy) SetDelay(oneWay time.Duration) { p.faults.delay.Store(int64(oneWay)) }

// EnableTLS gives the proxy the server certificate FaultStatus answers
// with (the one of the server behind it, so clients see the same name).
func (p *LatencyProxy) EnableTLS(certs *Certs) error {
	c, err := tls.LoadX509KeyPair(certs.CertFile, certs.KeyFile)
	if err != nil {
		return err
	}
	f := &p.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cert = &c
	return nil
}

// SetFault switches the proxy's behaviour and drops every open
// connection, so that clients holding keep-alive connections meet the new
// behaviour on their next request, as they would when a server restarts.
func (p *LatencyProxy) SetFault(f Fault) {
	p.faults.fault.Store(&f)
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

// FaultCounts reports how many connections were reset and how many HTTP
// requests were answered with an injected status so far.
func (p *LatencyProxy) FaultCounts() (resets, answered int64) {
	return p.faults.resets.Load(), p.faults.answered.Load()
}

// Accepted is how many connections the proxy has accepted so far.
func (p *LatencyProxy) Accepted() int64 { return p.faults.accepted.Load() }

// injectFault handles c when a fault is set, reporting whether it did.
// For FaultStatus it blocks until the HTTP server is done with c.
func (p *LatencyProxy) injectFault(c net.Conn) bool {
	p.faults.accepted.Add(1)
	f := p.faults.fault.Load()
	if f == nil || f.Kind == FaultNone {
		return false
	}
	switch f.Kind {
	case FaultReset:
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // close sends RST
		}
		p.faults.resets.Add(1)
		return true
	case FaultStatus:
		ln, err := p.statusServer()
		if err != nil {
			return true // no certificate: the connection is just closed
		}
		dc := &doneConn{Conn: c, done: make(chan struct{})}
		if !ln.push(dc) {
			return true
		}
		<-dc.done
		return true
	}
	return false
}

// statusServer starts (once) the HTTP server that answers FaultStatus.
func (p *LatencyProxy) statusServer() (*connListener, error) {
	f := &p.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln != nil {
		return f.ln, nil
	}
	if f.cert == nil {
		return nil, fmt.Errorf("FaultStatus needs EnableTLS")
	}
	f.ln = &connListener{ch: make(chan net.Conn), closed: make(chan struct{}), addr: p.l.Addr()}
	f.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cur := f.fault.Load()
			status := http.StatusServiceUnavailable
			retry := 0
			if cur != nil && cur.Kind == FaultStatus {
				status, retry = cur.Status, cur.RetryAfter
			}
			f.answered.Add(1)
			if retry > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(retry))
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"errors":["injected fault: %d %s"]}`+"\n", status, http.StatusText(status))
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}
	tl := tls.NewListener(f.ln, &tls.Config{Certificates: []tls.Certificate{*f.cert}, MinVersion: tls.VersionTLS12})
	go f.srv.Serve(tl)
	return f.ln, nil
}

func (p *LatencyProxy) closeFaults() {
	f := &p.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv != nil {
		f.srv.Close()
		f.ln.Close()
	}
}

// connListener hands connections accepted elsewhere to an http.Server.
type connListener struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func (l *connListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// doneConn tells the proxy's connection handler when the HTTP server has
// closed the connection.
type doneConn struct {
	net.Conn
	once sync.Once
	done chan struct{}
}

func (c *doneConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.done) })
	return err
}
