package benchkit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"paimon/fund/fundtest"
)

// LoadStats summarizes a LoadData.
type LoadStats struct {
	Logs, Bodies, Accepted, Duplicates, Skipped int
	Generate, Post                              time.Duration
}

// LoadData generates the data set of spec and posts it to the node's POST /v1/admin/logs in
// bodies of at most maxBody bytes (the node's http.max_body_bytes), one request at a time
// (each is one Raft entry). It prints what it generated and its progress every second.
func LoadData(ctx context.Context, n *Node, spec fundtest.Spec, maxBody int) (*fundtest.Data, LoadStats, error) {
	var ls LoadStats
	t0 := time.Now()
	data := fundtest.Generate(spec)
	logs := data.Logs()
	bodies, err := fundtest.RequestBodies(logs, maxBody)
	if err != nil {
		return nil, ls, err
	}
	ls.Generate, ls.Logs, ls.Bodies = time.Since(t0), len(logs), len(bodies)
	fmt.Printf("generated %s logs (%s holders, %s NAV points, %s redemptions: %d settled, %d open) in %s; %d POST bodies of ≤ %s\n",
		Thousands(len(logs)), Thousands(data.Stats.Holders), Thousands(data.Stats.NavPoints), Thousands(data.Stats.Redemptions),
		data.Stats.Settled, data.Stats.Open, ls.Generate.Round(time.Millisecond), len(bodies), ByteSize(maxBody))

	t1 := time.Now()
	lastPrint := t1
	posted := 0
	for i, body := range bodies {
		code, b, err := n.Do(ctx, http.MethodPost, "/v1/admin/logs", body, true)
		if err != nil {
			return nil, ls, fmt.Errorf("POST /v1/admin/logs (body %d): %w", i+1, err)
		}
		if code != http.StatusOK {
			return nil, ls, fmt.Errorf("POST /v1/admin/logs (body %d, %s): %d %s", i+1, ByteSize(len(body)), code, Snippet(b))
		}
		var r struct{ Accepted, Duplicates, Skipped int }
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, ls, fmt.Errorf("POST /v1/admin/logs (body %d): %w: %s", i+1, err, Snippet(b))
		}
		ls.Accepted += r.Accepted
		ls.Duplicates += r.Duplicates
		ls.Skipped += r.Skipped
		posted += r.Accepted + r.Duplicates + r.Skipped
		if now := time.Now(); now.Sub(lastPrint) >= time.Second || i == len(bodies)-1 {
			el := now.Sub(t1)
			fmt.Printf("  loaded %d/%d bodies, %s/%s logs, %s, %s logs/s\n", i+1, len(bodies), Thousands(posted), Thousands(len(logs)),
				el.Round(10*time.Millisecond), Thousands(int(float64(posted)/el.Seconds())))
			lastPrint = now
		}
	}
	ls.Post = time.Since(t1)
	if ls.Skipped > 0 || ls.Accepted != len(logs) {
		return nil, ls, fmt.Errorf("the node accepted %d of %d logs (%d duplicates, %d skipped)", ls.Accepted, len(logs), ls.Duplicates, ls.Skipped)
	}
	return data, ls, nil
}

// CheckLoaded reads the data set back through the API (the overview's holderCount and
// sharePrice) and compares it with what was generated.
func CheckLoaded(ctx context.Context, n *Node, data *fundtest.Data) error {
	b, err := n.Get(ctx, "/v1/fund/overview", false)
	if err != nil {
		return err
	}
	var ov struct {
		HolderCount int    `json:"holderCount"`
		SharePrice  string `json:"sharePrice"`
	}
	if err := json.Unmarshal(b, &ov); err != nil {
		return fmt.Errorf("overview: %w", err)
	}
	if ov.HolderCount != data.Stats.Holders || ov.SharePrice != data.Stats.FinalNav {
		return fmt.Errorf("overview has holderCount %d and sharePrice %s; the data set has %d and %s",
			ov.HolderCount, ov.SharePrice, data.Stats.Holders, data.Stats.FinalNav)
	}
	return nil
}
