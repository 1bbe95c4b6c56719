package fund

import (
	"encoding/binary"
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
)

// CmdPriceDelete deletes the price points of one asset at one time (DELETE
// /v1/admin/prices/{asset}?time=), after which the asset's current price is the latest point
// left. The type follows CmdRole (10) in the append-only command list.
const CmdPriceDelete byte = 11

// CodeNotFound refuses a command whose target does not exist (a price point to delete).
const CodeNotFound = "NOT_FOUND"

// PriceDeleteCommand deletes every price point of Asset whose time is PointTime (unix s): the
// operator's and the oracle's alike. An oracle point comes back if its log is applied again
// (a reorg, a late log or a removal reverting it and the entries after it re-applying it).
type PriceDeleteCommand struct {
	Time      int64 // the proposer's clock, unix ns
	Actor     Actor
	Asset     common.Address
	PointTime int64
}

// PriceDeleteResult is the result of a CmdPriceDelete command.
type PriceDeleteResult struct {
	Deleted int // price points deleted
}

// EncodePriceDelete encodes c as a CmdPriceDelete command.
func EncodePriceDelete(c *PriceDeleteCommand) []byte {
	b := make([]byte, 0, 64)
	b = append(b, CmdPriceDelete, codecVersion)
	b = binary.AppendVarint(b, c.Time)
	b = appendActor(b, &c.Actor)
	b = append(b, c.Asset[:]...)
	return binary.AppendVarint(b, c.PointTime)
}

// DecodePriceDelete decodes a CmdPriceDelete command strictly; errors wrap ErrBadCommand.
func DecodePriceDelete(cmd []byte) (*PriceDeleteCommand, error) {
	d, err := newDec(cmd, CmdPriceDelete)
	if err != nil {
		return nil, err
	}
	c := &PriceDeleteCommand{Time: d.varint()}
	d.actor(&c.Actor)
	if a := d.fixed(20); d.err == nil {
		c.Asset = common.Address(a)
	}
	c.PointTime = d.varint()
	return c, d.finish()
}

// applyPriceDelete deletes the points, derives the current price from the history left, and
// audits "prices.delete". No point at that time is NOT_FOUND and changes nothing.
func (ac *applyContext) applyPriceDelete(c *PriceDeleteCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	if c.PointTime <= 0 || c.PointTime > chainlog.MaxUnixSeconds {
		return invalidParam("time", "time is out of range"), nil
	}
	ac.overlay.skipUnchanged = true
	lo := key(pPriceHist, c.Asset[:], be64(uint64(c.PointTime)))
	keys, err := ac.scanKeys(lo, prefixEnd(lo))
	if err != nil {
		return nil, err
	}
	asset := chainlog.HexAddress(c.Asset)
	when := fmtUnix(c.PointTime)
	if len(keys) == 0 {
		return &ValidationError{
			Code:    CodeNotFound,
			Message: fmt.Sprintf("asset %s has no price point at %s", asset, when),
			Details: map[string]any{"asset": asset, "time": when},
		}, nil
	}
	before := fmt.Appendf(nil, `{"asset":"%s","time":"%s","points":[`, asset, when)
	for i, k := range keys {
		v, _, err := ac.get(k)
		if err != nil {
			return nil, err
		}
		var p priceRec
		if err := p.decode(v); err != nil {
			return nil, corrupt("price point", err)
		}
		if i > 0 {
			before = append(before, ',')
		}
		src := "oracle"
		if p.source == srcAPI {
			src = "api"
		}
		before = fmt.Appendf(before, `{"price":"%s","source":"%s"}`, p.price.Dec(), src)
		if err := ac.del(k); err != nil {
			return nil, err
		}
		ac.markKey(k)
	}
	before = append(before, "]}"...)
	if err := ac.recomputePrice(c.Asset); err != nil {
		return nil, err
	}
	ac.fundSetInt(fUpdatedAt, c.Time)
	if !c.Actor.IsZero() {
		cur, ok, err := ac.get(priceKey(c.Asset))
		if err != nil {
			return nil, err
		}
		var p priceRec
		if ok {
			if err := p.decode(cur); err != nil {
				return nil, corrupt("price", err)
			}
		}
		after := appendAuditPrice(nil, c.Asset, ok, &p.price, p.time)
		if err := ac.writeAudit(ac.index, 0, c.Time, &c.Actor, "prices.delete", "prices/"+asset, before, after); err != nil {
			return nil, err
		}
	}
	return &PriceDeleteResult{Deleted: len(keys)}, nil
}
