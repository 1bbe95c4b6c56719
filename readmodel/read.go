package readmodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
	"paimon/chainlog"
	"paimon/fund"
	"paimon/kv"
)

// list is the body of every paginated list.
type list struct {
	Items      []json.RawMessage `json:"items"`
	NextCursor string            `json:"nextCursor,omitempty"`
}

// pageJSON renders one page of a list: its items and, when more follow, the cursor after last.
func pageJSON(items []json.RawMessage, more bool, last []byte) ([]byte, error) {
	l := list{Items: items}
	if more {
		l.NextCursor = encodeCursor(last)
	}
	return json.Marshal(&l)
}

// pager scans keys under prefix newest first, starting below the cursor, and collects up to
// limit items; one extra match tells whether a next page exists.
type pager struct {
	prefix []byte
	posLen int
	page   Page
	items  []json.RawMessage
	last   []byte // position of the last returned item
	more   bool
}

// bounds returns the scan range [lo, hi) for positions in [loPos, hiPos) (nil: unbounded),
// capped by the cursor.
func (p *pager) bounds(loPos, hiPos []byte) ([]byte, []byte, error) {
	lo := append(bytes.Clone(p.prefix), loPos...)
	var hi []byte
	if hiPos != nil {
		hi = append(bytes.Clone(p.prefix), hiPos...)
	} else {
		hi = kv.PrefixEnd(p.prefix)
	}
	if p.page.Cursor != nil {
		if len(p.page.Cursor) != p.posLen {
			return nil, nil, invalidParam("cursor", "cursor is invalid")
		}
		c := append(bytes.Clone(p.prefix), p.page.Cursor...)
		if hi == nil || bytes.Compare(c, hi) < 0 {
			hi = c
		}
	}
	return lo, hi, nil
}

// add records one matching item; it returns false once the page is full.
func (p *pager) add(pos []byte, item []byte) bool {
	if len(p.items) == p.page.Limit {
		p.more = true
		return false
	}
	p.items = append(p.items, item)
	p.last = bytes.Clone(pos)
	return true
}

func (p *pager) body() ([]byte, error) {
	l := list{Items: p.items}
	if l.Items == nil {
		l.Items = []json.RawMessage{}
	}
	if p.more {
		l.NextCursor = encodeCursor(p.last)
	}
	return json.Marshal(&l)
}

func fixPage(p Page) Page {
	if p.Limit < 1 || p.Limit > MaxLimit {
		p.Limit = DefaultLimit
	}
	return p
}

// ---- NAV ----

type navItem struct {
	Time        string `json:"time"`
	SharePrice  string `json:"sharePrice"`
	Nav         string `json:"nav"`
	TotalAssets string `json:"totalAssets"`
	TotalSupply string `json:"totalSupply"`
}

type navBody struct {
	Interval  string    `json:"interval"`
	Items     []navItem `json:"items"`
	Change24h *string   `json:"change24h"`
	Change7d  *string   `json:"change7d"`
	Change30d *string   `json:"change30d"`
}

// navItemOf builds the item of GET /v1/fund/nav/history for the NAV point stored under k
// (N time bn li) with value v: the history encodes it within its body, RecordJSON (push) on
// its own (renderNavPoint), and encoding/json writes a struct the same bytes either way.
func navItemOf(k, v []byte) (navItem, error) {
	p, err := fund.DecodeNavPoint(v)
	if err != nil {
		return navItem{}, err
	}
	return navItem{
		Time: fmtUnix(int64(be64get(k[1:]))), SharePrice: p.SharePrice.Dec(), Nav: navString(&p.SharePrice),
		TotalAssets: decSigned(&p.TotalAssets), TotalSupply: decSigned(&p.TotalSupply),
	}, nil
}

