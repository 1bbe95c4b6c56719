package testutil

import (
	"errors"
	"net"
	"sync"
	"time"
)

// CutNetwork is a Raft network (raftstore.Network) that a test can cut: while cut, every
// connection of the node is closed, its dials fail and the connections it accepts are
// dropped. Cutting it isolates the node at the TCP level, as a network partition would.
type CutNetwork struct {
	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

// NewCutNetwork returns a network that is not cut.
func NewCutNetwork() *CutNetwork { return &CutNetwork{conns: map[net.Conn]struct{}{}} }

func (n *CutNetwork) track(c net.Conn) net.Conn {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut {
		c.Close()
		return nil
	}
	n.conns[c] = struct{}{}
	return c
}

// Listen listens on addr over TCP; while the network is cut, accepted connections are closed.
func (n *CutNetwork) Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &cutListener{Listener: ln, n: n}, nil
}

// Dial dials addr over TCP, or fails while the network is cut.
func (n *CutNetwork) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	n.mu.Lock()
	cut := n.cut
	n.mu.Unlock()
	if cut {
		return nil, errors.New("network cut")
	}
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if c = n.track(c); c == nil {
		return nil, errors.New("network cut")
	}
	return c, nil
}

// SetCut cuts the network (closing every connection it holds) or heals it.
func (n *CutNetwork) SetCut(cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut = cut
	if cut {
		for c := range n.conns {
			c.Close()
		}
		n.conns = map[net.Conn]struct{}{}
	}
}

type cutListener struct {
	net.Listener
	n *CutNetwork
}

func (l *cutListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c = l.n.track(c); c != nil {
			return c, nil
		}
	}
}
