package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"paimon/fund/fundtest"
)

// node is the running node as the runner talks to it.
type node struct {
	base  string // http://host:port
	token string // the local admin token
	http  *http.Client
}

func (n *node) do(ctx context.Context, method, path string, body []byte, auth bool) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, n.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+n.token)
	}
	resp, err := n.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// get fetches path and fails unless it answers 200.
func (n *node) get(ctx context.Context, path string, auth bool) ([]byte, error) {
	code, b, err := n.do(ctx, http.MethodGet, path, nil, auth)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", path, code, snippet(b))
	}
	return b, nil
}

// loadStats summarizes the load.
type loadStats struct {
	Logs, Bodies, Accepted, Duplicates, Skipped int
	Generate, Post                              time.Duration
}

// loadData generates the data set and posts it to /v1/admin/logs in bodies of at most
// maxBody bytes, one request at a time (each is one Raft entry), printing progress.
func loadData(ctx context.Context, n *node, spec fundtest.Spec, maxBody int) (*fundtest.Data, loadStats, error) {
	var ls loadStats
	t0 := time.Now()
	data := fundtest.Generate(spec)
	logs := data.Logs()
	bodies, err := fundtest.RequestBodies(logs, maxBody)
	if err != nil {
		return nil, ls, err
	}
	ls.Generate, ls.Logs, ls.Bodies = time.Since(t0), len(logs), len(bodies)
	fmt.Printf("generated %s logs (%s holders, %s NAV points, %s redemptions: %d settled, %d open) in %s; %d POST bodies of ≤ %s\n",
		thousands(len(logs)), thousands(data.Stats.Holders), thousands(data.Stats.NavPoints), thousands(data.Stats.Redemptions),
		data.Stats.Settled, data.Stats.Open, ls.Generate.Round(time.Millisecond), len(bodies), bytesize(maxBody))

	t1 := time.Now()
	lastPrint := t1
	posted := 0
	for i, body := range bodies {
		code, b, err := n.do(ctx, http.MethodPost, "/v1/admin/logs", body, true)
		if err != nil {
			return nil, ls, fmt.Errorf("POST /v1/admin/logs (body %d): %w", i+1, err)
		}
		if code != http.StatusOK {
			return nil, ls, fmt.Errorf("POST /v1/admin/logs (body %d, %s): %d %s", i+1, bytesize(len(body)), code, snippet(b))
		}
		var r struct{ Accepted, Duplicates, Skipped int }
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, ls, fmt.Errorf("POST /v1/admin/logs (body %d): %w: %s", i+1, err, snippet(b))
		}
		ls.Accepted += r.Accepted
		ls.Duplicates += r.Duplicates
		ls.Skipped += r.Skipped
		posted += r.Accepted + r.Duplicates + r.Skipped
		if now := time.Now(); now.Sub(lastPrint) >= time.Second || i == len(bodies)-1 {
			el := now.Sub(t1)
			fmt.Printf("  loaded %d/%d bodies, %s/%s logs, %s, %s logs/s\n", i+1, len(bodies), thousands(posted), thousands(len(logs)),
				el.Round(10*time.Millisecond), thousands(int(float64(posted)/el.Seconds())))
			lastPrint = now
		}
	}
	ls.Post = time.Since(t1)
	if ls.Skipped > 0 || ls.Accepted != len(logs) {
		return nil, ls, fmt.Errorf("the node accepted %d of %d logs (%d duplicates, %d skipped)", ls.Accepted, len(logs), ls.Duplicates, ls.Skipped)
	}
	return data, ls, nil
}

// checkLoaded reads the data set back through the API and compares it with what was generated.
func checkLoaded(ctx context.Context, n *node, data *fundtest.Data) error {
	b, err := n.get(ctx, "/v1/fund/overview", false)
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

func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

func bytesize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// thousands formats n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	neg := ""
	if n < 0 {
		neg, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return neg + s
}
