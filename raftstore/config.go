package raftstore

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Config configures a Store. Build it from DefaultConfig and call Validate.
type Config struct {
	// NodeID is this node's Raft server id; unique across the cluster for all time.
	NodeID string
	// Dir holds the node's data: Dir/raft (log, stable store, snapshots) and Dir/state (Pebble).
	Dir string
	// BindAddr is the Raft TCP listen address; Advertise is what peers dial (defaults to BindAddr).
	BindAddr  string
	Advertise string
	// HTTPAddr is the address other nodes use to reach this node's API (for forwarding); the
	// store replicates it.
	HTTPAddr string
	// Bootstrap makes a node with no Raft state bootstrap a single-voter cluster of itself.
	Bootstrap bool

	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// ApplyTimeout bounds how long Propose waits to enqueue a command when the caller's context
	// has no earlier deadline.
	ApplyTimeout time.Duration
	// MaxAppendEntries is the largest batch of entries replicated (and applied) at once.
	MaxAppendEntries  int
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64
	TrailingLogs      uint64
	SnapshotRetain    int
	// LogCacheSize is how many recent log entries are kept in memory in front of the WAL.
	LogCacheSize int
	// LogSegmentBytes is the size of a raft-wal segment file. Compaction deletes whole sealed
	// segments, so entries of the segment being written stay readable after a snapshot.
	LogSegmentBytes int
	// StateCacheBytes is the Pebble block cache of the state store.
	StateCacheBytes int64

	// Secret authenticates Raft connections between members (HMAC challenge); every member needs
	// the same one. Empty means any peer that speaks the protocol is accepted.
	Secret []byte
	// TLS, when set, wraps Raft connections: it must hold this node's certificate and, to accept
	// only members, a ClientCAs/RootCAs pool with ClientAuth RequireAndVerifyClientCert.
	TLS *tls.Config
	// Network listens and dials for the Raft transport; nil is plain TCP.
	Network Network

	// Logger receives the store's and raft's logs. Metrics receives the store's metrics.
	Logger  *slog.Logger
	Metrics *metrics.Set
	// OnFatal is called once if a committed entry cannot be applied. The store stops applying;
	// the process should shut down. Defaults to logging only.
	OnFatal func(error)
	// OnRestore is called after a snapshot replaced the state, with the new applied index,
	// before readers can see it: whatever was derived from the old state (caches) must go.
	OnRestore func(index uint64)
}

// DefaultConfig returns a single-node configuration on 127.0.0.1:7000 in ./data.
func DefaultConfig() Config {
	return Config{
		NodeID:             "node1",
		Dir:                "./data",
		BindAddr:           "127.0.0.1:7000",
		Bootstrap:          true,
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		ApplyTimeout:       10 * time.Second,
		MaxAppendEntries:   512,
		SnapshotInterval:   120 * time.Second,
		SnapshotThreshold:  8192,
		TrailingLogs:       10240,
		SnapshotRetain:     2,
		LogCacheSize:       4096,
		StateCacheBytes:    128 << 20,
		LogSegmentBytes:    64 << 20,
	}
}

// Validate checks the configuration and fills Logger, Metrics and Advertise when unset.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == "":
		return fmt.Errorf("%w: NodeID is empty", ErrInvalidConfig)
	case c.Dir == "":
		return fmt.Errorf("%w: Dir is empty", ErrInvalidConfig)
	case c.BindAddr == "":
		return fmt.Errorf("%w: BindAddr is empty", ErrInvalidConfig)
	case c.MaxAppendEntries < 1 || c.MaxAppendEntries > 1024:
		return fmt.Errorf("%w: MaxAppendEntries %d is not in 1..1024", ErrInvalidConfig, c.MaxAppendEntries)
	case c.ApplyTimeout <= 0:
		return fmt.Errorf("%w: ApplyTimeout must be positive", ErrInvalidConfig)
	case c.LogCacheSize < 0:
		return fmt.Errorf("%w: LogCacheSize is negative", ErrInvalidConfig)
	case c.LogSegmentBytes < 32<<10:
		return fmt.Errorf("%w: LogSegmentBytes %d is below 32 KiB", ErrInvalidConfig, c.LogSegmentBytes)
	case c.StateCacheBytes < 1<<20:
		return fmt.Errorf("%w: StateCacheBytes %d is below 1 MiB", ErrInvalidConfig, c.StateCacheBytes)
	}
	if c.Advertise == "" {
		c.Advertise = c.BindAddr
	}
	if c.Network == nil {
		c.Network = TCPNetwork{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = metrics.NewSet()
	}
	if c.OnFatal == nil {
		c.OnFatal = func(error) {}
	}
	if c.OnRestore == nil {
		c.OnRestore = func(uint64) {}
	}
	return nil
}
