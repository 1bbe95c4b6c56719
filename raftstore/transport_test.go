package raftstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func newTestLayer(t *testing.T, id, secret string, tlsCfg *tls.Config) *streamLayer {
	t.Helper()
	addr := freeAddr(t)
	adv, _ := net.ResolveTCPAddr("tcp", addr)
	s, err := newStreamLayer(TCPNetwork{}, addr, adv, id, []byte(secret), tlsCfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// roundTrip dials from a to b and checks that bytes flow both ways once b accepted.
func roundTrip(t *testing.T, a, b *streamLayer) error {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := b.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := a.Dial(raft.ServerAddress(b.Addr().String()), 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	var sc net.Conn
	select {
	case sc = <-accepted:
	case <-time.After(3 * time.Second):
		t.Fatal("dial succeeded but nothing was accepted")
	}
	defer sc.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
	return nil
}

func TestHandshakeSecrets(t *testing.T) {
	a := newTestLayer(t, "a", "secret-one-0123456789", nil)
	b := newTestLayer(t, "b", "secret-one-0123456789", nil)
	if err := roundTrip(t, a, b); err != nil {
		t.Fatalf("same secret: %v", err)
	}
	c := newTestLayer(t, "c", "secret-two-0123456789", nil)
	for name, pair := range map[string][2]*streamLayer{"dialer has another secret": {c, b}, "acceptor has another secret": {a, c}} {
		t.Run(name, func(t *testing.T) {
			got := make(chan net.Conn, 1)
			go func() {
				if conn, err := pair[1].Accept(); err == nil {
					got <- conn
				}
			}()
			conn, err := pair[0].Dial(raft.ServerAddress(pair[1].Addr().String()), 2*time.Second)
			if err == nil {
				conn.Close()
				t.Fatal("dial succeeded")
			}
			select {
			case <-got:
				t.Fatal("the acceptor handed the connection to Raft")
			case <-time.After(200 * time.Millisecond):
			}
		})
	}
}

func TestHandshakeRefusesStrangers(t *testing.T) {
	a := newTestLayer(t, "a", "secret-one-0123456789", nil)
	b := newTestLayer(t, "b", "secret-one-0123456789", nil)
	// A stranger that connects and says nothing holds no one up.
	idle, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// One that sends garbage is dropped.
	junk, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	junk.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n" + string(make([]byte, 200))))
	defer junk.Close()
	if err := roundTrip(t, a, b); err != nil {
		t.Fatalf("member blocked by strangers: %v", err)
	}
	// Dialing something that is not a Raft endpoint fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n" + string(make([]byte, 64))))
			c.Close()
		}
	}()
	if _, err := a.Dial(raft.ServerAddress(ln.Addr().String()), time.Second); err == nil {
		t.Fatal("dial to a non-raft endpoint succeeded")
	}
}

// testCA issues certificates for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "paimon test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) tlsConfig(t *testing.T, name string) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		RootCAs:      ca.pool, ClientCAs: ca.pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12,
	}
}

func TestHandshakeMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	a := newTestLayer(t, "a", "secret-one-0123456789", ca.tlsConfig(t, "a"))
	b := newTestLayer(t, "b", "secret-one-0123456789", ca.tlsConfig(t, "b"))
	if err := roundTrip(t, a, b); err != nil {
		t.Fatalf("members with certificates of the cluster CA: %v", err)
	}
	other := newTestCA(t)
	c := newTestLayer(t, "c", "secret-one-0123456789", other.tlsConfig(t, "c"))
	if _, err := c.Dial(raft.ServerAddress(b.Addr().String()), 2*time.Second); err == nil {
		t.Fatal("a node with a certificate of another CA was accepted, although it knows the secret")
	}
	plain := newTestLayer(t, "d", "secret-one-0123456789", nil)
	if _, err := plain.Dial(raft.ServerAddress(b.Addr().String()), 2*time.Second); err == nil {
		t.Fatal("a node without TLS was accepted by a TLS member")
	}
}

func TestLoggablePeer(t *testing.T) {
	for in, want := range map[string]string{
		"node2": "node2", "": "(none)", "OST /v1/cluster/notify HTTP/1.1\r\nAuthorization: Bearer x": "(not a node id)",
		strings.Repeat("a", 65): "(none)",
	} {
		if got := loggablePeer(in); got != want {
			t.Errorf("loggablePeer(%q) = %q, want %q", in, got, want)
		}
	}
}
