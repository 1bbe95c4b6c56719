package server

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestDiskFullRefusesWrites: while the data folder is below its free-space reserve, a write is
// answered 503 UNAVAILABLE with details.reason "disk_full" (refused before the log), health
// shows pebble degraded and /metrics paimon_disk_low 1; once space returns, writes go through
// and health is ok again.
func TestDiskFullRefusesWrites(t *testing.T) {
	var free atomic.Uint64
	free.Store(100 << 30)
	n := newTestNode(t, func(su *setup) {
		su.freeSpace = func(string) (uint64, uint64, error) { return free.Load(), 200 << 30, nil }
	})
	price := func(i int) []byte {
		return fmt.Appendf(nil, `{"prices":[{"asset":"0x55d398326f99059ff775485246999027b3197955","price":"%d","time":"2026-01-01T00:00:%02dZ"}]}`, i, i)
	}
	if r := n.do("POST", "/v1/admin/prices", operatorToken, price(1)); r.status != 200 {
		t.Fatalf("write with space: %d %s", r.status, r.body)
	}
	pebble := func() string {
		h := n.mustGet("/v1/system/health", "")
		c := h["components"].(map[string]any)["pebble"].(map[string]any)
		return fmt.Sprint(c["status"], " ", c["reason"])
	}

	free.Store(10 << 20)
	checkFor(t, 5*time.Second, func() error {
		r := n.do("POST", "/v1/admin/prices", operatorToken, price(2))
		if r.status != 503 || r.errorCode() != "UNAVAILABLE" || !strings.Contains(string(r.body), `"reason":"disk_full"`) {
			return fmt.Errorf("write with the disk full: %d %s", r.status, r.body)
		}
		return nil
	})
	if got := pebble(); !strings.HasPrefix(got, "degraded the data folder is below its free-space reserve") {
		t.Errorf("pebble health with the disk full: %s", got)
	}
	if m := string(n.get("/metrics", "").body); !strings.Contains(m, "\npaimon_disk_low 1\n") || !strings.Contains(m, "\npaimon_disk_free_bytes 10485760\n") {
		t.Errorf("metrics with the disk full lack paimon_disk_low 1 and the free bytes:\n%s", m)
	}

	free.Store(100 << 30)
	checkFor(t, 5*time.Second, func() error {
		if r := n.do("POST", "/v1/admin/prices", operatorToken, price(3)); r.status != 200 {
			return fmt.Errorf("write with space again: %d %s", r.status, r.body)
		}
		return nil
	})
	if got := pebble(); got != "ok <nil>" {
		t.Errorf("pebble health with space again: %s", got)
	}
}
