package node

import (
	"crypto/tls"
	"crypto/x509"
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
