package readmodel

import (
	"fmt"
	"math/big"
	"paimon/chainlog"
	"paimon/fund"
	"slices"
	"strconv"

	"github.com/ethereum/go-ethereum/common"
)

// The JSON of single primary records, for WebSocket push: an event frame's data is the
// changed resource as its GET returns it, and Changes.Records carries the changed records'
// values, so the push hub renders them without reading the state again (which, by the time
// the hub runs, may already hold later batches). Each kind goes through the same renderer as
// its GET (read.go), so the bytes are the same.

// RecordJSON renders a primary record's value exactly as the API's GET renders that resource:
//
//   - account (A) as GET /v1/accounts/{address};
//   - redemption (R) as GET /v1/redemptions/{requestId}, with its timeline;
//   - current price (P) as GET /v1/prices/{asset}, without history;
//   - NAV point (N) as one item of GET /v1/fund/nav/history?interval=raw;
//   - ledger entry (L) as one item of GET /v1/transactions;
//   - risk event (K) as one item of GET /v1/risk/events (a v0.1.0 record without the message
//     and details its ledger entry would give, which the value alone does not hold);
//   - approval ticket (G) as one item of GET /v1/approvals;
//   - rebalance plan (M) as one item of GET /v1/rebalance/history.
//
// ok is false (and err nil) for every other key: the other primary records (the fund
// singleton, assets, flow buckets, price points, audit entries, the ingest
// checkpoint), which push serves through the re-rendered views or not at all, and keys that
// are not primary records. A nil value (a deletion, as in Changes.Records) is ErrNotFound, as
// the GET of a missing resource is. A key of the wrong length or a value that does not decode
// is an error wrapping ErrInvariant. RecordJSON never panics, whatever the bytes.
func RecordJSON(key, value []byte) (body []byte, ok bool, err error) {
	if !fund.IsPrimaryRecord(key) {
		return nil, false, nil
	}
	switch key[0] {
	case fund.PrefixAccount, fund.PrefixRedemption, fund.PrefixPrice, fund.PrefixNav, fund.PrefixLedger, fund.PrefixRisk, fund.PrefixTicket, fund.PrefixPlan:
	default:
		return nil, false, nil
	}
	if n := fund.PrimaryKeyLen(key); len(key) != n {
		return nil, true, corrupt("record key", fmt.Errorf("%x has %d bytes, want %d", key, len(key), n))
	}
	if value == nil {
		return nil, true, fund.ErrNotFound
	}
	switch key[0] {
	case fund.PrefixAccount:
		body, err = renderAccount([20]byte(key[1:]), value)
	case fund.PrefixRedemption:
		var rd *fund.StoredRedemption
		if rd, err = fund.DecodeRedemption(value); err == nil {
			body, err = redemptionJSONOf(rd, true)
		}
	case fund.PrefixPrice:
		var p fund.StoredPrice
		if p, err = fund.DecodePrice(value); err == nil {
			body, err = renderPrice([20]byte(key[1:]), &p, nil)
		}
	case fund.PrefixNav:
		body, err = renderNavPoint(key, value)
	case fund.PrefixLedger:
		body, err = renderLedgerRecord(value)
	case fund.PrefixRisk:
		var rec *fund.RiskEventRecord
		if rec, err = fund.RiskEventOf(nil, key, value); err == nil {
			body, err = RiskEventJSON(rec)
		}
	case fund.PrefixTicket:
		var t fund.TicketRecord
		if t, err = fund.DecodeTicket(value); err == nil {
			body, err = TicketJSON(&t)
		}
	case fund.PrefixPlan:
		var p fund.PlanRecord
		if p, err = fund.DecodePlan(key, value); err == nil {
			body, err = PlanJSON(&p, nil)
		}
	}
	if err != nil {
		return nil, true, err
	}
	return body, true, nil
}

// LedgerJSONOf renders a decoded event that is not in the state (an unconfirmed chain event,
// for a "pending" push) as the ledger entry it becomes once applied, as one item of
// GET /v1/transactions, byte for byte. blockTime (unix seconds) stands in for a missing
// ev.BlockTime, as Apply substitutes the command's time: pass the time the command applying
// it will carry. An event that Apply would refuse (unknown name, argument types that do not
// match its spec, a block time out of range) is a *ValidationError.
func LedgerJSONOf(ev *chainlog.Event, blockTime int64) ([]byte, error) {
	e := *ev // Args is shared, read only
	if e.BlockTime == 0 {
		e.BlockTime = blockTime
	}
	if err := fund.ValidateEvent(&e); err != nil {
		return nil, err
	}
	return ledgerItem(&e)
}

