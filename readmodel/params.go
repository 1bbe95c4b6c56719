package readmodel

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"

	"paimon/chainlog"
	"paimon/fund"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/holiman/uint256"
)

// Getter returns a query parameter's value and whether it was present.
type Getter func(name string) (string, bool)

// Page selects one page of a list: Limit items (1–1000) after the opaque Cursor (nil: the
// first page).
type Page struct {
	Limit  int
	Cursor []byte
}

// Pagination limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	maxCursorLen = 64
)

// PageParams are the query parameters ParsePage reads.
var PageParams = []string{"limit", "cursor"}

// ParsePage parses limit (1–1000, default 100) and cursor (base64url, as returned in
// nextCursor). Whether a cursor fits the list it is used with is checked by that list.
func ParsePage(get Getter) (Page, error) {
	p := Page{Limit: DefaultLimit}
	var err error
	if p.Limit, err = parseLimit(get, DefaultLimit); err != nil {
		return Page{}, err
	}
	if s, ok := get("cursor"); ok {
		c, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil || len(c) == 0 || len(c) > maxCursorLen {
			return Page{}, invalidParam("cursor", "cursor is invalid")
		}
		p.Cursor = c
	}
	return p, nil
}

func parseLimit(get Getter, def int) (int, error) {
	s, ok := get("limit")
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, invalidParam("limit", "limit must be between 1 and %d", MaxLimit)
	}
	return n, nil
}

func encodeCursor(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// ParseAddress parses a 0x-prefixed 40-hex-digit address (any letter case).
func ParseAddress(s string) (common.Address, error) {
	a, err := chainlog.ParseAddress(s)
	if err != nil {
		return common.Address{}, invalidf("address %q must be 0x followed by 40 hex digits", s)
	}
	return a, nil
}

// ParseAsset parses an asset address and returns it in canonical lower-case form.
func ParseAsset(s string) (string, error) {
	a, err := chainlog.ParseAddress(s)
	if err != nil {
		return "", invalidParam("asset", "asset must be 0x followed by 40 hex digits")
	}
	return chainlog.HexAddress(a), nil
}

// ParseRequestID parses a redemption request id (a decimal uint256 without sign or leading
// zeros) and returns its canonical form.
func ParseRequestID(s string) (string, error) {
	if s == "" || len(s) > 78 || (len(s) > 1 && s[0] == '0') || strings.TrimLeft(s, "0123456789") != "" {
		return "", invalidParam("requestId", "requestId must be a decimal integer")
	}
	var u uint256.Int
	if err := u.SetFromDecimal(s); err != nil {
		return "", invalidParam("requestId", "requestId is out of range")
	}
	return u.Dec(), nil
}

// ParseTime parses RFC 3339 or unix seconds into unix seconds within [0, year 9999]; name is
// the parameter it came from, named by the *ValidationError.
func ParseTime(name, s string) (int64, error) {
	var t int64
	if s != "" && strings.TrimLeft(s, "0123456789") == "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, invalidParam(name, "%s must be an RFC 3339 time or unix seconds", name)
		}
		t = v
	} else {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return 0, invalidParam(name, "%s must be an RFC 3339 time or unix seconds", name)
		}
		t = tm.Unix()
	}
	if t < 0 || t > chainlog.MaxUnixSeconds {
		return 0, invalidParam(name, "%s is out of range", name)
	}
	return t, nil
}

func optTime(get Getter, name string) (int64, bool, error) {
	s, ok := get(name)
	if !ok {
		return 0, false, nil
	}
	t, err := ParseTime(name, s)
	return t, err == nil, err
}

func optAddress(get Getter, name string) (*common.Address, error) {
	s, ok := get(name)
	if !ok {
		return nil, nil
	}
	a, err := chainlog.ParseAddress(s)
	if err != nil {
		return nil, invalidParam(name, "%s must be 0x followed by 40 hex digits", name)
	}
	return &a, nil
}

// NAV history intervals.
const (
	IntervalRaw  = "raw"
	IntervalHour = "1h"
	IntervalDay  = "1d"
	IntervalWeek = "1w" // ISO weeks, from Monday 00:00 UTC
)

// NavQuery selects NAV points: [From, To] (unix s, inclusive), bucketed by Interval, at most
// Limit (1–1000, default 1000) of the most recent buckets. Absent From/To default to the 30
// days ending at the latest NAV point.
type NavQuery struct {
	From, To       int64
	HasFrom, HasTo bool
	Interval       string
	Limit          int
}

// NavParams are the query parameters ParseNavQuery reads.
var NavParams = []string{"from", "to", "interval", "limit"}

// ParseNavQuery parses from, to (RFC 3339 or unix seconds), interval (raw, 1h, 1d, 1w; default
// 1d) and limit.
func ParseNavQuery(get Getter) (NavQuery, error) {
	q := NavQuery{Interval: IntervalDay}
	var err error
	if q.From, q.HasFrom, err = optTime(get, "from"); err != nil {
		return NavQuery{}, err
	}
	if q.To, q.HasTo, err = optTime(get, "to"); err != nil {
		return NavQuery{}, err
	}
	if q.HasFrom && q.HasTo && q.From > q.To {
		return NavQuery{}, invalidParam("from", "from must not be after to")
	}
	if s, ok := get("interval"); ok {
		if s != IntervalRaw && s != IntervalHour && s != IntervalDay && s != IntervalWeek {
			return NavQuery{}, invalidParam("interval", "interval must be raw, 1h, 1d or 1w")
		}
		q.Interval = s
	}
	if q.Limit, err = parseLimit(get, MaxLimit); err != nil {
		return NavQuery{}, err
	}
	return q, nil
}

