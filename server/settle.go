package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"

	"github.com/valyala/fasthttp"
)

// Settler sends one redemption's settlement on chain (the node's executor): the transaction
// intent it recorded, or found recorded for the same request, as a JSON-encodable value.
type Settler interface {
	SettleRedemption(ctx context.Context, id *big.Int) (any, error)
}

// settleRedemption is POST /v1/redemptions/{requestId}/settle (operator, on the leader): the
// executor records a settleRedemption(id) transaction, one per request however often it is
// asked, and answers 202 with it; its simulation, broadcast and receipt follow (GET
// /v1/executor/transactions). A request that is not due reverts in the simulation: FAILED
// with the reason, nothing sent. Every request is audited (redemption.settle, with the intent
// it got, new or recorded before), in an entry of its own right after the intent's.
func (s *Server) settleRedemption(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	id, ok := new(big.Int).SetString(string(rc.param), 10)
	if !ok || id.Sign() < 0 || id.BitLen() > 256 {
		return fmt.Errorf("%w: redemption %.100q", errNotFound, rc.param)
	}
	if s.deps.Settler == nil {
		return &apiError{Status: http.StatusServiceUnavailable, Code: "EXECUTOR_OFF", Message: "no [executor] key_file on this cluster's leader"}
	}
	t, err := s.deps.Settler.SettleRedemption(ctx, id)
	if err != nil {
		return err
	}
	body, err := json.Marshal(t)
	if err != nil {
		return err
	}
	index := s.audit(ctx, rc, "redemption.settle", "redemptions/"+id.String(), nil, json.RawMessage(body))
	s.respond(ctx, body, index)
	ctx.SetStatusCode(http.StatusAccepted)
	return nil
}
