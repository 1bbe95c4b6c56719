package raftstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"paimon/kv"
)

// Membership errors.
var (
	// ErrConflict: a join names an id or an address that another member already has.
	ErrConflict = errors.New("raftstore: membership conflict")
	// ErrUnreachable: a joining node's Raft address does not answer the cluster handshake.
	ErrUnreachable = errors.New("raftstore: node does not answer")
	// ErrUnknownNode: a remove names a node that is not a member.
	ErrUnknownNode = errors.New("raftstore: unknown node")
)

// CmdNodeMeta records a member's HTTP address (empty: forget the member) so that any node can
// forward requests to the leader. Payload: uvarint-prefixed id, uvarint-prefixed HTTP address.
const CmdNodeMeta byte = 0xF1

var keyNodePrefix = []byte("m/node/")

// Member is a node of the cluster as the API shows it.
type Member struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raftAddr"`
	HTTPAddr string `json:"httpAddr"`
	Voter    bool   `json:"voter"`
	// Version is the highest cluster version the member supports, as its notify answer says
	// ("" for a release before cluster versions). Never sent in a join or notify request: v0.1.0
	// refuses unknown fields there.
	Version string `json:"version,omitempty"`
	// DiskLow, in a notify answer, says the member's data folder is below its free-space
	// reserve: a leader short of space does not hand leadership to it. Never sent in a request.
	DiskLow bool `json:"diskLow,omitempty"`
}

func encodeNodeMeta(id, httpAddr string) []byte {
	b := []byte{CmdNodeMeta}
	b = binary.AppendUvarint(b, uint64(len(id)))
	b = append(b, id...)
	b = binary.AppendUvarint(b, uint64(len(httpAddr)))
	return append(b, httpAddr...)
}

func decodeNodeMeta(b []byte) (id, httpAddr string, err error) {
	b = b[1:]
	var parts [2]string
	for i := range parts {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) || n > 1024 {
			return "", "", fmt.Errorf("%w: node meta command", ErrCorrupt)
		}
		parts[i] = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	if len(b) != 0 || parts[0] == "" {
		return "", "", fmt.Errorf("%w: node meta command", ErrCorrupt)
	}
	return parts[0], parts[1], nil
}

// applyNodeMeta writes a member's HTTP address into the state; the in-memory copy is updated
// after the batch commits.
func (f *fsm) applyNodeMeta(rw kv.ReadWriter, cmd []byte) error {
	id, addr, err := decodeNodeMeta(cmd)
	if err != nil {
		return err
	}
	key := append(append([]byte(nil), keyNodePrefix...), id...)
	if addr == "" {
		err = rw.Delete(key)
	} else {
		err = rw.Set(key, []byte(addr))
	}
	if err == nil {
		f.metaPending = append(f.metaPending, [2]string{id, addr})
	}
	return err
}

// loadNodeMeta rebuilds the in-memory HTTP address map from the state.
func (s *Store) loadNodeMeta(r kv.Reader) error {
	m := map[string]string{}
	err := r.Scan(keyNodePrefix, kv.PrefixEnd(keyNodePrefix), false, func(k, v []byte) bool {
		m[string(k[len(keyNodePrefix):])] = string(v)
		return true
	})
	if err != nil {
		return err
	}
	s.metaMu.Lock()
	s.meta = m
	s.metaMu.Unlock()
	return nil
}

func (s *Store) setMeta(changes [][2]string) {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	for _, c := range changes {
		if c[1] == "" {
			delete(s.meta, c[0])
		} else {
			s.meta[c[0]] = c[1]
		}
	}
}

// HTTPAddrOf returns the replicated HTTP address of a member, or "".
func (s *Store) HTTPAddrOf(id string) string {
	s.metaMu.RLock()
	defer s.metaMu.RUnlock()
	return s.meta[id]
}

// LeaderHTTPAddr returns the leader's id and HTTP address; both empty when there is no leader
// or its address is not known yet.
func (s *Store) LeaderHTTPAddr() (id, addr string) {
	id = s.LeaderID()
	if id == "" {
		return "", ""
	}
	return id, s.HTTPAddrOf(id)
}

// Members lists the cluster: Raft's configuration joined with the replicated HTTP addresses.
func (s *Store) Members() ([]Member, error) {
	nodes, err := s.Nodes()
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, Member{ID: n.ID, RaftAddr: n.RaftAddr, HTTPAddr: s.HTTPAddrOf(n.ID), Voter: n.Voter})
	}
	return out, nil
}