// RecordKind is the pushed resource a primary record is (see RecordRef).
type RecordKind uint8

// The record kinds RecordRef tells apart.
const (
	RecordOther      RecordKind = iota // not pushed as a record
	RecordAccount                      // A: account:{address}
	RecordRedemption                   // R: redemptions
	RecordPrice                        // P: prices
	RecordNav                          // N: fund:nav
	RecordLedger                       // L: transactions
	RecordRisk                         // K: risk
	RecordTicket                       // G: approvals
	RecordPlan                         // M: rebalance
)

// RecordRef says which pushed resource the primary record under key is and renders its
// identity, the data of a "removed" frame when a command deletes the record (a reorg reverting
// what created it): {"address"} of an account, {"requestId"} of a redemption, {"asset"} of a
// price, {"time","blockNumber","logIndex"} of a NAV point, {"txHash","logIndex","blockNumber"}
// of a ledger entry, {"id"} of a risk event. addr is the account's address for RecordAccount. Any other key, including
// a pushed kind of the wrong length, is RecordOther with a nil ref.
func RecordRef(key []byte) (k RecordKind, addr [20]byte, ref []byte) {
	if len(key) == 0 || len(key) != fund.PrimaryKeyLen(key) {
		return RecordOther, addr, nil
	}
	b := make([]byte, 0, 128)
	switch key[0] {
	case fund.PrefixAccount:
		copy(addr[:], key[1:])
		b = append(append(append(b, `{"address":"`...), chainlog.HexAddress(addr)...), `"}`...)
		return RecordAccount, addr, b
	case fund.PrefixRedemption:
		id := new(big.Int).SetBytes(key[1:])
		b = append(append(append(b, `{"requestId":"`...), id.String()...), `"}`...)
		return RecordRedemption, addr, b
	case fund.PrefixPrice:
		b = append(append(append(b, `{"asset":"`...), chainlog.HexAddress(common.Address(key[1:]))...), `"}`...)
		return RecordPrice, addr, b
	case fund.PrefixNav:
		b = append(append(b, `{"time":"`...), fmtUnix(int64(be64get(key[1:])))...)
		b = append(b, `","blockNumber":`...)
		b = strconv.AppendUint(b, be64get(key[9:]), 10)
		b = append(b, `,"logIndex":`...)
		b = strconv.AppendUint(b, be64get(key[17:]), 10)
		return RecordNav, addr, append(b, '}')
	case fund.PrefixLedger:
		b = append(append(b, `{"txHash":"`...), chainlog.HexHash(common.Hash(key[17:49]))...)
		b = append(b, `","logIndex":`...)
		b = strconv.AppendUint(b, be64get(key[9:]), 10)
		b = append(b, `,"blockNumber":`...)
		b = strconv.AppendUint(b, be64get(key[1:]), 10)
		return RecordLedger, addr, append(b, '}')
	case fund.PrefixRisk:
		b = append(append(append(b, `{"id":"`...), fund.RiskEventID(key)...), `"}`...)
		return RecordRisk, addr, b
	case fund.PrefixTicket:
		var ref [32]byte
		copy(ref[:], key[2:])
		b = append(append(append(b, `{"id":"`...), fund.TicketID(fund.TicketType(key[1]), &ref)...), `"}`...)
		return RecordTicket, addr, b
	case fund.PrefixPlan:
		b = append(append(append(b, `{"planId":"`...), fund.PlanID(be64get(key[1:]))...), `"}`...)
		return RecordPlan, addr, b
	}
	return RecordOther, addr, nil
}

// EventAccounts returns the distinct non-zero address arguments of ev, the accounts whose
// account:{address} channel a pending event is pushed on (the accounts its ledger entry is
// listed under).
func EventAccounts(ev *chainlog.Event) [][20]byte {
	var out [][20]byte
	for i := range ev.Args {
		a := &ev.Args[i]
		if a.Type != chainlog.ArgAddress || a.Address == (common.Address{}) || slices.Contains(out, [20]byte(a.Address)) {
			continue
		}
		out = append(out, a.Address)
	}
	return out
}
