package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"syscall"
	"time"
)

// fault is one kind of fault the nemesis injects.
type fault string

const (
	faultKill      fault = "kill9-restart"   // SIGKILL a random node, restart it on the same data
	faultPause     fault = "pause-leader"    // SIGSTOP the leader, SIGCONT later
	faultIsolate   fault = "isolate"         // cut a random node off from both peers, both ways
	faultAsym      fault = "leader-asym-cut" // the leader cannot reach one follower; that follower still reaches it
	faultLatency   fault = "latency"         // 20-150 ms on every chunk between one node and its peers
	faultBandwidth fault = "bandwidth"       // 32-512 KiB/s each way between one node and its peers
)

// The faults of the cluster's environment (env_test.go).
const (
	faultDisk fault = "disk-full" // fill the small node's tmpfs data folder, free it later
	// disk-full with the small node leading first (the others' leader paused until it wins):
	// it must hand leadership over.
	faultDiskLeader fault = "disk-full-leader"
	faultPG         fault = "pg-stop"       // stop PostgreSQL (immediately, as a crash), start it later
	faultChain      fault = "chain-rpc-cut" // every node's connections to the chain's RPC cut
)

var allFaults = []fault{faultKill, faultPause, faultIsolate, faultAsym, faultLatency, faultBandwidth}

// envFaults are the faults e makes possible.
func envFaults(e *env) []fault {
	if e == nil {
		return nil
	}
	fs := []fault{faultPG, faultChain}
	if e.diskNode >= 0 {
		fs = append(fs, faultDisk, faultDiskLeader)
	}
	return fs
}

// nemesis injects one fault at a time, drawn from a seeded source, and logs each.
type nemesis struct {
	c      *cluster
	rng    *rand.Rand
	faults []fault // what run draws from
	logf   func(string, ...any)
	counts map[fault]int
	log    []string
	seed   int64
}

func newNemesis(c *cluster, seed int64, faults []fault, logf func(string, ...any)) *nemesis {
	return &nemesis{c: c, rng: rand.New(rand.NewPCG(uint64(seed), 0x4e454d)), faults: faults, logf: logf, counts: map[fault]int{}, seed: seed}
}

func (n *nemesis) note(start time.Time, format string, args ...any) {
	s := fmt.Sprintf("%7.2fs ", time.Since(start).Seconds()) + fmt.Sprintf(format, args...)
	n.log = append(n.log, s)
	n.logf("nemesis: %s", s)
}

// run injects faults until d has passed, then heals everything.
func (n *nemesis) run(d time.Duration, start time.Time) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		f := n.faults[n.rng.IntN(len(n.faults))]
		hold := time.Duration(1000+n.rng.IntN(2000)) * time.Millisecond
		n.inject(f, hold, start)
		time.Sleep(time.Duration(500+n.rng.IntN(1000)) * time.Millisecond)
	}
}

