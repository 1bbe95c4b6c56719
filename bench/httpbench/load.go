package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/crypto"

	"paimon/bench/internal/benchkit"
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

// walletLogin signs in a new wallet (nonce, personal_sign of the message, login) and returns
// its session token.
func (n *node) walletLogin(ctx context.Context) (string, error) {
	key, err := crypto.GenerateKey()
	if err != nil {
		return "", err
	}
	addr := strings.ToLower(crypto.PubkeyToAddress(key.PublicKey).Hex())
	code, b, err := n.do(ctx, http.MethodPost, "/v1/auth/nonce", []byte(`{"address":"`+addr+`"}`), false)
	if err != nil || code != http.StatusOK {
		return "", fmt.Errorf("POST /v1/auth/nonce: %d %s %v", code, benchkit.Snippet(b), err)
	}
	var nr struct{ Nonce, Message string }
	if err := json.Unmarshal(b, &nr); err != nil {
		return "", err
	}
	sig, err := crypto.Sign(accounts.TextHash([]byte(nr.Message)), key)
	if err != nil {
		return "", err
	}
	sig[64] += 27
	body, _ := json.Marshal(map[string]string{"address": addr, "nonce": nr.Nonce, "signature": "0x" + hex.EncodeToString(sig)})
	code, b, err = n.do(ctx, http.MethodPost, "/v1/auth/login", body, false)
	if err != nil || code != http.StatusOK {
		return "", fmt.Errorf("POST /v1/auth/login: %d %s %v", code, benchkit.Snippet(b), err)
	}
	var lr struct{ Token string }
	if err := json.Unmarshal(b, &lr); err != nil || lr.Token == "" {
		return "", fmt.Errorf("POST /v1/auth/login: no token in %s", benchkit.Snippet(b))
	}
	return lr.Token, nil
}

// get fetches path and fails unless it answers 200.
func (n *node) get(ctx context.Context, path string, auth bool) ([]byte, error) {
	code, b, err := n.do(ctx, http.MethodGet, path, nil, auth)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", path, code, benchkit.Snippet(b))
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
		benchkit.Thousands(len(logs)), benchkit.Thousands(data.Stats.Holders), benchkit.Thousands(data.Stats.NavPoints), benchkit.Thousands(data.Stats.Redemptions),
		data.Stats.Settled, data.Stats.Open, ls.Generate.Round(time.Millisecond), len(bodies), benchkit.ByteSize(maxBody))

	t1 := time.Now()
	lastPrint := t1
	posted := 0
	for i, body := range bodies {
		code, b, err := n.do(ctx, http.MethodPost, "/v1/admin/logs", body, true)
		if err != nil {
			return nil, ls, fmt.Errorf("POST /v1/admin/logs (body %d): %w", i+1, err)
		}
		if code != http.StatusOK {
			return nil, ls, fmt.Errorf("POST /v1/admin/logs (body %d, %s): %d %s", i+1, benchkit.ByteSize(len(body)), code, benchkit.Snippet(b))
		}
		var r struct{ Accepted, Duplicates, Skipped int }
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, ls, fmt.Errorf("POST /v1/admin/logs (body %d): %w: %s", i+1, err, benchkit.Snippet(b))
		}
		ls.Accepted += r.Accepted
		ls.Duplicates += r.Duplicates
		ls.Skipped += r.Skipped
		posted += r.Accepted + r.Duplicates + r.Skipped
		if now := time.Now(); now.Sub(lastPrint) >= time.Second || i == len(bodies)-1 {
			el := now.Sub(t1)
			fmt.Printf("  loaded %d/%d bodies, %s/%s logs, %s, %s logs/s\n", i+1, len(bodies), benchkit.Thousands(posted), benchkit.Thousands(len(logs)),
				el.Round(10*time.Millisecond), benchkit.Thousands(int(float64(posted)/el.Seconds())))
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
