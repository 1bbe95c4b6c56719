package raftstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"paimon/internal/hostport"
	"paimon/version"
)

// Config is the [raft] section: consensus and the local log. Build it from DefaultConfig and
// call Validate. The fields tagged `toml:"-"` come from other sections (the node's id and data
// folder, its API address, the cluster's secret and formation) and are set by the
// configuration that composes them.
type Config struct {
	// BindAddr is the Raft TCP listen address; Advertise is what peers dial (empty: BindAddr).
	BindAddr  string `toml:"addr"`
	Advertise string `toml:"advertise"`

	HeartbeatTimeout   time.Duration `toml:"heartbeat_timeout"`
	ElectionTimeout    time.Duration `toml:"election_timeout"`
	LeaderLeaseTimeout time.Duration `toml:"leader_lease_timeout"`
	CommitTimeout      time.Duration `toml:"commit_timeout"`
	// ApplyTimeout bounds how long Propose waits to enqueue a command when the caller's context
	// has no earlier deadline.
	ApplyTimeout time.Duration `toml:"apply_timeout"`
	// MaxAppendEntries is the largest batch of entries replicated (and applied) at once.
	MaxAppendEntries  int           `toml:"max_append_entries"`
	SnapshotInterval  time.Duration `toml:"snapshot_interval"`
	SnapshotThreshold uint64        `toml:"snapshot_threshold"`
	TrailingLogs      uint64        `toml:"trailing_logs"`
	SnapshotRetain    int           `toml:"snapshot_retain"`
	// LogSegmentBytes is the size of a raft-wal segment file. Compaction deletes whole sealed
	// segments, so entries of the segment being written stay readable after a snapshot.
	LogSegmentBytes int `toml:"log_segment_bytes"`
	// StateCacheMiB is the Pebble block cache of the state store.
	StateCacheMiB int `toml:"state_cache_mib"`
	// DiskReserveMiB and DiskReservePercent set the free space the data folder's file system
	// keeps: max(DiskReserveMiB MiB, DiskReservePercent % of its size). Below it the node
	// refuses writes, its log and state wait, and a leader hands leadership over (disk.go);
	// both 0 turn the guard off.
	DiskReserveMiB     int     `toml:"disk_reserve_mib"`
	DiskReservePercent float64 `toml:"disk_reserve_percent"`

	// NodeID is this node's Raft server id; unique across the cluster for all time (node.id).
	NodeID string `toml:"-"`
	// Dir holds the node's data: Dir/raft (log, stable store, snapshots) and Dir/state (Pebble)
	// (node.data_dir).
	Dir string `toml:"-"`
	// HTTPAddr is the address other nodes use to reach this node's API (for forwarding); the
	// store replicates it.
	HTTPAddr string `toml:"-"`
	// Bootstrap makes a node with no Raft state bootstrap a single-voter cluster of itself.
	Bootstrap bool `toml:"-"`
	// Secret authenticates Raft connections between members (HMAC challenge); every member needs
	// the same one. Empty means any peer that speaks the protocol is accepted.
	Secret []byte `toml:"-"`
	// LogCacheSize is how many recent log entries are kept in memory in front of the WAL.
	LogCacheSize int `toml:"-"`
	// Version is the highest cluster version this node supports; empty is version.Cluster
	// (tests set an older one to play a member of an older release).
	Version string `toml:"-"`
	// VersionCheckInterval is how often the leader asks the members which version they support
	// while the cluster version is below its own; 0 is 2s.
	VersionCheckInterval time.Duration `toml:"-"`
	// DiskCheckInterval is how often the free space of Dir is checked besides before every log
	// append and state commit; 0 is 1s.
	DiskCheckInterval time.Duration `toml:"-"`
	// MaxInFlight is how many proposals may wait for their commit at once; Propose refuses
	// more with ErrBacklog. 0 is DefaultMaxInFlight.
	MaxInFlight int `toml:"-"`
}

// DefaultMaxInFlight bounds the proposals waiting for their commit: far above what the
// node's writers keep in flight when the cluster commits (a few hundred; fasthttp's
// concurrency bounds the HTTP writes), far below what would weigh on memory (each holds a
// goroutine and its log entry) when it does not.
const DefaultMaxInFlight = 8192

// DefaultConfig returns the defaults documented in config.example.toml: a single node that
// bootstraps itself on 127.0.0.1:7000 in ./data.
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
		StateCacheMiB:      128,
		LogSegmentBytes:    64 << 20,
		DiskReserveMiB:     160,
		DiskReservePercent: 1,
	}
}

// AdvertiseAddr is the Raft address other nodes dial.
func (c *Config) AdvertiseAddr() string {
	if c.Advertise != "" {
		return c.Advertise
	}
	return c.BindAddr
}

