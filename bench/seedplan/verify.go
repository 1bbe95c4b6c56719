package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// verifyResult says whether every acknowledged write is on every node and in PostgreSQL.
type verifyResult struct {
	Acknowledged int      `json:"acknowledged"`
	Index        uint64   `json:"index"` // the highest acknowledged Raft index
	Checked      []string `json:"checked"`
	Lost         int      `json:"lost"` // acknowledged writes missing somewhere (counted per place)
	Problems     []string `json:"problems,omitempty"`
	PGVerify     string   `json:"pgVerify"` // the leader's GET /v1/admin/pg/verify: "equal" or what differs
}

func (v *verifyResult) problem(format string, args ...any) {
	if len(v.Problems) < 30 {
		v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
	}
}

// verify waits until every node has applied the highest acknowledged index and PostgreSQL has
// synced it, then reads every writer asset's price history from each node's own replica
// (consistency=local) and from PostgreSQL's price_history, and counts each acknowledged
// (asset, time, price) missing from any of them; then asks the leader to compare its whole
// state with PostgreSQL (GET /v1/admin/pg/verify).
func verify(ctx context.Context, c *cluster, w *writer) *verifyResult {
	v := &verifyResult{Acknowledged: w.acked(), Index: w.maxIndex.Load()}
	for _, m := range c.members {
		v.Checked = append(v.Checked, m.id)
		if err := waitApplied(ctx, m, v.Index, time.Minute); err != nil {
			v.problem("%v", err)
			v.Lost += v.Acknowledged
			continue
		}
		for _, st := range w.states {
			got, err := nodeHistory(ctx, m, st, w.base)
			if err != nil {
				v.problem("%s: %s: %v", m.id, st.asset, err)
				v.Lost += len(st.acks)
				continue
			}
			v.Lost += missing(v, m.id, st, got)
		}
	}
	v.Checked = append(v.Checked, "postgres")
	if err := waitSynced(ctx, c, v.Index, 2*time.Minute); err != nil {
		v.problem("%v", err)
	}
	got, err := pgHistory(ctx, c.dsn)
	if err != nil {
		v.problem("postgres: %v", err)
		v.Lost += v.Acknowledged
	} else {
		for _, st := range w.states {
			v.Lost += missing(v, "postgres", st, got[st.asset])
		}
	}
	v.PGVerify = pgVerify(ctx, c)
	return v
}

// missing counts st's acknowledged writes absent from got (time → price) and notes the first.
func missing(v *verifyResult, where string, st *writerState, got map[int64]uint64) int {
	n := 0
	for _, a := range st.acks {
		if p, ok := got[a.time]; !ok || p != a.price {
			if n == 0 {
				v.problem("%s: %s: the write of time %d (price %d) is missing (found %d, %v)", where, st.asset, a.time, a.price, p, ok)
			}
			n++
		}
	}
	return n
}

// waitApplied polls m until its applied index reaches index.
func waitApplied(ctx context.Context, m *member, index uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := m.status(ctx)
		if err == nil && st.AppliedIndex >= index {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not apply index %d within %s (%v)", m.id, index, timeout, err)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitSynced polls the nodes until the leader's sync has written index to PostgreSQL.
func waitSynced(ctx context.Context, c *cluster, index uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		for _, m := range c.members {
			if st, err := m.status(ctx); err == nil && st.PGSync.Running && st.PGSync.SyncedIndex >= index {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("PostgreSQL did not reach index %d within %s", index, timeout)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// nodeHistory reads an asset's whole price history from m's replica, 1,000 seconds (at most
// 1,000 points, one per second) a request.
func nodeHistory(ctx context.Context, m *member, st *writerState, base int64) (map[int64]uint64, error) {
	got := map[int64]uint64{}
	for from := base; from < base+st.next; from += 1000 {
		path := fmt.Sprintf("/v1/prices/%s?history=1&from=%d&to=%d&limit=1000&consistency=local", st.asset, from, from+999)
		b, err := m.api.Get(ctx, path, false)
		if err != nil {
			if len(st.acks) == 0 {
				return got, nil // no price at all: nothing was acknowledged either
			}
			return nil, err
		}
		var r struct {
			Items []struct{ Price, Time string }
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, err
		}
		for _, it := range r.Items {
			t, err := time.Parse(time.RFC3339, it.Time)
			if err != nil {
				return nil, err
			}
			p, err := strconv.ParseUint(it.Price, 10, 64)
			if err != nil {
				return nil, err
			}
			got[t.Unix()] = p
		}
	}
	return got, nil
}

// pgHistory reads the writer assets' price history from PostgreSQL: asset → time → price.
func pgHistory(ctx context.Context, dsn string) (map[string]map[int64]uint64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT asset, extract(epoch FROM time)::bigint, price::text FROM price_history WHERE asset LIKE '0x5eed%'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[int64]uint64{}
	for rows.Next() {
		var asset, price string
		var t int64
		if err := rows.Scan(&asset, &t, &price); err != nil {
			return nil, err
		}
		p, err := strconv.ParseUint(price, 10, 64)
		if err != nil {
			return nil, err
		}
		if out[asset] == nil {
			out[asset] = map[int64]uint64{}
		}
		out[asset][t] = p
	}
	return out, rows.Err()
}

// pgVerify asks the leader to compare its state with PostgreSQL table by table.
func pgVerify(ctx context.Context, c *cluster) string {
	l, err := c.leader(ctx)
	if err != nil {
		return err.Error()
	}
	b, err := l.api.Get(ctx, "/v1/admin/pg/verify?wait=60s", true)
	if err != nil {
		return err.Error()
	}
	var r struct {
		Index       uint64 `json:"index"`
		Differences int    `json:"differences"`
		Tables      []struct {
			Table string `json:"table"`
		} `json:"tables"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return err.Error()
	}
	if r.Differences == 0 {
		return fmt.Sprintf("equal (%d tables at index %d)", len(r.Tables), r.Index)
	}
	return fmt.Sprintf("%d tables differ at index %d", r.Differences, r.Index)
}
