package fund

import "fmt"

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
//   - ledger entry (L) as one item of GET /v1/transactions.
//
// ok is false (and err nil) for every other key: the other primary records (the fund
// singleton, assets, flow buckets, price points, risk events, audit entries, the ingest
// checkpoint), which push serves through the re-rendered views or not at all, and keys that
// are not primary records. A nil value (a deletion, as in Changes.Records) is ErrNotFound, as
// the GET of a missing resource is. A key of the wrong length or a value that does not decode
// is an error wrapping ErrInvariant. RecordJSON never panics, whatever the bytes.
func RecordJSON(key, value []byte) (body []byte, ok bool, err error) {
	if !IsPrimaryRecord(key) {
		return nil, false, nil
	}
	switch key[0] {
	case pAccount, pRedemption, pPrice, pNav, pLedger:
	default:
		return nil, false, nil
	}
	if n := primaryKeyLen[key[0]]; len(key) != n {
		return nil, true, corrupt("record key", fmt.Errorf("%x has %d bytes, want %d", key, len(key), n))
	}
	if value == nil {
		return nil, true, ErrNotFound
	}
	switch key[0] {
	case pAccount:
		body, err = renderAccount([20]byte(key[1:]), value)
	case pRedemption:
		var rd *redemption
		if rd, err = decodeRedemption(value); err == nil {
			body, err = rd.json(true)
		}
	case pPrice:
		var p priceRec
		if p, err = decodePrice(value); err == nil {
			body, err = renderPrice([20]byte(key[1:]), &p, nil)
		}
	case pNav:
		body, err = renderNavPoint(key, value)
	case pLedger:
		body, err = renderLedgerRecord(value)
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
func LedgerJSONOf(ev *Event, blockTime int64) ([]byte, error) {
	e := *ev // Args is shared, read only
	if e.BlockTime == 0 {
		e.BlockTime = blockTime
	}
	if _, err := e.spec(); err != nil {
		return nil, err
	}
	return ledgerItem(&e)
}
