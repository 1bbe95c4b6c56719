package server

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/cache"
	"paimon/fund"
	"paimon/kv"
	"paimon/raftstore"
	"paimon/readmodel"
)

// read says how a route reads the replicated state through the cache (its row in
// resources.go): one cache class per read route, filled on a miss from the local replica.
type read struct {
	// param is the kind of the path parameter: it is parsed into the cache group, and the
	// state machine's changes of that kind invalidate the group.
	param paramKind
	// view is the materialized view (fund.View*) the state machine writes through after every
	// batch that changes it; it answers every request without query parameters.
	view string
	// changedBy are the fund classes whose change invalidates every cached answer.
	changedBy []fund.Class
	// ttl is the class's TTL from [cache]; nil is default_ttl.
	ttl func(CacheTTLs) time.Duration
	// render answers a request the view does not (nil: the view answers all).
	render func(v kv.Reader, q *readQuery) ([]byte, error)
	// class is the route's cache class, numbered by initReads.
	class cache.Class
}

// paramKind is what a read's path parameter names; each kind is a cache group and follows
// one list of fund.Changes.
type paramKind uint8

const (
	noParam paramKind = iota
	assetParam
	accountParam
	redemptionParam
	ticketParam // an approval ticket's id (the route's class is invalidated whole by ClassApprovals)
	numParamKinds
)

// readQuery is what a renderer gets of a request: its query and its path parameter, parsed.
type readQuery struct {
	get     readmodel.Getter
	group   string   // the asset or the request id
	account [20]byte // accountParam
	// webhooks are the configured alert webhooks (GET /v1/alerts shows their PENDING
	// deliveries).
	webhooks []readmodel.AlertWebhook
	// index is the view's Raft index; fees the node's running fee sums (nil: none, scan).
	index uint64
	fees  *readmodel.FeeSums
}

// numCacheClasses is the number of cache classes: one per read route.
var numCacheClasses cache.Class

// initReads numbers the read routes' cache classes and indexes what invalidates them.
func initReads() {
	viewClass = map[string]cache.Class{}
	for i := range routes {
		rd := routes[i].read
		if rd == nil {
			continue
		}
		rd.class = numCacheClasses
		numCacheClasses++
		if rd.view != "" {
			viewClass[rd.view] = rd.class
		}
		for _, fc := range rd.changedBy {
			classInvalidates[fc] = append(classInvalidates[fc], rd.class)
		}
		if rd.param != noParam {
			paramClasses[rd.param] = append(paramClasses[rd.param], rd.class)
		}
	}
	// The reports of the current period (reports.go), invalidated by what a report reads.
	reportClass = numCacheClasses
	numCacheClasses++
	for _, fc := range reportChangedBy {
		classInvalidates[fc] = append(classInvalidates[fc], reportClass)
	}
}

func overviewTTL(c CacheTTLs) time.Duration { return c.Overview }
func navTTL(c CacheTTLs) time.Duration      { return c.Nav }
func pricesTTL(c CacheTTLs) time.Duration   { return c.Prices }

const contentJSON = "application/json"

// readTarget says where a read lives in the cache. It holds no pointer but its buffers, which
// keeps them on the stack (see serveRead).
type readTarget struct {
	class cache.Class
	group []byte
	key   []byte
	view  bool // the route's materialized view answers it
}

