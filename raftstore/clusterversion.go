package raftstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"paimon/kv"
	"paimon/version"
)

// CmdClusterVersion raises the replicated cluster version: the highest version every member
// supports, which decides what may be proposed (Config.CommandVersion). Payload:
// uvarint-prefixed "major.minor". The leader proposes it only when every member reports a
// version at least as high (raiseClusterVersion): a member of a release without it (v0.1.0 stops
// on an unknown internal command) never receives it.
const CmdClusterVersion byte = 0xF2

var keyClusterVersion = []byte("m/clusterversion")

// peerAccess is how the leader asks members which version they support: the Peers and the
// member this node is, given to Form.
type peerAccess struct {
	peers Peers
	self  Member
}

func encodeClusterVersion(v string) []byte {
	b := []byte{CmdClusterVersion}
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func decodeClusterVersion(b []byte) (string, error) {
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n != uint64(len(b)-k) || !version.Valid(string(b[k:])) {
		return "", fmt.Errorf("%w: cluster version command", ErrCorrupt)
	}
	return string(b[k:]), nil
}

// errVersionTooNew is the refusal of a cluster version this release does not support: at
// start, on a snapshot, or in the log of a cluster this node joined.
func (s *Store) errVersionTooNew(v string) error {
	return fmt.Errorf("%w: the cluster runs cluster version %s, this release (%s) supports up to %s: run a release that supports cluster version %s on this node",
		ErrFutureFormat, v, version.Release(), s.cfg.Version, v)
}

// applyClusterVersion raises the stored cluster version; a lower or equal one changes nothing.
func (f *fsm) applyClusterVersion(rw kv.ReadWriter, cmd []byte) error {
	v, err := decodeClusterVersion(cmd)
	if err != nil {
		return err
	}
	if version.Compare(v, f.s.cfg.Version) > 0 {
		return f.s.errVersionTooNew(v)
	}
	cur := version.Base
	if f.versionPending != "" {
		cur = f.versionPending
	} else if b, err := rw.Get(keyClusterVersion); err == nil {
		cur = string(b)
	} else if !errors.Is(err, kv.ErrNotFound) {
		return err
	}
	if version.Compare(v, cur) <= 0 {
		return nil
	}
	if err := rw.Set(keyClusterVersion, []byte(v)); err != nil {
		return err
	}
	f.versionPending = v
	return nil
}

// loadClusterVersion reads the stored cluster version and refuses one this release does not
// support.
func (s *Store) loadClusterVersion(r kv.Reader) error {
	v := version.Base
	b, err := r.Get(keyClusterVersion)
	switch {
	case err == nil:
		v = string(b)
	case !errors.Is(err, kv.ErrNotFound):
		return err
	}
	if version.Compare(v, s.cfg.Version) > 0 {
		return s.errVersionTooNew(v)
	}
	s.clusterVersion.Store(&v)
	return nil
}

// ClusterVersion returns the cluster version this node has applied (version.Base until one was
// raised).
func (s *Store) ClusterVersion() string {
	if v := s.clusterVersion.Load(); v != nil {
		return *v
	}
	return version.Base
}

// SupportedVersion returns the highest cluster version this node supports (Config.Version).
func (s *Store) SupportedVersion() string { return s.cfg.Version }

// allowed refuses a state-machine command the cluster version does not allow yet.
func (s *Store) allowed(cmd []byte) error {
	if s.deps.CommandVersion == nil || len(cmd) == 0 || cmd[0] >= firstInternal {
		return nil
	}
	need, cur := s.deps.CommandVersion(cmd), s.ClusterVersion()
	if need == "" || version.Compare(need, cur) <= 0 {
		return nil
	}
	return fmt.Errorf("%w: this needs cluster version %s and the cluster runs %s until every member runs a release that supports %s; retry after the upgrade",
		ErrMidUpgrade, need, cur, need)
}

// memberVersions asks every member which cluster version it supports ("" when it does not say:
// a release before cluster versions, or a member that does not answer).
func (s *Store) memberVersions(ctx context.Context) (map[string]string, error) {
	members, err := s.Members()
	if err != nil {
		return nil, err
	}
	pa := s.peerAccess.Load()
	out := make(map[string]string, len(members))
	for _, m := range members {
		switch {
		case m.ID == s.cfg.NodeID:
			out[m.ID] = s.cfg.Version
		case pa == nil || m.HTTPAddr == "":
			out[m.ID] = ""
		default:
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			got, err := pa.peers.Notify(cctx, m.HTTPAddr, pa.self)
			cancel()
			if err != nil || got.ID != m.ID {
				out[m.ID] = ""
			} else {
				out[m.ID] = got.Version
			}
		}
	}
	return out, nil
}

// raiseClusterVersion runs while this node leads: every VersionCheckInterval, while the cluster
// version is below what this node supports, it asks every member (voters and non-voters: all
// apply the log) for its version and proposes the lowest of them when that is higher than the
// cluster version. A member that reports nothing (v0.1.0) keeps it where it is.
func (s *Store) raiseClusterVersion(ctx context.Context) {
	t := time.NewTicker(s.cfg.VersionCheckInterval)
	defer t.Stop()
	for {
		if version.Compare(s.ClusterVersion(), s.cfg.Version) >= 0 {
			return
		}
		if vs, err := s.memberVersions(ctx); err == nil && len(vs) > 0 {
			low := s.cfg.Version
			for _, v := range vs {
				if version.Compare(v, low) < 0 {
					low = v
				}
			}
			if version.Compare(low, s.ClusterVersion()) > 0 {
				pctx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
				_, err := s.Propose(pctx, encodeClusterVersion(low))
				cancel()
				if err == nil {
					s.logger.Info("cluster version raised", "cluster_version", low, "members", fmt.Sprint(vs))
				} else {
					s.logger.Warn("raise cluster version", "cluster_version", low, "error", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkJoinVersion refuses a node that does not support the cluster version (asked through
// its notify endpoint). While the cluster version is the base one, any release may join.
func (s *Store) checkJoinVersion(ctx context.Context, m Member) error {
	cur := s.ClusterVersion()
	if version.Compare(cur, version.Base) <= 0 {
		return nil
	}
	pa := s.peerAccess.Load()
	if pa == nil || m.HTTPAddr == "" {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	got, err := pa.peers.Notify(cctx, m.HTTPAddr, pa.self)
	cancel()
	if err != nil {
		return fmt.Errorf("%w: node %q did not say which cluster version it supports (the cluster runs %s): %w", ErrTooOld, m.ID, cur, err)
	}
	if version.Compare(got.Version, cur) < 0 {
		v := got.Version
		if v == "" {
			v = "none (a release before v0.2)"
		}
		return fmt.Errorf("%w: node %q supports cluster version %s, the cluster runs %s: upgrade it first", ErrTooOld, m.ID, v, cur)
	}
	return nil
}
