package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"paimon/internal/chainsim"
	"paimon/internal/pgtest"
	"paimon/internal/testutil"
)

// env is what the campaign's nodes depend on beside each other: a throwaway PostgreSQL they
// sync to, a simulated chain they ingest from through a proxy the nemesis cuts, and a small
// tmpfs data folder for one node, which the nemesis fills up.
type env struct {
	t     *testing.T
	pg    *pgtest.Cluster
	dsn   string
	sim   *chainsim.Sim
	chain *Proxy // between every node and the chain's JSON-RPC endpoint

	diskNode int    // the node whose data folder is a tmpfs of diskSize; -1: none (no mount)
	diskDir  string // its mount point
}

// diskSize is the small node's tmpfs: room for a 5 min campaign's Raft log and state, the
// space the node preallocates (a raft-wal segment, Pebble WALs) and its free-space reserve
// (raft.disk_reserve_mib, 160 MiB), which it must stay above outside the disk-full fault.
const diskSize = "1g"

// chainConfirmations is the depth at which the nodes apply the simulated chain's blocks.
const chainConfirmations = 2

func newEnv(t *testing.T) *env {
	e := &env{t: t, diskNode: 2}
	e.pg = pgtest.Start(t)
	e.dsn = e.pg.NewDatabase(t)
	scfg := chainsim.DefaultConfig()
	scfg.BlockInterval, scfg.Rate, scfg.Seed = 250*time.Millisecond, 8, 14
	scfg.Logger = testutil.Logger(t, "chainsim", slog.LevelWarn)
	sim, err := chainsim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	e.sim = sim
	return e
}

// attach creates the chain's proxy (it names the nodes of c) and mounts the small node's
// data folder under dir; without the right to mount, the disk fault is left out and said so.
func (e *env) attach(c *cluster, dir string) {
	u, err := url.Parse(e.sim.URL())
	if err != nil {
		e.t.Fatal(err)
	}
	if e.chain, err = NewProxy("127.0.0.1:0", u.Host, c.identify); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { e.chain.Close() })
	e.diskDir = filepath.Join(dir, c.nodes[e.diskNode].name)
	if err := os.MkdirAll(e.diskDir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+diskSize, "tmpfs", e.diskDir).CombinedOutput(); err != nil {
		e.t.Logf("cannot mount a tmpfs data folder (%v: %s): the disk-full fault is left out", err, strings.TrimSpace(string(out)))
		e.diskNode = -1
		return
	}
	e.t.Cleanup(func() {
		// After the nodes are killed (cleanups run last-in first-out: the cluster's is later).
		_ = exec.Command("umount", "-l", e.diskDir).Run()
	})
	e.t.Logf("%s's data folder is a %s tmpfs: %s", c.nodes[e.diskNode].name, diskSize, e.diskDir)
}

// config is the nodes' configuration of PostgreSQL and the chain.
func (e *env) config() string {
	return fmt.Sprintf(`
[postgres]
dsn = %q
interval = "100ms"
mark_interval = "500ms"
connect_timeout = "1s"
max_backoff = "1s"

[ingest]
chain_id = %d
rpc_urls = ["http://%s"]
confirmations = %d
start_block = 0
poll_interval = "100ms"
rpc_timeout = "2s"
`, e.dsn, chainsim.ChainID, e.chain.Addr(), chainConfirmations)
}

// fillDisk fills the small node's tmpfs to the last byte with a file, which unfill removes.
func (e *env) fillDisk() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(e.diskDir, &st); err != nil {
		return 0, err
	}
	f, err := os.Create(filepath.Join(e.diskDir, "filler"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	free := int64(st.Bavail) * st.Bsize
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, free); err != nil {
		free = 0 // tmpfs may refuse the whole size at once: write it instead
	}
	// Whatever was freed meanwhile: write until ENOSPC.
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return free, err
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
		free += int64(len(buf))
	}
	return free, nil
}

