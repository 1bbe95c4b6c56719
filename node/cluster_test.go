package node

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"paimon/internal/testutil"
)

func shares(t testing.TB, r response) string {
	t.Helper()
	if r.status == 404 {
		return "0"
	}
	if r.status == 503 && r.code() == "STALE_READ" {
		// A node answers local reads only once it has caught up with the leader since its
		// start (docs/API.md "Consistency"): a test polling a new node retries.
		return "(stale read)"
	}
	if r.status != 200 {
		t.Fatalf("account read: %d %s", r.status, r.body)
	}
	s, _ := r.json(t)["shares"].(string)
	return s
}

func writeOK(t testing.TB, r response) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	if res := r.json(t); res["accepted"] != 1.0 {
		t.Fatalf("write not accepted: %s", r.body)
	}
}

// writeLog posts a webhook body (a log unique to the test) to node i's /v1/admin/logs and
// fails the test unless it is applied. On a starved machine a leader of these short leases can
// step down for an election in a test about something else: a 503 (NO_LEADER, not proposed,
// or UNAVAILABLE, its outcome unknown) is sent again for up to 10 s, as a client of this
// idempotent route does; and the answer "duplicate" counts as applied: a node deposed with
// the write in flight sends it to the new leader itself (server/forward.go, resend routes),
// which reports it as a duplicate when the first proposal committed
// (TestLaggingAndNewNodesCatchUpBySnapshot failed so at load 15). Tests about leadership use
// c.do and look at every answer.
func (c *testCluster) writeLog(i int, body []byte) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := c.do(i, "POST", "/v1/admin/logs", adminToken, body)
		if r.status == 503 && (r.code() == "NO_LEADER" || r.code() == "UNAVAILABLE") && time.Now().Before(deadline) {
			c.t.Logf("write on node%d: %d %s; again", i+1, r.status, r.body)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if r.status == 200 && r.json(c.t)["duplicates"] == 1.0 {
			return
		}
		writeOK(c.t, r)
		return
	}
}

func TestFormationInAnyOrderAndFollowerWrites(t *testing.T) {
	c := newCluster(t, 3)
	for _, i := range rand.Perm(3) {
		c.start(i)
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond) // a random stagger, not a wait
	}
	l := c.waitLeader(15 * time.Second)
	checkFor(t, 5*time.Second, func() error {
		for i := range c.nodes {
			ms := c.members(i)
			if len(ms) != 3 {
				return fmt.Errorf("node%d sees %d members", i+1, len(ms))
			}
			for _, m := range ms {
				if m.HTTPAddr == "" || !m.Voter {
					return fmt.Errorf("node%d sees %+v", i+1, m)
				}
			}
		}
		return nil
	})
	f := c.follower()
	alice := common.HexToAddress("0xa11ce00000000000000000000000000000000001")
	r := c.do(f, "POST", "/v1/admin/logs", adminToken, transferLog(t, alice, 1, 5))
	writeOK(t, r)
	if got := r.header.Get("X-Paimon-Node"); got != c.cfgs[l].Node.ID {
		t.Fatalf("write on a follower answered by %s, want the leader %s", got, c.cfgs[l].Node.ID)
	}
	for i := range c.nodes {
		checkFor(t, 5*time.Second, func() error {
			r, err := c.account(i, alice, "")
			if err != nil {
				return err
			}
			if s := shares(t, r); s != "5" {
				return fmt.Errorf("node%d shares %s", i+1, s)
			}
			return nil
		})
	}
	st := c.do(f, "GET", "/v1/cluster/status", viewerToken, nil).json(t)
	if st["leader"] != c.cfgs[l].Node.ID || len(st["nodes"].([]any)) != 3 {
		t.Fatalf("cluster status on a follower: %v", st)
	}
	for _, n := range st["nodes"].([]any) {
		if n.(map[string]any)["reachable"] != true {
			t.Fatalf("cluster status: %v", st)
		}
	}
	// A report is a local read like any other: a follower that hears from its leader serves
	// it (it refused every one with STALE_READ, judging itself stale within 0 s).
	if r := c.do(f, "GET", "/v1/reports/daily?date=2025-01-06", viewerToken, nil); r.status != 200 || r.header.Get("X-Paimon-Node") != c.cfgs[f].Node.ID {
		t.Fatalf("a report on follower node%d: %d %s, served by %q", f+1, r.status, r.body, r.header.Get("X-Paimon-Node"))
	}
}

