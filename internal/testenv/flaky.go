package testenv

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// FlakyForwarder listens on a free port of target's host (a loopback
// address for the local stack: a client that learns the server's own
// address, as a Cassandra driver does from system tables, and keeps the
// port it was given still reaches the forwarder) and forwards each TCP
// connection to target, except the first drop it accepts, which it resets
// at once (closed with an RST), as a server that restarts or a proxy that
// cuts connections does. It returns its address and the
// count of connections accepted so far; it stops when the test ends.
// The address is "host:port" with target's host.
func FlakyForwarder(tb testing.TB, target string, drop int32) (string, *atomic.Int32) {
	tb.Helper()
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		tb.Fatal(err)
	}
	var (
		accepted atomic.Int32
		wg       sync.WaitGroup
		mu       sync.Mutex
		open     []net.Conn
	)
	track := func(cs ...net.Conn) {
		mu.Lock()
		open = append(open, cs...)
		mu.Unlock()
	}
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if accepted.Add(1) <= drop {
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // an RST, not an orderly close
				}
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			track(c, up)
			wg.Go(func() { _, _ = io.Copy(up, c); up.Close() })
			wg.Go(func() { _, _ = io.Copy(c, up); c.Close() })
		}
	})
	return ln.Addr().String(), &accepted
}
