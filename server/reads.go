package server

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"

	"paimon/cache"
	"paimon/fund"
	"paimon/kv"
	"paimon/raftstore"
)

// The cache classes of the server's reads. Each has a TTL (config) and is invalidated by the
// state machine's changes (cacheUpdater).
const (
	cOverview cache.Class = iota
	cNav
	cTiers
	cAssets
	cFlows
	cPrices
	cPrice
	cAccount
	cAccountTx
	cRedemptions
	cRedemption
	cLedger
	cAudit
	// NumCacheClasses is the number of cache classes the server uses.
	NumCacheClasses
)

// Query parameters accepted by each read, besides consistency and max_staleness.
var (
	navParams        = fund.NavParams
	priceParams      = fund.PriceParams
	pageParams       = fund.PageParams
	redemptionParams = append(append([]string(nil), fund.RedemptionParams...), fund.PageParams...)
	txParams         = append(append([]string(nil), fund.TxParams...), fund.PageParams...)
	auditParams      = append(append([]string(nil), fund.AuditParams...), fund.PageParams...)
)

const contentJSON = "application/json"

// readTarget says where a read lives in the cache.
type readTarget struct {
	class cache.Class
	group []byte
	key   []byte
	view  viewID // the materialized view that answers it, if any
}

// viewID names a materialized view by number rather than by string, so that a readTarget holds
// no pointer but its buffers (which keeps them on the stack, see serveRead).
type viewID uint8

const (
	noView viewID = iota
	vOverview
	vNav
	vTiers
	vAssets
	vFlows
	vPrices
)

var viewNames = [...]string{
	vOverview: fund.ViewOverview, vNav: fund.ViewNav, vTiers: fund.ViewTiers,
	vAssets: fund.ViewAssets, vFlows: fund.ViewFlows, vPrices: fund.ViewPrices,
}

// target computes the cache location of a read. Keys embed the path parameter and the raw
// query (minus the consistency parameters); groups are normalized identifiers, so that an
// invalidation by the state machine reaches every spelling of the same resource. It returns
// the target by value and decodes an account address into *addr, because storing slices
// through a pointer would move the caller's buffers to the heap.
func (s *Server) target(ctx *fasthttp.RequestCtx, rc *reqCtx, buf []byte, addr *[20]byte) (readTarget, error) {
	var t readTarget
	switch rc.route {
	case rOverview:
		t.class, t.view = cOverview, vOverview
	case rTiers:
		t.class, t.view = cTiers, vTiers
	case rAssets:
		t.class, t.view = cAssets, vAssets
	case rFlows:
		t.class, t.view = cFlows, vFlows
	case rPrices:
		t.class, t.view = cPrices, vPrices
	case rNav:
		t.class = cNav
		if !hasQuery(ctx.QueryArgs()) {
			t.view = vNav
		}
	case rPrice:
		asset, err := fund.ParseAsset(string(rc.param))
		if err != nil {
			return t, err
		}
		t.class, t.group = cPrice, []byte(asset)
	case rAccount, rAccountTx:
		var ok bool
		if *addr, ok = parseAddress(rc.param); !ok {
			return t, validation("address must be 0x followed by 40 hex digits", map[string]any{"address": string(rc.param)})
		}
		t.class, t.group = cAccount, addr[:]
		if rc.route == rAccountTx {
			t.class = cAccountTx
		}
	case rRedemption:
		id, err := fund.ParseRequestID(string(rc.param))
		if err != nil {
			return t, err
		}
		t.class, t.group = cRedemption, []byte(id)
	case rRedemptions:
		t.class = cRedemptions
	case rTransactions:
		t.class = cLedger
	case rAudit:
		t.class = cAudit
	}
	start := len(buf)
	if t.view != noView {
		// The key the state machine writes the view through under.
		t.key = append(buf, viewNames[t.view]...)
		return t, nil
	}
	if t.group != nil {
		buf = append(buf, t.group...)
	}
	buf = append(buf, '?')
	for k, v := range ctx.QueryArgs().All() {
		if contains(consistencyParams, k) {
			continue
		}
		buf = append(buf, k...)
		buf = append(buf, '=')
		buf = append(buf, v...)
		buf = append(buf, '&')
	}
	t.key = buf[start:]
	return t, nil
}

// hasQuery reports whether a request has query parameters other than the consistency ones.
func hasQuery(args *fasthttp.Args) bool {
	for k := range args.All() {
		if !contains(consistencyParams, k) {
			return true
		}
	}
	return false
}