func TestLinearizableReadsSeeAcknowledgedWrites(t *testing.T) {
	c := newCluster(t, 3)
	for i := range 3 {
		c.start(i)
	}
	c.waitLeader(15 * time.Second)
	bob := common.HexToAddress("0xb0b0000000000000000000000000000000000002")
	for k := 0; k < 15; k++ {
		c.writeLog(k%3, transferLog(t, bob, k, 1))
		// Immediately after the acknowledgement, on every node, without polling.
		for i := range c.nodes {
			r, err := c.account(i, bob, "linearizable")
			if err != nil {
				t.Fatal(err)
			}
			if s := shares(t, r); s != strconv.Itoa(k+1) {
				t.Fatalf("write %d acknowledged, linearizable read on node%d shows %s shares", k, i+1, s)
			}
		}
	}
	// A leader read is answered by the leader.
	r, _ := c.account(c.follower(), bob, "leader")
	if r.status != 200 || r.header.Get("X-Paimon-Node") != c.cfgs[c.waitLeader(10*time.Second)].Node.ID {
		t.Fatalf("leader read on a follower: %d from %s", r.status, r.header.Get("X-Paimon-Node"))
	}
}

func TestPartitionedNode(t *testing.T) {
	c := newCluster(t, 3)
	for i := range 3 {
		c.start(i)
	}
	l := c.waitLeader(15 * time.Second)
	f := c.follower()
	carol := common.HexToAddress("0xca401000000000000000000000000000000000003")
	c.writeLog(l, transferLog(t, carol, 0, 1))
	checkFor(t, 5*time.Second, func() error {
		r, _ := c.account(f, carol, "")
		if shares(t, r) != "1" {
			return errors.New("follower has not applied the first write")
		}
		return nil
	})

	c.nets[f].SetCut(true)
	// Until its election timeout the cut node still believes in the leader and forwards writes
	// over HTTP (which this test does not cut); then it has no leader, and refuses writes with
	// NO_LEADER, promptly.
	checkFor(t, 5*time.Second, func() error {
		if id := c.nodes[f].Store().LeaderID(); id != "" {
			return fmt.Errorf("the cut node still follows %s", id)
		}
		return nil
	})
	start := time.Now()
	r := c.do(f, "POST", "/v1/admin/logs", adminToken, transferLog(t, carol, 100, 1))
	if r.status != 503 || r.code() != "NO_LEADER" {
		t.Fatalf("write on the cut node: %d %s", r.status, r.body)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("NO_LEADER took %s", took)
	}
	// Once max_staleness (1s here) has passed, local reads are refused rather than stale.
	checkFor(t, 5*time.Second, func() error {
		r, _ := c.account(f, carol, "")
		if r.status != 503 || r.code() != "STALE_READ" {
			return fmt.Errorf("local read on the cut node: %d %s", r.status, r.body)
		}
		return nil
	})
	// The majority keeps working throughout.
	l = c.waitLeaderAmong(f, 10*time.Second)
	for k := 1; k <= 10; k++ {
		c.writeLog(l, transferLog(t, carol, k, 1))
	}
	if r, _ := c.account(l, carol, "linearizable"); shares(t, r) != "11" {
		t.Fatalf("majority side: %s", r.body)
	}

	c.nets[f].SetCut(false)
	checkFor(t, 10*time.Second, func() error {
		r, err := c.account(f, carol, "")
		if err != nil {
			return err
		}
		if r.status != 200 || shares(t, r) != "11" {
			return fmt.Errorf("healed node: %d %s", r.status, r.body)
		}
		return nil
	})
	c.writeLog(f, transferLog(t, carol, 11, 1))
}

// waitLeaderAmong waits for a leader among the nodes other than skip.
func (c *testCluster) waitLeaderAmong(skip int, timeout time.Duration) int {
	c.t.Helper()
	var l int
	checkFor(c.t, timeout, func() error {
		for i, n := range c.nodes {
			if i != skip && n != nil && n.Store().IsLeader() {
				l = i
				return nil
			}
		}
		return errors.New("no leader on the majority side")
	})
	return l
}

