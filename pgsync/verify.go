package pgsync

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"paimon/fund"
	"paimon/kv"
)

// sumColumn is the amount each table's verification sums (counts alone would miss a row whose
// amount differs); "" for tables compared by count and content only.
var sumColumn = map[*table]string{
	tFund: "total_assets", tAccount: "shares", tRedemption: "locked_amount", tAsset: "holding", tPrice: "price",
	tPricePoint: "price", tNavPoint: "total_assets", tFlowBucket: "subscriptions", tDaySnap: "total_assets",
	tTicket: "amount", tPlan: "total_amount",
}

// TableReport compares one table.
type TableReport struct {
	Table      string   `json:"table"`
	StateRows  int      `json:"stateRows"`
	PGRows     int      `json:"pgRows"`
	StateSum   string   `json:"stateSum,omitempty"`
	PGSum      string   `json:"pgSum,omitempty"`
	Skipped    int      `json:"skipped"`             // rows PostgreSQL holds from after the compared index
	Missing    []string `json:"missing,omitempty"`   // in the state, not in PostgreSQL
	Extra      []string `json:"extra,omitempty"`     // in PostgreSQL, not in the state
	Different  []string `json:"different,omitempty"` // in both, with different content
	Difference bool     `json:"difference"`
}

// Report is the result of Verify.
type Report struct {
	Index       uint64        `json:"index"`       // the state's applied index compared
	SyncedIndex uint64        `json:"syncedIndex"` // PostgreSQL's synced index
	Tables      []TableReport `json:"tables"`
	Differences int           `json:"differences"` // tables that differ
}

// maxListed bounds the keys a report lists per kind.
const maxListed = 20