// renderNavPoint renders one NAV point as one item of GET /v1/fund/nav/history.
func renderNavPoint(k, v []byte) ([]byte, error) {
	it, err := navItemOf(k, v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(&it)
}

const day = 86400

// lastNavAtOrBefore returns the newest NAV point with time <= t.
func lastNavAtOrBefore(r kv.Reader, t int64) (int64, *fund.StoredNavPoint, error) {
	var pt *fund.StoredNavPoint
	var at int64
	if t < 0 {
		return 0, nil, nil
	}
	hi := kv.PrefixEnd([]byte{fund.PrefixNav})
	if t < math.MaxInt64 {
		hi = key(fund.PrefixNav, be64(uint64(t+1)))
	}
	err := scan(r, []byte{fund.PrefixNav}, hi, true, func(k, v []byte) (bool, error) {
		p, err := fund.DecodeNavPoint(v)
		if err != nil {
			return false, err
		}
		pt, at = &p, int64(be64get(k[1:]))
		return false, nil
	})
	return at, pt, err
}

// NavHistory returns {interval, items, change24h, change7d, change30d} for q; see NavQuery.
func NavHistory(r kv.Reader, q NavQuery) ([]byte, error) {
	if q.Interval == "" {
		q.Interval = IntervalDay
	}
	if q.Limit < 1 || q.Limit > MaxLimit {
		q.Limit = MaxLimit
	}
	return navHistory(r, q)
}

func navHistory(r kv.Reader, q NavQuery) ([]byte, error) {
	body := navBody{Interval: q.Interval, Items: []navItem{}}
	latestT, latest, err := lastNavAtOrBefore(r, math.MaxInt64)
	if err != nil || latest == nil {
		if err != nil {
			return nil, err
		}
		return json.Marshal(&body)
	}
	to, from := latestT, int64(0)
	if q.HasTo {
		to = q.To
	}
	if q.HasFrom {
		from = q.From
	} else {
		from = max(to-30*day, 0)
	}
	// A bucket is [start, start+width) with start ≡ offset (mod width): weeks start on a
	// Monday, and 1970-01-01 was a Thursday.
	var width, offset int64
	switch q.Interval {
	case IntervalHour:
		width = 3600
	case IntervalDay:
		width = day
	case IntervalWeek:
		width, offset = 7*day, 4*day
	}
	if from <= to {
		// Newest first: with buckets, take the newest point of a bucket and then seek below
		// the bucket's start, so the cost is one seek per bucket, not one step per point.
		lo, hi := key(fund.PrefixNav, be64(uint64(from))), key(fund.PrefixNav, be64(uint64(to)+1))
		for len(body.Items) < q.Limit && bytes.Compare(lo, hi) < 0 {
			var next []byte
			err = scan(r, lo, hi, true, func(k, v []byte) (bool, error) {
				t := int64(be64get(k[1:]))
				item, err := navItemOf(k, v)
				if err != nil {
					return false, err
				}
				body.Items = append(body.Items, item)
				if width > 0 {
					next = key(fund.PrefixNav, be64(uint64(max(t-((t-offset)%width+width)%width, 0))))
					return false, nil
				}
				return len(body.Items) < q.Limit, nil
			})
			if err != nil {
				return nil, err
			}
			if next == nil {
				break
			}
			hi = next
		}
	}
	for i, j := 0, len(body.Items)-1; i < j; i, j = i+1, j-1 {
		body.Items[i], body.Items[j] = body.Items[j], body.Items[i]
	}
	for _, c := range []struct {
		window int64
		dst    **string
	}{{day, &body.Change24h}, {7 * day, &body.Change7d}, {30 * day, &body.Change30d}} {
		_, ref, err := lastNavAtOrBefore(r, latestT-c.window)
		if err != nil {
			return nil, err
		}
		if ref != nil {
			*c.dst = percentChange(&latest.SharePrice, &ref.SharePrice)
		}
	}
	return json.Marshal(&body)
}

// ---- prices ----

type historyItem struct {
	Price    string `json:"price"`
	Source   string `json:"source"`
	SourceID *uint8 `json:"sourceId,omitempty"`
	Time     string `json:"time"`
}

// Price returns the current price of asset ({asset, price, source, time}, plus sourceId for
// oracle prices) and, with q.History, its points in [from, to] as items (oldest first).
func Price(r kv.Reader, asset string, q PriceQuery) ([]byte, error) {
	a, err := chainlog.ParseAddress(asset)
	if err != nil {
		return nil, invalidParam("asset", "asset must be 0x followed by 40 hex digits")
	}
	v, ok, err := getOpt(r, key(fund.PrefixPrice, a[:]))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fund.ErrNotFound
	}
	cur, err := fund.DecodePrice(v)
	if err != nil {
		return nil, err
	}
	var items json.RawMessage
	if q.History {
		limit := q.Limit
		if limit < 1 || limit > MaxLimit {
			limit = DefaultLimit
		}
		to := int64(chainlog.MaxUnixSeconds)
		if q.HasTo {
			to = q.To
		}
		hist := []historyItem{}
		if !q.HasFrom || q.From <= to {
			prefix := key(fund.PrefixPriceHistory, a[:])
			err := scan(r, append(bytes.Clone(prefix), be64(uint64(max(q.From, 0)))...), append(prefix, be64(uint64(to)+1)...), true,
				func(k, v []byte) (bool, error) {
					p, err := fund.DecodePricePoint(v)
					if err != nil {
						return false, err
					}
					j := priceJSONOf(&p, "")
					hist = append(hist, historyItem{Price: j.Price, Source: j.Source, SourceID: j.SourceID, Time: j.Time})
					return len(hist) < limit, nil
				})
			if err != nil {
				return nil, err
			}
		}
		for i, j := 0, len(hist)-1; i < j; i, j = i+1, j-1 {
			hist[i], hist[j] = hist[j], hist[i]
		}
		if items, err = json.Marshal(hist); err != nil {
			return nil, err
		}
	}
	return renderPrice(a, &cur, items)
}

