package server

import (
	"bytes"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/auth"
)

// routeID names a route; it indexes the route table and the per-route metrics.
type routeID int

const (
	rNotFound routeID = iota
	rHealth
	rReady
	rMetrics
	rOverview
	rNav
	rTiers
	rAssets
	rFlows
	rPrices
	rPrice
	rAccount
	rAccountTx
	rRedemptions
	rRedemption
	rTransactions
	rAudit
	rIngestStatus
	rClusterStatus
	rPostLogs
	rPostPrices
	rClusterJoin
	rClusterRemove
	rClusterNotify
	rPGVerify
	rWS
	rAuthNonce
	rAuthLogin
	rAuthLogout
	rAuthMe
	rPostRoles
	rGetRoles
	rClusterTouch
	rClusterReadIndex
	numRoutes
)

// route describes one endpoint: its method, what it needs (access), the query parameters it
// accepts, and whether it is a read served through the cache and read consistency.
type route struct {
	name   string
	method string
	auth.Access
	read   bool
	params []string
	// cluster routes accept member nodes and the cluster secret as well as user tokens.
	cluster bool
	// leader routes are served by the leader; a follower forwards them.
	leader bool
	// login routes spend the login rate budget rather than the read or write one.
	login bool
}

// The accesses of the API, by name (package auth).
var (
	public     = auth.Public
	anyone     = auth.Anyone
	viewer     = auth.Viewer
	operator   = auth.Operator
	admin      = auth.Admin
	ownerOrVwr = auth.OwnerOrViewer
)

// channels is the access each WebSocket channel needs (push asks the server through
// AuthorizeChannel); "account:" is every account:{address} channel.
var channels = map[string]auth.Access{
	"fund:overview": public,
	"fund:nav":      public,
	"prices":        public,
	"redemptions":   viewer,
	"transactions":  viewer,
	"account:":      ownerOrVwr,
}

var routes = [numRoutes]route{
	rNotFound:         {name: "not_found"},
	rHealth:           {name: "healthz", method: "GET"},
	rReady:            {name: "readyz", method: "GET"},
	rMetrics:          {name: "metrics", method: "GET"},
	rOverview:         {name: "fund_overview", method: "GET", read: true},
	rNav:              {name: "fund_nav_history", method: "GET", read: true, params: navParams},
	rTiers:            {name: "fund_tiers", method: "GET", read: true},
	rAssets:           {name: "fund_assets", method: "GET", read: true},
	rFlows:            {name: "fund_flows", method: "GET", read: true},
	rPrices:           {name: "prices", method: "GET", read: true},
	rPrice:            {name: "price", method: "GET", read: true, params: priceParams},
	rAccount:          {name: "account", method: "GET", Access: ownerOrVwr, read: true},
	rAccountTx:        {name: "account_transactions", method: "GET", Access: ownerOrVwr, read: true, params: pageParams},
	rRedemptions:      {name: "redemptions", method: "GET", Access: viewer, read: true, params: redemptionParams},
	rRedemption:       {name: "redemption", method: "GET", Access: viewer, read: true},
	rTransactions:     {name: "transactions", method: "GET", Access: viewer, read: true, params: txParams},
	rAudit:            {name: "audit", method: "GET", Access: viewer, read: true, params: auditParams},
	rIngestStatus:     {name: "ingest_status", method: "GET", Access: viewer, leader: true},
	rClusterStatus:    {name: "cluster_status", method: "GET", Access: viewer, cluster: true},
	rPostLogs:         {name: "admin_logs", method: "POST", Access: operator, leader: true},
	rPostPrices:       {name: "admin_prices", method: "POST", Access: operator, leader: true},
	rClusterJoin:      {name: "cluster_join", method: "POST", Access: admin, cluster: true, leader: true},
	rClusterRemove:    {name: "cluster_remove", method: "POST", Access: admin, cluster: true, leader: true},
	rClusterNotify:    {name: "cluster_notify", method: "POST", Access: admin, cluster: true},
	rPGVerify:         {name: "pg_verify", method: "GET", Access: admin, cluster: true, params: []string{"wait"}},
	rWS:               {name: "ws", method: "GET"},
	rAuthNonce:        {name: "auth_nonce", method: "POST", login: true, leader: true},
	rAuthLogin:        {name: "auth_login", method: "POST", login: true, leader: true},
	rAuthLogout:       {name: "auth_logout", method: "POST", Access: anyone, leader: true},
	rAuthMe:           {name: "auth_me", method: "GET", Access: anyone},
	rPostRoles:        {name: "admin_roles_set", method: "POST", Access: admin, leader: true},
	rClusterTouch:     {name: "cluster_touch", method: "POST", Access: admin, cluster: true, leader: true},
	rGetRoles:         {name: "admin_roles", method: "GET", Access: admin},
	rClusterReadIndex: {name: "cluster_readindex", method: "GET", Access: admin, cluster: true, leader: true},
}

