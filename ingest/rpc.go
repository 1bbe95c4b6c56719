package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"

	"paimon/chainlog"
	"paimon/fund"
)

// Header is what the ingester needs of a block header, decoded strictly from
// eth_getBlockByNumber (the hash is taken as the node reports it, not recomputed, so chains whose
// headers carry extra fields work alike).
type Header struct {
	Number     uint64
	Hash       common.Hash
	ParentHash common.Hash
	Time       uint64
}

// Ref is the header's BlockRef.
func (h *Header) Ref() fund.BlockRef {
	return fund.BlockRef{Number: h.Number, Hash: h.Hash, ParentHash: h.ParentHash}
}

// errBadResponse marks an RPC answer that is malformed or inconsistent: the endpoint is at fault.
var errBadResponse = errors.New("bad RPC response")

// parseHeader decodes the result of eth_getBlockByNumber(n, false); a null result (no such
// block) is reported as found=false.
func parseHeader(raw json.RawMessage) (h Header, found bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return Header{}, false, nil
	}
	var b struct {
		Number     *hexutil.Uint64 `json:"number"`
		Hash       *common.Hash    `json:"hash"`
		ParentHash *common.Hash    `json:"parentHash"`
		Timestamp  *hexutil.Uint64 `json:"timestamp"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return Header{}, false, fmt.Errorf("%w: block: %w", errBadResponse, err)
	}
	if b.Number == nil || b.Hash == nil || b.ParentHash == nil || b.Timestamp == nil {
		return Header{}, false, fmt.Errorf("%w: block without number, hash, parentHash or timestamp", errBadResponse)
	}
	return Header{Number: uint64(*b.Number), Hash: *b.Hash, ParentHash: *b.ParentHash, Time: uint64(*b.Timestamp)}, true, nil
}

// parseQuantity decodes a hex quantity such as the result of eth_blockNumber or eth_chainId.
func parseQuantity(raw json.RawMessage) (uint64, error) {
	var q hexutil.Uint64
	if err := json.Unmarshal(raw, &q); err != nil {
		return 0, fmt.Errorf("%w: quantity %s: %w", errBadResponse, truncate(raw), err)
	}
	return uint64(q), nil
}

// parseLogs decodes the result of eth_getLogs into the same raw logs the webhook takes, so that
// both paths decode through chainlog.Registry alike, and checks that the endpoint answered the
// question asked: every log within [from, to], from one of the addresses, not removed.
func parseLogs(raw json.RawMessage, from, to uint64, addrs map[common.Address]bool) ([]chainlog.RawLog, error) {
	var logs []chainlog.RawLog
	if err := json.Unmarshal(raw, &logs); err != nil {
		return nil, fmt.Errorf("%w: logs: %w", errBadResponse, err)
	}
	for i := range logs {
		l := &logs[i]
		n, err := hexutil.DecodeUint64(l.BlockNumber)
		if err != nil {
			return nil, fmt.Errorf("%w: log %d: blockNumber %q", errBadResponse, i, l.BlockNumber)
		}
		if n < from || n > to {
			return nil, fmt.Errorf("%w: log %d of block %d outside the asked range %d-%d", errBadResponse, i, n, from, to)
		}
		if !common.IsHexAddress(l.Address) || !addrs[common.HexToAddress(l.Address)] {
			return nil, fmt.Errorf("%w: log %d from %q, which was not asked for", errBadResponse, i, l.Address)
		}
		if l.Removed {
			return nil, fmt.Errorf("%w: log %d of a confirmed range marked removed", errBadResponse, i)
		}
	}
	return logs, nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// EndpointStatus is one RPC endpoint as the ingest status reports it.
type EndpointStatus struct {
	URL       string `json:"url"`
	Healthy   bool   `json:"healthy"`
	LastError string `json:"lastError"`
	Errors    uint64 `json:"errors"`
	Head      uint64 `json:"head"`
}

type endpoint struct {
	url    string
	client *rpc.Client

	// guarded by pool.mu
	failures  int       // consecutive
	openUntil time.Time // the circuit breaker is open (endpoint skipped) until then
	lastError string
	head      uint64
	errors    *metrics.Counter
}

// pool calls the configured RPC endpoints in order of preference, failing over to the next on
// an error, a timeout or a malformed answer. Each endpoint has a circuit breaker: after
// breakerFailures consecutive failures it is skipped for a pause that doubles per further
// failure (up to breakerMax), then tried again; one success closes it.
type pool struct {
	eps     []*endpoint
	timeout time.Duration
	now     func() time.Time

	mu sync.Mutex
}

const (
	breakerFailures = 3
	breakerBase     = time.Second
	breakerMax      = time.Minute
)

func newPool(urls []string, timeout time.Duration, set *metrics.Set, now func() time.Time) (*pool, error) {
	if len(urls) == 0 {
		return nil, errors.New("ingest: no RPC endpoint")
	}
	p := &pool{timeout: timeout, now: now}
	hc := &http.Client{Timeout: timeout}
	for _, u := range urls {
		c, err := rpc.DialOptions(context.Background(), u, rpc.WithHTTPClient(hc))
		if err != nil {
			return nil, fmt.Errorf("ingest: rpc endpoint %s: %w", u, err)
		}
		p.eps = append(p.eps, &endpoint{url: u, client: c,
			errors: set.GetOrCreateCounter(fmt.Sprintf(`paimon_ingest_rpc_errors_total{url=%q}`, redact(u)))})
	}
	return p, nil
}

// redact hides credentials and keys in an endpoint URL before it reaches metrics or the API.
func redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 && at < strings.IndexAny(rest+"/", "/") {
			rest = "***@" + rest[at+1:]
		}
		if q := strings.IndexAny(rest, "?"); q >= 0 {
			rest = rest[:q] + "?***"
		}
		return u[:i+3] + rest
	}
	return u
}

func (p *pool) close() {
	for _, e := range p.eps {
		e.client.Close()
	}
}

// order returns the endpoints to try: those whose breaker is closed, in preference order, then
// the open ones (when every endpoint is failing, trying beats giving up).
func (p *pool) order() []*endpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	var ready, open []*endpoint
	for _, e := range p.eps {
		if now.Before(e.openUntil) {
			open = append(open, e)
		} else {
			ready = append(ready, e)
		}
	}
	return append(ready, open...)
}

func (p *pool) fail(e *endpoint, err error) {
	e.errors.Inc()
	p.mu.Lock()
	defer p.mu.Unlock()
	e.failures++
	e.lastError = err.Error()
	if e.failures >= breakerFailures {
		pause := min(breakerBase<<min(e.failures-breakerFailures, 16), breakerMax)
		e.openUntil = p.now().Add(pause)
	}
}

func (p *pool) ok(e *endpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e.failures, e.openUntil = 0, time.Time{}
}

// call runs one JSON-RPC method with failover and returns the raw result.
func (p *pool) call(ctx context.Context, check func(json.RawMessage) error, method string, args ...any) (json.RawMessage, error) {
	var errs []error
	for _, e := range p.order() {
		raw, err := p.callOne(ctx, e, method, args...)
		if err == nil && check != nil {
			err = check(raw)
		}
		if err == nil {
			p.ok(e)
			return raw, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if isRangeError(err) {
			// The request was too big for this endpoint; the caller shrinks it. Not the
			// endpoint's fault, and other endpoints have similar limits.
			return nil, err
		}
		p.fail(e, err)
		errs = append(errs, fmt.Errorf("%s: %w", redact(e.url), err))
	}
	return nil, fmt.Errorf("every RPC endpoint failed %s: %w", method, errors.Join(errs...))
}

func (p *pool) callOne(ctx context.Context, e *endpoint, method string, args ...any) (json.RawMessage, error) {
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var raw json.RawMessage
	if err := e.client.CallContext(cctx, &raw, method, args...); err != nil {
		return nil, err
	}
	return raw, nil
}

// isRangeError recognizes providers' "range too large" answers (their wording varies) and
// timeouts of a big query, on which the ingester halves its block range.
func isRangeError(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"block range", "range too", "range is too", "too many", "too large", "returned more than", "limit exceeded", "exceed max", "exceeds max", "maximum block range"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// head asks every endpoint whose breaker is closed for its latest block and returns the median;
// an endpoint whose head is far from the median is lying or stuck, and counts as failed.
func (p *pool) head(ctx context.Context, maxDeviation uint64) (uint64, error) {
	eps := p.order()
	type answer struct {
		e    *endpoint
		head uint64
		err  error
	}
	answers := make([]answer, len(eps))
	var wg sync.WaitGroup
	for i, e := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := p.callOne(ctx, e, "eth_blockNumber")
			var h uint64
			if err == nil {
				h, err = parseQuantity(raw)
			}
			answers[i] = answer{e, h, err}
		}()
	}
	wg.Wait()
	var heads []uint64
	var errs []error
	for _, a := range answers {
		if a.err != nil {
			p.fail(a.e, a.err)
			errs = append(errs, fmt.Errorf("%s: %w", redact(a.e.url), a.err))
			continue
		}
		heads = append(heads, a.head)
	}
	if len(heads) == 0 {
		return 0, fmt.Errorf("no RPC endpoint answered eth_blockNumber: %w", errors.Join(errs...))
	}
	sorted := slices.Clone(heads)
	slices.Sort(sorted)
	median := sorted[(len(sorted)-1)/2]
	for _, a := range answers {
		if a.err != nil {
			continue
		}
		p.mu.Lock()
		a.e.head = a.head
		p.mu.Unlock()
		if len(heads) > 1 && (a.head > median+maxDeviation || a.head+maxDeviation < median) {
			p.fail(a.e, fmt.Errorf("head %d is far from the other endpoints' %d", a.head, median))
			continue
		}
		p.ok(a.e)
	}
	return median, nil
}

// header returns the canonical header of block n; an endpoint that does not know a block below
// the head it reported is at fault.
func (p *pool) header(ctx context.Context, n uint64) (Header, error) {
	var h Header
	_, err := p.call(ctx, func(raw json.RawMessage) error {
		got, found, err := parseHeader(raw)
		switch {
		case err != nil:
			return err
		case !found:
			return fmt.Errorf("%w: block %d not found", errBadResponse, n)
		case got.Number != n:
			return fmt.Errorf("%w: asked for block %d, got %d", errBadResponse, n, got.Number)
		}
		h = got
		return nil
	}, "eth_getBlockByNumber", hexutil.EncodeUint64(n), false)
	return h, err
}

// logs returns the logs of [from, to] from the given addresses.
func (p *pool) logs(ctx context.Context, from, to uint64, addrs []common.Address) ([]chainlog.RawLog, error) {
	set := make(map[common.Address]bool, len(addrs))
	for _, a := range addrs {
		set[a] = true
	}
	var out []chainlog.RawLog
	_, err := p.call(ctx, func(raw json.RawMessage) error {
		logs, err := parseLogs(raw, from, to, set)
		out = logs
		return err
	}, "eth_getLogs", map[string]any{
		"fromBlock": hexutil.EncodeUint64(from),
		"toBlock":   hexutil.EncodeUint64(to),
		"address":   addrs,
	})
	return out, err
}

// chainID returns the chain id the endpoints serve.
func (p *pool) chainID(ctx context.Context) (uint64, error) {
	var id uint64
	_, err := p.call(ctx, func(raw json.RawMessage) error {
		var err error
		id, err = parseQuantity(raw)
		return err
	}, "eth_chainId")
	return id, err
}

// status reports every endpoint.
func (p *pool) status() []EndpointStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	out := make([]EndpointStatus, len(p.eps))
	for i, e := range p.eps {
		out[i] = EndpointStatus{URL: redact(e.url), Healthy: e.failures == 0 && !now.Before(e.openUntil),
			LastError: e.lastError, Errors: e.errors.Get(), Head: e.head}
	}
	return out
}
