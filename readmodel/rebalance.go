package readmodel

import (
	"bytes"
	"encoding/json"

	"github.com/holiman/uint256"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/kv"
	"paimon/rebalance"
)

// Rebalancing (OPERATIONS.md, "Rebalancing"): the planner's input from the state, GET
// /v1/rebalance/status, the plans' JSON (preview, execute, history, the channel rebalance).

// RebalanceInput builds the planner's input from the state: the books (cash, every asset with
// its price and decimals), the target ratios (targets, or the bands' targets when nil), the
// bands, each asset's slippage bound from cfg, and the cash reserved for the open redemptions
// due within cfg.LiquidityHorizon of the latest block time (what the liquidity forecast counts
// as confirmed outflows). It also returns the books' last block.
func RebalanceInput(r kv.Reader, cfg *rebalance.Config, targets *[rebalance.NumTiers]uint64) (rebalance.Input, uint64, error) {
	b, err := fund.ReadBooks(r)
	if err != nil {
		return rebalance.Input{}, 0, err
	}
	in := rebalance.Input{Cash: b.Cash}
	for t := range b.Tiers {
		tb := &b.Tiers[t]
		in.Bands[t] = rebalance.Band{Target: satU64(&tb.TargetRatio), Min: satU64(&tb.MinRatio), Max: satU64(&tb.MaxRatio)}
		in.Targets[t] = in.Bands[t].Target
	}
	if targets != nil {
		in.Targets = *targets
	}
	for _, a := range b.Assets {
		in.Assets = append(in.Assets, rebalance.Asset{Token: a.Token, Tier: a.Tier, Active: a.Active, Allocation: satU64(&a.Allocation),
			Holding: a.Holding, HasPrice: a.HasPrice, Price: a.Price, Decimals: a.Decimals, SlippageBps: cfg.Slippage(a.Token)})
	}
	end := b.BlockTime + int64(cfg.LiquidityHorizon.Seconds())
	err = dueRedemptions(r, b.BlockTime, end, func(_ int64, pay *uint256.Int) { in.Reserved.Add(&in.Reserved, pay) })
	return in, b.LastBlock, err
}

func satU64(u *uint256.Int) uint64 {
	if !u.IsUint64() {
		return ^uint64(0)
	}
	return u.Uint64()
}

type tierStateJSON struct {
	Value string `json:"value"`
	Ratio uint64 `json:"ratio"`
}

type stateJSON struct {
	Cash        string                   `json:"cash"`
	GrossAssets string                   `json:"grossAssets"`
	Tiers       map[string]tierStateJSON `json:"tiers"`
}

func stateOf(s *rebalance.State) *stateJSON {
	out := &stateJSON{Cash: decSigned(&s.Cash), GrossAssets: decSigned(&s.Gross), Tiers: map[string]tierStateJSON{}}
	for t, name := range rebalance.TierNames {
		out.Tiers[name] = tierStateJSON{Value: decSigned(&s.Tiers[t].Value), Ratio: s.Tiers[t].Ratio}
	}
	return out
}

type actionJSON struct {
	Index          int     `json:"index"`
	Type           string  `json:"type"`
	Tier           string  `json:"tier"`
	Asset          string  `json:"asset"`
	Amount         string  `json:"amount"`
	ExpectedTokens string  `json:"expectedTokens"`
	MinReceived    string  `json:"minReceived"`
	MaxSlippageBps uint64  `json:"maxSlippageBps"`
	Status         string  `json:"status"`
	TxHash         *string `json:"txHash"`
	BlockNumber    *uint64 `json:"blockNumber"`
	RealisedAmount *string `json:"realisedAmount"`
	RealisedTokens *string `json:"realisedTokens"`
}

type comparisonJSON struct {
	EstimatedRatio uint64 `json:"estimatedRatio"`
	RealisedRatio  uint64 `json:"realisedRatio"`
	DifferenceBps  int64  `json:"differenceBps"`
	TargetRatio    uint64 `json:"targetRatio"`
	DeviationBps   int64  `json:"deviationBps"`
}

type planJSON struct {
	PlanID           string                    `json:"planId"`
	Status           string                    `json:"status"`
	TargetRatios     map[string]uint64         `json:"targetRatios"`
	ReservedCash     string                    `json:"reservedCash"`
	HorizonSeconds   int64                     `json:"horizonSeconds"`
	LastBlock        uint64                    `json:"lastBlock"`
	PreState         *stateJSON                `json:"preState"`
	TargetState      *stateJSON                `json:"targetState"`
	PostState        *stateJSON                `json:"postState"`
	Actions          []actionJSON              `json:"actions"`
	TotalAmount      string                    `json:"totalAmount"`
	RequiresApproval *bool                     `json:"requiresApproval"`
	ApprovalAmount   *string                   `json:"approvalAmount"`
	TicketID         *string                   `json:"ticketId"`
	CreatedBy        string                    `json:"createdBy"`
	CreatedAt        string                    `json:"createdAt"`
	ExecutedBy       *string                   `json:"executedBy"`
	ExecutedAt       *string                   `json:"executedAt"`
	FinishedAt       *string                   `json:"finishedAt"`
	Reason           *string                   `json:"reason"`
	RealisedState    *stateJSON                `json:"realisedState"`
	Comparison       map[string]comparisonJSON `json:"comparison"`
	Index            uint64                    `json:"index"`
}