// Verify compares the state (a consistent view at index) with PostgreSQL table by table:
// counts and sums of amounts first, then every record's content (PostgreSQL keeps each record's
// exact bytes), listing the keys that differ. Rows PostgreSQL wrote from entries after index are
// skipped, so a verify against a live, moving cluster compares what both have. The caller waits
// until PostgreSQL has synced up to index for a full comparison.
func Verify(ctx context.Context, pool *pgxpool.Pool, r kv.Reader, index uint64) (*Report, error) {
	rep := &Report{Index: index}
	var synced int64
	if err := pool.QueryRow(ctx, `SELECT synced_index FROM sync_checkpoint`).Scan(&synced); err != nil {
		return nil, fmt.Errorf("read synced index: %w", err)
	}
	rep.SyncedIndex = uint64(synced)

	// The state's records by table, and the expected timeline length.
	state := map[*table]map[string][]byte{}
	sums := map[*table]*big.Int{}
	timeline := 0
	var scanErr error
	err := r.Scan(nil, nil, false, func(k, v []byte) bool {
		if !fund.IsPrimaryRecord(k) {
			return true
		}
		row, err := toRow(index, k, v)
		if err != nil {
			scanErr = err
			return false
		}
		if state[row.t] == nil {
			state[row.t] = map[string][]byte{}
		}
		state[row.t][string(k)] = append([]byte(nil), v...)
		timeline += len(row.timeline)
		if col := sumColumn[row.t]; col != "" {
			if sums[row.t] == nil {
				sums[row.t] = new(big.Int)
			}
			sums[row.t].Add(sums[row.t], numOf(row.vals[indexOf(row.t.cols, col)]))
		}
		return true
	})
	if err == nil {
		err = scanErr
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}

	for _, t := range syncedTables {
		tr := TableReport{Table: t.name}
		pg := map[string][]byte{}
		newer := map[string]bool{} // records PostgreSQL holds in a version after the compared index
		exists, err := tableExists(ctx, pool, t)
		if err != nil {
			return nil, err
		}
		if !exists {
			// A table of a later schema (the cluster version has not allowed its migration):
			// PostgreSQL holds none of its records.
			tr.StateRows = len(state[t])
			for k := range state[t] {
				tr.Missing = append(tr.Missing, describeKey(k))
			}
			tr.Difference = tr.StateRows > 0
			if tr.Difference {
				rep.Differences++
			}
			rep.Tables = append(rep.Tables, tr)
			continue
		}
		rows, err := pool.Query(ctx, fmt.Sprintf("SELECT pk, rec, raft_index FROM %s", t.name))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", t.name, err)
		}
		for rows.Next() {
			var pk, rec []byte
			var ri int64
			if err := rows.Scan(&pk, &rec, &ri); err != nil {
				rows.Close()
				return nil, err
			}
			if uint64(ri) > index {
				tr.Skipped++
				newer[string(pk)] = true
				continue
			}
			pg[string(pk)] = rec
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", t.name, err)
		}
		// A record whose PostgreSQL version is newer cannot be compared: leave it out of the
		// state's side too (counts and sums included).
		for k := range newer {
			if v, ok := state[t][k]; ok {
				delete(state[t], k)
				if col := sumColumn[t]; col != "" {
					if r, err := toRow(index, []byte(k), v); err == nil {
						sums[t].Sub(sums[t], numOf(r.vals[indexOf(t.cols, col)]))
					}
				}
			}
		}
		tr.StateRows = len(state[t])
		tr.PGRows = len(pg)
		if col := sumColumn[t]; col != "" {
			var s string
			if err := pool.QueryRow(ctx, fmt.Sprintf("SELECT coalesce(sum(%s), 0)::text FROM %s WHERE raft_index <= $1", col, t.name), int64(index)).Scan(&s); err != nil {
				return nil, fmt.Errorf("sum %s.%s: %w", t.name, col, err)
			}
			tr.PGSum = s
			tr.StateSum = "0"
			if sums[t] != nil {
				tr.StateSum = sums[t].String()
			}
		}
		for k, v := range state[t] {
			got, ok := pg[k]
			switch {
			case !ok:
				tr.Missing = append(tr.Missing, describeKey(k))
			case !bytes.Equal(got, v):
				tr.Different = append(tr.Different, describeKey(k))
			}
		}
		for k := range pg {
			if _, ok := state[t][k]; !ok {
				tr.Extra = append(tr.Extra, describeKey(k))
			}
		}
		tr.Difference = tr.StateRows != tr.PGRows || tr.StateSum != tr.PGSum || len(tr.Missing)+len(tr.Extra)+len(tr.Different) > 0
		for _, l := range []*[]string{&tr.Missing, &tr.Extra, &tr.Different} {
			sort.Strings(*l)
			if len(*l) > maxListed {
				*l = append((*l)[:maxListed], fmt.Sprintf("... and %d more", len(*l)-maxListed))
			}
		}
		if tr.Difference {
			rep.Differences++
		}
		rep.Tables = append(rep.Tables, tr)
	}
	var steps int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM redemption_timeline t JOIN redemptions r USING (request_id) WHERE r.raft_index <= $1`, int64(index)).Scan(&steps); err != nil {
		return nil, fmt.Errorf("count timeline: %w", err)
	}
	tl := TableReport{Table: tTimeline.name, StateRows: timeline, PGRows: steps, Difference: timeline != steps}
	if tl.Difference {
		rep.Differences++
	}
	rep.Tables = append(rep.Tables, tl)
	return rep, nil
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// describeKey renders a state key for a report: the record type and the hex of the rest.
func describeKey(k string) string {
	return fmt.Sprintf("%s:%x", fund.RecordType([]byte(k)), k[1:])
}

// String renders the report as a table for the command line.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "state applied index %d, PostgreSQL synced index %d\n", r.Index, r.SyncedIndex)
	fmt.Fprintf(&b, "%-20s %10s %10s %8s  %s\n", "table", "state", "postgres", "skipped", "result")
	for _, t := range r.Tables {
		res := "ok"
		if t.Difference {
			res = "DIFFERENT"
			if t.StateSum != t.PGSum {
				res += fmt.Sprintf(" (sum %s vs %s)", t.StateSum, t.PGSum)
			}
		}
		fmt.Fprintf(&b, "%-20s %10d %10d %8d  %s\n", t.Table, t.StateRows, t.PGRows, t.Skipped, res)
		for _, l := range []struct {
			name string
			keys []string
		}{{"missing in postgres", t.Missing}, {"only in postgres", t.Extra}, {"different", t.Different}} {
			for _, k := range l.keys {
				fmt.Fprintf(&b, "    %s: %s\n", l.name, k)
			}
		}
	}
	if r.Differences == 0 {
		b.WriteString("no difference\n")
	} else {
		fmt.Fprintf(&b, "%d table(s) differ\n", r.Differences)
	}
	return b.String()
}

// numOf returns the integer of a NUMERIC value built by num (NULL is 0).
func numOf(v any) *big.Int {
	if n, ok := v.(pgtype.Numeric); ok && n.Valid && n.Int != nil {
		return n.Int
	}
	return new(big.Int)
}

// querier is what tableExists needs of a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// tableExists reports whether t exists in PostgreSQL (a table of a later schema may not yet).
func tableExists(ctx context.Context, q querier, t *table) (bool, error) {
	if t.since == 0 {
		return true, nil
	}
	var ok bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, t.name).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up table %s: %w", t.name, err)
	}
	return ok, nil
}