// target computes the cache location of a read. Keys embed the path parameter and the raw
// query (minus the consistency parameters); groups are normalized identifiers, so that an
// invalidation by the state machine reaches every spelling of the same resource. It returns
// the target by value and decodes an account address into *addr, because storing slices
// through a pointer would move the caller's buffers to the heap.
func (s *Server) target(ctx *fasthttp.RequestCtx, rc *reqCtx, buf []byte, addr *[20]byte) (readTarget, error) {
	rd := routes[rc.route].read
	t := readTarget{class: rd.class}
	switch rd.param {
	case assetParam:
		asset, err := readmodel.ParseAsset(string(rc.param))
		if err != nil {
			return t, err
		}
		t.group = []byte(asset)
	case accountParam:
		var ok bool
		if *addr, ok = parseAddress(rc.param); !ok {
			return t, validation("address must be 0x followed by 40 hex digits", map[string]any{"address": string(rc.param)})
		}
		t.group = addr[:]
	case redemptionParam:
		id, err := readmodel.ParseRequestID(string(rc.param))
		if err != nil {
			return t, err
		}
		t.group = []byte(id)
	case ticketParam:
		if _, _, ok := fund.ParseTicketID(string(rc.param)); !ok {
			return t, fmt.Errorf("%w: approval ticket %.100q", errNotFound, rc.param)
		}
		t.group = rc.param
	}
	start := len(buf)
	if rd.view != "" && (rd.render == nil || !hasQuery(ctx.QueryArgs())) {
		// The key the state machine writes the view through under.
		t.view = true
		t.key = append(buf, rd.view...)
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

// serveRead is the read path: consistency check, cache, then the local replica on a miss. The
// cache holds each rendering's representations (encoding.go) under the identity key and its
// variant keys; a request looks up the one its Accept-Encoding chooses.
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
	enc := negotiate(ctx.Request.Header.Peek(fasthttp.HeaderAcceptEncoding))
	key := variantKey(t.key, enc)
	// Load the applied index before looking in the cache: a valid cached value reflects the
	// state at least at this index (see package cache).
	applied := s.store.AppliedIndex()
	bp := s.bufs.Get().(*[]byte)
	entry, idx, ok := s.cache.Get((*bp)[:0], t.class, t.group, key)
	if ok && s.respondEntry(ctx, entry, max(idx, applied)) {
		*bp = entry[:0]
		s.bufs.Put(bp)
		return nil
	}
	if enc != encIdentity {
		// This representation is not cached: make it once from the identity bytes if they are.
		if entry, idx, ok = s.cache.Get(entry[:0], t.class, t.group, t.key); ok {
			if _, _, _, valid := splitEntry(entry); valid {
				v := variantEntry(entry, enc)
				s.cache.Set(t.class, bytes.Clone(t.group), bytes.Clone(key), idx, v)
				s.respondEntry(ctx, v, max(idx, applied))
				*bp = entry[:0]
				s.bufs.Put(bp)
				return nil
			}
		}
	}
	*bp = entry[:0]
	s.bufs.Put(bp)
	// The miss path hands copies to code that may keep them, so that the hit path's buffers
	// stay on the stack.
	miss := readTarget{class: t.class, view: t.view, group: bytes.Clone(t.group), key: bytes.Clone(t.key)}
	return s.serveMiss(ctx, rc, miss, addr, enc)
}

// serveMiss answers a read the cache did not have from the local replica and caches its
// identity bytes, and the representation in enc when that is another.
func (s *Server) serveMiss(ctx *fasthttp.RequestCtx, rc *reqCtx, t readTarget, addr [20]byte, enc encoding) error {
	v, err := s.store.Read()
	if err != nil {
		return err
	}
	defer v.Close()
	body, err := s.build(ctx, rc, t, addr, v)
	if err != nil {
		return err
	}
	entry := identityEntry(body)
	s.cache.Set(t.class, t.group, t.key, v.Index, entry)
	if enc != encIdentity {
		entry = variantEntry(entry, enc)
		s.cache.Set(t.class, t.group, variantKey(t.key, enc), v.Index, entry)
	}
	s.respondEntry(ctx, entry, v.Index)
	return nil
}

// respond answers with JSON built for this request (a write's result) at index.
func (s *Server) respond(ctx *fasthttp.RequestCtx, body []byte, index uint64) {
	s.indexHeaders(ctx, index)
	ctx.SetBody(body)
}

func (s *Server) indexHeaders(ctx *fasthttp.RequestCtx, index uint64) {
	var num [20]byte
	h := &ctx.Response.Header
	h.SetContentType(contentJSON)
	h.SetBytesV("X-Paimon-Index", strconv.AppendUint(num[:0], index, 10))
	h.Set("X-Paimon-Node", s.cfg.NodeID)
}

// respondEntry answers with a cache entry: its bytes, coding and entity tag, or 304 Not
// Modified when If-None-Match names that tag. It reports false for bytes that are not an
// entry.
func (s *Server) respondEntry(ctx *fasthttp.RequestCtx, entry []byte, index uint64) bool {
	enc, hash, body, ok := splitEntry(entry)
	if !ok {
		return false
	}
	var tag [24]byte
	s.indexHeaders(ctx, index)
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderVary, fasthttp.HeaderAcceptEncoding)
	etag := appendETag(tag[:0], hash, enc)
	h.SetBytesV(fasthttp.HeaderETag, etag)
	if inm := ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch); len(inm) > 0 && noneMatch(inm, etag) {
		// The headers stay (ETag, Vary: RFC 9110 §15.4.5); no body.
		ctx.Response.ResetBody()
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return true
	}
	if enc != encIdentity {
		h.Set(fasthttp.HeaderContentEncoding, encodingNames[enc])
	}
	ctx.SetBody(body)
	return true
}

