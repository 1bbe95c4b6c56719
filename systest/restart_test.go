package systest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"paimon/fund/fundtest"
)

// term is node i's current Raft term, from its cluster status.
func (c *processCluster) term(i int) uint64 {
	c.t.Helper()
	status, body, err := c.procs[i].do("GET", "/v1/cluster/status", c.token, "")
	if err != nil || status != 200 {
		c.t.Fatalf("cluster status of node%d: %d %s %v", i+1, status, body, err)
	}
	var st struct{ Term uint64 }
	if err := json.Unmarshal(body, &st); err != nil || st.Term == 0 {
		c.t.Fatalf("cluster status of node%d: no term in %s (%v)", i+1, body, err)
	}
	return st.Term
}

// waitLeader waits for the cluster's processes to agree on a leader and returns its index.
func (c *processCluster) waitLeader(timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if l := c.leader(); l >= 0 {
			return l
		}
		if time.Now().After(deadline) {
			c.t.Fatal("no leader")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeLoad is writers minting one share per write to their own account, each through the
// node its route picks; a write that fails is sent again (the same log: duplicates are
// recognised), so after the load every writer's account holds exactly written[w] shares.
type writeLoad struct {
	c       *processCluster
	owners  []common.Address
	stop    atomic.Bool
	wg      sync.WaitGroup
	mu      sync.Mutex
	written []int
	// noLeader counts NO_LEADER answers; connErrs connection errors (the node was down).
	noLeader atomic.Int64
	connErrs atomic.Int64
	errs     []string
}

func startWriteLoad(c *processCluster, label string, writers int, route func(w, attempt int) int) *writeLoad {
	ld := &writeLoad{c: c, owners: make([]common.Address, writers), written: make([]int, writers)}
	for w := range writers {
		ld.owners[w] = fundtest.Addr(fmt.Sprintf("%s writer %d", label, w))
	}
	// The writers reach the nodes at the addresses of these processes; a node restarted
	// meanwhile (c.start) listens at the same one.
	procs := append([]*proc(nil), c.procs...)
	for w := range writers {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			for seq := 0; !ld.stop.Load(); seq++ {
				body := string(fundtest.Body(fundtest.MintLog(ld.owners[w], seq, 1)))
				for attempt := 0; ; attempt++ {
					p := procs[route(w, attempt)]
					status, b, err := p.do("POST", "/v1/admin/logs", c.token, body)
					if err == nil && status == 503 && strings.Contains(string(b), "NO_LEADER") {
						ld.noLeader.Add(1)
					} else if err != nil {
						ld.connErrs.Add(1)
					}
					if err != nil || status == 503 {
						if attempt > 2000 {
							ld.fail("writer %d gave up on seq %d: %v %s", w, seq, err, b)
							return
						}
						time.Sleep(10 * time.Millisecond)
						continue
					}
					var res struct{ Accepted, Duplicates int }
					if status != 200 || json.Unmarshal(b, &res) != nil || res.Accepted+res.Duplicates != 1 {
						ld.fail("writer %d seq %d: %d %s", w, seq, status, b)
						return
					}
					break
				}
				ld.mu.Lock()
				ld.written[w] = seq + 1
				ld.mu.Unlock()
			}
		}()
	}
	return ld
}

func (ld *writeLoad) fail(format string, args ...any) {
	ld.mu.Lock()
	ld.errs = append(ld.errs, fmt.Sprintf(format, args...))
	ld.mu.Unlock()
}

// acked returns how many writes of each writer were acknowledged so far.
func (ld *writeLoad) acked() []int {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return append([]int(nil), ld.written...)
}

// finish stops the writers and fails the test on any answer other than success, NO_LEADER
// or a connection error.
func (ld *writeLoad) finish(t *testing.T) {
	t.Helper()
	ld.stop.Store(true)
	ld.wg.Wait()
	if len(ld.errs) > 0 {
		t.Fatalf("client errors: %v", ld.errs)
	}
}

// checkAll waits until node i's local reads show every acknowledged write of the load.
func (ld *writeLoad) checkAll(t *testing.T, i int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for w, owner := range ld.owners {
		for {
			got, err := ld.c.shares(i, owner)
			if err == nil && got == strconv.Itoa(ld.written[w]) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node%d: writer %d has %s shares (%v), %d writes acknowledged", i+1, w, got, err, ld.written[w])
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestGracefulLeaderRestart stops the leader with SIGTERM and starts it again while eight
// writers write through the two other nodes and two through the leader itself: the leader
// hands leadership over before it stops serving, a write it can no longer propose goes to the
// new leader, and a follower whose forward is refused or finds the old leader gone sends the
// write to the new leader. No writer sees NO_LEADER; those of the followers see no error at
// all (those of the leader see its socket close, and move on); every acknowledged write is on
// every node afterwards.
func TestGracefulLeaderRestart(t *testing.T) {
	c := newProcessCluster(t)
	for i := range 3 {
		c.start(i)
	}
	l := c.waitLeader(20 * time.Second)
	var followers []int
	for i := range 3 {
		if i != l {
			followers = append(followers, i)
		}
	}
	ld := startWriteLoad(c, "graceful", 8, func(w, _ int) int { return followers[w%2] })
	viaLeader := startWriteLoad(c, "graceful via the leader", 2, func(w, attempt int) int {
		if attempt == 0 {
			return l
		}
		return followers[(w+attempt)%2]
	})
	time.Sleep(time.Second) // writes flow before the restart
	termBefore := c.term(l)
	c.procs[l].stop()
	after := c.waitLeader(10 * time.Second)
	time.Sleep(500 * time.Millisecond) // writes flow while the old leader is down
	c.start(l)
	c.procs[l].waitReady(20 * time.Second)
	time.Sleep(500 * time.Millisecond) // and after it is back
	ld.finish(t)
	viaLeader.finish(t)
	t.Logf("restarted node%d (new leader node%d); writes per writer through the followers %v, through the leader %v; NO_LEADER answers %d and %d, connection errors %d and %d",
		l+1, after+1, ld.written, viaLeader.written, ld.noLeader.Load(), viaLeader.noLeader.Load(), ld.connErrs.Load(), viaLeader.connErrs.Load())
	// The hand-over is one election (term + 1), and the old leader rejoins without one
	// (pre-vote). More elections mean a leader lost its quorum besides the hand-over: on a
	// starved machine (the full suite under -race on 2 cores) a new leader that hears from no
	// follower within the lease steps down, and the cluster is leaderless for an election, when
	// NO_LEADER is the right answer. Every acknowledged write is still checked below.
	termAfter := c.term(after)
	n := ld.noLeader.Load() + viaLeader.noLeader.Load()
	switch {
	case termAfter > termBefore+1:
		t.Logf("%d NO_LEADER answers; terms %d -> %d: an election besides the hand-over (a leader lost its quorum), not checked", n, termBefore, termAfter)
	case n != 0:
		t.Errorf("%d NO_LEADER answers during a graceful restart of the leader (terms %d -> %d: the hand-over only)", n, termBefore, termAfter)
	}
	if n := ld.connErrs.Load(); n != 0 {
		t.Errorf("%d connection errors from the followers", n)
	}
	for i := range 3 {
		ld.checkAll(t, i, 15*time.Second)
		viaLeader.checkAll(t, i, 15*time.Second)
	}
}

// startAroundFollower starts a process cluster and six writers writing through the leader
// and one follower; it returns the other follower (the victim of a test) and the load.
func startAroundFollower(t *testing.T, label string) (*processCluster, int, *writeLoad) {
	c := newProcessCluster(t)
	for i := range 3 {
		c.start(i)
	}
	l := c.waitLeader(20 * time.Second)
	victim := (l + 1) % 3
	other := 3 - l - victim
	return c, victim, startWriteLoad(c, label, 6, func(w, attempt int) int {
		if (w+attempt)%2 == 0 {
			return l
		}
		return other
	})
}

// TestReadyAfterKill9 kills a follower with SIGKILL while writers write through the two other
// nodes, lets the cluster run on, and starts the follower again: from its first 200 on /readyz,
// its local reads show every write acknowledged before that /readyz request.
func TestReadyAfterKill9(t *testing.T) {
	c, victim, ld := startAroundFollower(t, "ready")
	time.Sleep(time.Second)   // writes flow before the kill
	other := (victim + 1) % 3 // runs throughout
	termBefore := c.term(other)
	c.procs[victim].kill9()
	time.Sleep(3 * time.Second) // the victim falls behind
	before := ld.acked()
	c.start(victim)
	p := c.procs[victim]
	start := time.Now()
	for {
		acked := ld.acked() // acknowledged before the request
		status, body, err := p.do("GET", "/readyz", "", "")
		if err == nil && status == 200 {
			for w, owner := range ld.owners {
				got, err := c.shares(victim, owner)
				if err != nil {
					t.Fatalf("local read on the restarted node: %v", err)
				}
				if n, _ := strconv.Atoi(got); n < acked[w] {
					t.Fatalf("ready after %s, but writer %d has %d shares there, %d acknowledged before /readyz (%s)",
						time.Since(start).Round(time.Millisecond), w, n, acked[w], body)
				}
			}
			t.Logf("ready %s after the restart; writes acknowledged by then %v (at the restart %v)", time.Since(start).Round(time.Millisecond), acked, before)
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("not ready 30s after the restart: %d %s %v", status, body, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ld.finish(t)
	// Killing a follower is no election; one means the leader lost its quorum for a moment
	// (a starved machine: the full suite on 2 cores), when NO_LEADER is the right answer.
	if termAfter := c.term(other); termAfter > termBefore {
		t.Logf("%d NO_LEADER answers; terms %d -> %d: an election (the leader lost its quorum), not checked", ld.noLeader.Load(), termBefore, termAfter)
	} else if n := ld.noLeader.Load(); n != 0 {
		t.Errorf("%d NO_LEADER answers while a follower was killed (no election, term %d)", n, termAfter)
	}
	for i := range 3 {
		ld.checkAll(t, i, 15*time.Second)
	}
}
