package node

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"paimon/config"
)

// LoadClusterTLS builds the mutual TLS configuration of the Raft transport from the files
// [cluster] names, or returns nil when none are set: every member must present a certificate
// signed by the cluster CA, and this node presents its own.
func LoadClusterTLS(c config.Cluster) (*tls.Config, error) {
	if c.TLSCertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("cluster.tls_cert_file/tls_key_file: %w", err)
	}
	pem, err := os.ReadFile(c.TLSCAFile)
	if err != nil {
		return nil, fmt.Errorf("cluster.tls_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cluster.tls_ca_file: %s holds no PEM certificate", c.TLSCAFile)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// LoadHTTPTLS builds the TLS configuration of the API from [http] tls_cert_file and
// tls_key_file, or returns nils when they are not set. server serves HTTPS with this node's
// certificate; peers verifies the other members' API certificates (forwarding, joins) against
// the system roots and, when [cluster] tls_ca_file is set, the cluster CA, so a private CA
// needs no second setting and a public one works without it.
func LoadHTTPTLS(cfg *config.Config) (server, peers *tls.Config, err error) {
	h := cfg.HTTP
	if h.TLSCertFile == "" && h.TLSKeyFile == "" {
		return nil, nil, nil
	}
	certPEM, err := os.ReadFile(h.TLSCertFile)
	if err != nil {
		return nil, nil, fmt.Errorf("http.tls_cert_file: %w", err)
	}
	keyPEM, err := os.ReadFile(h.TLSKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("http.tls_key_file: %w", err)
	}
	if b, _ := pem.Decode(certPEM); b == nil {
		return nil, nil, fmt.Errorf("http.tls_cert_file: %s holds no PEM data", h.TLSCertFile)
	}
	if b, _ := pem.Decode(keyPEM); b == nil {
		return nil, nil, fmt.Errorf("http.tls_key_file: %s holds no PEM data", h.TLSKeyFile)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("http.tls_cert_file/http.tls_key_file (%s, %s): %w", h.TLSCertFile, h.TLSKeyFile, err)
	}
	minVersion := uint16(tls.VersionTLS12)
	if h.TLSMinVersion == "1.3" {
		minVersion = tls.VersionTLS13
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if ca := cfg.Cluster.TLSCAFile; ca != "" {
		caPEM, err := os.ReadFile(ca)
		if err != nil {
			return nil, nil, fmt.Errorf("cluster.tls_ca_file: %w", err)
		}
		if !roots.AppendCertsFromPEM(caPEM) {
			return nil, nil, fmt.Errorf("cluster.tls_ca_file: %s holds no PEM certificate", ca)
		}
	}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: minVersion}
	peers = &tls.Config{RootCAs: roots, MinVersion: minVersion}
	return server, peers, nil
}