// renderPrice renders asset's current price as GET /v1/prices/{asset} does, with the history
// items when not nil: the read and RecordJSON (push, without history) share it.
func renderPrice(asset common.Address, cur *fund.StoredPrice, items json.RawMessage) ([]byte, error) {
	out := priceJSONOf(cur, chainlog.HexAddress(asset))
	out.Items = items
	return json.Marshal(&out)
}

// ---- accounts ----

type accountJSON struct {
	Address            string  `json:"address"`
	Shares             string  `json:"shares"`
	LockedShares       string  `json:"lockedShares"`
	Deposited          string  `json:"deposited"`
	Withdrawn          string  `json:"withdrawn"`
	Redeemed           string  `json:"redeemed"`
	PendingRedemptions string  `json:"pendingRedemptions"`
	FirstSeen          *string `json:"firstSeen"`
	LastActivity       *string `json:"lastActivity"`
}

// Account returns a share holder's account; fund.ErrNotFound if no event ever touched it.
func Account(r kv.Reader, addr common.Address) ([]byte, error) {
	v, ok, err := getOpt(r, key(fund.PrefixAccount, addr[:]))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fund.ErrNotFound
	}
	return renderAccount(addr, v)
}

// renderAccount renders the account record v of addr as GET /v1/accounts/{address} does: the
// read and RecordJSON (push) share it.
func renderAccount(addr common.Address, v []byte) ([]byte, error) {
	a, err := fund.DecodeAccount(v)
	if err != nil {
		return nil, err
	}
	j := accountJSON{
		Address: chainlog.HexAddress(addr), Shares: decSigned(&a.Shares), LockedShares: decSigned(&a.LockedShares),
		Deposited: decSigned(&a.Deposited), Withdrawn: decSigned(&a.Withdrawn),
		Redeemed: decSigned(&a.Redeemed), PendingRedemptions: decSigned(&a.PendingRedemptions),
	}
	if a.FirstSeen != 0 || a.LastActivity != 0 {
		f, l := fmtUnix(a.FirstSeen), fmtUnix(a.LastActivity)
		j.FirstSeen, j.LastActivity = &f, &l
	}
	return json.Marshal(&j)
}

// AccountTransactions lists the ledger entries with addr as an address argument, newest
// first; fund.ErrNotFound for an address that has neither an account nor ledger entries.
func AccountTransactions(r kv.Reader, addr common.Address, p Page) ([]byte, error) {
	body, n, err := listLedger(r, key(fund.PrefixLedgerByAddress, addr[:]), TxFilter{}, p)
	if err != nil {
		return nil, err
	}
	if n == 0 && p.Cursor == nil {
		if _, ok, err := getOpt(r, key(fund.PrefixAccount, addr[:])); err != nil || !ok {
			if err == nil {
				err = fund.ErrNotFound
			}
			return nil, err
		}
	}
	return body, nil
}

// ---- ledger ----

type ledgerJSON struct {
	TxHash      string          `json:"txHash"`
	LogIndex    uint64          `json:"logIndex"`
	BlockNumber uint64          `json:"blockNumber"`
	BlockHash   string          `json:"blockHash"`
	BlockTime   string          `json:"blockTime"`
	Contract    string          `json:"contract"`
	Event       string          `json:"event"`
	Args        json.RawMessage `json:"args"`
}