func TestLaggingAndNewNodesCatchUpBySnapshot(t *testing.T) {
	c := newCluster(t, 3)
	for i := range c.cfgs {
		c.cfgs[i].Raft.SnapshotThreshold = 16
		c.cfgs[i].Raft.TrailingLogs = 8
		c.cfgs[i].Raft.SnapshotInterval = time.Duration(100 * time.Millisecond)
		c.cfgs[i].Raft.LogSegmentBytes = 32 << 10 // small segments, so compaction really drops entries
	}
	for i := range 3 {
		c.start(i)
	}
	l := c.waitLeader(15 * time.Second)
	f := c.follower()
	t.Logf("stopping node%d at applied index %d", f+1, c.nodes[f].Store().AppliedIndex())
	c.stop(f)
	dave := common.HexToAddress("0xda0e000000000000000000000000000000000004")
	for k := 0; k < 200; k++ {
		c.writeLog(l, transferLog(t, dave, k, 1))
	}
	for i, n := range c.nodes {
		if n != nil {
			if err := n.Store().Snapshot(); err != nil {
				t.Fatalf("snapshot on node%d: %v", i+1, err)
			}
		}
	}
	c.start(f)
	t.Logf("restarted node%d at applied index %d", f+1, c.nodes[f].Store().AppliedIndex())
	checkFor(t, 15*time.Second, func() error {
		r, err := c.account(f, dave, "")
		if err != nil {
			return err
		}
		if r.status != 200 || shares(t, r) != "200" {
			return fmt.Errorf("restarted node: %d %s", r.status, r.body)
		}
		// The restored state is readable a moment before the restore is counted.
		if c.nodes[f].Store().Restores() == 0 {
			return fmt.Errorf("the lagging node caught up without a snapshot although the log was compacted")
		}
		return nil
	})

	// A node added later joins through any member and catches up by snapshot as well.
	addrs := append(append([]string(nil), c.cfgs[0].Cluster.Join...), freeAddr(t))
	cfg := newConfig(t, 3, addrs, 3)
	cfg.Cluster.Join = addrs[:3]
	c.cfgs = append(c.cfgs, cfg)
	c.nets = append(c.nets, testutil.NewCutNetwork())
	c.opts = append(c.opts, Options{})
	c.nodes = append(c.nodes, nil)
	c.start(3)
	checkFor(t, 15*time.Second, func() error {
		r, err := c.account(3, dave, "")
		if err != nil {
			return err
		}
		if r.status != 200 || shares(t, r) != "200" {
			return fmt.Errorf("new node: %d %s", r.status, r.body)
		}
		// As above: the data is readable a moment before the restore is counted.
		if c.nodes[3].Store().Restores() == 0 {
			return fmt.Errorf("the new node caught up without a snapshot although the log was compacted")
		}
		return nil
	})
	if ms := c.members(c.waitLeader(10 * time.Second)); len(ms) != 4 {
		t.Fatalf("%d members after the join", len(ms))
	}
}

func TestRollingRestartUnderLoad(t *testing.T) {
	c := newCluster(t, 3)
	for i := range 3 {
		c.start(i)
	}
	c.waitLeader(15 * time.Second)

	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		written  [3]int
		noLeader atomic.Int64
	)
	owners := []common.Address{
		common.HexToAddress("0xe1000000000000000000000000000000000000e1"),
		common.HexToAddress("0xe2000000000000000000000000000000000000e2"),
		common.HexToAddress("0xe3000000000000000000000000000000000000e3"),
	}
	for w := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; !stop.Load(); seq++ {
				body := transferLog(t, owners[w], seq, 1)
				// Retry this write until it is acknowledged: accepted, or a duplicate of an
				// earlier attempt whose answer was lost.
				for attempt := 0; ; attempt++ {
					node := (w + attempt) % 3
					r, err := do("POST", c.url(node)+"/v1/admin/logs", adminToken, body)
					if err != nil {
						continue // that node is restarting; try the next
					}
					// NO_LEADER: not proposed; UNAVAILABLE: perhaps applied (then the next
					// attempt is a duplicate). Either way the same log goes again.
					if r.status == 503 && (r.code() == "NO_LEADER" || r.code() == "UNAVAILABLE") {
						noLeader.Add(1)
						time.Sleep(20 * time.Millisecond)
						continue
					}
					var res map[string]any
					if r.status == 200 {
						res = r.json(t)
					}
					if res == nil || res["accepted"].(float64)+res["duplicates"].(float64) != 1 {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("writer %d seq %d on node%d: %d %s", w, seq, node+1, r.status, r.body))
						mu.Unlock()
						return
					}
					break
				}
				mu.Lock()
				written[w] = seq + 1
				mu.Unlock()
			}
		}()
	}
	for i := range 3 {
		time.Sleep(300 * time.Millisecond) // let writes flow between restarts
		c.stop(i)
		c.start(i)
		c.waitLeader(15 * time.Second)
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("client errors other than NO_LEADER: %v", failures)
	}
	t.Logf("writes per writer %v, NO_LEADER answers retried: %d", written, noLeader.Load())
	for w, owner := range owners {
		if written[w] < 5 {
			t.Fatalf("writer %d only completed %d writes", w, written[w])
		}
		for i := range c.nodes {
			checkFor(t, 10*time.Second, func() error {
				r, err := c.account(i, owner, "")
				if err != nil {
					return err
				}
				// Every write was acknowledged exactly once in effect: shares = writes.
				if got := shares(t, r); got != strconv.Itoa(written[w]) {
					return fmt.Errorf("node%d: writer %d has %s shares, %d writes acknowledged", i+1, w, got, written[w])
				}
				return nil
			})
		}
	}
}