// Join adds a node to the cluster, or updates the HTTP address of a member that joins again
// with the same id and Raft address. It must run on the leader. A node whose id or Raft address
// belongs to another member is refused with ErrConflict, and one whose Raft address does not
// answer the cluster handshake with ErrUnreachable: either leaves the membership unchanged.
func (s *Store) Join(ctx context.Context, m Member) (uint64, error) {
	if err := s.usable(); err != nil {
		return 0, err
	}
	if !s.IsLeader() {
		return 0, s.notLeader()
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return 0, err
	}
	known := false
	for _, srv := range f.Configuration().Servers {
		switch {
		case string(srv.ID) == m.ID && string(srv.Address) == m.RaftAddr:
			known = !(m.Voter && srv.Suffrage != raft.Voter)
		case string(srv.ID) == m.ID:
			return 0, fmt.Errorf("%w: node id %q is already a member at %s; remove it first", ErrConflict, m.ID, srv.Address)
		case string(srv.Address) == m.RaftAddr:
			return 0, fmt.Errorf("%w: raft address %s already belongs to node %q", ErrConflict, m.RaftAddr, srv.ID)
		}
	}
	if !known {
		if err := s.probe(m.RaftAddr); err != nil {
			return 0, err
		}
		if err := s.checkJoinVersion(ctx, m); err != nil {
			return 0, err
		}
		timeout := s.timeout(ctx)
		var af raft.IndexFuture
		if m.Voter {
			af = s.raft.AddVoter(raft.ServerID(m.ID), raft.ServerAddress(m.RaftAddr), 0, timeout)
		} else {
			af = s.raft.AddNonvoter(raft.ServerID(m.ID), raft.ServerAddress(m.RaftAddr), 0, timeout)
		}
		if err := af.Error(); err != nil {
			return 0, s.mapRaftErr(err)
		}
		s.logger.Info("node joined", "id", m.ID, "raft_addr", m.RaftAddr, "http_addr", m.HTTPAddr, "voter", m.Voter)
	}
	if m.HTTPAddr == "" || s.HTTPAddrOf(m.ID) == m.HTTPAddr {
		return s.AppliedIndex(), nil
	}
	res, err := s.Propose(ctx, encodeNodeMeta(m.ID, m.HTTPAddr))
	return res.Index, err
}

// probe dials a Raft address through the authenticated transport.
func (s *Store) probe(addr string) error {
	c, err := s.stream.Dial(raft.ServerAddress(addr), 2*time.Second)
	if err != nil {
		return fmt.Errorf("%w: raft address %s: %w", ErrUnreachable, addr, err)
	}
	return c.Close()
}

func (s *Store) timeout(ctx context.Context) time.Duration {
	t := s.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		t = min(t, time.Until(dl))
	}
	return max(t, time.Millisecond)
}

// Remove takes a node out of the cluster. It must run on the leader.
func (s *Store) Remove(ctx context.Context, id string) (uint64, error) {
	if err := s.usable(); err != nil {
		return 0, err
	}
	if !s.IsLeader() {
		return 0, s.notLeader()
	}
	members, err := s.Nodes()
	if err != nil {
		return 0, err
	}
	found := false
	for _, n := range members {
		found = found || n.ID == id
	}
	if !found {
		return 0, fmt.Errorf("%w: %q", ErrUnknownNode, id)
	}
	if err := s.raft.RemoveServer(raft.ServerID(id), 0, s.timeout(ctx)).Error(); err != nil {
		return 0, s.mapRaftErr(err)
	}
	s.logger.Info("node removed", "id", id)
	if !s.IsLeader() { // the leader removed itself
		return s.AppliedIndex(), nil
	}
	res, err := s.Propose(ctx, encodeNodeMeta(id, ""))
	return res.Index, err
}

// Peers is how a node reaches the others while it forms or joins a cluster: the HTTP API in
// production (see server.PeerClient).
type Peers interface {
	// Join asks the node at httpAddr to add me; a follower forwards it to its leader.
	Join(ctx context.Context, httpAddr string, me Member) error
	// Notify tells the node at httpAddr that I exist and returns who it is.
	Notify(ctx context.Context, httpAddr string, me Member) (Member, error)
}

// FormConfig says how a node finds its cluster.
type FormConfig struct {
	// Self is this node as others should see it.
	Self Member
	// Join lists peer HTTP addresses; BootstrapExpect is how many voters (this one included)
	// must know of each other before a new cluster is bootstrapped.
	Join            []string
	BootstrapExpect int
	Peers           Peers
	// Retry is the pause between rounds; defaults to 500ms.
	Retry time.Duration
}

// Noticed records that a peer announced itself (the notify endpoint calls it) and returns this
// node as a member.
func (s *Store) Noticed(m Member) {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	if s.seen == nil {
		s.seen = map[string]Member{}
	}
	s.seen[m.ID] = m
}

