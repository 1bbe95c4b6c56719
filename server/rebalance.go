package server

import (
	"fmt"

	"github.com/valyala/fasthttp"

	"paimon/fund"
	"paimon/kv"
	"paimon/readmodel"
	"paimon/rebalance"
)

// Rebalancing (OPERATIONS.md, "Rebalancing"): GET /v1/rebalance/status and /history (reads,
// resources.go), POST /v1/rebalance/preview, /execute and /{id}/cancel. The preview runs the planner on the
// leader's books and makes the plan replicated state (fund.CmdRebalancePlan); execute starts it
// through the log (fund.CmdRebalanceExecute), which decides "one plan at a time" and the
// approval ticket; the executor then sends its trades (node/rebalance.go).

func renderRebalanceStatus(v kv.Reader, _ *readQuery) ([]byte, error) {
	return readmodel.RebalanceStatus(v)
}

func renderRebalanceHistory(v kv.Reader, q *readQuery) ([]byte, error) {
	s, err := readmodel.ParseRebalanceStatus(q.get)
	if err != nil {
		return nil, err
	}
	return pageOf(q.get, v, func(r kv.Reader, p readmodel.Page) ([]byte, error) { return readmodel.RebalanceHistory(r, s, p) })
}

// previewRebalance is POST /v1/rebalance/preview (operator, on the leader): the plan from the
// leader's books, stored PROPOSED. An input no plan satisfies is 422 VALIDATION_ERROR with the
// planner's reason and figures; nothing is stored then.
func (s *Server) previewRebalance(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	req, err := rebalance.ParsePreview(ctx.PostBody())
	if err != nil {
		return err
	}
	cfg := &s.cfg.Rebalance
	v, err := s.store.Read()
	if err != nil {
		return err
	}
	in, lastBlock, err := readmodel.RebalanceInput(v, cfg, req.Targets)
	v.Close()
	if err != nil {
		return err
	}
	plan, err := rebalance.Compute(&in)
	if err != nil {
		return err
	}
	res, err := s.propose(fund.EncodeRebalancePlan(&fund.RebalancePlanCommand{Time: s.now().UnixNano(), Actor: actorOf(ctx, rc),
		Targets: in.Targets, Reserved: in.Reserved, Horizon: int64(cfg.LiquidityHorizon.Seconds()), LastBlock: lastBlock, Plan: *plan}))
	if err != nil {
		return err
	}
	return s.respondPlan(ctx, res.Value, res.Index)
}

// executeRebalance is POST /v1/rebalance/execute (operator, on the leader): {planId} → the
// plan EXECUTING, or PENDING_APPROVAL with its ticket when its total is above [rebalance]
// approval_amount. 409 while another plan is pending or executing, for a plan already started,
// superseded or stale; 404 for an unknown plan.
func (s *Server) executeRebalance(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	req, err := rebalance.ParseExecute(ctx.PostBody())
	if err != nil {
		return err
	}
	res, err := s.propose(fund.EncodeRebalanceExecute(&fund.RebalanceExecuteCommand{Time: s.now().UnixNano(), Actor: actorOf(ctx, rc),
		PlanID: req.PlanID, ApprovalAmount: s.cfg.Rebalance.Approval()}))
	if err != nil {
		return err
	}
	return s.respondPlan(ctx, res.Value, res.Index)
}

// cancelRebalance is POST /v1/rebalance/{id}/cancel (operator, on the leader): {reason?} → the
// plan CANCELLED. Only a PROPOSED plan: any other status is 409 (a plan pending approval is
// cancelled through its ticket); an unknown plan 404.
func (s *Server) cancelRebalance(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	id, ok := rebalance.ParsePlanID(string(rc.param))
	if !ok {
		return fmt.Errorf("%w: rebalance plan %.100q", errNotFound, rc.param)
	}
	req, err := rebalance.ParseCancel(ctx.PostBody())
	if err != nil {
		return err
	}
	res, err := s.propose(fund.EncodeRebalanceCancel(&fund.RebalanceCancelCommand{Time: s.now().UnixNano(), Actor: actorOf(ctx, rc),
		PlanID: id, Reason: req.Reason}))
	if err != nil {
		return err
	}
	return s.respondPlan(ctx, res.Value, res.Index)
}

func (s *Server) respondPlan(ctx *fasthttp.RequestCtx, v any, index uint64) error {
	pr, ok := v.(*fund.RebalancePlanResult)
	if !ok {
		return resultError(v)
	}
	approval := s.cfg.Rebalance.Approval()
	body, err := readmodel.PlanJSON(&pr.Plan, &approval)
	if err != nil {
		return err
	}
	s.respond(ctx, body, index)
	return nil
}
