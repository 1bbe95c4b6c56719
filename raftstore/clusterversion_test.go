package raftstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// versionPeers answers Notify with the version the test says each member supports.
type versionPeers struct {
	mu       sync.Mutex
	versions map[string]string // HTTP address -> version ("" says nothing, as v0.1.0)
}

func (p *versionPeers) Join(context.Context, string, Member) error { return nil }
func (p *versionPeers) Notify(_ context.Context, addr string, _ Member) (Member, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.versions[addr]
	if !ok {
		return Member{}, errors.New("unreachable")
	}
	return Member{ID: strings.TrimPrefix(addr, "http-"), Version: v}, nil
}

func (p *versionPeers) set(addr, v string) {
	p.mu.Lock()
	p.versions[addr] = v
	p.mu.Unlock()
}

// TestClusterVersion: the leader raises the cluster version only once every member reports it;
// until then a command that needs it is refused with ErrMidUpgrade; once raised every member
// has it, and a node of a release that does not support it refuses to start on that state.
func TestClusterVersion(t *testing.T) {
	peers := &versionPeers{versions: map[string]string{"http-n1": "0.2", "http-n2": "0.2", "http-n3": ""}}
	stores := make([]*Store, 3)
	cfgs := make([]Config, 3)
	var servers []raft.Server
	needs := func(cmd []byte) string {
		if strings.HasPrefix(string(cmd[2:]), "new") {
			return "0.2"
		}
		return "0.1"
	}
	for i := range stores {
		cfg := testConfig(t, t.TempDir())
		cfg.NodeID = fmt.Sprintf("n%d", i+1)
		cfg.Bootstrap = false
		cfg.Secret = []byte("version-secret-0123456789")
		cfg.Version = "0.2"
		cfg.VersionCheckInterval = 20 * time.Millisecond
		s, err := New(cfg, &counterSM{}, Deps{Logger: testLogger(t), CommandVersion: needs})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		s.peerAccess.Store(&peerAccess{peers: peers, self: Member{ID: cfg.NodeID}})
		stores[i], cfgs[i] = s, cfg
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(cfg.NodeID), Address: raft.ServerAddress(cfg.BindAddr)})
	}
	if err := stores[0].raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatal(err)
	}
	var leader *Store
	checkFor(t, 10*time.Second, func() error {
		if leader = leaderOf(stores); leader == nil {
			return errors.New("no leader")
		}
		return nil
	})
	for i := range stores {
		if _, err := leader.Propose(context.Background(), encodeNodeMeta(fmt.Sprintf("n%d", i+1), fmt.Sprintf("http-n%d", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	propose(t, leader, "old", "1")
	time.Sleep(300 * time.Millisecond) // many version rounds
	for _, s := range stores {
		if v := s.ClusterVersion(); v != "0.1" {
			t.Fatalf("%s: cluster version %s while n3 reports none", s.cfg.NodeID, v)
		}
		if st := s.Status(); st.Version != "0.2" || st.ClusterVersion != "0.1" {
			t.Fatalf("status %+v", st)
		}
	}
	if _, err := leader.Propose(context.Background(), encodeSet("new", "1")); !errors.Is(err, ErrMidUpgrade) || !strings.Contains(err.Error(), "needs cluster version 0.2 and the cluster runs 0.1") {
		t.Fatalf("a command needing 0.2 at 0.1: %v, want ErrMidUpgrade", err)
	}

	peers.set("http-n3", "0.2")
	checkFor(t, 10*time.Second, func() error {
		for _, s := range stores {
			if v := s.ClusterVersion(); v != "0.2" {
				return fmt.Errorf("%s: cluster version %s", s.cfg.NodeID, v)
			}
		}
		return nil
	})
	if _, err := leader.Propose(context.Background(), encodeSet("new", "1")); err != nil {
		t.Fatalf("a command needing 0.2 at 0.2: %v", err)
	}

	// n3 with a release that supports only 0.1 refuses the state.
	var n3 int
	for i, s := range stores {
		if s != leader {
			n3 = i
		}
	}
	stores[n3].Close()
	cfg := cfgs[n3]
	cfg.Version = "0.1"
	s, err := New(cfg, &counterSM{}, Deps{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Open()
	s.Close()
	if !errors.Is(err, ErrFutureFormat) || !strings.Contains(err.Error(), "cluster version 0.2") {
		t.Fatalf("open of a 0.2 state by a 0.1 release: %v, want ErrFutureFormat", err)
	}
}