func TestJoinAndRemoveRefuseBadRequests(t *testing.T) {
	c := newCluster(t, 3)
	for i := range 3 {
		c.start(i)
	}
	l := c.waitLeader(15 * time.Second)
	f := c.follower()
	checkFor(t, 5*time.Second, func() error {
		for _, m := range c.members(l) {
			if m.HTTPAddr == "" {
				return fmt.Errorf("%s has no HTTP address yet", m.ID)
			}
		}
		return nil
	})
	before := fmt.Sprint(c.members(l))
	other := c.cfgs[f]
	deadHTTP, deadRaft := freeAddr(t), freeAddr(t)
	join := func(id, raftAddr, httpAddr string) []byte {
		return []byte(fmt.Sprintf(`{"id":%q,"raftAddr":%q,"httpAddr":%q,"voter":true}`, id, raftAddr, httpAddr))
	}
	cases := []struct {
		name   string
		token  string
		body   []byte
		status int
		code   string
	}{
		{"no token", "", join("node9", deadRaft, other.HTTP.Addr), 401, "AUTH_REQUIRED"},
		{"wrong secret", "wrong-secret-0123456789", join("node9", deadRaft, other.HTTP.Addr), 401, "AUTH_INVALID"},
		{"viewer", viewerToken, join("node9", deadRaft, other.HTTP.Addr), 403, "FORBIDDEN"},
		{"malformed body", adminToken, []byte(`{"id": "node9", "raftAddr": `), 400, "VALIDATION_ERROR"},
		{"unknown field", adminToken, []byte(`{"id":"node9","raftAddr":"127.0.0.1:1","httpAddr":"127.0.0.1:2","role":"x"}`), 400, "VALIDATION_ERROR"},
		{"bad id", adminToken, join("no/slash", deadRaft, other.HTTP.Addr), 400, "VALIDATION_ERROR"},
		{"bad address", adminToken, join("node9", "nowhere", other.HTTP.Addr), 400, "VALIDATION_ERROR"},
		{"unspecified address", adminToken, join("node9", "0.0.0.0:7000", other.HTTP.Addr), 400, "VALIDATION_ERROR"},
		{"duplicate id", adminToken, join(other.Node.ID, deadRaft, other.HTTP.Addr), 409, "CONFLICT"},
		{"duplicate raft address", adminToken, join("node9", other.Raft.BindAddr, other.HTTP.Addr), 409, "CONFLICT"},
		{"http address does not answer", adminToken, join("node9", deadRaft, deadHTTP), 400, "VALIDATION_ERROR"},
		{"raft address does not answer", adminToken, join("node9", deadRaft, other.HTTP.Addr), 400, "VALIDATION_ERROR"},
		{"cluster secret, does not answer", testSecret, join("node9", deadRaft, other.HTTP.Addr), 400, "VALIDATION_ERROR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, via := range []int{l, f} { // on the leader and forwarded by a follower
				r := c.do(via, "POST", "/v1/cluster/join", tc.token, tc.body)
				if r.status != tc.status || r.code() != tc.code {
					t.Fatalf("via node%d: %d %s, want %d %s", via+1, r.status, r.body, tc.status, tc.code)
				}
			}
			if after := fmt.Sprint(c.members(l)); after != before {
				t.Fatalf("membership changed:\n%s\n%s", before, after)
			}
		})
	}
	t.Run("remove unknown", func(t *testing.T) {
		r := c.do(f, "POST", "/v1/cluster/remove", adminToken, []byte(`{"id":"node9"}`))
		if r.status != 404 || r.code() != "NOT_FOUND" {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("remove needs admin", func(t *testing.T) {
		r := c.do(f, "POST", "/v1/cluster/remove", viewerToken, []byte(`{"id":"node3"}`))
		if r.status != 403 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})

	// A node configured with another secret can neither join nor talk Raft to the members.
	addrs := append(append([]string(nil), c.cfgs[0].Cluster.Join...), freeAddr(t))
	rogue := newConfig(t, 3, addrs, 3)
	rogue.Cluster.Join = addrs[:3]
	rogue.Cluster.Secret = "another-secret-0123456789"
	c.cfgs = append(c.cfgs, rogue)
	c.nets = append(c.nets, testutil.NewCutNetwork())
	c.opts = append(c.opts, Options{})
	c.nodes = append(c.nodes, nil)
	c.start(3)
	r := c.do(3, "POST", "/v1/cluster/join", rogue.Cluster.Secret, join(rogue.Node.ID, rogue.Raft.BindAddr, rogue.HTTP.Addr))
	if r.status != 503 && r.status != 401 {
		t.Fatalf("rogue join through itself: %d %s", r.status, r.body)
	}
	r = c.do(l, "POST", "/v1/cluster/join", rogue.Cluster.Secret, join(rogue.Node.ID, rogue.Raft.BindAddr, rogue.HTTP.Addr))
	if r.status != 401 {
		t.Fatalf("join with the rogue's secret: %d %s", r.status, r.body)
	}
	// With the right credentials the join still fails: its Raft endpoint refuses our secret.
	r = c.do(l, "POST", "/v1/cluster/join", adminToken, join(rogue.Node.ID, rogue.Raft.BindAddr, rogue.HTTP.Addr))
	if r.status != 400 || r.code() != "VALIDATION_ERROR" {
		t.Fatalf("join of a node with another secret: %d %s", r.status, r.body)
	}
	if after := fmt.Sprint(c.members(l)); after != before {
		t.Fatalf("membership changed:\n%s\n%s", before, after)
	}
	if c.nodes[3].Store().LeaderID() != "" {
		t.Fatalf("the rogue node found a leader")
	}
	c.stop(3)

	// Removing a member works through a follower.
	// NO_LEADER says it was not proposed: a starved machine's election (the full suite at
	// load 15) is waited out, as a client would.
	removeBody := []byte(fmt.Sprintf(`{"id":%q}`, c.cfgs[f].Node.ID))
	for deadline := time.Now().Add(10 * time.Second); ; {
		r = c.do(f, "POST", "/v1/cluster/remove", adminToken, removeBody)
		if r.status != 503 || r.code() != "NO_LEADER" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.status != 200 {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	checkFor(t, 5*time.Second, func() error {
		l := c.leader()
		if l < 0 {
			return errors.New("no leader")
		}
		if ms := c.members(l); len(ms) != 2 {
			return fmt.Errorf("%d members after remove", len(ms))
		}
		return nil
	})
	// Membership changes are audited with who made them; refused ones are not.
	l = c.waitLeader(10 * time.Second)
	audit := c.do(l, "GET", "/v1/audit?action=cluster.remove", viewerToken, nil).json(t)
	items, _ := audit["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["actor"] != "root" || items[0].(map[string]any)["resource"] != c.cfgs[f].Node.ID {
		t.Fatalf("audit of the remove: %v", audit)
	}
	joins := c.do(l, "GET", "/v1/audit?action=cluster.join", viewerToken, nil).json(t)
	for _, it := range joins["items"].([]any) {
		if it.(map[string]any)["resource"] == "node9" || it.(map[string]any)["resource"] == rogue.Node.ID {
			t.Fatalf("a refused join was audited: %v", it)
		}
	}
}
