package server

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"paimon/cache"
	"paimon/fund"
	"paimon/report"
)

// reportParams are the query parameters of GET /v1/reports/{kind}.
var reportParams = []string{"date", "format"}

// reportChangedBy are the fund classes whose change may change a report of the current period:
// the books (overview, tiers, assets, prices), the ledger (flows, fees, day snapshots), NAV,
// redemptions, risk events, approvals, the executor and the rebalancing plans. Audit and alerts
// are not in a report.
var reportChangedBy = []fund.Class{fund.ClassOverview, fund.ClassNav, fund.ClassTiers, fund.ClassAssets, fund.ClassFlows,
	fund.ClassPrices, fund.ClassAccounts, fund.ClassRedemptions, fund.ClassLedger, fund.ClassRisk, fund.ClassRiskStatus,
	fund.ClassApprovals, fund.ClassExecutor, fund.ClassRebalance}

// reportClass is the read cache's class of rendered reports (numbered by initReads).
var reportClass cache.Class

// maxCachedReports bounds the rendered reports of closed periods a node keeps (report.Cache).
const maxCachedReports = 512

// serveReport answers GET /v1/reports/{daily|weekly|monthly}?date=&format= from the local
// replica (OPERATIONS.md "Reports"): a closed period's report from the report cache, the
// current one computed once per change of what it reads (reportClass).
func (s *Server) serveReport(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	p, f, err := report.ParseQuery(string(rc.param), report.Getter(queryGetter(ctx.QueryArgs())))
	if err != nil {
		return err
	}
	// The read level (a local read with the configured max_staleness): without it, a follower
	// judged itself stale within 0 s and refused every report with STALE_READ.
	if err := s.parseConsistency(ctx, rc); err != nil {
		return err
	}
	if err := s.ensureConsistency(rc); err != nil {
		return err
	}
	// A rendered report is kept in the read cache under reportClass, which every change a report
	// reads invalidates (reportChangedBy): the current period is not computed again while
	// nothing it depends on changed. Closed periods also stay in s.reports, which no change evicts.
	key := []byte(p.FileName(f))
	applied := s.store.AppliedIndex()
	entry, idx, hit := s.cache.Get(nil, reportClass, nil, key)
	var body []byte
	var ctype string
	if hit && len(entry) > 0 && len(entry) > int(entry[0]) {
		ctype, body, idx = string(entry[1:1+entry[0]]), entry[1+entry[0]:], max(idx, applied)
	} else {
		v, err := s.store.Read()
		if err != nil {
			return err
		}
		defer v.Close()
		body, ctype, hit, err = s.reports.Render(v, v.Index, p, f)
		if err != nil {
			return err
		}
		idx = v.Index
		s.cache.Set(reportClass, nil, key, idx, []byte{byte(len(ctype))}, []byte(ctype), body)
	}
	h := &ctx.Response.Header
	h.SetContentType(ctype)
	if f != report.JSON {
		h.Set("Content-Disposition", `attachment; filename="`+p.FileName(f)+`"`)
	}
	h.Set("X-Paimon-Index", strconv.FormatUint(idx, 10))
	h.Set("X-Paimon-Node", s.cfg.NodeID)
	if hit {
		h.Set("X-Paimon-Report-Cache", "hit")
	}
	ctx.SetBody(body)
	return nil
}
