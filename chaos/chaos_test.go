package chaos

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"paimon/internal/testutil"
	"paimon/raftstore"
)

// campaign is one run: a cluster, clients on every node, and a schedule of faults.
type campaign struct {
	t    *testing.T
	seed int64
	c    *cluster
	w    *workload
}

// newCampaign starts the cluster; with e, its nodes sync to PostgreSQL and ingest a chain.
func newCampaign(t *testing.T, keys int, e *env) *campaign {
	seed := *flagSeed
	if seed == 0 {
		seed = time.Now().UnixNano() % 1e9
	}
	t.Logf("seed %d (replay with -chaos.seed=%d)", seed, seed)
	c := newCluster(t, e)
	for i := range c.nodes {
		c.start(i)
	}
	c.waitLeader(30 * time.Second)
	return &campaign{t: t, seed: seed, c: c, w: newWorkload(c, keys)}
}

// run runs the clients while faults runs, then recovers the cluster, and returns the
// committed seqs (the same on every node, checked) and the history.
func (cp *campaign) run(faults func()) (map[int64]bool, []op) {
	t, c := cp.t, cp.c
	stop := make(chan struct{})
	wg := cp.w.run(cp.seed, stop)
	faults()
	close(stop)
	wg.Wait()

	// Recover: no rule left, nobody paused, everybody up.
	c.heal()
	for i, n := range c.nodes {
		n.mu.Lock()
		down, paused := n.cmd == nil, n.paused
		n.mu.Unlock()
		if paused {
			n.signal(syscall.SIGCONT)
		}
		if down {
			c.start(i)
		}
	}
	// Every node catches up to the leader's commit index, then each node's price points are
	// read. A write whose client gave up (unknown) can still be committed after that index (held
	// in a forward, or in a proxy that is slow to name its source), and land between the reads
	// of two nodes: sets that differ are read again after the next catch-up, and only sets that
	// still differ after five rounds fail the run.
	var l int
	var sets []map[int64]bool
	history := cp.w.rec.history()
	maxSeq := cp.w.seq.Load()
	for round := 1; ; round++ {
		l = cp.catchUp()
		sets = sets[:0]
		for i := range c.nodes {
			sets = append(sets, cp.committed(i, maxSeq))
		}
		var differ []string
		for i := 1; i < len(sets); i++ {
			if a, b := sortedKeys(sets[0]), sortedKeys(sets[i]); !slices.Equal(a, b) {
				differ = append(differ, fmt.Sprintf("node1 holds %d price points, node%d %d: the replicas differ", len(a), i+1, len(b)))
			}
		}
		if len(differ) == 0 {
			break
		}
		if round == 5 {
			for _, d := range differ {
				t.Error(d)
			}
			break
		}
		t.Logf("round %d of the replicas' price points: %s; reading again after the next catch-up", round, strings.Join(differ, "; "))
		time.Sleep(time.Second)
	}
	lost := 0
	for _, o := range history {
		if o.Kind == opWrite && o.OK {
			for i, s := range sets {
				if !s[o.Seq] {
					lost++
					t.Errorf("acknowledged write %d (key %d, index %d) is missing on node%d", o.Seq, o.Key, o.Index, i+1)
				}
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d acknowledged writes lost (seed %d)", lost, cp.seed)
	}
	for _, n := range c.nodes {
		if errs := errorLines(n.logText()); len(errs) > 0 {
			t.Logf("%s logged %d errors, e.g.:\n%s", n.name, len(errs), strings.Join(distinct(errs, 6), "\n"))
		}
	}
	if e := c.env; e != nil {
		e.verifyPG(c, l, cp.w, sets[0])
		e.verifyChain(c)
	}
	cp.compareDigests()
	return sets[0], history
}

// catchUp waits for a leader, asks it for its commit index (a linearizable read) and waits
// until every node has applied it; it returns the leader.
func (cp *campaign) catchUp() int {
	t, c := cp.t, cp.c
	l := c.waitLeader(60 * time.Second)
	_, _, commit, err := c.do(l, "GET", "/v1/prices?consistency=linearizable", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.nodes {
		testutil.CheckFor(t, 60*time.Second, func() error {
			status, _, idx, err := c.do(i, "GET", "/v1/prices?consistency=local", "")
			if err != nil || status != 200 || idx < commit {
				return fmt.Errorf("node%d at index %d, want %d: %d %v", i+1, idx, commit, status, err)
			}
			return nil
		})
	}
	return l
}

// compareDigests asks every node at once for the digest of its whole state
// (GET /v1/admin/state/digest) until all three answer at the same applied index, and checks
// that their digests are equal there. The clients have stopped, but the chain's events and the
// PostgreSQL sync's marks still commit entries: the chain is cut meanwhile, and a round whose
// answers are at different indexes is asked again.
func (cp *campaign) compareDigests() {
	t, c := cp.t, cp.c
	if e := c.env; e != nil {
		for _, nd := range c.nodes {
			e.chain.SetLink(nd.name, Link{Cut: true})
		}
		defer e.chain.Heal()
	}
	last := ""
	for round := 1; round <= 100; round++ {
		ds := make([]raftstore.StateDigest, len(c.nodes))
		errs := make([]error, len(c.nodes))
		var wg sync.WaitGroup
		for i := range c.nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, b, _, err := c.do(i, "GET", "/v1/admin/state/digest", "")
				if err == nil && status != 200 {
					err = fmt.Errorf("%d %s", status, b)
				}
				if err == nil {
					err = json.Unmarshal(b, &ds[i])
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		same := true
		for i := range c.nodes {
			if errs[i] != nil || ds[i].Index != ds[0].Index {
				same = false
			}
		}
		if !same {
			last = fmt.Sprintf("indexes %d %d %d, errors %v", ds[0].Index, ds[1].Index, ds[2].Index, errs)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for i := 1; i < len(ds); i++ {
			if ds[i].Digest == ds[0].Digest {
				continue
			}
			var differ []string
			for p, pd := range ds[0].Prefixes {
				if ds[i].Prefixes[p] != pd {
					differ = append(differ, fmt.Sprintf("%q (%d keys vs %d)", p, pd.Keys, ds[i].Prefixes[p].Keys))
				}
			}
			for p, pd := range ds[i].Prefixes {
				if _, ok := ds[0].Prefixes[p]; !ok {
					differ = append(differ, fmt.Sprintf("%q (0 keys vs %d)", p, pd.Keys))
				}
			}
			sort.Strings(differ)
			t.Errorf("at index %d node1's state digest is %s (%d keys), node%d's %s (%d keys): prefixes %s differ (seed %d)",
				ds[0].Index, ds[0].Digest, ds[0].Keys, i+1, ds[i].Digest, ds[i].Keys, strings.Join(differ, ", "), cp.seed)
		}
		t.Logf("state digest at index %d (round %d): node1 %s, %d keys; the other nodes' equal: %v",
			ds[0].Index, round, ds[0].Digest[:16], ds[0].Keys, ds[1].Digest == ds[0].Digest && ds[2].Digest == ds[0].Digest)
		return
	}
	t.Errorf("the nodes were never at the same applied index in 100 rounds of state digests: %s", last)
}

// committed reads every price point of every key from node i (local, after it caught up):
// the seqs it holds. It also checks that each key's current price is its latest point.
func (cp *campaign) committed(i int, maxSeq int64) map[int64]bool {
	t, w := cp.t, cp.w
	got := map[int64]bool{}
	for k, asset := range w.keys {
		var latest int64
		for lo := int64(1); lo <= maxSeq; lo += 1000 {
			from, to := w.base.Unix()+lo, w.base.Unix()+lo+999
			status, b, _, err := cp.c.do(i, "GET", fmt.Sprintf("/v1/prices/%s?consistency=local&history=1&limit=1000&from=%d&to=%d", asset, from, to), "")
			if status == 404 {
				break // the key was never written
			}
			if err != nil || status != 200 {
				t.Fatalf("node%d history of key %d: %d %s %v", i+1, k, status, b, err)
			}
			var p struct {
				Price string
				Items []struct{ Price, Time string }
			}
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			for _, it := range p.Items {
				tm, err := time.Parse(time.RFC3339, it.Time)
				if err != nil {
					t.Fatal(err)
				}
				seq := tm.Unix() - w.base.Unix()
				if it.Price != fmt.Sprint(seq) {
					t.Errorf("node%d key %d: point at seq %d has price %s", i+1, k, seq, it.Price)
				}
				got[seq] = true
				latest = max(latest, seq)
			}
			if p.Price != fmt.Sprint(latest) && lo+1000 > maxSeq {
				t.Errorf("node%d key %d: current price %s, latest point %d", i+1, k, p.Price, latest)
			}
		}
	}
	return got
}

func sortedKeys(m map[int64]bool) []int64 {
	var out []int64
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// stats counts the history's operations by kind and outcome.
func stats(history []op) string {
	var acked, noLeader, diskFull, unknown int
	reads := map[opKind]int{}
	for _, o := range history {
		switch {
		case o.Kind != opWrite:
			reads[o.Kind]++
		case o.OK:
			acked++
		case o.NoLeader:
			noLeader++
		case o.DiskFull:
			diskFull++
		default:
			unknown++
		}
	}
	return fmt.Sprintf("writes acked=%d no-leader=%d disk-full=%d unknown=%d; reads linearizable=%d leader=%d local=%d",
		acked, noLeader, diskFull, unknown, reads[opReadLinearizable], reads[opReadLeader], reads[opReadLocal])
}

// knownBugs are the open bugs the campaign found; with -chaos.known-bugs=mask (the default)
// their fault is not injected and their check is only logged. chaos/DESIGN.md "Findings".
var knownBugs = []struct {
	name   string
	fault  fault  // left out of the nemesis, or ""
	check  opKind // verdict logged, not asserted, or ""
	detail string
}{
	// None open. Fixed since: raft-wal-truncated-tail (masked kill9-restart; raft-wal v0.4.1),
	// new-leader-stale-reads (masked the leader verdict; raftstore's settled term),
	// local-reads-regress-after-kill9 (masked the local monotonicity check; local reads wait
	// until the node caught up since its start, server/status.go catchUpAfterStart) and
	// disk-full-crashes-node (logged a node's exit while its disk was full; raftstore's disk
	// guard, raftstore/disk.go).
}

// knownBugMasked reports whether the open bug name is masked in this run.
func knownBugMasked(name string) bool {
	if *flagKnownBugs != "mask" {
		return false
	}
	for _, b := range knownBugs {
		if b.name == name {
			return true
		}
	}
	return false
}

// TestCampaign runs the nemesis for -chaos.duration against clients on every node and checks
// the history: linearizable and leader reads linearizable, local reads monotonic per node and
// committed, every acknowledged write on every node, the replicas equal.
func TestCampaign(t *testing.T) {
	e := newEnv(t)
	cp := newCampaign(t, 8, e)
	faults := append(slices.Clone(allFaults), envFaults(e)...)
	if *flagFaults != "" {
		want := strings.Split(*flagFaults, ",")
		faults = slices.DeleteFunc(faults, func(f fault) bool { return !slices.Contains(want, string(f)) })
		if len(faults) == 0 {
			t.Fatalf("-chaos.faults=%s names no fault of %v", *flagFaults, append(slices.Clone(allFaults), envFaults(e)...))
		}
	}
	masked := map[opKind]bool{}
	if *flagKnownBugs == "mask" {
		for _, b := range knownBugs {
			t.Logf("known bug %s masked (-chaos.known-bugs=check runs it): %s", b.name, b.detail)
			if b.fault != "" {
				faults = slices.DeleteFunc(slices.Clone(faults), func(f fault) bool { return f == b.fault })
			}
			if b.check != "" {
				masked[b.check] = true
			}
		}
	}
	nem := newNemesis(cp.c, cp.seed, faults, t.Logf)
	cp.w.withSessions = true
	committed, history := cp.run(func() { nem.run(*flagDuration, cp.w.rec.start) })
	if inv := cp.w.sessions.invalid; len(inv) > 0 {
		for _, s := range inv[:min(len(inv), 10)] {
			t.Error(s)
		}
		t.Errorf("%d uses of acknowledged sessions answered 401 (seed %d)", len(inv), cp.seed)
	}
	if len(cp.w.sessions.fails) > 0 {
		t.Logf("session login failures by answer: %v", cp.w.sessions.fails)
	}
	v := checkHistory(history, committed, time.Minute)
	noLeaderApplied := 0
	for _, o := range history {
		if (o.NoLeader || o.DiskFull) && committed[o.Seq] {
			noLeaderApplied++
			if noLeaderApplied <= 10 {
				t.Errorf("write %d (key %d) refused as not proposed by node%d was applied: %s", o.Seq, o.Key, o.Node+1, o.Err)
			}
		}
	}
	if noLeaderApplied > 0 {
		t.Errorf("%d writes answered 503 NO_LEADER or disk_full were applied; both say a write was not proposed (chaos/DESIGN.md Findings 3; seed %d)", noLeaderApplied, cp.seed)
	}
	t.Logf("seed %d: faults %s; %s; %s; verdict linearizable=%s leader=%s local-errors=%d; proxies' identify max %s",
		cp.seed, nem.summary(), stats(history), &cp.w.sessions, v.Linearizable, v.Leader, len(v.LocalErrors), cp.c.identifyMax().Round(time.Microsecond))
	if masked[opReadLeader] && v.Leader != porcupine.Ok {
		t.Logf("leader reads: %s (known bug, masked)", v.Leader)
		v.Leader = porcupine.Ok
	}
	if masked[opReadLocal] {
		kept := v.LocalErrors[:0]
		for _, e := range v.LocalErrors {
			if strings.Contains(e, "went back in time") {
				t.Logf("%s (known bug, masked)", e)
			} else {
				kept = append(kept, e)
			}
		}
		v.LocalErrors = kept
	}
	if !v.ok() {
		files, err := writeFailure(*flagOut, cp.seed, history, v)
		for _, e := range v.LocalErrors[:min(len(v.LocalErrors), 10)] {
			t.Error(e)
		}
		t.Fatalf("history not valid (linearizable=%s leader=%s, %d local errors); history and visualisation: %s (%v); replay with -chaos.seed=%d",
			v.Linearizable, v.Leader, len(v.LocalErrors), files, err, cp.seed)
	}
}

// TestCheckerCatchesPlantedStaleReads plants a bug: the clients' linearizable reads are served
// locally (sent as consistency=local, recorded as linearizable), and one node is cut off for a
// while so that its replica falls behind. The checker must find the history not linearizable.
func TestCheckerCatchesPlantedStaleReads(t *testing.T) {
	cp := newCampaign(t, 4, nil)
	cp.w.plantLocalAsLinearizable = true
	nem := newNemesis(cp.c, cp.seed, allFaults, t.Logf)
	committed, history := cp.run(func() {
		time.Sleep(time.Second)
		nem.inject(faultIsolate, 4*time.Second, cp.w.rec.start)
		time.Sleep(time.Second)
	})
	v := checkHistory(history, committed, time.Minute)
	t.Logf("planted: %s; verdict linearizable=%s leader=%s local-errors=%d", stats(history), v.Linearizable, v.Leader, len(v.LocalErrors))
	if v.Linearizable != "Illegal" {
		t.Fatalf("the checker did not catch linearizable reads served locally: %s", v.Linearizable)
	}
	dir := *flagOut
	if dir == "" {
		dir = t.TempDir()
	}
	files, err := writeFailure(dir, cp.seed, history, v)
	if err != nil {
		t.Fatalf("writing the failure files %s: %v", files, err)
	}
	t.Logf("failure files: %s", files)
}

// errorLines are a node's log lines at level ERROR.
func errorLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}

// distinct returns up to n lines with different messages (msg=...).
func distinct(lines []string, n int) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lines {
		msg := l
		if i := strings.Index(l, "msg="); i >= 0 {
			msg = l[i:min(len(l), i+60)]
		}
		if !seen[msg] && len(out) < n {
			seen[msg] = true
			out = append(out, l[:min(len(l), 400)])
		}
	}
	return out
}
