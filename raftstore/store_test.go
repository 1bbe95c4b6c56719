package raftstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"paimon/internal/testutil"
	"paimon/kv"
)

// counterSM is a small state machine for store tests: each command "set key value" writes
// key=value and bumps a counter of applied commands kept in the state, so double applies show.
type counterSM struct {
	mu        sync.Mutex
	loaded    int
	committed int
	count     uint64 // in-memory mirror of "c/count", rebuilt by Load
}

const cmdSet byte = 1

func encodeSet(k, v string) []byte {
	return append(append([]byte{cmdSet}, byte(len(k))), k+v...)
}

func (c *counterSM) Load(r kv.Reader) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loaded++
	c.count = 0
	v, err := r.Get([]byte("c/count"))
	if errors.Is(err, kv.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	c.count = binary.BigEndian.Uint64(v)
	return nil
}

func (c *counterSM) Apply(rw kv.ReadWriter, index uint64, cmd []byte) (any, error) {
	if cmd[0] != cmdSet || len(cmd) < 2 || int(cmd[1]) > len(cmd)-2 {
		return nil, fmt.Errorf("bad command % x", cmd)
	}
	k, v := cmd[2:2+cmd[1]], cmd[2+cmd[1]:]
	if string(v) == "refuse" {
		return errors.New("refused"), nil
	}
	if err := rw.Set(append([]byte("k/"), k...), v); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.count++
	n := c.count
	c.mu.Unlock()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return n, rw.Set([]byte("c/count"), b[:])
}

func (c *counterSM) EndBatch(kv.ReadWriter, uint64) error { return nil }
func (c *counterSM) Committed() {
	c.mu.Lock()
	c.committed++
	c.mu.Unlock()
}

func testConfig(t testing.TB, dir string) Config {
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.BindAddr = freeAddr(t)
	cfg.HeartbeatTimeout = 200 * time.Millisecond
	cfg.ElectionTimeout = 200 * time.Millisecond
	cfg.LeaderLeaseTimeout = 100 * time.Millisecond
	cfg.SnapshotInterval = time.Hour
	cfg.SnapshotThreshold = 1 << 30
	return cfg
}

// testDeps logs to the test at warning level.
func testDeps(t testing.TB) Deps { return Deps{Logger: testLogger(t)} }

func openStore(t testing.TB, cfg Config, sm StateMachine) *Store {
	t.Helper()
	return openStoreDeps(t, cfg, sm, testDeps(t))
}