// matchRoute maps a path to its route and path parameter. It does not allocate.
func matchRoute(path []byte) (routeID, []byte) {
	switch string(path) {
	case "/healthz":
		return rHealth, nil
	case "/readyz":
		return rReady, nil
	case "/metrics":
		return rMetrics, nil
	case "/v1/fund/overview":
		return rOverview, nil
	case "/v1/fund/nav/history":
		return rNav, nil
	case "/v1/fund/tiers":
		return rTiers, nil
	case "/v1/fund/assets":
		return rAssets, nil
	case "/v1/fund/flows":
		return rFlows, nil
	case "/v1/prices":
		return rPrices, nil
	case "/v1/redemptions":
		return rRedemptions, nil
	case "/v1/transactions":
		return rTransactions, nil
	case "/v1/audit":
		return rAudit, nil
	case "/v1/ingest/status":
		return rIngestStatus, nil
	case "/v1/cluster/status":
		return rClusterStatus, nil
	case "/v1/admin/logs":
		return rPostLogs, nil
	case "/v1/admin/prices":
		return rPostPrices, nil
	case "/v1/cluster/join":
		return rClusterJoin, nil
	case "/v1/cluster/remove":
		return rClusterRemove, nil
	case "/v1/cluster/notify":
		return rClusterNotify, nil
	case "/v1/cluster/touch":
		return rClusterTouch, nil
	case "/v1/cluster/readindex":
		return rClusterReadIndex, nil
	case "/v1/admin/pg/verify":
		return rPGVerify, nil
	case "/v1/ws":
		return rWS, nil
	case "/v1/auth/nonce":
		return rAuthNonce, nil
	case "/v1/auth/login":
		return rAuthLogin, nil
	case "/v1/auth/logout":
		return rAuthLogout, nil
	case "/v1/auth/me":
		return rAuthMe, nil
	case "/v1/admin/roles":
		return rPostRoles, nil // GET is rGetRoles: dispatch picks by method
	}
	if tail, ok := cutPrefix(path, "/v1/prices/"); ok && oneSegment(tail) {
		return rPrice, tail
	}
	if tail, ok := cutPrefix(path, "/v1/redemptions/"); ok && oneSegment(tail) {
		return rRedemption, tail
	}
	if tail, ok := cutPrefix(path, "/v1/accounts/"); ok {
		if oneSegment(tail) {
			return rAccount, tail
		}
		if addr, ok := cutSuffix(tail, "/transactions"); ok && oneSegment(addr) {
			return rAccountTx, addr
		}
	}
	return rNotFound, nil
}

func cutPrefix(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return nil, false
	}
	return b[len(prefix):], true
}

func cutSuffix(b []byte, suffix string) ([]byte, bool) {
	if len(b) < len(suffix) || string(b[len(b)-len(suffix):]) != suffix {
		return nil, false
	}
	return b[:len(b)-len(suffix)], true
}

func oneSegment(b []byte) bool { return len(b) > 0 && bytes.IndexByte(b, '/') < 0 }

// reqCtx carries what the dispatcher learned about a request to its handler.
type reqCtx struct {
	route       routeID
	param       []byte
	who         principal
	consistency consistency
	staleness   time.Duration
}

// Handler serves one request. It is the fasthttp handler; tests and benchmarks call it
// directly.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	id, param := matchRoute(ctx.Path())
	if id == rPostRoles && !ctx.IsPost() {
		id = rGetRoles // one path, two routes
	}
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("panic serving request", "path", string(ctx.Path()), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			ctx.Response.Reset()
			s.writeError(ctx, fmt.Errorf("panic: %v", p))
			s.metrics.observe(id, ctx.Response.StatusCode(), start)
		}
	}()
	rc := reqCtx{route: id, param: param}
	if err := s.dispatch(ctx, &rc); err != nil {
		s.writeError(ctx, err)
	}
	s.metrics.observe(id, ctx.Response.StatusCode(), start)
}