// LedgerEntry returns one ledger entry as GET /v1/transactions renders it (for push);
// fund.ErrNotFound if it is not in the ledger.
func LedgerEntry(r kv.Reader, tx common.Hash, logIndex uint64) ([]byte, error) {
	v, ok, err := getOpt(r, fund.LedgerTxKey(tx, logIndex))
	if err != nil {
		return nil, err
	}
	if !ok || len(v) != 8 {
		return nil, fund.ErrNotFound
	}
	rv, ok, err := getOpt(r, fund.LedgerKey(be64get(v), logIndex, tx))
	if err != nil || !ok {
		if err == nil {
			err = fund.ErrNotFound
		}
		return nil, err
	}
	return renderLedgerRecord(rv)
}

// renderLedgerRecord renders a stored ledger entry (L) as one item of GET /v1/transactions.
func renderLedgerRecord(v []byte) ([]byte, error) {
	ev, err := fund.DecodeLedgerEvent(v)
	if err != nil {
		return nil, err
	}
	return ledgerItem(ev)
}

// ledgerItem renders an event as one item of GET /v1/transactions: the one renderer of a
// ledger entry, for the lists, LedgerEntry, RecordJSON and LedgerJSONOf (push).
func ledgerItem(ev *chainlog.Event) ([]byte, error) {
	s := chainlog.SpecByName(ev.Name)
	if s == nil || len(ev.Args) != len(s.Args) {
		return nil, corrupt("ledger entry", errors.New("unknown event "+ev.Name))
	}
	return json.Marshal(&ledgerJSON{
		TxHash: chainlog.HexHash(ev.TxHash), LogIndex: ev.LogIndex, BlockNumber: ev.BlockNumber,
		BlockHash: chainlog.HexHash(ev.BlockHash), BlockTime: fmtUnix(ev.BlockTime), Contract: chainlog.HexAddress(ev.Contract),
		Event: ev.Name, Args: chainlog.AppendArgsJSON(nil, s, ev.Args),
	})
}

// Transactions lists the ledger newest first (by block number, then log index), filtered by
// f. It scans the most selective index (address, contract, event) and filters the rest.
func Transactions(r kv.Reader, f TxFilter, p Page) ([]byte, error) {
	var prefix []byte
	switch {
	case f.Address != nil:
		prefix = key(fund.PrefixLedgerByAddress, f.Address[:])
		f.Address = nil
	case f.Contract != nil:
		prefix = key(fund.PrefixLedgerByContract, f.Contract[:])
		f.Contract = nil
	case f.Event != "":
		s := chainlog.SpecByName(f.Event)
		if s == nil {
			return nil, invalidParam("event", "event must be a known event name")
		}
		prefix = key(fund.PrefixLedgerByEvent, []byte{s.ID})
		f.Event = ""
	default:
		prefix = []byte{fund.PrefixLedger}
	}
	body, _, err := listLedger(r, prefix, f, p)
	return body, err
}

func listLedger(r kv.Reader, prefix []byte, f TxFilter, p Page) ([]byte, int, error) {
	pg := &pager{prefix: prefix, posLen: fund.LedgerPosLen, page: fixPage(p)}
	var loPos, hiPos []byte
	if f.FromBlock != nil {
		loPos = be64(*f.FromBlock)
	}
	if f.ToBlock != nil && *f.ToBlock < math.MaxUint64 {
		hiPos = be64(*f.ToBlock + 1)
	}
	lo, hi, err := pg.bounds(loPos, hiPos)
	if err != nil {
		return nil, 0, err
	}
	direct := len(prefix) == 1 && prefix[0] == fund.PrefixLedger
	err = scan(r, lo, hi, true, func(k, v []byte) (bool, error) {
		pos := k[len(prefix):]
		if len(pos) != fund.LedgerPosLen {
			return false, corrupt("ledger index", errBadKeyLength)
		}
		if !direct {
			rv, ok, err := getOpt(r, key(fund.PrefixLedger, pos))
			if err != nil {
				return false, err
			}
			if !ok {
				return false, corrupt("ledger index", errDanglingIndex)
			}
			v = rv
		}
		ev, err := fund.DecodeLedgerEvent(v)
		if err != nil {
			return false, err
		}
		if !txMatch(ev, &f) {
			return true, nil
		}
		item, err := ledgerItem(ev)
		if err != nil {
			return false, err
		}
		return pg.add(pos, item), nil
	})
	if err != nil {
		return nil, 0, err
	}
	body, err := pg.body()
	return body, len(pg.items), err
}

