package server

import (
	"bytes"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"paimon/auth"
	"paimon/push"
	"paimon/readmodel"
)

// The route table (resources.go) is the one list of the API: every endpoint is one row, and
// routing, the method check, authentication, the access check, rate limits, forwarding, the
// query parameters, the cached reads (reads.go), their cache classes and invalidation
// (cacheobs.go), the per-route metrics and the WebSocket channels (Channels: names, access,
// what feeds them) are derived from it. This file matches a request to its row and walks it through those steps.

// routeID indexes the route table (and the per-route metrics).
type routeID uint16

// handler serves a route that is not a cached read.
type handler func(s *Server, ctx *fasthttp.RequestCtx, rc *reqCtx) error

// route is one endpoint of the API.
type route struct {
	name   string // the metric label
	method string
	// path is the path, with at most one parameter segment in braces ("/v1/prices/{asset}");
	// several rows may share a path with different methods.
	path string
	// Access is what the caller needs (auth.Access); Owner routes take the account's address
	// from the path parameter.
	auth.Access
	// params are the query parameters it accepts (besides consistency and max_staleness on
	// reads); any other is refused, so a typo is an error, not an ignored filter.
	params []string
	// read, when set, makes it a cached read of the replicated state (reads.go); handle
	// serves every other route.
	read   *read
	handle handler
	// channel is the WebSocket channel that pushes this resource (a name ending in ':' is one
	// channel per address): it has the route's access, and carries every change of the
	// records of kind record or, without one, the read's view once per batch; pending: also
	// the frames of unconfirmed chain events (push.Channel).
	channel string
	record  readmodel.RecordKind
	pending bool
	// cluster routes accept member nodes and the cluster secret as well as user tokens;
	// membersOnly ones accept only those.
	cluster, membersOnly bool
	// leader routes are served by the leader; a follower forwards them.
	leader bool
	// resend marks an idempotent write (applying it twice changes nothing the first did not,
	// and the second answer reports that honestly): one whose outcome is unknown (forward.go)
	// is sent again to the (new) leader within apply_timeout rather than answered NO_LEADER.
	resend bool
	// login routes spend the login rate budget rather than the read or write one; unlimited
	// ones spend none (health, readiness, metrics).
	login, unlimited bool
}

// noRC adapts a handler that needs nothing of the request but the fasthttp context.
func noRC(f func(*Server, *fasthttp.RequestCtx) error) handler {
	return func(s *Server, ctx *fasthttp.RequestCtx, _ *reqCtx) error { return f(s, ctx) }
}

// routes is the route table: resourceTable with its indexes.
var (
	routes []route
	// exact maps a path without a parameter to the first of its rows.
	exact map[string]routeID
	// withParam are the paths with a parameter, split around it.
	withParam []paramPath
	// channels are the WebSocket channels, from the routes that name one.
	channels []push.Channel
)

type paramPath struct {
	prefix, suffix string
	id             routeID
}

// rNotFound is the row of a path no route has.
const rNotFound routeID = 0

func init() {
	routes = append([]route{{name: "not_found"}}, resourceTable()...)
	exact = map[string]routeID{}
	seen := map[string]bool{}
	for i := 1; i < len(routes); i++ {
		rt := &routes[i]
		key := rt.method + " " + rt.path
		if seen[key] || seen[rt.name] || (rt.read == nil) == (rt.handle == nil) {
			panic("server: route " + rt.name + " is declared twice or has no single way to serve it")
		}
		if seen[rt.path] && routes[i-1].path != rt.path {
			panic("server: the rows of " + rt.path + " must follow each other (byMethod)")
		}
		seen[key], seen[rt.name], seen[rt.path] = true, true, true
		if rt.channel != "" {
			c := push.Channel{Name: rt.channel, Access: rt.Access, Record: rt.record, Pending: rt.pending}
			if rt.record == readmodel.RecordOther && rt.read != nil {
				c.View = rt.read.view
			}
			channels = append(channels, c)
		}
		open, close := strings.IndexByte(rt.path, '{'), strings.IndexByte(rt.path, '}')
		if open < 0 {
			if _, ok := exact[rt.path]; !ok {
				exact[rt.path] = routeID(i)
			}
			continue
		}
		known := false
		for _, p := range withParam {
			known = known || p.prefix+"{"+p.suffix == rt.path[:open]+"{"+rt.path[close+1:]
		}
		if !known {
			withParam = append(withParam, paramPath{prefix: rt.path[:open], suffix: rt.path[close+1:], id: routeID(i)})
		}
	}
	initReads()
}

