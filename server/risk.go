package server

import (
	"bytes"
	"fmt"

	"github.com/valyala/fasthttp"

	"paimon/fund"
	"paimon/kv"
	"paimon/readmodel"
)

// The risk events and the liquidity forecast (OPERATIONS.md, "Risk"): GET /v1/risk/events,
// POST /v1/risk/events/{id}/resolve, GET /v1/risk/liquidity-forecast.

func renderRiskEvents(v kv.Reader, q *readQuery) ([]byte, error) {
	f, err := readmodel.ParseRiskEventFilter(q.get)
	if err != nil {
		return nil, err
	}
	return pageOf(q.get, v, func(r kv.Reader, p readmodel.Page) ([]byte, error) { return readmodel.RiskEvents(r, f, p) })
}

func renderLiquidityForecast(v kv.Reader, q *readQuery) ([]byte, error) {
	fq, err := readmodel.ParseForecastQuery(q.get)
	if err != nil {
		return nil, err
	}
	return readmodel.LiquidityForecast(v, fq)
}

// resolveRequest is the body of POST /v1/risk/events/{id}/resolve; the body may be empty.
type resolveRequest struct {
	Note string `json:"note"`
}

// maxResolveNote is the longest note a resolution keeps (fund refuses longer ones too).
const maxResolveNote = 1024

// resolveRiskEvent resolves a risk event through the log (CmdRiskResolve, audited) and answers
// the event as resolved. An id that names no event is 404, resolving a resolved event 409
// CONFLICT naming who resolved it (the first resolution stays).
func (s *Server) resolveRiskEvent(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	id := string(rc.param)
	if _, ok := fund.RiskEventKey(id); !ok {
		return fmt.Errorf("%w: risk event %.100q", errNotFound, id)
	}
	var req resolveRequest
	if body := ctx.PostBody(); len(bytes.TrimSpace(body)) > 0 {
		if err := decodeStrict(body, &req); err != nil {
			return err
		}
	}
	if len(req.Note) > maxResolveNote {
		return validation(fmt.Sprintf("note is over %d bytes", maxResolveNote), map[string]any{"param": "note"})
	}
	res, err := s.propose(fund.EncodeRiskResolve(&fund.RiskResolveCommand{Time: s.now().UnixNano(), Actor: actorOf(ctx, rc), ID: id, Note: req.Note}))
	if err != nil {
		return err
	}
	rr, ok := res.Value.(*fund.RiskResolveResult)
	if !ok {
		return resultError(res.Value)
	}
	body, err := readmodel.RiskEventJSON(&rr.Event)
	if err != nil {
		return err
	}
	s.respond(ctx, body, res.Index)
	return nil
}
