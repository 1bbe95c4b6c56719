// Package server is the node's HTTP API on fasthttp: routing, auth, read consistency, the
// cached read path, the write endpoints, error mapping, health and metrics.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"paimon/auth"
	"paimon/cache"
	"paimon/chainlog"
	"paimon/kv"
	"paimon/raftstore"
	"paimon/report"
)

// Store is what the server needs of the replicated store.
type Store interface {
	Propose(ctx context.Context, cmd []byte) (raftstore.Result, error)
	Join(ctx context.Context, m raftstore.Member) (uint64, error)
	Remove(ctx context.Context, id string) (uint64, error)
	Members() ([]raftstore.Member, error)
	LeaderHTTPAddr() (id, addr string)
	Noticed(m raftstore.Member)
	Read() (*raftstore.View, error)
	AppliedIndex() uint64
	WaitApplied(ctx context.Context, index uint64) error
	ReadIndex(ctx context.Context) (uint64, error)
	Stale(maxStaleness time.Duration) bool
	IsLeader() bool
	Settled() bool
	WaitSettled(ctx context.Context) error
	Status() raftstore.Status
}

// ViewRenderer renders a materialized view that is not stored yet (before the first batch).
type ViewRenderer interface {
	RenderView(r kv.Reader, name string) ([]byte, error)
}

// Server serves the API. New does no I/O; Start listens; Close shuts down gracefully.
type Server struct {
	cfg Config
	// caughtUp: since it started, this node has applied what the leader had applied (or it
	// leads, settled): its local reads and /readyz wait for it (status.go catchUpAfterStart).
	caughtUp atomic.Bool
	started  time.Time // when New ran: GET /v1/system/health's uptime
	deps     Deps
	now      func() time.Time
	logger   *slog.Logger
	store    Store
	cache    *cache.Cache
	registry *chainlog.Registry
	views    ViewRenderer
	auth     *auth.Auth
	metrics  *routeMetrics
	risk     *riskMetrics
	reports  *report.Cache // rendered reports of closed periods (reports.go)
	// cert is the API's certificate, served to every new TLS handshake: SetCertificate
	// replaces it while the node runs.
	cert atomic.Pointer[tls.Certificate]

	srv       *fasthttp.Server
	ln        *listener
	peers     *fasthttp.Client // forwarding and cluster calls to other members
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	bufs      sync.Pool

	stop chan struct{} // closed by Close: the background loops end
}

// New returns a server that reads through deps.Cache, writes through deps.Store and
// authenticates through deps.Auth, to which it binds the store as the replica sessions are
// read from (auth.Bind).
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.NodeID == "" || cfg.MaxStaleness <= 0 || cfg.ApplyTimeout <= 0 {
		return nil, errors.New("server: NodeID, MaxStaleness and ApplyTimeout are required")
	}
	a := deps.Auth
	if a == nil || deps.Store == nil || deps.Cache == nil || deps.Registry == nil {
		return nil, errors.New("server: Deps.Store, Cache, Registry and Auth are required")
	}
	if deps.Now == nil {
		deps.Now = a.Clock()
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Metrics == nil {
		deps.Metrics = metrics.NewSet()
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency()
	}
	s := &Server{
		cfg:      cfg,
		started:  time.Now(),
		deps:     deps,
		now:      deps.Now,
		logger:   deps.Logger,
		store:    deps.Store,
		cache:    deps.Cache,
		registry: deps.Registry,
		views:    deps.Views,
		auth:     a,
		stop:     make(chan struct{}),
		metrics:  newRouteMetrics(deps.Metrics),
		risk:     newRiskMetrics(deps.Metrics),
		reports:  report.NewCache(maxCachedReports, deps.FlowSums),
	}
	a.Bind(replica{s})
	if deps.Store != nil {
		registerStateMetrics(deps.Metrics, deps.Store)
	}
	s.bufs.New = func() any { b := make([]byte, 0, 16<<10); return &b }
	s.peers = &fasthttp.Client{
		Name: "paimon-peer",
		// Under the peer's http.max_conns_per_ip, which counts these like any other client's.
		MaxConnsPerHost:               min(1024, max(cfg.MaxConnsPerIP/2, 1)),
		ReadTimeout:                   cfg.ApplyTimeout + 5*time.Second,
		WriteTimeout:                  cfg.WriteTimeout,
		MaxIdleConnDuration:           time.Minute,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: false,
		TLSConfig:                     deps.PeerTLS,
	}
	s.srv = &fasthttp.Server{
		Handler:                       s.Handler,
		ErrorHandler:                  s.handleTransportError,
		Name:                          "paimon",
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		MaxRequestBodySize:            cfg.MaxBodyBytes,
		ReadTimeout:                   cfg.ReadTimeout,
		WriteTimeout:                  cfg.WriteTimeout,
		IdleTimeout:                   cfg.IdleTimeout,
		Concurrency:                   cfg.Concurrency,
		DisablePreParseMultipartForm:  true,
		DisableHeaderNamesNormalizing: false,
		CloseOnShutdown:               true,
		Logger:                        fasthttpLogger{s.logger},
	}
	return s, nil
}

// SetCertificate replaces the API's certificate (a configuration reload): handshakes from now
// on present it; connections already open keep theirs. It reports false, changing nothing,
// when the server does not serve TLS (turning TLS on or off takes a restart).
func (s *Server) SetCertificate(cert *tls.Certificate) bool {
	if s.deps.TLS == nil || cert == nil {
		return false
	}
	s.cert.Store(cert)
	return true
}

