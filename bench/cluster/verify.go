package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"paimon/bench/internal/benchkit"
)

// verify is phase d: once every node has applied the highest acknowledged index, each
// writer's account holds, on every node, exactly one share per acknowledged log (none lost,
// none applied twice). A writer whose last write stayed in doubt (it failed and no retry got
// an answer) may hold that write's shares or not.
func (c *cluster) verify(ctx context.Context, writers []*writer, perWrite int) *verifyResult {
	v := &verifyResult{Writers: len(writers)}
	for _, w := range writers {
		v.Acknowledged += w.Acked
		v.Index = max(v.Index, w.maxIndex)
		if w.InDoubt {
			v.InDoubt++
		}
	}
	for _, m := range c.members {
		if err := c.waitApplied(ctx, m, v.Index, 30*time.Second); err != nil {
			v.Mismatches = append(v.Mismatches, err.Error())
			continue
		}
		for _, w := range writers {
			got, err := m.shares(c.token, w)
			switch {
			case err != nil:
				v.Mismatches = append(v.Mismatches, fmt.Sprintf("%s: %s (%s): %v", m.id, w.Label, w.Owner.Hex(), err))
			case got == uint64(w.Acked), w.InDoubt && got == uint64(w.Acked+perWrite):
			default:
				what := "lost writes"
				if got > uint64(w.Acked) {
					what = "writes applied twice or unacknowledged"
				}
				v.Mismatches = append(v.Mismatches, fmt.Sprintf("%s: %s (%s) holds %d shares, %d writes acknowledged (in doubt: %v): %s",
					m.id, w.Label, w.Owner.Hex(), got, w.Acked, w.InDoubt, what))
			}
		}
	}
	v.OK = len(v.Mismatches) == 0
	return v
}

// waitApplied polls m's status until its applied index reaches index.
func (c *cluster) waitApplied(ctx context.Context, m *member, index uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		st, err := m.status(c.token)
		if err == nil && st.AppliedIndex >= index {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("applied index %d", st.AppliedIndex)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s did not apply index %d within %s: %s", m.id, index, timeout, last)
		}
		pause(ctx, 50*time.Millisecond)
	}
}

// shares reads the writer's account from m's own replica (consistency=local).
func (m *member) shares(token string, w *writer) (uint64, error) {
	code, b, err := m.do("GET", "/v1/accounts/"+strings.ToLower(w.Owner.Hex()), token, nil)
	if err != nil {
		return 0, err
	}
	if code == 404 {
		return 0, nil
	}
	if code != 200 {
		return 0, fmt.Errorf("GET /v1/accounts: %d %s", code, benchkit.Snippet(b))
	}
	var a struct{ Shares string }
	if err := json.Unmarshal(b, &a); err != nil {
		return 0, fmt.Errorf("GET /v1/accounts: %w", err)
	}
	return strconv.ParseUint(a.Shares, 10, 64)
}
