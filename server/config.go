package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Config configures the server.
type Config struct {
	NodeID       string
	Addr         string
	MaxBodyBytes int
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// Concurrency bounds the connections served at once (fasthttp answers one over it with
	// 503 and closes it); 0 derives it from the descriptor limit (DefaultConcurrency).
	Concurrency int
	// MaxConnsPerIP bounds the open connections from one address (an IPv6 address counts by
	// its /64), WebSocket connections included; one over it is closed when accepted.
	MaxConnsPerIP int
	// MaxStaleness is the default bound of a local read: a node that has not heard from a
	// leader for longer refuses it with STALE_READ.
	MaxStaleness time.Duration
	// ApplyTimeout bounds how long a write or a linearizable read waits for the cluster.
	ApplyTimeout time.Duration
	// ChainID is reported by GET /v1/ingest/status when this node ingests nothing.
	ChainID uint64
	// ClusterSecret authenticates requests between members (forwarding, joins).
	ClusterSecret []byte
	// HTTPAdvertise is the address other members reach this API at; defaults to Addr.
	HTTPAdvertise string
	// RaftAddr is this node's advertised Raft address, reported to peers forming a cluster.
	RaftAddr string
	// TLS, when set, makes Start serve HTTPS (and wss://) only, with its certificates. Members
	// are then reached over https too: every member of a cluster has the same [http] TLS
	// settings, so this node's own choice decides the scheme of its calls to the others.
	TLS *tls.Config
	// PeerTLS verifies the other members' API certificates when TLS is set (nil: the system
	// roots).
	PeerTLS *tls.Config
	// PGSync reports the PostgreSQL sync for the cluster status; nil reports it disabled.
	PGSync func() PGSyncStatus
	// IngestStatus reports chain ingest (GET /v1/ingest/status); nil when there is none.
	IngestStatus func() any
	// PGVerify compares this node's state with PostgreSQL after waiting up to wait for it to
	// catch up, and returns the report and how many tables differ; nil when not available.
	PGVerify func(ctx context.Context, wait time.Duration) (report any, differences int, err error)
	// SystemConfig is the node's effective configuration without secrets, answered by GET
	// /v1/system/config (config.Config.Public).
	SystemConfig any
	// Push serves GET /v1/ws; nil when push is disabled.
	Push    Pusher
	Logger  *slog.Logger
	Metrics *metrics.Set
	Now     func() time.Time
}

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	if c.NodeID == "" || c.Addr == "" {
		return errors.New("server: NodeID and Addr are required")
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	for _, d := range []*time.Duration{&c.ReadTimeout, &c.WriteTimeout, &c.IdleTimeout, &c.ApplyTimeout} {
		if *d <= 0 {
			*d = 10 * time.Second
		}
	}
	if c.MaxStaleness <= 0 {
		c.MaxStaleness = 5 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency()
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = metrics.NewSet()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HTTPAdvertise == "" {
		c.HTTPAdvertise = c.Addr
	}
	return nil
}