func txMatch(ev *chainlog.Event, f *TxFilter) bool {
	if f.Event != "" && ev.Name != f.Event {
		return false
	}
	if f.Contract != nil && ev.Contract != *f.Contract {
		return false
	}
	if f.Address != nil {
		found := false
		for i := range ev.Args {
			found = found || (ev.Args[i].Type == chainlog.ArgAddress && ev.Args[i].Address == *f.Address)
		}
		if !found {
			return false
		}
	}
	return true
}

// ---- redemptions ----

type timelineJSON struct {
	Status      string `json:"status"`
	Time        string `json:"time"`
	TxHash      string `json:"txHash"`
	BlockNumber uint64 `json:"blockNumber"`
}

type redemptionJSON struct {
	RequestID        string          `json:"requestId"`
	Owner            *string         `json:"owner"`
	Receiver         *string         `json:"receiver"`
	Shares           string          `json:"shares"`
	LockedAmount     string          `json:"lockedAmount"`
	EstimatedFee     string          `json:"estimatedFee"`
	GrossAmount      string          `json:"grossAmount"`
	Fee              string          `json:"fee"`
	NetAmount        string          `json:"netAmount"`
	Channel          string          `json:"channel"`
	Status           string          `json:"status"`
	RequiresApproval bool            `json:"requiresApproval"`
	SettlementTime   *string         `json:"settlementTime"`
	WindowID         string          `json:"windowId"`
	RequestedAt      *string         `json:"requestedAt"`
	TxHash           string          `json:"txHash"`
	Timeline         *[]timelineJSON `json:"timeline,omitempty"`
}

func optAddrString(a common.Address) *string {
	if a == (common.Address{}) {
		return nil
	}
	s := chainlog.HexAddress(a)
	return &s
}

// redemptionJSONOf renders the redemption as GET /v1/redemptions/{requestId} does
// (withTimeline) or as an item of GET /v1/redemptions: the reads and RecordJSON (push) share
// it.
func redemptionJSONOf(r *fund.StoredRedemption, withTimeline bool) ([]byte, error) {
	j := redemptionJSON{
		RequestID: r.ID.Dec(), Owner: optAddrString(r.Owner), Receiver: optAddrString(r.Receiver),
		Shares: r.Shares.Dec(), LockedAmount: r.LockedAmount.Dec(), EstimatedFee: r.EstimatedFee.Dec(),
		GrossAmount: r.GrossAmount.Dec(), Fee: r.Fee.Dec(), NetAmount: r.NetAmount.Dec(),
		Channel: r.Channel, Status: r.Status, RequiresApproval: r.RequiresApproval,
		WindowID: r.WindowID.Dec(), TxHash: chainlog.HexHash(r.TxHash),
	}
	if st := &r.SettlementTime; !st.IsZero() && st.IsUint64() && st.Uint64() <= chainlog.MaxUnixSeconds {
		s := fmtUnix(int64(st.Uint64()))
		j.SettlementTime = &s
	}
	if r.RequestedAt != 0 {
		s := fmtUnix(r.RequestedAt)
		j.RequestedAt = &s
	}
	if withTimeline {
		tl := make([]timelineJSON, len(r.Timeline))
		for i, t := range r.Timeline {
			tl[i] = timelineJSON{Status: t.Status, Time: fmtUnix(t.Time), TxHash: chainlog.HexHash(t.TxHash), BlockNumber: t.BlockNumber}
		}
		j.Timeline = &tl
	}
	return json.Marshal(&j)
}

func readRedemption(r kv.Reader, id []byte) (*fund.StoredRedemption, error) {
	v, ok, err := getOpt(r, key(fund.PrefixRedemption, id))
	if err != nil || !ok {
		if err == nil {
			err = fund.ErrNotFound
		}
		return nil, err
	}
	return fund.DecodeRedemption(v)
}

// Redemption returns one redemption with its timeline; fund.ErrNotFound if unknown.
func Redemption(r kv.Reader, id string) ([]byte, error) {
	canon, err := ParseRequestID(id)
	if err != nil {
		return nil, err
	}
	b := uint256.MustFromDecimal(canon).Bytes32()
	rd, err := readRedemption(r, b[:])
	if err != nil {
		return nil, err
	}
	return redemptionJSONOf(rd, true)
}