// Validate checks the [raft] keys and reports every problem (errors.Join); each error names
// the key at fault. It changes nothing. New and Seed also refuse an empty NodeID or Dir.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	hostPort := func(key, v string, needHost bool) {
		if err := hostport.Check(v, needHost); err != nil {
			bad(key, "%v", err)
		}
	}
	hostPort("raft.addr", c.BindAddr, false)
	if c.Advertise != "" {
		hostPort("raft.advertise", c.Advertise, true)
	} else if host, _, err := net.SplitHostPort(c.BindAddr); err == nil {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			bad("raft.advertise", "must be set when raft.addr %q listens on all interfaces", c.BindAddr)
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"heartbeat_timeout", c.HeartbeatTimeout}, {"election_timeout", c.ElectionTimeout},
		{"leader_lease_timeout", c.LeaderLeaseTimeout}, {"commit_timeout", c.CommitTimeout},
		{"apply_timeout", c.ApplyTimeout}, {"snapshot_interval", c.SnapshotInterval}} {
		if d.v <= 0 {
			bad("raft."+d.key, "%s must be positive", d.v)
		}
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		bad("raft.leader_lease_timeout", "%s must not exceed raft.heartbeat_timeout %s", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.ElectionTimeout < c.HeartbeatTimeout {
		bad("raft.election_timeout", "%s must be at least raft.heartbeat_timeout %s", c.ElectionTimeout, c.HeartbeatTimeout)
	}
	if c.MaxAppendEntries < 1 || c.MaxAppendEntries > 1024 {
		bad("raft.max_append_entries", "%d must be between 1 and 1024", c.MaxAppendEntries)
	}
	if c.SnapshotThreshold < 1 {
		bad("raft.snapshot_threshold", "must be at least 1")
	}
	if c.SnapshotRetain < 1 {
		bad("raft.snapshot_retain", "%d must be at least 1", c.SnapshotRetain)
	}
	if c.LogSegmentBytes < 32<<10 || c.LogSegmentBytes > 1<<30 {
		bad("raft.log_segment_bytes", "%d must be between 32768 and 1073741824", c.LogSegmentBytes)
	}
	if c.StateCacheMiB < 1 || c.StateCacheMiB > 1<<16 {
		bad("raft.state_cache_mib", "%d must be between 1 and 65536", c.StateCacheMiB)
	}
	if c.DiskReserveMiB < 0 || c.DiskReserveMiB > 1<<20 {
		bad("raft.disk_reserve_mib", "%d must be between 0 and 1048576", c.DiskReserveMiB)
	} else if c.DiskReserveMiB > 0 && c.DiskReserveMiB<<20 < c.LogSegmentBytes {
		bad("raft.disk_reserve_mib", "%d must be 0 (no floor) or hold a Raft log segment (raft.log_segment_bytes %d)", c.DiskReserveMiB, c.LogSegmentBytes)
	}
	if !(c.DiskReservePercent >= 0 && c.DiskReservePercent <= 50) {
		bad("raft.disk_reserve_percent", "%v must be between 0 and 50", c.DiskReservePercent)
	}
	if c.LogCacheSize < 0 {
		bad("raft.log_cache_size", "%d must not be negative", c.LogCacheSize)
	}
	return errors.Join(errs...)
}

// check is Validate for New and Seed, with the fields from other sections, wrapped in
// ErrInvalidConfig.
func (c *Config) check() error {
	err := c.Validate()
	if c.NodeID == "" {
		err = errors.Join(err, errors.New("node.id: must not be empty"))
	}
	if c.Dir == "" {
		err = errors.Join(err, errors.New("node.data_dir: must not be empty"))
	}
	if c.Version == "" {
		c.Version = version.Cluster
	}
	if !version.Valid(c.Version) {
		err = errors.Join(err, fmt.Errorf("cluster version %q is not major.minor", c.Version))
	}
	if c.VersionCheckInterval <= 0 {
		c.VersionCheckInterval = 2 * time.Second
	}
	if c.DiskCheckInterval <= 0 {
		c.DiskCheckInterval = time.Second
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// Deps are what a Store uses besides its configuration and its state machine.
type Deps struct {
	// TLS, when set, wraps Raft connections: it must hold this node's certificate and, to accept
	// only members, a ClientCAs/RootCAs pool with ClientAuth RequireAndVerifyClientCert.
	TLS *tls.Config
	// Network listens and dials for the Raft transport; nil is plain TCP.
	Network Network
	// Logger receives the store's and raft's logs (nil: slog.Default()). Metrics receives the
	// store's metrics (nil: a set of its own).
	Logger  *slog.Logger
	Metrics *metrics.Set
	// OnFatal is called once if a committed entry cannot be applied. The store stops applying;
	// the process should shut down. Nil logs only.
	OnFatal func(error)
	// OnRestore is called after a snapshot replaced the state, with the new applied index,
	// before readers can see it: whatever was derived from the old state (caches) must go.
	OnRestore func(index uint64)
	// CommandVersion returns the cluster version a state-machine command needs; Propose
	// refuses a command above the cluster's version with ErrMidUpgrade. Nil allows every command.
	CommandVersion func(cmd []byte) string
	// FreeSpace reports the free space of the data folder's file system for the disk guard;
	// nil is StatfsFreeSpace.
	FreeSpace FreeSpaceFunc
}

func (d *Deps) fill() {
	if d.Network == nil {
		d.Network = TCPNetwork{}
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = metrics.NewSet()
	}
	if d.OnFatal == nil {
		d.OnFatal = func(error) {}
	}
	if d.OnRestore == nil {
		d.OnRestore = func(uint64) {}
	}
	if d.FreeSpace == nil {
		d.FreeSpace = StatfsFreeSpace
	}
}
