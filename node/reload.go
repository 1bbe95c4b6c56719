package node

import (
	"crypto/tls"
	"fmt"

	"paimon/config"
)

// Reload applies what of cfg can change while the node runs (config.Reloadable): the API's
// certificate (read again from its files, so a certificate renewed in place is picked up),
// the per-client rate limits and the alert webhooks. Everything is loaded and validated before
// anything changes: a config that does not validate, or a certificate that does not load, is
// refused with the error and the node keeps its current settings. It returns the keys that
// differ from the running configuration and need a restart (the log level is the caller's:
// it owns the logger). The node's own view of its configuration (n.cfg, GET
// /v1/system/config) stays the one it started with.
func (n *Node) Reload(cfg *config.Config) (restart []string, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var cert *tls.Certificate
	if cfg.HTTP.TLSCertFile != "" {
		srv, _, err := LoadHTTPTLS(cfg)
		if err != nil {
			return nil, err
		}
		cert = &srv.Certificates[0]
	}
	rl := cfg.AuthConfig().RateLimit
	ac := cfg.AlertsConfig()
	if err := ac.Validate(); err != nil {
		return nil, err
	}

	for _, k := range config.Changed(n.cfg, cfg) {
		if !config.IsReloadable(k) {
			restart = append(restart, k)
		}
	}
	if err := n.auth.SetRateLimit(rl); err != nil {
		return restart, fmt.Errorf("ratelimit: %w", err)
	}
	switch {
	case cert != nil && !n.server.SetCertificate(cert):
		restart = append(restart, "http.tls_cert_file (turning TLS on)")
	case cert == nil && n.cfg.HTTP.TLSCertFile != "":
		restart = append(restart, "http.tls_cert_file (turning TLS off)")
	}
	if err := n.alerts.Reload(ac); err != nil {
		return restart, fmt.Errorf("alerts: %w", err)
	}
	return restart, nil
}
