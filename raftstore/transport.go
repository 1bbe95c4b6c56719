package raftstore

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Network is how the Raft transport listens and dials. TCPNetwork is the real one; tests wrap
// it to cut a node off at the TCP level.
type Network interface {
	Listen(addr string) (net.Listener, error)
	Dial(addr string, timeout time.Duration) (net.Conn, error)
}

// TCPNetwork is plain TCP.
type TCPNetwork struct{}

// Listen implements Network.
func (TCPNetwork) Listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

// Dial implements Network.
func (TCPNetwork) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, timeout)
}

// The Raft connection handshake, mutual. After TCP (and TLS, when configured):
//
//  1. the accepting side sends a magic string and a random challenge S;
//  2. the dialing side answers with its node id, its own challenge C and
//     HMAC(secret, "dial" S C id);
//  3. the accepting side checks the MAC and answers HMAC(secret, "accept" S C id).
//
// Only then does Raft see the connection, on either side: a peer without the cluster secret
// can neither replicate, vote, nor pose as a member to receive the log. The secret does not
// protect against an active man in the middle on the network path, who could relay a
// handshake; TLS with a CA (mutual certificates) does, and encrypts the log in transit.
const (
	handshakeMagic   = "PMRAFT1\n"
	challengeSize    = 32
	handshakeTimeout = 5 * time.Second
	maxNodeIDLen     = 255
)

// errHandshake is returned when a peer fails the cluster handshake.
var errHandshake = errors.New("raft handshake refused")

// streamLayer is a raft.StreamLayer that authenticates every connection.
type streamLayer struct {
	ln        net.Listener
	network   Network
	advertise net.Addr
	nodeID    string
	secret    []byte
	tls       *tls.Config // nil for plain TCP
	logger    *slog.Logger

	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

func newStreamLayer(network Network, bind string, advertise net.Addr, nodeID string, secret []byte, tlsCfg *tls.Config, logger *slog.Logger) (*streamLayer, error) {
	ln, err := network.Listen(bind)
	if err != nil {
		return nil, err
	}
	s := &streamLayer{
		ln: ln, network: network, advertise: advertise, nodeID: nodeID, secret: secret, tls: tlsCfg,
		logger: logger, conns: make(chan net.Conn), closed: make(chan struct{}),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// acceptLoop accepts TCP connections and authenticates each in its own goroutine, so a slow or
// hostile peer cannot hold up the others.
func (s *streamLayer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.closed:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.logger.Warn("raft accept", "error", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ac, peer, err := s.serverHandshake(c)
			if err != nil {
				s.logger.Warn("refused raft connection", "remote", c.RemoteAddr().String(), "peer", loggablePeer(peer), "error", err)
				c.Close()
				return
			}
			select {
			case s.conns <- ac:
			case <-s.closed:
				ac.Close()
			}
		}()
	}
}

func (s *streamLayer) serverHandshake(c net.Conn) (net.Conn, string, error) {
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	if s.tls != nil {
		tc := tls.Server(c, s.tls)
		if err := tc.Handshake(); err != nil {
			return nil, "", fmt.Errorf("%w: tls: %w", errHandshake, err)
		}
		c = tc
	}
	challenge := make([]byte, len(handshakeMagic)+challengeSize)
	copy(challenge, handshakeMagic)
	if _, err := rand.Read(challenge[len(handshakeMagic):]); err != nil {
		return nil, "", err
	}
	if _, err := c.Write(challenge); err != nil {
		return nil, "", fmt.Errorf("%w: %w", errHandshake, err)
	}
	var n [1]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return nil, "", fmt.Errorf("%w: %w", errHandshake, err)
	}
	buf := make([]byte, int(n[0])+challengeSize+sha256.Size)
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, "", fmt.Errorf("%w: %w", errHandshake, err)
	}
	ours := challenge[len(handshakeMagic):]
	peer, theirs, mac := string(buf[:n[0]]), buf[n[0]:int(n[0])+challengeSize], buf[int(n[0])+challengeSize:]
	if !hmac.Equal(mac, handshakeMAC(s.secret, "dial", ours, theirs, peer)) {
		return nil, peer, fmt.Errorf("%w: wrong cluster secret", errHandshake)
	}
	if _, err := c.Write(handshakeMAC(s.secret, "accept", ours, theirs, peer)); err != nil {
		return nil, peer, fmt.Errorf("%w: %w", errHandshake, err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, peer, nil
}

// loggablePeer is the node id a refused peer sent, when it looks like one: anything else is
// bytes of a foreign protocol (an HTTP request line and headers, credentials among them),
// which are not logged.
func loggablePeer(id string) string {
	if len(id) == 0 || len(id) > 64 {
		return "(none)"
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return "(not a node id)"
		}
	}
	return id
}

func handshakeMAC(secret []byte, role string, accepted, dialed []byte, nodeID string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(role))
	m.Write(accepted)
	m.Write(dialed)
	m.Write([]byte(nodeID))
	return m.Sum(nil)
}

// Accept implements net.Listener: it returns authenticated connections only.
func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.closed:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (s *streamLayer) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		err = s.ln.Close()
		s.wg.Wait()
	})
	return err
}

// Addr implements net.Listener: the address peers dial.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// Dial implements raft.StreamLayer.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := s.network.Dial(string(address), timeout)
	if err != nil {
		return nil, err
	}
	hs := handshakeTimeout
	if timeout > 0 {
		hs = min(timeout, handshakeTimeout)
	}
	_ = c.SetDeadline(time.Now().Add(hs))
	if s.tls != nil {
		cfg := s.tls.Clone()
		if host, _, err := net.SplitHostPort(string(address)); err == nil && cfg.ServerName == "" {
			cfg.ServerName = host
		}
		tc := tls.Client(c, cfg)
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, fmt.Errorf("raft tls to %s: %w", address, err)
		}
		c = tc
	}
	challenge := make([]byte, len(handshakeMagic)+challengeSize)
	if _, err := io.ReadFull(c, challenge); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w: %s sent no challenge (not a paimon raft endpoint?): %w", errHandshake, address, err)
	}
	if string(challenge[:len(handshakeMagic)]) != handshakeMagic {
		c.Close()
		return nil, fmt.Errorf("%w: %s is not a paimon raft endpoint", errHandshake, address)
	}
	mine := make([]byte, challengeSize)
	if _, err := rand.Read(mine); err != nil {
		c.Close()
		return nil, err
	}
	theirs := challenge[len(handshakeMagic):]
	resp := append([]byte{byte(len(s.nodeID))}, s.nodeID...)
	resp = append(resp, mine...)
	resp = append(resp, handshakeMAC(s.secret, "dial", theirs, mine, s.nodeID)...)
	if _, err := c.Write(resp); err != nil {
		c.Close()
		return nil, err
	}
	proof := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c, proof); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w: %s refused us (wrong cluster secret?): %w", errHandshake, address, err)
	}
	if !hmac.Equal(proof, handshakeMAC(s.secret, "accept", theirs, mine, s.nodeID)) {
		c.Close()
		return nil, fmt.Errorf("%w: %s does not know the cluster secret", errHandshake, address)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
