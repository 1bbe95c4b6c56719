package systest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"paimon/auth"
	"paimon/fund/fundtest"
)

// processCluster is three paimon processes started from the test binary, each with its own
// config file, forming a cluster over real TCP on 127.0.0.1.
type processCluster struct {
	t     *testing.T
	args  [][]string
	urls  []string
	procs []*proc
	token string
}

func newProcessCluster(t *testing.T) *processCluster {
	dir := t.TempDir()
	token, sum := auth.NewToken()
	https := []string{freePort(t), freePort(t), freePort(t)}
	join := `"` + strings.Join(https, `", "`) + `"`
	c := &processCluster{t: t, token: token}
	for i := range 3 {
		cfg := fmt.Sprintf(`
[node]
id = "node%d"
data_dir = %q

[http]
addr = %q

[raft]
addr = %q
heartbeat_timeout = "500ms"
election_timeout = "500ms"
leader_lease_timeout = "250ms"

[cluster]
join = [%s]
bootstrap_expect = 3
secret = "process-cluster-secret-0123456789"

[[auth.tokens]]
name = "ops"
role = "admin"
sha256 = %q
`, i+1, filepath.Join(dir, fmt.Sprintf("node%d", i+1)), https[i], freePort(t), join, sum)
		path := filepath.Join(dir, fmt.Sprintf("node%d.toml", i+1))
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c.args = append(c.args, []string{"serve", "-config", path, "-http-addr", https[i]})
		c.urls = append(c.urls, "http://"+https[i])
		c.procs = append(c.procs, nil)
	}
	return c
}

func (c *processCluster) start(i int) { c.procs[i] = startProc(c.t, c.args[i]...) }

// leader asks every live node for the cluster status and returns the leader's index, or -1.
func (c *processCluster) leader() int {
	for _, p := range c.procs {
		if p == nil {
			continue
		}
		status, body, err := p.do("GET", "/v1/cluster/status", c.token, "")
		if err != nil || status != 200 {
			continue
		}
		var st struct{ Leader string }
		if json.Unmarshal(body, &st) == nil && st.Leader != "" {
			n, _ := strconv.Atoi(strings.TrimPrefix(st.Leader, "node"))
			if n >= 1 && n <= 3 && c.procs[n-1] != nil {
				return n - 1
			}
		}
	}
	return -1
}

func (c *processCluster) shares(i int, owner common.Address) (string, error) {
	status, body, err := c.procs[i].do("GET", "/v1/accounts/"+strings.ToLower(owner.Hex()), c.token, "")
	if err != nil {
		return "", err
	}
	if status == 404 {
		return "0", nil
	}
	if status != 200 {
		return "", fmt.Errorf("%d %s", status, body)
	}
	var a struct{ Shares string }
	err = json.Unmarshal(body, &a)
	return a.Shares, err
}

// TestKill9LeaderUnderWrites kills the leader process with SIGKILL while clients write
// concurrently: a new leader serves within 5 s, every acknowledged write is on both survivors
// and, after a restart, on the killed node, and none is applied twice (each writer's account
// holds exactly one share per acknowledged write).
func TestKill9LeaderUnderWrites(t *testing.T) {
	c := newProcessCluster(t)
	for i := range 3 {
		c.start(i)
	}
	var l int
	deadline := time.Now().Add(20 * time.Second)
	for l = c.leader(); l < 0; l = c.leader() {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(50 * time.Millisecond)
	}

	const writers = 4
	var (
		stop      atomic.Bool
		killedAt  atomic.Int64 // unix ns of the kill
		recovered atomic.Int64 // unix ns of the first write acknowledged after it
		wg        sync.WaitGroup
		mu        sync.Mutex
		written   [writers]int
		errs      []string
	)
	owners := make([]common.Address, writers)
	for w := range owners {
		owners[w] = fundtest.Addr(fmt.Sprintf("kill9 writer %d", w))
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; !stop.Load(); seq++ {
				body := string(fundtest.Body(fundtest.MintLog(owners[w], seq, 1)))
				for attempt := 0; ; attempt++ {
					p := c.procs[(w+attempt)%3]
					status, b, err := p.do("POST", "/v1/admin/logs", c.token, body)
					// NO_LEADER (not proposed) or an unknown outcome: the same log again.
					if err != nil || (status == 503 && (strings.Contains(string(b), "NO_LEADER") || strings.Contains(string(b), `"outcome":"unknown"`))) {
						if attempt > 2000 {
							mu.Lock()
							errs = append(errs, fmt.Sprintf("writer %d gave up on seq %d: %v %s", w, seq, err, b))
							mu.Unlock()
							return
						}
						time.Sleep(10 * time.Millisecond)
						continue
					}
					var res struct{ Accepted, Duplicates int }
					if status != 200 || json.Unmarshal(b, &res) != nil || res.Accepted+res.Duplicates != 1 {
						mu.Lock()
						errs = append(errs, fmt.Sprintf("writer %d seq %d: %d %s", w, seq, status, b))
						mu.Unlock()
						return
					}
					if k := killedAt.Load(); k != 0 {
						recovered.CompareAndSwap(0, time.Now().UnixNano())
					}
					break
				}
				mu.Lock()
				written[w] = seq + 1
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second) // writes flow before the kill
	killedAt.Store(time.Now().UnixNano())
	c.procs[l].kill9()          // writers keep its (dead) address in their rotation: they get connection errors
	time.Sleep(2 * time.Second) // writes flow after the kill
	stop.Store(true)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("client errors: %v", errs)
	}
	took := time.Duration(recovered.Load() - killedAt.Load())
	if recovered.Load() == 0 || took > 5*time.Second {
		t.Fatalf("no write acknowledged within 5s of killing the leader (took %s)", took)
	}
	t.Logf("killed node%d; writes acknowledged again after %s; writes per writer %v", l+1, took.Round(time.Millisecond), written)

	check := func(i int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for w, owner := range owners {
			for {
				got, err := c.shares(i, owner)
				if err == nil && got == strconv.Itoa(written[w]) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("node%d: writer %d has %s shares (%v), %d writes acknowledged", i+1, w, got, err, written[w])
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	for i := range c.procs {
		if i != l {
			check(i)
		}
	}
	c.start(l)
	check(l)
}