// PriceQuery asks for an asset's price and, with History, its points in [From, To] (unix s,
// inclusive): the most recent Limit (1–1000, default 100), oldest first.
type PriceQuery struct {
	History        bool
	From, To       int64
	HasFrom, HasTo bool
	Limit          int
}

// PriceParams are the query parameters ParsePriceQuery reads.
var PriceParams = []string{"history", "from", "to", "limit"}

// ParsePriceQuery parses history (1/0/true/false), from, to and limit.
func ParsePriceQuery(get Getter) (PriceQuery, error) {
	q := PriceQuery{}
	if s, ok := get("history"); ok {
		switch s {
		case "1", "true":
			q.History = true
		case "0", "false":
		default:
			return PriceQuery{}, invalidParam("history", "history must be 1, 0, true or false")
		}
	}
	var err error
	if q.From, q.HasFrom, err = optTime(get, "from"); err != nil {
		return PriceQuery{}, err
	}
	if q.To, q.HasTo, err = optTime(get, "to"); err != nil {
		return PriceQuery{}, err
	}
	if q.HasFrom && q.HasTo && q.From > q.To {
		return PriceQuery{}, invalidParam("from", "from must not be after to")
	}
	if q.Limit, err = parseLimit(get, DefaultLimit); err != nil {
		return PriceQuery{}, err
	}
	return q, nil
}

// RedemptionFilter filters the redemption list; zero values mean "any".
type RedemptionFilter struct {
	Status           string // PENDING, PENDING_APPROVAL, APPROVED, REJECTED, CANCELLED, SETTLED
	Channel          string // STANDARD, EMERGENCY, SCHEDULED
	Owner            *common.Address
	RequiresApproval *bool
}

// RedemptionParams are the query parameters ParseRedemptionFilter reads.
var RedemptionParams = []string{"status", "channel", "owner", "requiresApproval"}

// ParseRedemptionFilter parses status, channel (case-insensitive), owner and requiresApproval.
func ParseRedemptionFilter(get Getter) (RedemptionFilter, error) {
	var f RedemptionFilter
	if s, ok := get("status"); ok {
		if !slices.Contains(fund.RedemptionStatuses(), strings.ToUpper(s)) {
			return f, invalidParam("status", "status must be one of %s", strings.Join(fund.RedemptionStatuses(), ", "))
		}
		f.Status = strings.ToUpper(s)
	}
	if s, ok := get("channel"); ok {
		if !slices.Contains(fund.RedemptionChannels(), strings.ToUpper(s)) {
			return f, invalidParam("channel", "channel must be one of %s", strings.Join(fund.RedemptionChannels(), ", "))
		}
		f.Channel = strings.ToUpper(s)
	}
	var err error
	if f.Owner, err = optAddress(get, "owner"); err != nil {
		return RedemptionFilter{}, err
	}
	if s, ok := get("requiresApproval"); ok {
		b, err := strconv.ParseBool(s)
		if err != nil || (s != "true" && s != "false") {
			return RedemptionFilter{}, invalidParam("requiresApproval", "requiresApproval must be true or false")
		}
		f.RequiresApproval = &b
	}
	return f, nil
}

// TxFilter filters the ledger; zero values mean "any". Block bounds are inclusive.
type TxFilter struct {
	Event              string
	Contract, Address  *common.Address
	FromBlock, ToBlock *uint64
}

// TxParams are the query parameters ParseTxFilter reads.
var TxParams = []string{"event", "contract", "address", "fromBlock", "toBlock"}

// ParseTxFilter parses event (a known event name), contract, address, fromBlock and toBlock
// (decimal or 0x hex).
func ParseTxFilter(get Getter) (TxFilter, error) {
	var f TxFilter
	if s, ok := get("event"); ok {
		if chainlog.SpecByName(s) == nil {
			return f, invalidParam("event", "event must be a known event name")
		}
		f.Event = s
	}
	var err error
	if f.Contract, err = optAddress(get, "contract"); err != nil {
		return TxFilter{}, err
	}
	if f.Address, err = optAddress(get, "address"); err != nil {
		return TxFilter{}, err
	}
	for _, p := range []struct {
		name string
		dst  **uint64
	}{{"fromBlock", &f.FromBlock}, {"toBlock", &f.ToBlock}} {
		s, ok := get(p.name)
		if !ok {
			continue
		}
		var v uint64
		var err error
		if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
			v, err = hexutil.DecodeUint64(s)
		} else {
			v, err = strconv.ParseUint(s, 10, 64)
		}
		if err != nil || s == "" || s[0] == '+' {
			return TxFilter{}, invalidParam(p.name, "%s must be a block number", p.name)
		}
		*p.dst = &v
	}
	if f.FromBlock != nil && f.ToBlock != nil && *f.FromBlock > *f.ToBlock {
		return TxFilter{}, invalidParam("fromBlock", "fromBlock must not be after toBlock")
	}
	return f, nil
}

// AuditFilter filters the audit log by exact actor and action; empty means "any".
type AuditFilter struct {
	Actor, Action string
}

// AuditParams are the query parameters ParseAuditFilter reads.
var AuditParams = []string{"actor", "action"}

// ParseAuditFilter parses actor and action (non-empty, at most 256 bytes).
func ParseAuditFilter(get Getter) (AuditFilter, error) {
	var f AuditFilter
	for _, p := range []struct {
		name string
		dst  *string
	}{{"actor", &f.Actor}, {"action", &f.Action}} {
		s, ok := get(p.name)
		if !ok {
			continue
		}
		if s == "" || len(s) > 256 {
			return AuditFilter{}, invalidParam(p.name, "%s must be 1 to 256 bytes", p.name)
		}
		*p.dst = s
	}
	return f, nil
}
