package stack

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// LatencyProxy is a TCP proxy on loopback that delays every byte by a
// fixed one-way delay in each direction, so a client talking to Target
// through Addr sees a round-trip time of twice the delay, as a remote
// server would (benchmarks use 10 ms each way: a 20 ms RTT). It can also
// inject faults (see SetFault and SetDelay in faultproxy.go).
type LatencyProxy struct {
	Addr   string        // 127.0.0.1:<port> to connect to
	Target string        // host:port forwarded to
	Delay  time.Duration // one way, as started (SetDelay changes the current one)
	l      net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	faults faultState
}

// StartLatencyProxy listens on a free loopback port and forwards to target.
func StartLatencyProxy(target string, oneWay time.Duration) (*LatencyProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &LatencyProxy{Addr: l.Addr().String(), Target: target, Delay: oneWay, l: l, conns: map[net.Conn]struct{}{}}
	p.faults.delay.Store(int64(oneWay))
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *LatencyProxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.closed {
			return false
		}
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
	return true
}

func (p *LatencyProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

func (p *LatencyProxy) serve(c net.Conn) {
	defer c.Close()
	if !p.track(c, true) {
		return
	}
	defer p.track(c, false)
	if p.injectFault(c) {
		return
	}
	// The connect itself takes one round trip through the "network".
	time.Sleep(2 * p.delay())
	t, err := net.DialTimeout("tcp", p.Target, 5*time.Second)
	if err != nil {
		// The server is down: reset the client's connection, the nearest
		// a proxy gets to "connection refused".
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		return
	}
	defer t.Close()
	if !p.track(t, true) {
		return
	}
	defer p.track(t, false)
	done := make(chan struct{}, 2)
	go func() { p.pipe(t, c); done <- struct{}{} }()
	go func() { p.pipe(c, t); done <- struct{}{} }()
	<-done
	c.Close()
	t.Close()
	<-done
}

type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst, each chunk delivered Delay after it was read,
// in order.
func (p *LatencyProxy) pipe(dst, src net.Conn) {
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{buf[:n], time.Now().Add(p.delay())}
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range q {
		if d := time.Until(ch.due); d > 0 {
			time.Sleep(d) // simulated wire latency, not synchronisation
		}
		if _, err := dst.Write(ch.b); err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	for range q {
	}
}

// Close stops the proxy and closes every connection.
func (p *LatencyProxy) Close() error {
	p.closeFaults()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.l.Close()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

var _ io.Closer = (*LatencyProxy)(nil)
