package stack

import (
	"bufio"
	"net"
	"testing"
	"time"
)

func TestLatencyProxyDelaysBothWays(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	p, err := StartLatencyProxy(l.Addr().String(), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	// Echo round trips: each must take at least the 20 ms RTT (a lower
	// bound is what the proxy guarantees; scheduling may add to it).
	for i := 0; i < 3; i++ {
		start := time.Now()
		c.Write([]byte("ping\n"))
		if line, err := r.ReadString('\n'); err != nil || line != "ping\n" {
			t.Fatalf("echo: %q %v", line, err)
		}
		if rtt := time.Since(start); rtt < 20*time.Millisecond {
			t.Fatalf("round trip %v, want at least 20ms", rtt)
		}
	}
}
