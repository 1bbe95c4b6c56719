package systest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// localIndexes polls a node's local reads as fast as it can and keeps the greatest
// X-Paimon-Index among the answered (200) ones, and every answered index after mark.
type localIndexes struct {
	url  string
	stop atomic.Bool
	wg   sync.WaitGroup

	mu       sync.Mutex
	max      uint64   // greatest index answered so far
	after    []uint64 // indexes answered since mark
	marked   bool
	answered int
	refused  map[int]int // by status: STALE_READ and others
}

func pollLocal(url string) *localIndexes {
	li := &localIndexes{url: url, refused: map[int]int{}}
	li.wg.Add(1)
	go func() {
		defer li.wg.Done()
		c := http.Client{Timeout: time.Second}
		for !li.stop.Load() {
			resp, err := c.Get(li.url + "/v1/prices?consistency=local")
			if err != nil {
				time.Sleep(time.Millisecond)
				continue
			}
			resp.Body.Close()
			li.mu.Lock()
			if resp.StatusCode == 200 {
				idx, _ := strconv.ParseUint(resp.Header.Get("X-Paimon-Index"), 10, 64)
				li.max = max(li.max, idx)
				li.answered++
				if li.marked {
					li.after = append(li.after, idx)
				}
			} else {
				li.refused[resp.StatusCode]++
			}
			li.mu.Unlock()
		}
	}()
	return li
}

// mark returns the greatest index answered so far and starts recording the later answers.
func (li *localIndexes) mark() uint64 {
	li.mu.Lock()
	defer li.mu.Unlock()
	li.marked = true
	li.after = li.after[:0]
	return li.max
}

// nAfter is the number of local reads answered since mark.
func (li *localIndexes) nAfter() int {
	li.mu.Lock()
	defer li.mu.Unlock()
	return len(li.after)
}

func (li *localIndexes) end() (after []uint64, refused map[int]int) {
	li.stop.Store(true)
	li.wg.Wait()
	return li.after, li.refused
}

var openedAt = regexp.MustCompile(`raft store open.*applied_index=(\d+)`)

// TestLocalReadsAfterKill9 kills a follower with SIGKILL while writers write through the two
// other nodes and a reader reads the follower's replica (consistency=local) as fast as it
// can, and starts it again on the same data folder: no local read it answers after the
// restart is older than one it answered before the kill (chaos/DESIGN.md Findings 4). The
// node's state commits without fsync (raftstore/DESIGN.md), so kill -9 can lose its last
// batches, which the Raft log replays once the node learns the commit index from the leader;
// before that it must not serve. The second round removes the follower's state folder while
// it is down, the extreme of that loss (the whole state replays from the log), which makes
// the window certain rather than likely.
func TestLocalReadsAfterKill9(t *testing.T) {
	c, victim, ld := startAroundFollower(t, "local")
	defer ld.finish(t)
	dataDir := filepath.Join(filepath.Dir(c.args[victim][2]), fmt.Sprintf("node%d", victim+1))
	for round, dropState := range []bool{false, true} {
		li := pollLocal(c.urls[victim])
		time.Sleep(1500 * time.Millisecond) // writes flow, the reader follows them
		c.procs[victim].kill9()
		served := li.mark()
		if dropState {
			if err := os.RemoveAll(filepath.Join(dataDir, "state")); err != nil {
				t.Fatal(err)
			}
		}
		c.start(victim)
		// The restarted node catches up (replaying the whole log in round 2 takes seconds under
		// -race on a busy machine); the reader keeps reading until it answers, and a little more.
		for wait := time.Now().Add(30 * time.Second); li.nAfter() == 0 && time.Now().Before(wait); {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		after, refused := li.end()
		opened := "?"
		if m := openedAt.FindAllStringSubmatch(c.procs[victim].logText(), -1); len(m) > 0 {
			opened = m[len(m)-1][1]
		}
		t.Logf("round %d (state removed: %v): served index %d before the kill; reopened at applied %s; %d local reads answered after the restart, refused %v",
			round+1, dropState, served, opened, len(after), refused)
		if len(after) == 0 {
			t.Fatalf("round %d: the restarted node answered no local read in 30 s (refused %v)", round+1, refused)
		}
		for k, idx := range after {
			if idx < served {
				t.Fatalf("round %d: local read %d after the restart answered at index %d, older than index %d served before the kill",
					round+1, k+1, idx, served)
			}
		}
	}
}
