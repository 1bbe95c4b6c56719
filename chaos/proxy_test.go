package chaos

import (
	"bufio"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echo starts a line echo server and returns its address.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line through addr and returns how long the echo took, or an error.
func roundTrip(addr string) (time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	start := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// TestProxyLinks checks that ConnOwner names the test process as the source of its own
// connections, and that a cut and a latency apply to that source only.
func TestProxyLinks(t *testing.T) {
	self := map[int]string{os.Getpid(): "self"}
	p, err := NewProxy("127.0.0.1:0", echo(t), func(c net.Conn) string { return ConnOwner(c, self) })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := roundTrip(p.Addr()); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}

	p.SetLink("other", Link{Cut: true})
	if _, err := roundTrip(p.Addr()); err != nil {
		t.Fatalf("a cut of another source cut this one: %v", err)
	}

	p.SetLink("self", Link{Cut: true})
	if _, err := roundTrip(p.Addr()); err == nil {
		t.Fatal("a cut source still gets through: ConnOwner did not name this process")
	}

	p.SetLink("self", Link{Latency: 50 * time.Millisecond})
	if d, err := roundTrip(p.Addr()); err != nil || d < 100*time.Millisecond {
		t.Fatalf("with 50 ms on each direction the echo took %s (%v), want at least 100 ms", d, err)
	}

	p.Heal()
	if _, err := roundTrip(p.Addr()); err != nil {
		t.Fatalf("after heal: %v", err)
	}
}

// transfer sends n bytes through addr to the echo server and reads them back; it returns how
// long that took.
func transfer(addr string, n int) (time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, n))
		errc <- err
	}()
	if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
		return 0, err
	}
	if err := <-errc; err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// TestProxyBandwidth checks the token bucket: 512 KiB echoed through a 1 MiB/s link takes
// about 0.4 s (the bytes beyond the 100 ms burst, each direction metered on its own but
// concurrently), another source is not limited, and a heal lifts the limit.
func TestProxyBandwidth(t *testing.T) {
	self := map[int]string{os.Getpid(): "self"}
	p, err := NewProxy("127.0.0.1:0", echo(t), func(c net.Conn) string { return ConnOwner(c, self) })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 512 << 10
	free, err := transfer(p.Addr(), n)
	if err != nil {
		t.Fatalf("unlimited: %v", err)
	}
	p.SetLink("other", Link{Bandwidth: 1 << 10})
	if d, err := transfer(p.Addr(), n); err != nil || d > time.Second {
		t.Fatalf("another source's limit slowed this one: %s (%v)", d, err)
	}
	p.SetLink("self", Link{Bandwidth: 1 << 20})
	limited, err := transfer(p.Addr(), n)
	if err != nil {
		t.Fatalf("limited: %v", err)
	}
	if limited < 300*time.Millisecond || limited > 3*time.Second {
		t.Fatalf("512 KiB at 1 MiB/s took %s (unlimited %s), want about 0.4 s", limited, free)
	}
	p.Heal()
	// 4 MiB would take at least 3.9 s through the 1 MiB/s bucket, a bound no scheduling can
	// beat; a loaded machine echoes it unlimited in well under 2 s. (Comparing with the limited
	// run's time instead failed on a machine at load 19: 836 ms against 530 ms.)
	if d, err := transfer(p.Addr(), 8*n); err != nil || d > 2*time.Second {
		t.Fatalf("after heal: 4 MiB echoed in %s (%v), at least 3.9 s if still limited", d, err)
	}
	t.Logf("512 KiB echoed: unlimited %s, at 1 MiB/s %s", free, limited)
}