// inject applies f for hold and undoes it.
func (n *nemesis) inject(f fault, hold time.Duration, start time.Time) {
	c := n.c
	victim := n.rng.IntN(len(c.nodes))
	switch f {
	case faultKill:
		n.note(start, "%s %s for %s", f, c.nodes[victim].name, hold)
		c.nodes[victim].kill()
		time.Sleep(hold)
		c.start(victim)
	case faultPause:
		l := c.leader()
		if l < 0 {
			l = victim
		}
		n.note(start, "%s %s for %s", f, c.nodes[l].name, hold)
		c.nodes[l].signal(syscall.SIGSTOP)
		time.Sleep(hold)
		c.nodes[l].signal(syscall.SIGCONT)
	case faultIsolate:
		n.note(start, "%s %s for %s", f, c.nodes[victim].name, hold)
		for j := range c.nodes {
			if j != victim {
				c.setLink(victim, j, Link{Cut: true})
				c.setLink(j, victim, Link{Cut: true})
			}
		}
		time.Sleep(hold)
		c.heal()
	case faultAsym:
		l := c.leader()
		if l < 0 {
			l = victim
		}
		fol := (l + 1 + n.rng.IntN(len(c.nodes)-1)) % len(c.nodes)
		n.note(start, "%s %s -/-> %s for %s", f, c.nodes[l].name, c.nodes[fol].name, hold)
		c.setLink(l, fol, Link{Cut: true})
		time.Sleep(hold)
		c.heal()
	case faultLatency:
		lat := time.Duration(20+n.rng.IntN(130)) * time.Millisecond
		n.note(start, "%s %s +%s for %s", f, c.nodes[victim].name, lat, hold)
		for j := range c.nodes {
			if j != victim {
				c.setLink(victim, j, Link{Latency: lat})
				c.setLink(j, victim, Link{Latency: lat})
			}
		}
		time.Sleep(hold)
		c.heal()
	case faultBandwidth:
		bw := (32 + n.rng.IntN(480)) << 10
		n.note(start, "%s %s %d KiB/s for %s", f, c.nodes[victim].name, bw>>10, hold)
		for j := range c.nodes {
			if j != victim {
				c.setLink(victim, j, Link{Bandwidth: bw})
				c.setLink(j, victim, Link{Bandwidth: bw})
			}
		}
		time.Sleep(hold)
		c.heal()
	case faultDisk, faultDiskLeader:
		// Held longer than the others: the node needs new space only now and then (a Raft
		// log segment, a state flush), and a full disk must be met to be tested.
		e, nd := c.env, c.nodes[c.env.diskNode]
		hold = 4 * hold
		n.note(start, "%s %s for %s", f, nd.name, hold)
		if f == faultDiskLeader {
			n.makeLeader(e.diskNode, start)
		}
		errsBefore := len(errorLines(nd.logText()))
		leading := c.leader() == e.diskNode
		usage := e.diskUsage()
		filled, err := e.fillDisk()
		n.logf("nemesis: filled %s (leading: %v) with %d bytes (%v); its files over 1 MiB: %s", nd.name, leading, filled, err, usage)
		deadline := time.Now().Add(hold)
		// The node must notice (its disk guard checks every second) and say so in its health.
		if c.diskHealth(e.diskNode, "degraded", 3*time.Second) {
			n.counts["disk-full-refusing"]++
		} else if nd.running() {
			c.t.Errorf("%s's health does not show its full disk within 3 s (seed %d)", nd.name, n.seed)
		}
		if leading {
			// A leader short of space hands leadership to a member with space.
			n.counts["disk-full-while-leading"]++
			handed := false
			for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && !handed; time.Sleep(100 * time.Millisecond) {
				l := c.leader()
				handed = l >= 0 && l != e.diskNode
			}
			if handed {
				n.counts["disk-full-handed-over"]++
				n.logf("nemesis: %s, full, handed leadership to %s", nd.name, c.nodes[c.leader()].name)
			} else {
				c.t.Errorf("%s still leads (or no node does) 5 s after its disk filled (seed %d)", nd.name, n.seed)
			}
		}
		time.Sleep(time.Until(deadline))
		if err := e.unfillDisk(); err != nil {
			c.t.Errorf("freeing the disk: %v", err)
		}
		errs := errorLines(nd.logText())[errsBefore:]
		n.logf("nemesis: freed %s: %d bytes free; it logged %d errors while full%s", nd.name, e.freeBytes(), len(errs), strings.Join(distinct(errs, 3), "\n  "))
		if !nd.running() {
			n.counts["disk-full-crash"]++
			c.t.Errorf("%s exited while its disk was full (seed %d; chaos/DESIGN.md Findings 5): %s", nd.name, n.seed, panicLine(nd.logText()))
			c.start(e.diskNode)
		} else if !c.diskHealth(e.diskNode, "ok", 5*time.Second) {
			c.t.Errorf("%s's health still shows a full disk 5 s after space returned (seed %d)", nd.name, n.seed)
		}
	case faultPG:
		n.note(start, "%s for %s", f, hold)
		c.env.pg.Stop(c.t)
		time.Sleep(hold)
		c.env.pg.Restart(c.t)
	case faultChain:
		n.note(start, "%s for %s", f, hold)
		for _, nd := range c.nodes {
			c.env.chain.SetLink(nd.name, Link{Cut: true})
		}
		time.Sleep(hold)
		c.env.chain.Heal()
	}
	n.counts[f]++
}

// summary is "kill9-restart=3 latency=2 ...".
func (n *nemesis) summary() string {
	var parts []string
	for f, k := range n.counts {
		parts = append(parts, fmt.Sprintf("%s=%d", f, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// panicLine is the last "panic: " line of a node's log, or "".
func panicLine(log string) string {
	i := strings.LastIndex(log, "panic: ")
	if i < 0 {
		return ""
	}
	line, _, _ := strings.Cut(log[i:], "\n")
	return line
}

// diskHealth polls node i's GET /v1/system/health until its pebble component has status
// (ok, degraded) or timeout passes, and reports whether it did.
func (c *cluster) diskHealth(i int, status string, timeout time.Duration) bool {
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		code, b, _, err := c.do(i, "GET", "/v1/system/health", "")
		if err != nil || code != 200 {
			continue
		}
		var h struct {
			Components struct{ Pebble struct{ Status string } }
		}
		if json.Unmarshal(b, &h) == nil && h.Components.Pebble.Status == status {
			return true
		}
	}
	return false
}

// makeLeader pauses the leader until node i wins an election, up to 6 times, and logs whether
// it did.
func (n *nemesis) makeLeader(i int, start time.Time) {
	c := n.c
	for try := 0; try < 6; try++ {
		l := c.leader()
		if l == i {
			n.note(start, "%s leads", c.nodes[i].name)
			return
		}
		if l < 0 {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		c.nodes[l].signal(syscall.SIGSTOP)
		time.Sleep(1500 * time.Millisecond)
		c.nodes[l].signal(syscall.SIGCONT)
		time.Sleep(500 * time.Millisecond)
	}
	n.note(start, "%s did not win an election in 6 tries", c.nodes[i].name)
}