// Form joins this node to its cluster and returns when it is a member, or when ctx ends.
//
// A node that already has Raft state is a member: it only re-announces its HTTP address in
// the background, in case it changed. A new node tries to join through each peer (any member
// forwards a join to its leader). While no peer has a cluster, nodes announce themselves to each
// other; once BootstrapExpect of them know each other, the one with the lowest id bootstraps a
// cluster of exactly the nodes it knows, and the others, listed in that configuration, receive
// its log and see their joins succeed. Choosing a single bootstrapper means two nodes can never
// bootstrap two different clusters from partial views.
func (s *Store) Form(ctx context.Context, fc FormConfig) error {
	if fc.Retry <= 0 {
		fc.Retry = 500 * time.Millisecond
	}
	if fc.Self.ID != s.cfg.NodeID {
		return fmt.Errorf("%w: form as %q on node %q", ErrInvalidConfig, fc.Self.ID, s.cfg.NodeID)
	}
	s.Noticed(fc.Self)
	if fc.Peers != nil {
		self := fc.Self
		self.Version = ""
		s.peerAccess.Store(&peerAccess{peers: fc.Peers, self: self})
	}
	if s.hadState || (len(fc.Join) == 0 && fc.BootstrapExpect <= 1) {
		return s.announce(ctx, fc)
	}
	for round := 0; ; round++ {
		if s.isMember() {
			return s.announce(ctx, fc)
		}
		for _, addr := range fc.Join {
			if addr == fc.Self.HTTPAddr {
				continue
			}
			jctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := fc.Peers.Join(jctx, addr, fc.Self)
			cancel()
			if err == nil {
				s.logger.Info("joined the cluster", "via", addr)
				return nil
			}
			if round%10 == 0 {
				s.logger.Info("join attempt failed", "peer", addr, "error", err)
			}
		}
		if fc.BootstrapExpect > 1 && s.maybeBootstrap(ctx, fc) {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return ErrClosed
		case <-time.After(fc.Retry + time.Duration(round%7)*fc.Retry/7):
		}
	}
}

// maybeBootstrap announces this node to its peers and bootstraps when it is the lowest id of at
// least BootstrapExpect nodes that know of each other. It reports whether it bootstrapped.
func (s *Store) maybeBootstrap(ctx context.Context, fc FormConfig) bool {
	for _, addr := range fc.Join {
		if addr == fc.Self.HTTPAddr {
			continue
		}
		nctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := fc.Peers.Notify(nctx, addr, fc.Self)
		cancel()
		if err == nil && m.ID != "" {
			s.Noticed(m)
		}
	}
	s.seenMu.Lock()
	seen := make([]Member, 0, len(s.seen))
	for _, m := range s.seen {
		seen = append(seen, m)
	}
	s.seenMu.Unlock()
	if len(seen) < fc.BootstrapExpect {
		return false
	}
	sort.Slice(seen, func(i, j int) bool { return seen[i].ID < seen[j].ID })
	if seen[0].ID != fc.Self.ID {
		return false
	}
	servers := make([]raft.Server, 0, len(seen))
	ids := make([]string, 0, len(seen))
	for _, m := range seen {
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.RaftAddr)})
		ids = append(ids, m.ID)
	}
	if err := s.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		if !errors.Is(err, raft.ErrCantBootstrap) {
			s.logger.Warn("bootstrap failed", "error", err)
		}
		return false
	}
	s.logger.Info("bootstrapped a new cluster", "members", strings.Join(ids, ","))
	// The members' HTTP addresses are registered once the leader is elected (see leader.go).
	s.seenMu.Lock()
	s.bootstrapMeta = seen
	s.seenMu.Unlock()
	return true
}

// isMember reports whether Raft's configuration lists this node and a leader exists.
func (s *Store) isMember() bool {
	if s.LeaderID() == "" {
		return false
	}
	nodes, err := s.Nodes()
	if err != nil {
		return false
	}
	for _, n := range nodes {
		if n.ID == s.cfg.NodeID {
			return true
		}
	}
	return false
}

// announce makes sure the replicated HTTP address of this node is current: the leader writes its
// own (leader.go); a follower asks through its peers until the registry shows it.
func (s *Store) announce(ctx context.Context, fc FormConfig) error {
	if len(fc.Join) == 0 || fc.Peers == nil {
		return nil
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			if s.HTTPAddrOf(fc.Self.ID) == fc.Self.HTTPAddr || s.IsLeader() {
				return
			}
			for _, addr := range fc.Join {
				if addr == fc.Self.HTTPAddr {
					continue
				}
				jctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				err := fc.Peers.Join(jctx, addr, fc.Self)
				cancel()
				if err == nil {
					break
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-s.closed:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	return nil
}