// serveRead is the read path: consistency check, cache, then the local replica on a miss.
func (s *Server) serveRead(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	if err := s.ensureConsistency(rc); err != nil {
		return err
	}
	var keyBuf [256]byte
	var addr [20]byte
	t, err := s.target(ctx, rc, keyBuf[:0], &addr)
	if err != nil {
		return err
	}
	// Load the applied index before looking in the cache: a valid cached value reflects the
	// state at least at this index (see package cache).
	applied := s.store.AppliedIndex()
	bp := s.bufs.Get().(*[]byte)
	body, idx, ok := s.cache.Get((*bp)[:0], t.class, t.group, t.key)
	if ok {
		s.respond(ctx, body, max(idx, applied))
		*bp = body[:0]
		s.bufs.Put(bp)
		return nil
	}
	s.bufs.Put(bp)
	// The miss path hands copies to code that may keep them, so that the hit path's buffers
	// stay on the stack.
	miss := readTarget{class: t.class, view: t.view, group: bytes.Clone(t.group), key: bytes.Clone(t.key)}
	return s.serveMiss(ctx, rc, miss, addr)
}

// serveMiss answers a read the cache did not have from the local replica and caches it.
func (s *Server) serveMiss(ctx *fasthttp.RequestCtx, rc *reqCtx, t readTarget, addr [20]byte) error {
	v, err := s.store.Read()
	if err != nil {
		return err
	}
	defer v.Close()
	body, err := s.build(ctx, rc, t, addr, v)
	if err != nil {
		return err
	}
	s.cache.Set(t.class, t.group, t.key, v.Index, body)
	s.respond(ctx, body, v.Index)
	return nil
}

func (s *Server) respond(ctx *fasthttp.RequestCtx, body []byte, index uint64) {
	var num [20]byte
	h := &ctx.Response.Header
	h.SetContentType(contentJSON)
	h.SetBytesV("X-Paimon-Index", strconv.AppendUint(num[:0], index, 10))
	h.Set("X-Paimon-Node", s.cfg.NodeID)
	ctx.SetBody(body)
}

// build answers a read from the local replica.
func (s *Server) build(ctx *fasthttp.RequestCtx, rc *reqCtx, t readTarget, addr [20]byte, v *raftstore.View) ([]byte, error) {
	if t.view != noView {
		name := viewNames[t.view]
		body, err := fund.ReadView(v, name)
		if errors.Is(err, fund.ErrNotFound) {
			return s.views.RenderView(v, name)
		}
		return body, err
	}
	get := queryGetter(ctx.QueryArgs())
	switch rc.route {
	case rNav:
		q, err := fund.ParseNavQuery(get)
		if err != nil {
			return nil, err
		}
		return fund.NavHistory(v, q)
	case rPrice:
		q, err := fund.ParsePriceQuery(get)
		if err != nil {
			return nil, err
		}
		return fund.Price(v, string(t.group), q)
	case rAccount:
		return fund.Account(v, addr)
	case rAccountTx:
		p, err := fund.ParsePage(get)
		if err != nil {
			return nil, err
		}
		return fund.AccountTransactions(v, addr, p)
	case rRedemption:
		return fund.Redemption(v, string(t.group))
	case rRedemptions:
		f, err := fund.ParseRedemptionFilter(get)
		if err != nil {
			return nil, err
		}
		return pageOf(get, v, func(r kv.Reader, p fund.Page) ([]byte, error) { return fund.Redemptions(r, f, p) })
	case rTransactions:
		f, err := fund.ParseTxFilter(get)
		if err != nil {
			return nil, err
		}
		return pageOf(get, v, func(r kv.Reader, p fund.Page) ([]byte, error) { return fund.Transactions(r, f, p) })
	case rAudit:
		f, err := fund.ParseAuditFilter(get)
		if err != nil {
			return nil, err
		}
		return pageOf(get, v, func(r kv.Reader, p fund.Page) ([]byte, error) { return fund.Audit(r, f, p) })
	}
	return nil, errNotFound
}

func pageOf(get fund.Getter, r kv.Reader, list func(kv.Reader, fund.Page) ([]byte, error)) ([]byte, error) {
	p, err := fund.ParsePage(get)
	if err != nil {
		return nil, err
	}
	return list(r, p)
}

func queryGetter(args *fasthttp.Args) fund.Getter {
	return func(name string) (string, bool) {
		if !args.Has(name) {
			return "", false
		}
		return string(args.Peek(name)), true
	}
}

// parseAddress decodes a 0x-prefixed 40-hex-digit address in any case without allocating.
func parseAddress(b []byte) ([20]byte, bool) {
	var a [20]byte
	if len(b) != 42 || b[0] != '0' || (b[1] != 'x' && b[1] != 'X') {
		return a, false
	}
	for i := 0; i < 20; i++ {
		hi, ok1 := unhex(b[2+2*i])
		lo, ok2 := unhex(b[3+2*i])
		if !ok1 || !ok2 {
			return a, false
		}
		a[i] = hi<<4 | lo
	}
	return a, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
