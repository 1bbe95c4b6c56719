package ingest

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/internal/chainsim"
	"paimon/internal/testutil"
)

// haltEvents returns whether INGEST_HALTED is in force and how many events it raised.
func (r *testRig) haltEvents() (bool, int, error) {
	v, err := r.store.Read()
	if err != nil {
		return false, 0, err
	}
	defer v.Close()
	active, err := fund.RiskConditionActive(v, fund.RiskIngestHalted)
	if err != nil {
		return false, 0, err
	}
	n := 0
	err = v.Scan([]byte{fund.PrefixRisk}, []byte{fund.PrefixRisk + 1}, false, func(k, val []byte) bool {
		rec, _, err := fund.DecodeRecord(k, val)
		if re, ok := rec.(*fund.RiskEventRecord); err == nil && ok && re.Event == fund.RiskIngestHalted {
			n++
		}
		return true
	})
	return active, n, err
}

// TestHaltRaisesOneRiskEvent: endpoints serving another chain halt ingest; the halt is one
// SYSTEM risk event however often the leader retries, and an ingester that can ingest again
// (the configuration fixed) clears the condition after its first range.
func TestHaltRaisesOneRiskEvent(t *testing.T) {
	sim := newSim(t, 10)
	// Count the chain id checks: each is one attempt to lead ingest.
	var checks atomic.Int64
	target, _ := url.Parse(sim.URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if bytes.Contains(body, []byte("eth_chainId")) {
			checks.Add(1)
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r := newRig(t, sim, []string{srv.URL}, func(c *Config) { c.ChainID = 1 })
	testutil.CheckFor(t, 10*time.Second, func() error {
		if active, n, err := r.haltEvents(); err != nil || !active || n != 1 {
			return fmt.Errorf("in force %v, %d events (%v)", active, n, err)
		}
		return nil
	})
	applied := r.store.AppliedIndex()
	seen := checks.Load()
	testutil.CheckFor(t, 10*time.Second, func() error { // the retries after 1 s and 2 s halt again
		if n := checks.Load(); n < seen+2 {
			return fmt.Errorf("%d chain id checks since the halt", n-seen)
		}
		return nil
	})
	if st := r.ing.Status(); !st.Halted || st.Alert == "" {
		t.Fatalf("status %+v", st)
	}
	if _, n, _ := r.haltEvents(); n != 1 || r.store.AppliedIndex() != applied {
		t.Fatalf("retried halts: %d events, applied %d → %d (proposed again)", n, applied, r.store.AppliedIndex())
	}

	// The configuration fixed: a new ingester over the same store clears it.
	r.ing.Close()
	cfg := r.cfg
	cfg.ChainID = chainsim.ChainID
	fixed, err := New(cfg, r.store, Deps{Registry: fundtest.Registry(), Logger: testutil.Logger(t, "", slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	fixed.Start()
	t.Cleanup(func() { fixed.Close() })
	r.mine(5)
	testutil.CheckFor(t, 20*time.Second, func() error {
		if active, n, err := r.haltEvents(); err != nil || active || n != 1 {
			return fmt.Errorf("in force %v, %d events (%v)", active, n, err)
		}
		return nil
	})
}
