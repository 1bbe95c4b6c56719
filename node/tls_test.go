package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// writePEM writes a DER block as PEM.
func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue writes a CA (once) and a certificate for 127.0.0.1 signed by it into dir, and returns
// the three file paths.
func issue(t *testing.T, dir string, caKey *ecdsa.PrivateKey, caCert *x509.Certificate, name string) (cert, key, ca string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, ca = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"), filepath.Join(dir, "ca.pem")
	writePEM(t, cert, "CERTIFICATE", der)
	writePEM(t, key, "EC PRIVATE KEY", kb)
	writePEM(t, ca, "CERTIFICATE", caCert.Raw)
	return cert, key, ca
}

func TestClusterOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "paimon cluster CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)

	c := newCluster(t, 3)
	for i, cfg := range c.cfgs {
		cfg.Cluster.TLSCertFile, cfg.Cluster.TLSKeyFile, cfg.Cluster.TLSCAFile = issue(t, dir, caKey, caCert, fmt.Sprintf("node%d", i+1))
	}
	for i := range 3 {
		c.start(i)
	}
	c.waitLeader(15 * time.Second)
	erin := common.HexToAddress("0xe410000000000000000000000000000000000005")
	c.writeLog(c.follower(), transferLog(t, erin, 1, 7))
	for i := range c.nodes {
		checkFor(t, 5*time.Second, func() error {
			r, err := c.account(i, erin, "")
			if err != nil {
				return err
			}
			if s := shares(t, r); s != "7" {
				return fmt.Errorf("node%d shares %s", i+1, s)
			}
			return nil
		})
	}
	// A config naming a missing certificate does not start.
	bad := *c.cfgs[0]
	bad.Cluster.TLSCertFile = filepath.Join(dir, "missing.pem")
	if _, err := LoadClusterTLS(bad.Cluster); err == nil {
		t.Fatal("missing certificate file accepted")
	}
}
