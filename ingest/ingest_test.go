package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"paimon/fund/fundtest"

	"paimon/fund"
	"paimon/internal/chainsim"
	"paimon/internal/testutil"
)

func TestIngestEqualsAReplayOfTheChain(t *testing.T) {
	sim := newSim(t, 20)
	r := newRig(t, sim, nil)
	for i := 0; i < 10; i++ {
		r.mine(10)
	}
	r.waitApplied(30 * time.Second)
	r.checkReplay()
	st := r.ing.Status()
	if !st.Running || st.RunningOn != "node1" || st.Head == 0 || st.ConfirmedHead != st.Head-3 || len(st.RPC) != 1 || !st.RPC[0].Healthy {
		t.Fatalf("status %+v", st)
	}
	if st.LagBlocks != 0 {
		t.Fatalf("caught up but lag %d", st.LagBlocks)
	}
}

func TestIngestRollsBackReorgs(t *testing.T) {
	sim := newSim(t, 10, func(c *chainsim.Config) { c.History = 80 })
	r := newRig(t, sim, nil, func(c *Config) { c.Confirmations, c.ReorgWindow = 0, 16 }) // every mined block is applied: a reorg of any depth orphans applied blocks
	r.mine(40)
	r.waitApplied(30 * time.Second)
	for _, depth := range []int{1, 5, 16} {
		t.Run(fmt.Sprintf("depth %d", depth), func(t *testing.T) {
			before := r.ing.Status().Reorgs
			if _, err := sim.Reorg(context.Background(), depth); err != nil {
				t.Fatal(err)
			}
			r.mine(4)
			r.waitApplied(30 * time.Second)
			r.checkReplay()
			if st := r.ing.Status(); st.Reorgs != before+1 || st.Halted {
				t.Fatalf("status after a reorg of depth %d: %+v", depth, st)
			}
			r.mine(10) // the window refills before the next, deeper one
			r.waitApplied(30 * time.Second)
		})
	}
	t.Run("deeper than the window halts", func(t *testing.T) {
		if _, err := sim.Reorg(context.Background(), 40); err != nil {
			t.Fatal(err)
		}
		r.mine(4)
		testutil.CheckFor(t, 30*time.Second, func() error {
			if st := r.ing.Status(); !st.Halted || st.Alert == "" {
				return fmt.Errorf("not halted: %+v", st)
			}
			return nil
		})
		// The halt is a SYSTEM risk event, in force in the replicated state.
		testutil.CheckFor(t, 10*time.Second, func() error {
			v, err := r.store.Read()
			if err != nil {
				return err
			}
			defer v.Close()
			if ok, err := fund.RiskConditionActive(v, fund.RiskIngestHalted); err != nil || !ok {
				return fmt.Errorf("INGEST_HALTED in force: %v %v", ok, err)
			}
			var n int
			err = v.Scan([]byte{'K'}, []byte{'L'}, false, func(k, val []byte) bool {
				rec, _, err := fund.DecodeRecord(k, val)
				if re, ok := rec.(*fund.RiskEventRecord); err == nil && ok && re.Source == "SYSTEM" && re.Event == fund.RiskIngestHalted && re.Severity == "critical" {
					n++
				}
				return true
			})
			if err != nil || n != 1 {
				return fmt.Errorf("%d INGEST_HALTED events (%v)", n, err)
			}
			return nil
		})
	})
}

// proxy stands in front of the simulated chain and misbehaves as a test asks: errors, timeouts,
// malformed JSON, or a head far above the chain's.
type proxy struct {
	srv  *httptest.Server
	mode atomic.Value
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{}
	p.mode.Store("ok")
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var rpcReq struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		_ = json.Unmarshal(body, &rpcReq)
		switch p.mode.Load().(string) {
		case "error":
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32000,"message":"upstream failure"}}`, rpcReq.ID)
			return
		case "timeout":
			time.Sleep(3 * time.Second)
		case "malformed":
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":[{"address":`, rpcReq.ID)
			return
		case "liar":
			if rpcReq.Method == "eth_blockNumber" {
				fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":"0x%x"}`, rpcReq.ID, 50_000_000)
				return
			}
		}
		resp, err := http.Post(target, "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func TestIngestFailsOverBadEndpoints(t *testing.T) {
	sim := newSim(t, 10)
	for _, mode := range []string{"error", "timeout", "malformed", "liar"} {
		t.Run(mode, func(t *testing.T) {
			bad, spare := newProxy(t, sim.URL()), newProxy(t, sim.URL())
			bad.mode.Store(mode)
			r := newRig(t, sim, []string{bad.srv.URL, spare.srv.URL, sim.URL()}, func(c *Config) { c.RPCTimeout = time.Second })
			r.mine(12)
			r.waitApplied(60 * time.Second)
			r.checkReplay()
			st := r.ing.Status()
			if st.RPC[0].Healthy || st.RPC[0].LastError == "" || !st.RPC[1].Healthy {
				t.Fatalf("endpoint status %+v", st.RPC)
			}
		})
	}
}

func TestIngestSkipsMalformedLogsAndGoesOn(t *testing.T) {
	sim := newSim(t, 0)
	r := newRig(t, sim, nil)
	ctx := context.Background()
	transfer := crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))
	ev, err := fundtest.NewEvent("Transfer", common.Address{}, fundtest.Addr("a"), 5)
	if err != nil {
		t.Fatal(err)
	}
	good, err := chainsim.LogOf(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []chainsim.Log{
		{Address: fundtest.VaultAddress, Topics: []common.Hash{transfer, {}}, Data: make([]byte, 32)},              // a topic missing
		{Address: fundtest.VaultAddress, Topics: []common.Hash{transfer, {}, {}}, Data: make([]byte, 7)},           // short data
		{Address: fundtest.VaultAddress, Topics: []common.Hash{crypto.Keccak256Hash([]byte("Nope()"))}, Data: nil}, // unknown event
		good,
	} {
		if _, err := sim.EmitTx(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	r.mine(5)
	r.waitApplied(30 * time.Second)
	st := r.ing.Status()
	if st.Skipped["bad_topic_count"] != 1 || st.Skipped["short_data"] != 1 || st.Skipped["unknown_topic"] != 1 {
		t.Fatalf("skipped %v", st.Skipped)
	}
	r.checkReplay() // the good log was applied; the others are only counted
}

// TestBackfillReportsProgress starts far behind the head: ingest backfills in large ranges,
// reporting blocks/s, events/s and an ETA while it runs, and the state serves reads meanwhile.
func TestBackfillReportsProgress(t *testing.T) {
	sim := newSim(t, 20)
	r := &testRig{t: t, sim: sim}
	r.mine(300) // history before the node starts
	r = newRig(t, sim, nil, func(c *Config) { c.MaxBlockRange = 10 })
	sawProgress := false
	testutil.CheckFor(t, 60*time.Second, func() error {
		st := r.ing.Status()
		if st.LastApplied > 0 && st.LastApplied < st.ConfirmedHead && st.BlocksPerSec > 0 && st.EventsPerSec > 0 && st.ETASeconds > 0 {
			sawProgress = true
		}
		// Reads are served from the state while it fills.
		v, err := r.store.Read()
		if err != nil {
			return err
		}
		v.Close()
		if st.LastApplied < st.ConfirmedHead || st.ConfirmedHead == 0 {
			return fmt.Errorf("applied %d of %d", st.LastApplied, st.ConfirmedHead)
		}
		return nil
	})
	if !sawProgress {
		t.Fatal("the backfill never reported blocks/s, events/s and an ETA")
	}
	r.checkReplay()
}
