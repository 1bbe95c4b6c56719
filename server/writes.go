package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/raftstore"
	"paimon/readmodel"
	"paimon/version"
)

// logResult is the outcome of one posted log, in the order of the request.
type logResult struct {
	TransactionHash string `json:"transactionHash"`
	LogIndex        string `json:"logIndex"`
	Status          string `json:"status"` // accepted | duplicate | reverted | not_found | skipped
	Reason          string `json:"reason,omitempty"`
	Detail          string `json:"detail,omitempty"`
}

type logsResponse struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Reverted   int         `json:"reverted"`
	NotFound   int         `json:"notFound"`
	Skipped    int         `json:"skipped"`
	Index      uint64      `json:"index"`
	Results    []logResult `json:"results"`
}

// postLogs is the webhook for log providers: logs are decoded exactly as the chain poller
// decodes them, undecodable ones are reported as skipped with a reason, and the rest are
// applied in one Raft entry together with the audit record.
func (s *Server) postLogs(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	logs, err := parseLogsRequest(ctx.PostBody())
	if err != nil {
		return err
	}
	resp := logsResponse{Results: make([]logResult, len(logs))}
	events := make([]chainlog.Event, 0, len(logs))
	pos := make([]int, 0, len(logs)) // request position of each event
	for i := range logs {
		r := &resp.Results[i]
		r.TransactionHash, r.LogIndex = logs[i].TransactionHash, logs[i].LogIndex
		ev, err := s.registry.Decode(&logs[i])
		if err != nil {
			var se *chainlog.SkipError
			if !errors.As(err, &se) {
				return err
			}
			r.Status, r.Reason, r.Detail = "skipped", se.Reason, se.Detail
			resp.Skipped++
			continue
		}
		events = append(events, ev)
		pos = append(pos, i)
	}
	if len(events) == 0 {
		resp.Index = s.store.AppliedIndex()
		return s.writeJSON(ctx, resp, resp.Index)
	}
	cmd := fund.EncodeLogs(&fund.LogsCommand{
		Time: s.now().UnixNano(), Actor: actorOf(ctx, rc), Events: events, Skipped: resp.Skipped, Version: s.orderedVersion(),
		ReorderWindow: s.reorderWindow(),
	})
	res, err := s.propose(cmd)
	if err != nil {
		return err
	}
	lr, ok := res.Value.(*fund.LogsResult)
	if !ok {
		return resultError(res.Value)
	}
	if len(lr.Outcomes) != len(events) {
		return fmt.Errorf("state machine returned %d outcomes for %d events", len(lr.Outcomes), len(events))
	}
	for j, o := range lr.Outcomes {
		r := &resp.Results[pos[j]]
		r.Status, r.Reason = o.Status, o.Reason
	}
	resp.Accepted, resp.Duplicates, resp.Reverted, resp.NotFound = lr.Accepted, lr.Duplicates, lr.Reverted, lr.NotFound
	resp.Index = res.Index
	return s.writeJSON(ctx, resp, res.Index)
}

// postPrices records operator prices (source "api").
func (s *Server) postPrices(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	prices, err := parsePricesRequest(ctx.PostBody())
	if err != nil {
		return err
	}
	cmd := fund.EncodePrices(&fund.PricesCommand{
		Time: s.now().UnixNano(), Actor: actorOf(ctx, rc), Prices: prices, Version: s.orderedVersion(),
		MaxFutureSkew: s.maxPriceFutureSkew(),
	})
	res, err := s.propose(cmd)
	if err != nil {
		return err
	}
	pr, ok := res.Value.(*fund.PricesResult)
	if !ok {
		return resultError(res.Value)
	}
	return s.writeJSON(ctx, struct {
		Count int    `json:"count"`
		Index uint64 `json:"index"`
	}{pr.Count, res.Index}, res.Index)
}

