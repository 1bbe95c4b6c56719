package server

import (
	"strconv"

	"github.com/valyala/fasthttp"
	"paimon/report"
)

// reportParams are the query parameters of GET /v1/reports/{kind}.
var reportParams = []string{"date", "format"}

// maxCachedReports bounds the rendered reports of closed periods a node keeps (report.Cache).
const maxCachedReports = 512

// serveReport answers GET /v1/reports/{daily|weekly|monthly}?date=&format= from the local
// replica (OPERATIONS.md "Reports"): a closed period's report from the report cache, the
// current one computed on request.
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
	v, err := s.store.Read()
	if err != nil {
		return err
	}
	defer v.Close()
	body, ctype, hit, err := s.reports.Render(v, p, f)
	if err != nil {
		return err
	}
	h := &ctx.Response.Header
	h.SetContentType(ctype)
	if f != report.JSON {
		h.Set("Content-Disposition", `attachment; filename="`+p.FileName(f)+`"`)
	}
	h.Set("X-Paimon-Index", strconv.FormatUint(v.Index, 10))
	h.Set("X-Paimon-Node", s.cfg.NodeID)
	if hit {
		h.Set("X-Paimon-Report-Cache", "hit")
	}
	ctx.SetBody(body)
	return nil
}