func optNano(t int64) *string {
	if t == 0 {
		return nil
	}
	s := fmtUnixNano(t)
	return &s
}

// PlanJSON renders a plan as POST /v1/rebalance/preview, /execute and GET
// /v1/rebalance/history show it. requiresApproval is what the execution decided; before it, the
// preview's answer says whether the plan would need a ticket (against the [rebalance]
// approval_amount the caller gives), and the replicated views, which do not know the node's
// threshold (approval nil), say null rather than a false that is not decided.
func PlanJSON(p *fund.PlanRecord, approval *uint256.Int) ([]byte, error) {
	out := planJSON{PlanID: fund.PlanID(p.ID), Status: p.Status.String(), TargetRatios: map[string]uint64{},
		ReservedCash: p.Reserved.Dec(), HorizonSeconds: p.Horizon, LastBlock: p.LastBlock,
		PreState: stateOf(&p.Pre), TargetState: stateOf(&p.Target), PostState: stateOf(&p.Post), Actions: []actionJSON{},
		TotalAmount: p.TotalAmount.Dec(), TicketID: optString(p.Ticket),
		CreatedBy: p.CreatedBy, CreatedAt: fmtUnixNano(p.CreatedAt), ExecutedBy: optString(p.ExecutedBy),
		ExecutedAt: optNano(p.ExecutedAt), FinishedAt: optNano(p.FinishedAt), Reason: optString(p.Reason), Index: p.UpdatedIndex}
	switch {
	case p.Status != fund.PlanProposed && p.Status != fund.PlanCancelled || p.ExecutedAt != 0:
		out.RequiresApproval = &p.RequiresApproval // as its execution decided
	case p.Status == fund.PlanProposed && approval != nil:
		needs := p.TotalAmount.Gt(approval)
		out.RequiresApproval = &needs
	} // else null: not decided, and the node's threshold is not known here
	if p.ExecutedAt != 0 { // the threshold its execution was judged against
		a := p.ApprovalAmount.Dec()
		out.ApprovalAmount = &a
	}
	for t, name := range rebalance.TierNames {
		out.TargetRatios[name] = p.Targets[t]
	}
	for i := range p.Actions {
		a := &p.Actions[i]
		aj := actionJSON{Index: i, Type: a.Type.String(), Tier: rebalance.TierNames[min(int(a.Tier), rebalance.NumTiers-1)],
			Asset: chainlog.HexAddress(a.Asset), Amount: a.Amount.Dec(), ExpectedTokens: a.Tokens.Dec(), MinReceived: a.MinReceived.Dec(),
			MaxSlippageBps: a.MaxSlippageBps, Status: a.State.String()}
		if a.State == fund.ActionDone {
			h, bn := chainlog.HexHash(a.TxHash), a.Block
			ra, rt := a.RealisedAmount.Dec(), a.RealisedTokens.Dec()
			aj.TxHash, aj.BlockNumber, aj.RealisedAmount, aj.RealisedTokens = &h, &bn, &ra, &rt
		}
		out.Actions = append(out.Actions, aj)
	}
	if p.HasRealised {
		out.RealisedState = stateOf(&p.Realised)
		out.Comparison = map[string]comparisonJSON{}
		for t, name := range rebalance.TierNames {
			est, got := p.Post.Tiers[t].Ratio, p.Realised.Tiers[t].Ratio
			out.Comparison[name] = comparisonJSON{EstimatedRatio: est, RealisedRatio: got, DifferenceBps: int64(got) - int64(est),
				TargetRatio: p.Targets[t], DeviationBps: rebalance.Deviation(got, p.Targets[t])}
		}
	}
	return json.Marshal(&out)
}

type statusTierJSON struct {
	Value       string `json:"value"`
	Ratio       int64  `json:"ratio"`
	TargetRatio uint64 `json:"targetRatio"`
	MinRatio    uint64 `json:"minRatio"`
	MaxRatio    uint64 `json:"maxRatio"`
	Deviation   int64  `json:"deviation"`
	InBand      bool   `json:"inBand"`
}