// deletePrice deletes an asset's price point at one time (DELETE /v1/admin/prices/{asset}?time=,
// RFC 3339 or unix seconds); the current price is then the latest point left. No point at
// that time is 404 NOT_FOUND.
func (s *Server) deletePrice(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	asset, err := readmodel.ParseAsset(string(rc.param))
	if err != nil {
		return err
	}
	a, err := chainlog.ParseAddress(asset)
	if err != nil {
		return err
	}
	if !ctx.QueryArgs().Has("time") {
		return validation("time is required", map[string]any{"param": "time"})
	}
	t, err := readmodel.ParseTime("time", string(ctx.QueryArgs().Peek("time")))
	if err != nil {
		return err
	}
	cmd := fund.EncodePriceDelete(&fund.PriceDeleteCommand{Time: s.now().UnixNano(), Actor: actorOf(ctx, rc), Asset: a, PointTime: t})
	res, err := s.propose(cmd)
	if err != nil {
		return err
	}
	pr, ok := res.Value.(*fund.PriceDeleteResult)
	if !ok {
		return resultError(res.Value)
	}
	return s.writeJSON(ctx, struct {
		Deleted int    `json:"deleted"`
		Index   uint64 `json:"index"`
	}{pr.Deleted, res.Index}, res.Index)
}

// orderedSince is the cluster version from which every member applies logs in ledger order
// and refuses prices from the future (fund.OrderedVersion).
const orderedSince = "0.2"

// orderedVersion is the version of the CmdLogs and CmdPrices to propose: version 1, which
// every member applies as v0.1.0 did, while the replicated cluster version is below
// orderedSince (a v0.1.0 member may remain), else fund.OrderedVersion.
func (s *Server) orderedVersion() byte {
	if cv, ok := s.store.(interface{ ClusterVersion() string }); ok && version.Compare(cv.ClusterVersion(), orderedSince) < 0 {
		return 1
	}
	return fund.OrderedVersion
}

// reorderWindow is the reorder window written into a version-2 CmdLogs: this proposer's
// configuration (Config.ReorderWindow), which every replica then applies whatever its own.
func (s *Server) reorderWindow() uint64 {
	if s.cfg.ReorderWindow == 0 {
		return fund.DefaultReorderWindow
	}
	return s.cfg.ReorderWindow
}

// maxPriceFutureSkew is the skew written into a version-2 CmdPrices: this proposer's
// configuration (Config.MaxPriceFutureSkew), which every replica then applies whatever its own.
func (s *Server) maxPriceFutureSkew() time.Duration {
	if s.cfg.MaxPriceFutureSkew <= 0 {
		return fund.DefaultMaxPriceFutureSkew
	}
	return s.cfg.MaxPriceFutureSkew
}

// propose replicates a command, bounded by the apply timeout.
func (s *Server) propose(cmd []byte) (raftstore.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
	defer cancel()
	res, err := s.store.Propose(ctx, cmd)
	if errors.Is(err, raftstore.ErrNotLeader) || errors.Is(err, raftstore.ErrNoLeader) {
		// Deposed with the command in flight (raftstore.Refused is false): it may still
		// commit, whether or not a new leader is known yet.
		if !raftstore.Refused(err) {
			return res, fmt.Errorf("%w: %w", s.notLeaderError(), errOutcomeUnknown)
		}
		return res, s.notLeaderError()
	}
	return res, err
}

// resultError turns a state machine result that is not the expected type into the error to
// answer with: a user error the machine refused, or an internal error.
func resultError(v any) error {
	if err, ok := v.(error); ok {
		return err
	}
	return fmt.Errorf("unexpected state machine result %T", v)
}

func actorOf(ctx *fasthttp.RequestCtx, rc *reqCtx) fund.Actor {
	p := rc.who
	return fund.Actor{Name: p.Label(), Role: p.Role.String(), IP: clientIP(ctx, rc), UserAgent: string(ctx.UserAgent())}
}

func (s *Server) writeJSON(ctx *fasthttp.RequestCtx, v any, index uint64) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.respond(ctx, body, index)
	return nil
}
