package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"paimon/bench/internal/benchkit"
)

// executorPoll is the executor's round interval (executor Deps.Poll's default): an approved
// ticket waits for the next round (nothing wakes the executor when a ticket turns APPROVED).
const executorPoll = 500 * time.Millisecond

// bench runs the benchmark: build, chain, cluster, tickets, the baseline's writes, the
// decisions, the wait for execution, the checks. The results are returned whenever the
// phases ran, also with an error.
func bench(ctx context.Context, o *options, command string) (res *results, err error) {
	repo, err := benchkit.FindRepo(o.repo)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "paimon-approvals-")
	if err != nil {
		return nil, err
	}
	defer benchkit.RemoveTemp(dir, o.keep, &err)
	bin := filepath.Join(dir, "paimon")
	fmt.Fprintln(os.Stderr, "approvals: building the node")
	if err := benchkit.GoBuild(ctx, repo, bin, "./cmd/paimon", o.buildFlags...); err != nil {
		return nil, err
	}
	res = &results{Command: command, Machine: benchkit.ReadMachine(repo), Tickets: o.tickets, Clients: o.clients, TicketRate: o.ticketRate,
		Nodes: 3, BlockInterval: o.blockInterval.String(), Confirmations: o.confirmations, ExecutorPoll: executorPoll.String()}
	fmt.Fprintln(os.Stderr, "approvals: starting the chain and deploying the fund's contracts")
	ch, err := startChain(ctx, o)
	if err != nil {
		return nil, err
	}
	defer ch.close()
	deadline := time.Now().Add(o.duration)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	fmt.Fprintln(os.Stderr, "approvals: starting three nodes")
	c, err := startCluster(ctx, o, bin, dir, ch, time.Until(deadline))
	if c != nil {
		defer c.stop(&err)
	}
	if err != nil {
		return nil, err
	}

	fmt.Fprintf(os.Stderr, "approvals: opening %d tickets (redemptions over the threshold)\n", o.tickets)
	start := time.Now()
	ids, err := ch.openTickets(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening the tickets: %w", err)
	}
	err = c.until(ctx, time.Until(deadline), "every ticket PENDING on every node", func() error {
		for _, n := range c.nodes {
			var q struct {
				Summary struct {
					Count int `json:"count"`
				} `json:"summary"`
			}
			if err := c.getJSON(ctx, n, "/v1/redemptions/pending-approvals", c.admin, &q); err != nil {
				return err
			}
			if q.Summary.Count != o.tickets {
				return fmt.Errorf("%s: %d redemptions pending approval", n.id, q.Summary.Count)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = c.pages(ctx, c.nodes[0], "/v1/approvals?status=PENDING", c.admin, func(raw json.RawMessage) error {
		var t struct {
			ID                string `json:"id"`
			RequiredApprovals int    `json:"requiredApprovals"`
		}
		if err := json.Unmarshal(raw, &t); err != nil {
			return err
		}
		if t.RequiredApprovals != 2 {
			return fmt.Errorf("ticket %s needs %d approvals, want 2", t.ID, t.RequiredApprovals)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.OpenSeconds = time.Since(start).Seconds()
	ch.period.Store(int64(o.blockInterval))
	var watchers []*watcher
	for _, n := range c.nodes {
		w, err := watch(ctx, c, n)
		if err != nil {
			return nil, err
		}
		defer w.close()
		watchers = append(watchers, w)
	}

	// The same request size for both phases: a decision's reason pads it to a price write's.
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	price := func(i int) []byte {
		return []byte(fmt.Sprintf(`{"prices":[{"asset":"0x55d398326f99059ff775485246999027b3197955","price":"%d","time":%q}]}`,
			int64(1e18)+int64(i), base.Add(time.Duration(i)*time.Second).Format(time.RFC3339)))
	}
	size := len(price(0))
	decision := []byte(`{"reason":"` + strings.Repeat("x", max(size-len(`{"reason":""}`), 0)) + `"}`)
	res.BodyBytes = [2]int{size, len(decision)}
	res.LoadBefore = benchkit.LoadAvg()

	prices := func(offset int) func(ctx context.Context, k int, rec func(time.Duration)) error {
		return func(ctx context.Context, k int, rec func(time.Duration)) error {
			for j := range 2 {
				n := c.nodes[(k+j)%3]
				if _, err := c.send(ctx, n, "/v1/admin/prices", c.admin, price(offset+2*k+j), `"index"`, rec); err != nil {
					return err
				}
			}
			return nil
		}
	}
	// Unmeasured: connections opened, the nodes' first writes behind them.
	if w := c.phase(ctx, o, 4*o.clients, 0, prices(2*o.tickets)); w.Failed > 0 {
		return res, fmt.Errorf("warm-up: %d price writes failed: %s", w.Failed, w.FirstError)
	}
	fmt.Fprintf(os.Stderr, "approvals: baseline, %d price writes\n", 2*o.tickets)
	res.Baseline = c.phase(ctx, o, o.tickets, 0, prices(0))
	if res.Baseline.Failed > 0 {
		return res, fmt.Errorf("%d price writes failed, the first: %s", res.Baseline.Failed, res.Baseline.FirstError)
	}

	fmt.Fprintf(os.Stderr, "approvals: %d decisions (two per ticket, through two nodes)\n", 2*o.tickets)
	acks := make([]time.Time, o.tickets)
	res.Decisions = c.phase(ctx, o, o.tickets, o.ticketRate, func(ctx context.Context, k int, rec func(time.Duration)) error {
		path := "/v1/approvals/redemption-" + ids[k].String() + "/approve"
		if _, err := c.send(ctx, c.nodes[k%3], path, c.approvers[0], decision, `"status":"PARTIALLY_APPROVED"`, rec); err != nil {
			return err
		}
		at, err := c.send(ctx, c.nodes[(k+1)%3], path, c.approvers[1], decision, `"status":"APPROVED"`, rec)
		acks[k] = at
		return err
	})
	res.LoadAfter = benchkit.LoadAvg()
	if res.Decisions.PerSecond > 0 && res.Baseline.PerSecond > 0 {
		res.Ratio = res.Decisions.PerSecond / res.Baseline.PerSecond
	}
	if res.Decisions.Failed > 0 {
		return res, fmt.Errorf("%d decisions failed, the first: %s", res.Decisions.Failed, res.Decisions.FirstError)
	}

	fmt.Fprintln(os.Stderr, "approvals: waiting for every ticket to be executed on every node")
	err = c.until(ctx, time.Until(deadline), "every ticket EXECUTED on every node", func() error {
		for _, w := range watchers {
			w.mu.Lock()
			werr := w.err
			w.mu.Unlock()
			if werr != nil {
				return fmt.Errorf("%s: approvals channel: %w", w.n.id, werr)
			}
			if n := w.count(); n < o.tickets {
				return fmt.Errorf("%s: %d of %d tickets EXECUTED", w.n.id, n, o.tickets)
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	res.measureExecution(ch, watchers, ids, acks)
	res.check(ctx, c, ch, ids)
	res.Checked = true
	return res, nil
}

// phase sends jobs 0..n-1 (each two requests) from o.clients clients and measures the
// requests per second over the phase and each request's latency as the client saw it. With a
// rate, jobs are handed out as Poisson arrivals of that rate.
func (c *cluster) phase(ctx context.Context, o *options, n int, rate float64, job func(ctx context.Context, k int, rec func(time.Duration)) error) phaseResult {
	var hist benchkit.Hist
	var failed atomic.Int64
	var mu sync.Mutex
	var firstErr string
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range jobs {
				if err := job(ctx, k, func(d time.Duration) { hist.Add(d.Microseconds()) }); err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(uint64(o.seed), 12))
	due := start
	for k := range n {
		if rate > 0 {
			// Poisson arrivals: never in step with the blocks.
			due = due.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
			time.Sleep(time.Until(due))
		}
		jobs <- k
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	m := benchkit.NewMerged()
	m.AddHist(&hist)
	p := phaseResult{Requests: int(m.N()), Seconds: elapsed.Seconds(), Latency: benchkit.LatencyOf(m),
		Failed: int(failed.Load()), FirstError: firstErr, Retries: int(c.retries.Swap(0))}
	if elapsed > 0 {
		p.PerSecond = float64(p.Requests) / elapsed.Seconds()
	}
	return p
}

// send POSTs body to n until it answers 200 with a body containing want, retrying after
// 10 ms a transport error or a 503 (an election); any other answer is an error. It records the
// latency from the first attempt and returns the time of the acknowledgement.
func (c *cluster) send(ctx context.Context, n *node, path, token string, body []byte, want string, rec func(time.Duration)) (time.Time, error) {
	start := time.Now()
	for {
		code, b, err := c.do(ctx, n, "POST", path, token, body)
		now := time.Now()
		switch {
		case err == nil && code == 200 && strings.Contains(string(b), want):
			rec(now.Sub(start))
			return now, nil
		case err == nil && code != 503:
			return now, fmt.Errorf("%s POST %s: %d %s", n.id, path, code, benchkit.Snippet(b))
		case ctx.Err() != nil:
			return now, fmt.Errorf("%s POST %s: %w", n.id, path, ctx.Err())
		}
		c.retries.Add(1)
		time.Sleep(10 * time.Millisecond)
	}
}

// measureExecution computes, per ticket, the time from its quorum-reaching decision's
// acknowledgement to its RedemptionApproved mined and to the ticket EXECUTED on every node.
func (r *results) measureExecution(ch *chain, watchers []*watcher, ids []*big.Int, acks []time.Time) {
	mined, err := ch.minedAt()
	if err != nil {
		r.Problems = append(r.Problems, "mining: "+err.Error())
	}
	var toMined, toExecuted benchkit.Hist
	var first, last time.Time // the first quorum, the last transaction mined
	for k, id := range ids {
		if first.IsZero() || acks[k].Before(first) {
			first = acks[k]
		}
		if t := mined[id.String()]; len(t) > 0 {
			toMined.Add(t[0].Sub(acks[k]).Microseconds())
			if t[0].After(last) {
				last = t[0]
			}
		}
		var last time.Time
		for _, w := range watchers {
			at, ok := w.executedAt("redemption-" + id.String())
			if !ok {
				last = time.Time{}
				break
			}
			if at.After(last) {
				last = at
			}
		}
		if !last.IsZero() {
			toExecuted.Add(last.Sub(acks[k]).Microseconds())
			if t := mined[id.String()]; len(t) > 0 && last.Before(t[0]) {
				r.Problems = append(r.Problems, fmt.Sprintf("ticket redemption-%s EXECUTED before its transaction was mined", id))
			}
		}
	}
	if last.After(first) {
		r.MinedSeconds = last.Sub(first).Seconds()
	}
	m := benchkit.NewMerged()
	m.AddHist(&toMined)
	r.ToMined = benchkit.LatencyOf(m)
	m = benchkit.NewMerged()
	m.AddHist(&toExecuted)
	r.ToExecuted = benchkit.LatencyOf(m)
	for _, w := range watchers {
		w.mu.Lock()
		r.WSResets += w.resets
		w.mu.Unlock()
	}
	ch.mu.Lock()
	r.Blocks = ch.blocks
	ch.mu.Unlock()
}

// check verifies that every ticket was executed by exactly one transaction: one
// RedemptionApproved log per request on chain, the executor's account used exactly one nonce
// per ticket, each node lists one intent per ticket with one signed attempt, mined, and every
// node lists every ticket EXECUTED. Each failure is a problem of the results.
func (r *results) check(ctx context.Context, c *cluster, ch *chain, ids []*big.Int) {
	bad := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }
	logs, err := ch.approvedLogs(ctx)
	if err != nil {
		bad("eth_getLogs: %v", err)
	}
	mined, _ := ch.minedAt()
	for _, id := range ids {
		if n := logs[id.String()]; n != 1 {
			bad("request %s: %d RedemptionApproved logs, want 1", id, n)
		}
		if n := len(mined[id.String()]); n != 1 {
			bad("request %s: mined %d times, want 1", id, n)
		}
	}
	r.Logs = 0
	for _, n := range logs {
		r.Logs += n
	}
	nonce, err := ch.client.NonceAt(ctx, crypto.PubkeyToAddress(ch.executor.PublicKey), nil)
	if err != nil {
		bad("executor nonce: %v", err)
	}
	r.ExecutorNonce = nonce
	if nonce != uint64(len(ids)) {
		bad("the executor's account sent %d transactions for %d tickets", nonce, len(ids))
	}
	// The executor records each receipt (MINED) in its own rounds, independently of ingest
	// closing the ticket: wait for every intent to leave SENT first.
	err = c.until(ctx, time.Minute, "every intent MINED on every node", func() error {
		for _, n := range c.nodes {
			open := 0
			err := c.pages(ctx, n, "/v1/executor/transactions", c.admin, func(raw json.RawMessage) error {
				var it struct{ State string }
				if err := json.Unmarshal(raw, &it); err != nil {
					return err
				}
				if it.State == "SIGNED" || it.State == "SENT" {
					open++
				}
				return nil
			})
			if err != nil {
				return err
			}
			if open > 0 {
				return fmt.Errorf("%s: %d intents not mined yet", n.id, open)
			}
		}
		return nil
	})
	if err != nil {
		bad("%v", err)
	}
	for _, n := range c.nodes {
		refs := map[string]bool{}
		var nonces []uint64
		err := c.pages(ctx, n, "/v1/executor/transactions", c.admin, func(raw json.RawMessage) error {
			var it struct {
				Purpose, Reference, State string
				Nonce                     uint64
				Attempts                  []json.RawMessage
			}
			if err := json.Unmarshal(raw, &it); err != nil {
				return err
			}
			if it.Purpose != "APPROVE" || refs[it.Reference] || len(it.Attempts) != 1 || (it.State != "MINED" && it.State != "CONFIRMED") {
				bad("%s: intent %s", n.id, raw)
			}
			refs[it.Reference] = true
			nonces = append(nonces, it.Nonce)
			return nil
		})
		if err != nil {
			bad("%s: %v", n.id, err)
		}
		all := len(nonces)
		slices.Sort(nonces)
		if distinct := len(slices.Compact(nonces)); all != len(ids) || distinct != len(ids) {
			bad("%s: %d intents with %d distinct nonces, want %d", n.id, all, distinct, len(ids))
		}
		if n == c.nodes[0] {
			r.Intents = len(refs)
		}
		executed := 0
		err = c.pages(ctx, n, "/v1/approvals?status=EXECUTED", c.admin, func(json.RawMessage) error { executed++; return nil })
		if err != nil || executed != len(ids) {
			bad("%s: %d tickets EXECUTED, want %d (%v)", n.id, executed, len(ids), err)
		}
		if n == c.nodes[0] {
			r.Executed = executed
		}
	}
}