// matchRoute maps a path to the first row of its path, and its path parameter. It does not
// allocate.
func matchRoute(path []byte) (routeID, []byte) {
	if id, ok := exact[string(path)]; ok {
		return id, nil
	}
	for _, p := range withParam {
		tail, ok := cutPrefix(path, p.prefix)
		if !ok {
			continue
		}
		if tail, ok = cutSuffix(tail, p.suffix); ok && oneSegment(tail) {
			return p.id, tail
		}
	}
	return rNotFound, nil
}

// byMethod picks, among the rows of id's path, the one for method (HEAD is served as GET); ok
// is false when the path has no row for it.
func byMethod(id routeID, method []byte, head bool) (routeID, bool) {
	path := routes[id].path
	for i := int(id); i < len(routes) && routes[i].path == path; i++ {
		if string(method) == routes[i].method || (head && routes[i].method == "GET") {
			return routeID(i), true
		}
	}
	return id, false
}

// allowHeader lists the methods of id's path, for a 405's Allow header.
func allowHeader(id routeID) string {
	path := routes[id].path
	var ms []string
	for i := int(id); i < len(routes) && routes[i].path == path; i++ {
		ms = append(ms, routes[i].method)
	}
	return strings.Join(ms, ", ")
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
	id, methodOK := byMethod(id, ctx.Method(), ctx.IsHead())
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("panic serving request", "path", string(ctx.Path()), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			ctx.Response.Reset()
			s.writeError(ctx, fmt.Errorf("panic: %v", p))
			s.metrics.observe(id, ctx.Response.StatusCode(), start)
		}
	}()
	rc := reqCtx{route: id, param: param}
	if err := s.dispatch(ctx, &rc, methodOK); err != nil {
		s.writeError(ctx, err)
	}
	if routes[id].read == nil {
		// A cached read carries its representations in the cache (serveRead).
		compressOnTheFly(ctx)
	}
	s.metrics.observe(id, ctx.Response.StatusCode(), start)
}

func (s *Server) dispatch(ctx *fasthttp.RequestCtx, rc *reqCtx, methodOK bool) error {
	rt := &routes[rc.route]
	if rc.route == rNotFound {
		return fmt.Errorf("%w: no route %s", errNotFound, ctx.Path())
	}
	if !methodOK {
		allow := allowHeader(rc.route)
		ctx.SetUserValue(allowKey, allow)
		return fmt.Errorf("%w: %s accepts %s", errMethod, ctx.Path(), allow)
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
	if rt.membersOnly && !who.Cluster {
		return fmt.Errorf("%w: %s is for cluster members", errForbidden, ctx.Path())
	}
	if rt.leader && !s.store.IsLeader() {
		return s.forward(ctx, rc)
	}
	if rt.method == "GET" {
		if err := checkParams(ctx.QueryArgs(), rt.params, rt.read != nil); err != nil {
			return err
		}
	}
	if rt.read == nil {
		// A copy: rc itself must not reach a call through a function value, which would move
		// it to the heap on every request, cached reads included.
		other := *rc
		err := rt.handle(s, ctx, &other)
		if rt.leader && rc.who.Via == "" && (refused(err) || rt.resend && errors.Is(err, errOutcomeUnknown)) {
			// This node stopped leading (it is handing leadership over) between the check
			// above and its proposal, which was refused before it reached the log, or (an
			// idempotent route) lost leadership with it in flight: the new leader takes the
			// request.
			return s.forwardHandOver(ctx, rc, err)
		}
		return err
	}
	if err := s.parseConsistency(ctx, rc); err != nil {
		return err
	}
	if rc.consistency != consistencyLocal && !s.store.IsLeader() {
		return s.forward(ctx, rc)
	}
	return s.serveRead(ctx, rc)
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