// diskUsage lists the small node's files that take over 1 MiB of the disk (preallocated
// space included, which a file's size does not show), with the space they take.
func (e *env) diskUsage() string {
	var out []string
	_ = filepath.Walk(e.diskDir, func(p string, fi os.FileInfo, err error) error {
		st, ok := fi.Sys().(*syscall.Stat_t)
		if err == nil && !fi.IsDir() && ok && st.Blocks*512 > 1<<20 {
			rel, _ := filepath.Rel(e.diskDir, p)
			out = append(out, fmt.Sprintf("%s %d MiB", rel, st.Blocks*512>>20))
		}
		return nil
	})
	return strings.Join(out, ", ")
}

// freeBytes is what the small node's tmpfs has left.
func (e *env) freeBytes() int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(e.diskDir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * st.Bsize
}

func (e *env) unfillDisk() error { return os.Remove(filepath.Join(e.diskDir, "filler")) }

// verifyPG checks PostgreSQL after the campaign: `paimon pg verify` against node i finds no
// difference, and price_history holds exactly the price points the nodes hold (so every
// acknowledged write). It waits for the sync to drain first.
func (e *env) verifyPG(c *cluster, i int, w *workload, committed map[int64]bool) {
	t := e.t
	testutil.CheckFor(t, 2*time.Minute, func() error {
		status, b, _, err := c.do(i, "GET", "/v1/cluster/status", "")
		if err != nil || status != 200 {
			return fmt.Errorf("status %d %v", status, err)
		}
		var st struct {
			CommitIndex uint64
			PGSync      struct {
				SyncedIndex, LagIndex uint64
				LastError             string
			}
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return err
		}
		if st.PGSync.LagIndex > 0 || st.PGSync.SyncedIndex == 0 {
			return fmt.Errorf("PostgreSQL synced to %d, lag %d: %s", st.PGSync.SyncedIndex, st.PGSync.LagIndex, st.PGSync.LastError)
		}
		return nil
	})
	out, err := exec.Command(paimonBin, "pg", "verify", "-config", c.nodes[i].config, "-token", c.token).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no difference") {
		t.Errorf("paimon pg verify on node%d: %v\n%s", i+1, err, out)
	} else {
		t.Logf("paimon pg verify on node%d: no difference", i+1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT extract(epoch FROM time)::bigint FROM price_history WHERE asset = ANY($1)`, w.keys)
	if err != nil {
		t.Fatal(err)
	}
	inPG := map[int64]bool{}
	for rows.Next() {
		var sec int64
		if err := rows.Scan(&sec); err != nil {
			t.Fatal(err)
		}
		inPG[sec-w.base.Unix()] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	missing, extra := 0, 0
	for seq := range committed {
		if !inPG[seq] {
			missing++
		}
	}
	for seq := range inPG {
		if !committed[seq] {
			extra++
		}
	}
	if missing > 0 || extra > 0 {
		t.Errorf("PostgreSQL price_history: %d points the nodes hold are missing, %d it holds the nodes do not (of %d)", missing, extra, len(committed))
	} else {
		t.Logf("PostgreSQL price_history holds the %d price points of the nodes, every acknowledged write among them", len(committed))
	}
}

// verifyChain checks that every node ingested the chain up to its confirmed head after the
// faults: the same last block everywhere, at most a few blocks behind the head.
func (e *env) verifyChain(c *cluster) {
	head, _ := e.sim.Head()
	want := head - chainConfirmations
	for i := range c.nodes {
		testutil.CheckFor(e.t, time.Minute, func() error {
			status, b, _, err := c.do(i, "GET", "/v1/fund/overview?consistency=local", "")
			if err != nil || status != 200 {
				return fmt.Errorf("node%d overview: %d %v", i+1, status, err)
			}
			var o struct{ LastBlock uint64 }
			if err := json.Unmarshal(b, &o); err != nil {
				return err
			}
			if o.LastBlock < want {
				return fmt.Errorf("node%d ingested up to block %d, the chain's confirmed head was %d", i+1, o.LastBlock, want)
			}
			return nil
		})
	}
	st := e.sim.Stats()
	e.t.Logf("chain: head %d, %d events generated; every node ingested past block %d", head, st.Events, want)
}