// build answers a read from the local replica: the route's view, or its renderer.
func (s *Server) build(ctx *fasthttp.RequestCtx, rc *reqCtx, t readTarget, addr [20]byte, v *raftstore.View) ([]byte, error) {
	rd := routes[rc.route].read
	if t.view {
		body, err := readmodel.ReadView(v, rd.view)
		if errors.Is(err, fund.ErrNotFound) {
			return s.views.RenderView(v, rd.view)
		}
		return body, err
	}
	return rd.render(v, &readQuery{get: queryGetter(ctx.QueryArgs()), group: string(t.group), account: addr, webhooks: s.cfg.AlertWebhooks,
		index: v.Index, fees: s.deps.FeeSums})
}

// The renderers of the reads that a view does not answer (resources.go).

func renderNavHistory(v kv.Reader, q *readQuery) ([]byte, error) {
	nq, err := readmodel.ParseNavQuery(q.get)
	if err != nil {
		return nil, err
	}
	return readmodel.NavHistory(v, nq)
}

func renderAssets(v kv.Reader, q *readQuery) ([]byte, error) {
	aq, err := readmodel.ParseAssetQuery(q.get)
	if err != nil {
		return nil, err
	}
	return readmodel.Assets(v, aq)
}

func renderFees(v kv.Reader, q *readQuery) ([]byte, error) {
	if q.fees != nil {
		return q.fees.Fees(v, q.index)
	}
	return readmodel.Fees(v)
}

func renderPrice(v kv.Reader, q *readQuery) ([]byte, error) {
	pq, err := readmodel.ParsePriceQuery(q.get)
	if err != nil {
		return nil, err
	}
	return readmodel.Price(v, q.group, pq)
}

func renderAccount(v kv.Reader, q *readQuery) ([]byte, error) { return readmodel.Account(v, q.account) }

func renderAccountTransactions(v kv.Reader, q *readQuery) ([]byte, error) {
	p, err := readmodel.ParsePage(q.get)
	if err != nil {
		return nil, err
	}
	return readmodel.AccountTransactions(v, q.account, p)
}

func renderRedemption(v kv.Reader, q *readQuery) ([]byte, error) {
	return readmodel.Redemption(v, q.group)
}

func renderRedemptions(v kv.Reader, q *readQuery) ([]byte, error) {
	f, err := readmodel.ParseRedemptionFilter(q.get)
	if err != nil {
		return nil, err
	}
	return pageOf(q.get, v, func(r kv.Reader, p readmodel.Page) ([]byte, error) { return readmodel.Redemptions(r, f, p) })
}

func renderTransactions(v kv.Reader, q *readQuery) ([]byte, error) {
	f, err := readmodel.ParseTxFilter(q.get)
	if err != nil {
		return nil, err
	}
	return pageOf(q.get, v, func(r kv.Reader, p readmodel.Page) ([]byte, error) { return readmodel.Transactions(r, f, p) })
}

func renderAudit(v kv.Reader, q *readQuery) ([]byte, error) {
	f, err := readmodel.ParseAuditFilter(q.get)
	if err != nil {
		return nil, err
	}
	return pageOf(q.get, v, func(r kv.Reader, p readmodel.Page) ([]byte, error) { return readmodel.Audit(r, f, p) })
}

func renderAlerts(v kv.Reader, q *readQuery) ([]byte, error) {
	f, err := readmodel.ParseAlertFilter(q.get)
	if err != nil {
		return nil, err
	}
	return pageOf(q.get, v, func(r kv.Reader, p readmodel.Page) ([]byte, error) { return readmodel.Alerts(r, f, q.webhooks, p) })
}

func renderExecutorTransactions(v kv.Reader, q *readQuery) ([]byte, error) {
	f, err := readmodel.ParseExecutorTxFilter(q.get)
	if err != nil {
		return nil, err
	}
	return pageOf(q.get, v, func(r kv.Reader, p readmodel.Page) ([]byte, error) { return readmodel.ExecutorTransactions(r, f, p) })
}

func pageOf(get readmodel.Getter, r kv.Reader, list func(kv.Reader, readmodel.Page) ([]byte, error)) ([]byte, error) {
	p, err := readmodel.ParsePage(get)
	if err != nil {
		return nil, err
	}
	return list(r, p)
}

func queryGetter(args *fasthttp.Args) readmodel.Getter {
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