// Start listens on the configured address and serves in the background, over TLS when a
// certificate is configured.
func (s *Server) Start() error {
	tcp, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", s.cfg.Addr, err)
	}
	ln := newListener(tcp, s.deps.TLS != nil, s.cfg.MaxConnsPerIP, s.cfg.MaxBodyBytes, s.logger, s.deps.Metrics)
	s.ln = ln
	serve := s.srv.Serve
	if s.deps.TLS != nil {
		// The TLS listener hands fasthttp *tls.Conn connections, which it hijacks for
		// WebSocket like any other (push then writes through TLS, not the writev fast path).
		s.srv.TLSConfig = s.deps.TLS.Clone()
		if c := s.srv.TLSConfig.Certificates; len(c) > 0 {
			s.cert.Store(&c[0])
		}
		s.srv.TLSConfig.Certificates = nil
		s.srv.TLSConfig.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil }
		serve = func(ln net.Listener) error { return s.srv.ServeTLS(ln, "", "") }
	}
	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		s.runTouches(s.stop)
	}()
	go func() {
		defer s.wg.Done()
		s.catchUpAfterStart(s.stop)
	}()
	go func() {
		defer s.wg.Done()
		if err := serve(ln); err != nil {
			s.logger.Error("http server stopped", "error", err)
		}
	}()
	s.logger.Info("http listening", "addr", ln.Addr().String(), "tls", s.deps.TLS != nil, "concurrency", s.cfg.Concurrency, "max_conns_per_ip", s.cfg.MaxConnsPerIP)
	return nil
}

// peerURL is the URL of path (with its query) on the member whose API listens at addr
// (host:port): https when this node serves TLS, since all members share that setting.
func (s *Server) peerURL(addr, path string) string {
	if s.deps.TLS != nil {
		return "https://" + addr + path
	}
	return "http://" + addr + path
}

// Addr is the address the server listens on (useful with port 0).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// Close stops accepting connections, lets requests in flight finish until ctx ends, and waits
// for the serving goroutine. It is safe to call more than once.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		if s.ln != nil {
			s.closeErr = s.srv.ShutdownWithContext(ctx)
			s.ln.waitLingers() // each within lingerTimeout
		}
		close(s.stop)
		s.wg.Wait()
	})
	return s.closeErr
}

// handleTransportError answers requests fasthttp could not read: an oversized body (413) or
// header, a malformed request line or header, bad framing. The answer is the API's JSON error
// with a fixed message naming what was wrong: fasthttp's own error text quotes the request's
// bytes (an Authorization header among them), which must never be echoed. The connection is
// then closed after lingering (listener.go), so that the client reads the answer rather than a
// reset while it is still sending.
func (s *Server) handleTransportError(ctx *fasthttp.RequestCtx, err error) {
	lingerOnClose(ctx.Conn())
	var msg string
	status := fasthttp.StatusBadRequest
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		s.writeError(ctx, fmt.Errorf("%w: the limit is %d bytes", errBodyTooLarge, s.cfg.MaxBodyBytes))
		return
	case errors.As(err, &small), errors.Is(err, fasthttp.ErrSmallReadBuffer):
		msg, status = "malformed HTTP request: the request header is too large", fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		msg, status = "malformed HTTP request: the request was not received in time", fasthttp.StatusRequestTimeout
	default:
		msg = "malformed HTTP request: " + transportProblem(err)
	}
	ae := validation(msg, nil)
	ae.Status = status
	s.writeError(ctx, ae)
}

// transportProblem names what fasthttp refused in a request, from its error, without any of
// the request's bytes.
func transportProblem(err error) string {
	for _, p := range transportProblems {
		if errors.Is(err, p.err) {
			return p.what
		}
	}
	e := strings.ToLower(err.Error())
	for _, p := range transportProblems {
		if p.substr != "" && strings.Contains(e, p.substr) {
			return p.what
		}
	}
	return "the request could not be parsed"
}

// transportProblems are fasthttp's request errors, matched by value or, for the ones it
// formats with the request's bytes, by the fixed start of their text.
var transportProblems = []struct {
	err    error
	substr string
	what   string
}{
	{err: fasthttp.ErrMissingRequestMethod, substr: "cannot find http request method", what: "no request method"},
	{err: fasthttp.ErrUnsupportedRequestMethod, substr: "unsupported http request method", what: "unsupported request method"},
	{err: fasthttp.ErrExtraWhitespaceInRequestLine, substr: "whitespace in the first line", what: "bad request line"},
	{err: fasthttp.ErrEmptyRequestURI, substr: "uri cannot be empty", what: "empty request URI"},
	{substr: "invalid request uri", what: "bad request URI"},
	{substr: "unsupported http version", what: "unsupported HTTP version"},
	{err: fasthttp.ErrDuplicateContentLength, substr: "duplicate content-length", what: "bad Content-Length header"},
	{substr: "content-length", what: "bad Content-Length header"},
	{err: fasthttp.ErrNonNumericChars, what: "bad Content-Length header"},
	{err: fasthttp.ErrUnsupportedTransferEncoding, substr: "transfer-encoding", what: "bad Transfer-Encoding header"},
	{substr: "chunk", what: "bad chunked body"},
	{substr: "hex number", what: "bad chunked body"},
	{substr: "too many host headers", what: "more than one Host header"},
	{substr: "host header", what: "missing Host header"},
	{substr: "missing colon", what: "a header line without a colon"},
	{substr: "invalid header key", what: "bad header name or a header line without a colon"},
	{substr: "invalid header value", what: "header value with a control character"},
	{substr: "cannot find http request", what: "bad request line"},
	{substr: "headers", what: "bad request header"},
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug("fasthttp: " + redactRequest(fmt.Sprintf(format, args...)))
}
