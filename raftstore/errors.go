package raftstore

import (
	"errors"

	"github.com/hashicorp/raft"
)

var (
	// ErrNotLeader is returned by Propose on a node that is not the leader; the caller forwards
	// the write to the leader.
	ErrNotLeader = errors.New("raftstore: not the leader")
	// ErrNoLeader is returned when the cluster has no leader right now.
	ErrNoLeader = errors.New("raftstore: no leader")
	// ErrClosed is returned by every operation after Close.
	ErrClosed = errors.New("raftstore: closed")
	// ErrTimeout is returned when a proposal could not be enqueued or committed in time; with
	// ErrOutcomeUnknown when it was enqueued.
	ErrTimeout = errors.New("raftstore: timed out")
	// ErrOutcomeUnknown is wrapped by Propose's error when the proposal reached this leader's
	// log but the wait for its commit ended (the caller's context, or Close): it may still
	// commit, so the caller must not take it as refused.
	ErrOutcomeUnknown = errors.New("raftstore: proposed but not committed yet: it may still commit")
	// ErrCorrupt reports state on disk that cannot be decoded; the node must not go on.
	ErrCorrupt = errors.New("raftstore: corrupt state")
	// ErrFatal is returned by every operation after the state machine failed to apply a
	// committed entry: the node has stopped applying and must be restarted or rebuilt.
	ErrFatal = errors.New("raftstore: state machine failed")
	// ErrFutureFormat: the data directory, a snapshot or a replicated cluster version is newer
	// than this release can read; the node refuses to start (or to go on) rather than misread it.
	ErrFutureFormat = errors.New("raftstore: format from a newer release")
	// ErrMidUpgrade is returned by Propose for a command the cluster version does not allow
	// yet: some member runs a release that could not apply it.
	ErrMidUpgrade = errors.New("raftstore: the cluster is mid-upgrade")
	// ErrTooOld: a joining node does not support the cluster's version.
	ErrTooOld = errors.New("raftstore: node release too old for the cluster")
	// ErrDiskFull: the data folder's free space is below its reserve (raft.disk_reserve_mib,
	// raft.disk_reserve_percent): the command was refused before it reached the log, so it is
	// safe to send again once space returns or another member leads.
	ErrDiskFull = errors.New("raftstore: data folder below its free-space reserve")
	// ErrBacklog: Config.MaxInFlight proposals already wait for their commit (the cluster
	// commits slower than it is written to, or not at all: followers that answer but cannot
	// append). The command was refused before it reached the log: safe to send again.
	ErrBacklog = errors.New("raftstore: too many proposals waiting for their commit")
	// ErrInvalidConfig wraps every configuration error of New and Seed.
	ErrInvalidConfig = errors.New("raftstore: invalid config")
)

// Refused reports whether err, from Propose or ReadIndex, says the command was refused before
// it reached the log: this node was not the leader, or was handing leadership over. Giving the
// command to another leader then cannot apply it twice. A leader deposed while the command was
// in flight (raft.ErrLeadershipLost) is not a refusal: the command may still commit.
func Refused(err error) bool {
	return (errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader)) && !errors.Is(err, raft.ErrLeadershipLost)
}
