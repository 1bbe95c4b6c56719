package fund

import (
	"bytes"
	"fmt"
	"math"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
	"paimon/chainlog"
)

// oracleEvent applies PriceSet: a history point, and the current price unless the current one
// is newer.
func (ac *applyContext) oracleEvent(ev *chainlog.Event, _ *chainlog.Spec, pos *ledgerPos) error {
	a := ev.Args
	asset := a[0].Address
	rec := priceRec{price: a[1].Uint, time: eventTime(&a[2].Uint, ac.blockTime), source: srcOracle, sourceID: uint8(a[3].Uint.Uint64())}
	enc := rec.encode()
	if err := ac.setKey(priceHistKey(asset, rec.time, srcOracle, ev.BlockNumber, ev.LogIndex), enc); err != nil {
		return err
	}
	newer, err := ac.priceIsNewer(asset, rec.time)
	if err != nil || !newer {
		return err
	}
	return ac.setKey(priceKey(asset), enc)
}

// priceIsNewer reports whether a price at time t replaces the asset's current price.
func (ac *applyContext) priceIsNewer(asset common.Address, t int64) (bool, error) {
	v, ok, err := ac.get(priceKey(asset))
	if err != nil || !ok {
		return !ok, err
	}
	var cur priceRec
	if err := cur.decode(v); err != nil {
		return false, corrupt("price", err)
	}
	return t >= cur.time, nil
}

// validPrice checks one operator price; the error names the item.
func validPrice(i int, p *PriceUpdate) (common.Address, *ValidationError) {
	a, err := chainlog.ParseAddress(p.Asset)
	if err != nil {
		return a, invalidParam(fmt.Sprintf("prices[%d].asset", i), "prices[%d].asset must be 0x followed by 40 hex digits", i)
	}
	if p.Price.IsZero() {
		return a, invalidParam(fmt.Sprintf("prices[%d].price", i), "prices[%d].price must be positive", i)
	}
	if p.Time <= 0 || p.Time > chainlog.MaxUnixSeconds {
		return a, invalidParam(fmt.Sprintf("prices[%d].time", i), "prices[%d].time is out of range", i)
	}
	return a, nil
}

// applyPrices applies operator price pushes (source "api"); they are not revertible.
func (ac *applyContext) applyPrices(c *PricesCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	if len(c.Prices) == 0 {
		return invalidParam("prices", "prices must not be empty"), nil
	}
	if len(c.Prices) > MaxPricesPerRequest {
		return invalidParam("prices", "prices must have at most %d items", MaxPricesPerRequest), nil
	}
	assets := make([]common.Address, len(c.Prices))
	skew := c.MaxFutureSkew              // the proposer's rule, never this node's configuration
	latest := int64(math.MaxInt64) / 1e9 // the latest price time (s) the command may carry
	if c.Time <= math.MaxInt64-skew.Nanoseconds() {
		latest = (c.Time + skew.Nanoseconds()) / 1e9
	}
	for i := range c.Prices {
		a, verr := validPrice(i, &c.Prices[i])
		if verr != nil {
			return verr, nil
		}
		if c.Prices[i].Time > latest && c.Version != 1 && skew > 0 {
			param := fmt.Sprintf("prices[%d].time", i)
			return &ValidationError{
				Message: fmt.Sprintf("%s is more than %s ahead of the command's time %s", param, skew, fmtUnix(c.Time/1e9)),
				Details: map[string]any{"param": param, "maxFutureSkew": skew.String()},
			}, nil
		}
		assets[i] = a
	}
	ac.journal = ac.journal[:0] // not stored: operator prices are not revertible
	ac.overlay.skipUnchanged = c.Version != 1
	var before, after []byte
	for i := range c.Prices {
		p := &c.Prices[i]
		rec := priceRec{price: p.Price, time: p.Time, source: srcAPI}
		enc := rec.encode()
		if err := ac.set(priceHistKey(assets[i], p.Time, srcAPI, ac.index, uint64(i)), enc); err != nil {
			return nil, err
		}
		ac.mark(ClassPrices)
		prev, ok, err := ac.get(priceKey(assets[i]))
		if err != nil {
			return nil, err
		}
		var cur priceRec
		if ok {
			if err := cur.decode(prev); err != nil {
				return nil, corrupt("price", err)
			}
		}
		if i < maxAuditItems {
			before = appendAuditPrice(before, assets[i], ok, &cur.price, cur.time)
			after = appendAuditPrice(after, assets[i], true, &p.Price, p.Time)
		}
		if !ok || p.Time >= cur.time {
			if err := ac.set(priceKey(assets[i]), enc); err != nil {
				return nil, err
			}
			ac.markPrice(assets[i])
		}
	}
	ac.fundSetInt(fUpdatedAt, c.Time)
	if !c.Actor.IsZero() {
		resource := "prices"
		if len(assets) == 1 {
			resource = "prices/" + chainlog.HexAddress(assets[0])
		}
		b := fmt.Appendf(nil, `{"count":%d,"prices":[%s]}`, len(c.Prices), before)
		af := fmt.Appendf(nil, `{"count":%d,"prices":[%s]}`, len(c.Prices), after)
		if err := ac.writeAudit(ac.index, 0, c.Time, &c.Actor, "prices.set", resource, b, af); err != nil {
			return nil, err
		}
	}
	return &PricesResult{Count: len(c.Prices)}, nil
}

// maxAuditItems bounds the prices listed in one audit entry's before/after.
const maxAuditItems = 20

func appendAuditPrice(b []byte, a common.Address, ok bool, p *uint256.Int, t int64) []byte {
	if len(b) > 0 {
		b = append(b, ',')
	}
	if !ok {
		return fmt.Appendf(b, `{"asset":"%s","price":null}`, chainlog.HexAddress(a))
	}
	return fmt.Appendf(b, `{"asset":"%s","price":"%s","time":"%s"}`, chainlog.HexAddress(a), p.Dec(), fmtUnix(t))
}

// recomputePrice makes the asset's current price the latest point of its history, or removes
// it when no point is left. The latest point is the greatest history key: the latest time, at
// equal times an operator's point before an oracle's, then the latest position (block and log
// index, or Raft index). Applying in ledger order gives the same price (an oracle price
// replaces one of the same time or older); the two differ only when an operator price and an
// oracle price share a time, where this rule lets the operator's win.
func (ac *applyContext) recomputePrice(asset common.Address) error {
	lo := key(pPriceHist, asset[:])
	k, ok, err := ac.lastKey(lo, prefixEnd(lo))
	if err != nil {
		return err
	}
	pk := priceKey(asset)
	cur, had, err := ac.get(pk)
	if err != nil {
		return err
	}
	if !ok {
		if !had {
			return nil
		}
		ac.markPrice(asset)
		return ac.del(pk)
	}
	v, _, err := ac.get(k)
	if err != nil {
		return err
	}
	if had && bytes.Equal(cur, v) {
		return nil
	}
	ac.markPrice(asset)
	return ac.set(pk, v)
}

// prefixEnd returns the first key after every key that starts with prefix.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // unreachable for the fund's prefixes, which never are all 0xff
}

// DefaultMaxPriceFutureSkew is the default of prices.max_future_skew, the skew the server
// writes into a version-2 CmdPrices when its configuration sets none.
const DefaultMaxPriceFutureSkew = 5 * time.Minute