type statusJSON struct {
	NeedsRebalance bool                      `json:"needsRebalance"`
	GrossAssets    string                    `json:"grossAssets"`
	Tiers          map[string]statusTierJSON `json:"tiers"`
	PendingPlan    json.RawMessage           `json:"pendingPlan"`
	LastPlan       json.RawMessage           `json:"lastPlan"`
	LastBlock      uint64                    `json:"lastBlock"`
}

// RebalanceStatus renders GET /v1/rebalance/status: each tier's value, ratio, band and
// deviation from its target (ratio − target, bps), needsRebalance when a tier with a band is
// outside it, the plan pending approval or executing (pendingPlan) and the newest plan that
// left PROPOSED (lastPlan), null when none.
func RebalanceStatus(r kv.Reader) ([]byte, error) {
	b, err := fund.ReadBooks(r)
	if err != nil {
		return nil, err
	}
	out := statusJSON{GrossAssets: decSigned(&b.GrossAssets), Tiers: map[string]statusTierJSON{}, LastBlock: b.LastBlock,
		PendingPlan: json.RawMessage("null"), LastPlan: json.RawMessage("null")}
	for t, name := range rebalance.TierNames {
		tb := &b.Tiers[t]
		st := statusTierJSON{Value: decSigned(&tb.Value), Ratio: b.RatioBps(t), TargetRatio: satU64(&tb.TargetRatio),
			MinRatio: satU64(&tb.MinRatio), MaxRatio: satU64(&tb.MaxRatio)}
		st.Deviation = st.Ratio - int64(st.TargetRatio)
		st.InBand = st.MaxRatio == 0 || (st.Ratio >= int64(st.MinRatio) && st.Ratio <= int64(st.MaxRatio))
		out.NeedsRebalance = out.NeedsRebalance || !st.InBand
		out.Tiers[name] = st
	}
	if p, ok, err := fund.ActivePlan(r); err != nil {
		return nil, err
	} else if ok {
		if out.PendingPlan, err = PlanJSON(&p, nil); err != nil {
			return nil, err
		}
	}
	if p, ok, err := fund.LastPlan(r); err != nil {
		return nil, err
	} else if ok {
		if out.LastPlan, err = PlanJSON(&p, nil); err != nil {
			return nil, err
		}
	}
	return json.Marshal(&out)
}

// RebalanceHistoryParams are the query parameters of GET /v1/rebalance/history.
var RebalanceHistoryParams = []string{"status"}

// ParseRebalanceStatus parses status (PROPOSED, PENDING_APPROVAL, EXECUTING, COMPLETED,
// FAILED, CANCELLED), case-insensitive; 0 when absent.
func ParseRebalanceStatus(get Getter) (fund.PlanStatus, error) {
	s, ok := get("status")
	if !ok {
		return 0, nil
	}
	v, ok := fund.ParsePlanStatus(s)
	if !ok {
		return 0, invalidParam("status", "status must be one of PROPOSED, PENDING_APPROVAL, EXECUTING, COMPLETED, FAILED, CANCELLED")
	}
	return v, nil
}

// RebalanceHistory lists plans newest first (by id), those with status s (0: all), one page
// after the cursor (the last plan id, 8 bytes).
func RebalanceHistory(r kv.Reader, s fund.PlanStatus, p Page) ([]byte, error) {
	p = fixPage(p)
	lo, hi := []byte{fund.PrefixPlan}, []byte{fund.PrefixPlan + 1}
	if s != 0 {
		lo = fund.PlanStatusPrefix(s)
		hi = kv.PrefixEnd(lo)
	}
	if p.Cursor != nil {
		if len(p.Cursor) != 8 {
			return nil, invalidParam("cursor", "cursor is invalid")
		}
		if c := append(bytes.Clone(lo[:len(lo):len(lo)]), p.Cursor...); bytes.Compare(c, hi) < 0 {
			hi = c
		}
	}
	items := []json.RawMessage{}
	var last []byte
	more := false
	err := scan(r, lo, hi, true, func(k, v []byte) (bool, error) {
		id := k[len(lo):]
		if len(items) == p.Limit {
			more = true
			return false, nil
		}
		pk := fund.PlanKey(be64get(id))
		if s != 0 {
			var err error
			if v, err = r.Get(pk); err != nil {
				return false, corrupt("plan status index", err)
			}
		}
		plan, err := fund.DecodePlan(pk, v)
		if err != nil {
			return false, err
		}
		item, err := PlanJSON(&plan, nil)
		if err != nil {
			return false, err
		}
		items = append(items, item)
		last = bytes.Clone(id)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return pageJSON(items, more, last)
}

// RebalancePlan renders one plan (GET … by id); fund.ErrNotFound when there is none.
func RebalancePlan(r kv.Reader, id uint64) ([]byte, error) {
	p, err := fund.ReadPlan(r, id)
	if err != nil {
		return nil, err
	}
	return PlanJSON(&p, nil)
}