func openStoreDeps(t testing.TB, cfg Config, sm StateMachine, deps Deps) *Store {
	t.Helper()
	s, err := New(cfg, sm, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitForLeader(ctx); err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s
}

func propose(t testing.TB, s *Store, k, v string) Result {
	t.Helper()
	res, err := s.Propose(context.Background(), encodeSet(k, v))
	if err != nil {
		t.Fatalf("propose %s: %v", k, err)
	}
	return res
}

func readKey(t testing.TB, s *Store, k string) (string, uint64) {
	t.Helper()
	v, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	b, err := v.Get([]byte("k/" + k))
	if errors.Is(err, kv.ErrNotFound) {
		return "", v.Index
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), v.Index
}

func countKeys(t testing.TB, s *Store) int {
	t.Helper()
	v, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	n := 0
	if err := v.Scan([]byte("k/"), kv.PrefixEnd([]byte("k/")), false, func(_, _ []byte) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestProposeReadRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	sm := &counterSM{}
	s := openStore(t, cfg, sm)
	var last Result
	for i := 0; i < 50; i++ {
		last = propose(t, s, fmt.Sprintf("a%03d", i), fmt.Sprint(i))
	}
	if last.Value.(uint64) != 50 {
		t.Fatalf("result %v, want 50", last.Value)
	}
	if v, idx := readKey(t, s, "a049"); v != "49" || idx < last.Index {
		t.Fatalf("read a049 = %q at %d, want 49 at >= %d", v, idx, last.Index)
	}
	refused := propose(t, s, "x", "refuse")
	if err, _ := refused.Value.(error); err == nil || err.Error() != "refused" {
		t.Fatalf("refused command result %v", refused.Value)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Propose(context.Background(), encodeSet("z", "z")); !errors.Is(err, ErrClosed) {
		t.Fatalf("propose after close: %v", err)
	}

	// Reopen on the same folder: the state is there and no entry is applied twice, although
	// Raft replays the whole log (there is no snapshot).
	sm2 := &counterSM{}
	s2 := openStore(t, cfg, sm2)
	defer s2.Close()
	if got := countKeys(t, s2); got != 50 {
		t.Fatalf("%d keys after restart, want 50", got)
	}
	res := propose(t, s2, "b", "1")
	if res.Value.(uint64) != 51 {
		t.Fatalf("count after restart %v, want 51 (an entry was applied twice or lost)", res.Value)
	}
}

func TestSnapshotRestoreAfterLostState(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.TrailingLogs = 5
	s := openStore(t, cfg, &counterSM{})
	for i := 0; i < 40; i++ {
		propose(t, s, fmt.Sprintf("k%02d", i), "v")
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	// One more acknowledged just after the snapshot.
	propose(t, s, "after", "snap")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Lose the state store entirely: the node must rebuild it from the snapshot plus the log,
	// even though the log was compacted below the snapshot.
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	sm := &counterSM{}
	s2 := openStore(t, cfg, sm)
	defer s2.Close()
	checkFor(t, 5*time.Second, func() error {
		if got := countKeys(t, s2); got != 41 {
			return fmt.Errorf("%d keys, want 41", got)
		}
		return nil
	})
	if v, _ := readKey(t, s2, "after"); v != "snap" {
		t.Fatalf("write acknowledged after the snapshot is %q", v)
	}
	if res := propose(t, s2, "next", "1"); res.Value.(uint64) != 42 {
		t.Fatalf("count %v, want 42", res.Value)
	}
}

func TestRestoreRejectsDamagedSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(t, dir), &counterSM{})
	defer s.Close()
	for i := 0; i < 10; i++ {
		propose(t, s, fmt.Sprint(i), "v")
	}
	var good strings.Builder
	v, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	snap := v.Reader.(snapReader).s
	if err := writeSnapshot(&good, snap); err != nil {
		t.Fatal(err)
	}
	v.Close()
	full := good.String()
	cases := map[string]string{
		"truncated":      full[:len(full)/2],
		"flipped byte":   full[:20] + string(full[20]^0xff) + full[21:],
		"trailing bytes": full + "x",
		"not a snapshot": "hello world",
		"empty":          "",
		"newer version":  snapshotMagic + string(rune(snapshotVersion+1)) + full[len(snapshotMagic)+1:],
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			err := s.fsm.Restore(nopCloser{strings.NewReader(data)})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("restore of %s snapshot: %v, want ErrCorrupt", name, err)
			}
			if name == "newer version" && (!errors.Is(err, ErrFutureFormat) || !strings.Contains(err.Error(), fmt.Sprintf("snapshot format version %d", snapshotVersion+1))) {
				t.Fatalf("restore of a newer snapshot: %v, want ErrFutureFormat naming the version", err)
			}
			if got := countKeys(t, s); got != 10 {
				t.Fatalf("state changed by a refused restore: %d keys", got)
			}
		})
	}
	t.Run("good", func(t *testing.T) {
		propose(t, s, "extra", "v")
		if err := s.fsm.Restore(nopCloser{strings.NewReader(full)}); err != nil {
			t.Fatal(err)
		}
		if got := countKeys(t, s); got != 10 {
			t.Fatalf("%d keys after restore, want 10", got)
		}
	})
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

func TestConcurrentProposals(t *testing.T) {
	s := openStore(t, testConfig(t, t.TempDir()), &counterSM{})
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := s.Propose(context.Background(), encodeSet(fmt.Sprintf("w%d-%d", w, i), "v")); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := countKeys(t, s); got != 800 {
		t.Fatalf("%d keys, want 800", got)
	}
}

func TestFatalApplyStopsNode(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	var fatal error
	var mu sync.Mutex
	deps := testDeps(t)
	deps.OnFatal = func(err error) { mu.Lock(); fatal = err; mu.Unlock() }
	s := openStoreDeps(t, cfg, &counterSM{}, deps)
	defer s.Close()
	propose(t, s, "ok", "1")
	if _, err := s.Propose(context.Background(), []byte{0x7f, 0, 0}); !errors.Is(err, ErrFatal) {
		t.Fatalf("undecodable entry: %v, want ErrFatal", err)
	}
	mu.Lock()
	got := fatal
	mu.Unlock()
	if got == nil {
		t.Fatal("OnFatal was not called")
	}
	if _, err := s.Propose(context.Background(), encodeSet("after", "1")); !errors.Is(err, ErrFatal) {
		t.Fatalf("propose after fatal: %v, want ErrFatal", err)
	}
}

var (
	checkFor = testutil.CheckFor
	freeAddr = testutil.FreeAddr
)

func testLogger(t testing.TB) *slog.Logger { return testutil.Logger(t, "", slog.LevelWarn) }