// Redemptions lists redemptions, highest requestId first, filtered by f (owner or status
// index when given; the other conditions filter records).
func Redemptions(r kv.Reader, f RedemptionFilter, p Page) ([]byte, error) {
	var statusPrefix []byte
	if f.Status != "" {
		var ok bool
		if statusPrefix, ok = fund.RedemptionStatusPrefix(f.Status); !ok {
			return nil, invalidParam("status", "status is invalid")
		}
	}
	if f.Channel != "" && !slices.Contains(fund.RedemptionChannels(), f.Channel) {
		return nil, invalidParam("channel", "channel is invalid")
	}
	var prefix []byte
	switch {
	case f.Owner != nil:
		prefix = key(fund.PrefixRedemptionByOwner, f.Owner[:])
	case statusPrefix != nil:
		prefix = statusPrefix
	default:
		prefix = []byte{fund.PrefixRedemption}
	}
	pg := &pager{prefix: prefix, posLen: redemptionIDLen, page: fixPage(p)}
	lo, hi, err := pg.bounds(nil, nil)
	if err != nil {
		return nil, err
	}
	err = scan(r, lo, hi, true, func(k, v []byte) (bool, error) {
		pos := k[len(prefix):]
		if len(pos) != redemptionIDLen {
			return false, corrupt("redemption key", errBadKeyLength)
		}
		rd, err := readRedemption(r, pos)
		if err != nil {
			if err == fund.ErrNotFound {
				err = corrupt("redemption index", errDanglingIndex)
			}
			return false, err
		}
		if (f.Status != "" && rd.Status != f.Status) || (f.Channel != "" && rd.Channel != f.Channel) ||
			(f.Owner != nil && rd.Owner != *f.Owner) || (f.RequiresApproval != nil && rd.RequiresApproval != *f.RequiresApproval) {
			return true, nil
		}
		item, err := redemptionJSONOf(rd, false)
		if err != nil {
			return false, err
		}
		return pg.add(pos, item), nil
	})
	if err != nil {
		return nil, err
	}
	return pg.body()
}

// ---- audit ----

type auditJSON struct {
	ID        string          `json:"id"`
	Time      string          `json:"time"`
	Actor     string          `json:"actor"`
	Role      string          `json:"role"`
	Action    string          `json:"action"`
	Resource  string          `json:"resource"`
	IP        string          `json:"ip"`
	UserAgent string          `json:"userAgent"`
	Before    json.RawMessage `json:"before"`
	After     json.RawMessage `json:"after"`
	Index     uint64          `json:"index"`
}

// rawOrNull is an audit entry's before or after value as JSON: null when empty or invalid.
func rawOrNull(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return json.RawMessage("null")
	}
	return b
}

// Audit lists privileged actions newest first, filtered by exact actor and action.
func Audit(r kv.Reader, f AuditFilter, p Page) ([]byte, error) {
	var prefix []byte
	switch {
	case f.Actor != "":
		prefix = fund.AuditActorPrefix(f.Actor)
	case f.Action != "":
		prefix = fund.AuditActionPrefix(f.Action)
	default:
		prefix = []byte{fund.PrefixAudit}
	}
	direct := len(prefix) == 1
	pg := &pager{prefix: prefix, posLen: fund.AuditPosLen, page: fixPage(p)}
	lo, hi, err := pg.bounds(nil, nil)
	if err != nil {
		return nil, err
	}
	err = scan(r, lo, hi, true, func(k, v []byte) (bool, error) {
		pos := k[len(prefix):]
		if len(pos) != fund.AuditPosLen {
			return false, corrupt("audit key", errBadKeyLength)
		}
		if !direct {
			rv, ok, err := getOpt(r, key(fund.PrefixAudit, pos))
			if err != nil || !ok {
				if err == nil {
					err = corrupt("audit index", errDanglingIndex)
				}
				return false, err
			}
			v = rv
		}
		a, err := fund.DecodeAuditEntry(v)
		if err != nil {
			return false, err
		}
		if (f.Actor != "" && a.Actor.Name != f.Actor) || (f.Action != "" && a.Action != f.Action) {
			return true, nil
		}
		item, err := json.Marshal(&auditJSON{
			ID: strconv.FormatUint(a.Index, 10) + "-" + strconv.FormatUint(uint64(a.Ord), 10), Time: fmtUnixNano(a.Time),
			Actor: a.Actor.Name, Role: a.Actor.Role, Action: a.Action, Resource: a.Resource,
			IP: a.Actor.IP, UserAgent: a.Actor.UserAgent, Before: rawOrNull(a.Before), After: rawOrNull(a.After), Index: a.Index,
		})
		if err != nil {
			return false, err
		}
		return pg.add(pos, item), nil
	})
	if err != nil {
		return nil, err
	}
	return pg.body()
}
