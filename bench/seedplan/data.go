package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"paimon/internal/chainsim"
)

// waitForData waits until the chain's opening (tiers, assets, prices, deposits, a redemption)
// has been ingested, then finds the values the read paths draw from: the holders whose
// accounts exist, the chain's priced assets, a redemption, an approval ticket if any.
func waitForData(ctx context.Context, c *cluster, o *options, session string) (*readParams, error) {
	p := &readParams{date: time.Now().UTC().Format("2006-01-02"), viewer: c.viewer, session: session, admin: c.admin}
	m := c.members[0]
	deadline := time.Now().Add(o.warmupWait)
	for {
		b, err := m.api.Get(ctx, "/v1/redemptions?limit=1", true)
		if err != nil {
			return nil, err
		}
		var r struct {
			Items []struct {
				RequestID string `json:"requestId"`
			}
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("redemptions: %w", err)
		}
		if len(r.Items) > 0 {
			p.id = r.Items[0].RequestID
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no redemption reached the nodes within %s (the chain's first ones come with its first blocks, %d confirmations later)", o.warmupWait, o.confirmations)
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
	b, err := m.api.Get(ctx, "/v1/prices", false)
	if err != nil {
		return nil, err
	}
	var pr struct{ Items []struct{ Asset string } }
	if err := json.Unmarshal(b, &pr); err != nil {
		return nil, fmt.Errorf("prices: %w", err)
	}
	for _, it := range pr.Items {
		p.assets = append(p.assets, it.Asset)
	}
	if len(p.assets) == 0 {
		return nil, fmt.Errorf("no asset has a price yet: %s", b)
	}
	if b, err = m.api.Get(ctx, "/v1/approvals?limit=1", true); err == nil {
		var ar struct{ Items []struct{ ID string } }
		if json.Unmarshal(b, &ar) == nil && len(ar.Items) > 0 {
			p.ticket = ar.Items[0].ID
		}
	}
	// Holders are created in order (chainsim.HolderAddr 0, 1, ...): the accounts that exist
	// are a prefix, found by bisection.
	exists := func(n int) (bool, error) {
		code, b, err := m.api.Do(ctx, "GET", "/v1/accounts/"+holderHex(o.seed, n), nil, true)
		if err != nil || (code != 200 && code != 404) {
			return false, fmt.Errorf("account of holder %d: %d %s %v", n, code, b, err)
		}
		return code == 200, nil
	}
	var searchErr error
	n := sort.Search(max(o.wsConns, 500), func(i int) bool {
		ok, err := exists(i)
		if err != nil && searchErr == nil {
			searchErr = err
		}
		return !ok
	})
	if searchErr != nil {
		return nil, searchErr
	}
	if n == 0 {
		return nil, fmt.Errorf("no holder account exists yet")
	}
	for i := range n {
		p.holders = append(p.holders, holderHex(o.seed, i))
	}
	fmt.Printf("data: %d holders, %d priced assets, redemption %s, approval ticket %q\n", n, len(p.assets), p.id, p.ticket)
	return p, nil
}

func holderHex(seed int64, n int) string { return strings.ToLower(chainsim.HolderAddr(seed, n).Hex()) }
