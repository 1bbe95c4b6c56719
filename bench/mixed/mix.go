package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// A kind of request in the mix. Paths with a holder or an asset are drawn per request.
type kind struct {
	Key    string // its name in -mix
	Label  string // how the report names it
	Method string // GET or POST
	Auth   bool   // sends the admin token
	Write  bool   // POST /v1/admin/logs with one new mint
	path   string // the path, with {addr} or {asset} to fill in
}

// kinds are every request the tool can send, in report order.
var kinds = []kind{
	{Key: "overview", Label: "GET /v1/fund/overview", Method: "GET", path: "/v1/fund/overview"},
	{Key: "nav", Label: "GET /v1/fund/nav/history", Method: "GET", path: "/v1/fund/nav/history"},
	{Key: "nav_1h", Label: "GET /v1/fund/nav/history?interval=1h&limit=100", Method: "GET", path: "/v1/fund/nav/history?interval=1h&limit=100"},
	{Key: "tiers", Label: "GET /v1/fund/tiers", Method: "GET", path: "/v1/fund/tiers"},
	{Key: "prices", Label: "GET /v1/prices", Method: "GET", path: "/v1/prices"},
	{Key: "price_history", Label: "GET /v1/prices/{asset}?history=1&limit=50", Method: "GET", path: "/v1/prices/{asset}?history=1&limit=50"},
	{Key: "account", Label: "GET /v1/accounts/{addr} (token)", Method: "GET", Auth: true, path: "/v1/accounts/{addr}"},
	{Key: "account_tx", Label: "GET /v1/accounts/{addr}/transactions (token)", Method: "GET", Auth: true, path: "/v1/accounts/{addr}/transactions"},
	{Key: "redemptions", Label: "GET /v1/redemptions?limit=20 (token)", Method: "GET", Auth: true, path: "/v1/redemptions?limit=20"},
	{Key: "write", Label: "POST /v1/admin/logs, 1 mint (token)", Method: "POST", Auth: true, Write: true, path: "/v1/admin/logs"},
}

// defaultMix reflects a fund's users: dashboards polling the public fund views (overview,
// NAV chart, tiers, prices), wallets reading their own account and its history, the
// operators' redemption queue, and 1 % writes (a webhook's new chain log, which invalidates
// the overview and the account it credits).
const defaultMix = "overview=25,nav=12,nav_1h=5,tiers=8,prices=10,price_history=5,account=15,account_tx=10,redemptions=9,write=1"

// mixEntry is one kind's share of the requests.
type mixEntry struct {
	Kind  int     // index in kinds
	Share float64 // of all requests, 0–1
}

// parseMix reads "key=weight,key=weight,...": weights are non-negative numbers, relative to
// their sum; kinds not named are not sent.
func parseMix(s string) ([]mixEntry, error) {
	weights := map[int]float64{}
	var total float64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, w, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want key=weight", part)
		}
		key = strings.TrimSpace(key)
		i := slices.IndexFunc(kinds, func(k kind) bool { return k.Key == key })
		if i < 0 {
			return nil, fmt.Errorf("unknown request kind %q (want %s)", key, kindKeys())
		}
		if _, dup := weights[i]; dup {
			return nil, fmt.Errorf("%q given twice", key)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("%s: weight %q is not a non-negative number", key, w)
		}
		weights[i] = v
		total += v
	}
	if total <= 0 {
		return nil, fmt.Errorf("%q: no request kind has a positive weight", s)
	}
	var mix []mixEntry
	for i := range kinds {
		if w := weights[i]; w > 0 {
			mix = append(mix, mixEntry{Kind: i, Share: w / total})
		}
	}
	return mix, nil
}

func kindKeys() string {
	keys := make([]string, len(kinds))
	for i, k := range kinds {
		keys[i] = k.Key
	}
	return strings.Join(keys, ", ")
}

// deckSize is the length of the repeating sequence of kinds: shares are exact to 0.01 %.
const deckSize = 10000

// deck returns the sequence of kinds that request i takes its kind from (deck[i % len]): each
// kind appears in proportion to its share (largest remainder, at least once), in an order
// shuffled with seed, so that every stretch of the timeline carries the whole mix rather than
// bursts of one kind.
func deck(mix []mixEntry, seed uint64) []int {
	type part struct {
		kind, n int
		rem     float64
	}
	parts := make([]part, len(mix))
	used := 0
	for i, m := range mix {
		exact := m.Share * deckSize
		n := max(int(exact), 1)
		parts[i] = part{kind: m.Kind, n: n, rem: exact - float64(int(exact))}
		used += n
	}
	order := make([]int, len(parts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return parts[order[a]].rem > parts[order[b]].rem })
	for j := 0; used < deckSize; j = (j + 1) % len(order) {
		parts[order[j]].n++
		used++
	}
	d := make([]int, 0, used)
	for _, p := range parts {
		for range p.n {
			d = append(d, p.kind)
		}
	}
	r := rand.New(rand.NewPCG(seed, 0x6d6978)) // "mix"
	r.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
	return d
}

// formatMix renders a parsed mix as percentages, for the report.
func formatMix(mix []mixEntry) string {
	parts := make([]string, len(mix))
	for i, m := range mix {
		parts[i] = fmt.Sprintf("%s %s%%", kinds[m.Kind].Key, strconv.FormatFloat(math.Round(m.Share*1e4)/100, 'f', -1, 64))
	}
	return strings.Join(parts, ", ")
}