func (s *Server) dispatch(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	rt := &routes[rc.route]
	if rc.route == rNotFound {
		return fmt.Errorf("%w: no route %s", errNotFound, ctx.Path())
	}
	if string(ctx.Method()) != rt.method && !(rt.method == "GET" && ctx.IsHead()) {
		ctx.SetUserValue(allowKey, rt.method)
		return fmt.Errorf("%w: %s accepts %s", errMethod, ctx.Path(), rt.method)
	}
	if err := s.authenticate(ctx, rc); err != nil {
		return err
	}
	if err := s.rateLimit(ctx, rc); err != nil {
		return err
	}
	who := &rc.who
	have := who.Role
	if who.Cluster && !rt.cluster {
		have = auth.RoleNone // member credentials open the cluster endpoints only
	}
	var account *[20]byte
	var addr [20]byte
	if rt.Owner {
		if a, ok := parseAddress(rc.param); ok {
			addr, account = a, &addr
		}
	}
	if err := rt.Access.Check(&rc.who, have, account); err != nil {
		return err
	}
	if rc.route == rClusterNotify && !who.Cluster {
		return fmt.Errorf("%w: %s is for cluster members", errForbidden, ctx.Path())
	}
	if rt.leader && !s.store.IsLeader() {
		return s.forward(ctx, rc)
	}
	if rt.method == "GET" {
		if err := checkParams(ctx.QueryArgs(), rt.params, rt.read); err != nil {
			return err
		}
	}
	if rt.read {
		if err := s.parseConsistency(ctx, rc); err != nil {
			return err
		}
		if rc.consistency != consistencyLocal && !s.store.IsLeader() {
			return s.forward(ctx, rc)
		}
		return s.serveRead(ctx, rc)
	}
	switch rc.route {
	case rHealth:
		return s.serveHealth(ctx)
	case rReady:
		return s.serveReady(ctx)
	case rMetrics:
		return s.serveMetrics(ctx)
	case rIngestStatus:
		return s.serveIngestStatus(ctx)
	case rClusterStatus:
		return s.serveClusterStatus(ctx)
	case rPostLogs:
		return s.postLogs(ctx, rc)
	case rPostPrices:
		return s.postPrices(ctx, rc)
	case rClusterJoin:
		return s.clusterJoin(ctx, rc)
	case rClusterRemove:
		return s.clusterRemove(ctx, rc)
	case rClusterNotify:
		return s.clusterNotify(ctx, rc)
	case rPGVerify:
		return s.pgVerify(ctx)
	case rWS:
		return s.serveWS(ctx, rc)
	case rAuthNonce:
		return s.authNonce(ctx)
	case rAuthLogin:
		return s.authLogin(ctx, rc)
	case rAuthLogout:
		return s.authLogout(ctx, rc)
	case rAuthMe:
		return s.authMe(ctx, rc)
	case rPostRoles:
		return s.postRole(ctx, rc)
	case rGetRoles:
		return s.getRoles(ctx)
	case rClusterTouch:
		return s.clusterTouch(ctx, rc)
	case rClusterReadIndex:
		return s.clusterReadIndex(ctx, rc)
	}
	return fmt.Errorf("%w: %s", errNotFound, ctx.Path())
}

// consistencyParams are accepted by every read.
var consistencyParams = []string{"consistency", "max_staleness"}

// checkParams refuses query parameters the route does not know, so a typo is an error rather
// than a silently ignored filter. It does not allocate.
func checkParams(args *fasthttp.Args, allowed []string, read bool) error {
	if args.Len() == 0 {
		return nil
	}
	for k := range args.All() {
		if !contains(allowed, k) && !(read && contains(consistencyParams, k)) {
			return validation(fmt.Sprintf("unknown query parameter %q", k), map[string]any{"allowed": append(append([]string(nil), allowed...), consistencyParams...)})
		}
	}
	return nil
}

func contains(list []string, k []byte) bool {
	for _, s := range list {
		if s == string(k) {
			return true
		}
	}
	return false
}
