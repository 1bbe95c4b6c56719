// Package auth decides who a request or a WebSocket connection is and what it may do: static
// API tokens, wallet sessions (nonces, EIP-191 signatures, the replicated session state),
// roles, the access rules of routes and channels, and the per-client rate limits. The server
// and the push hub both use it; it knows nothing of HTTP. See DESIGN.md.
package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"paimon/kv"
)

// Token is a static API token: its SHA-256, a name for the audit log, and a role.
type Token struct {
	Name   string
	Role   string
	SHA256 [32]byte
}

// Wallet is a bootstrap role for a wallet address (config [[auth.wallets]]).
type Wallet struct {
	Address [20]byte
	Role    string
}

// Config configures authentication.
type Config struct {
	// Tokens are the static API tokens.
	Tokens []Token
	// Wallets are bootstrap wallet roles, identical on every node; a wallet holds the higher
	// of its bootstrap role and the replicated one.
	Wallets []Wallet
	// ClusterSecret, presented as a bearer token, is an admin on the cluster endpoints only.
	ClusterSecret []byte
	// Service names the service in the message a wallet signs; ChainID is in it too.
	Service string
	ChainID uint64
	// NonceTTL, SessionTTL: the lifetimes of a login nonce and of a session. A session in use
	// is extended once SessionExtendAfter of its lifetime has passed.
	NonceTTL           time.Duration
	SessionTTL         time.Duration
	SessionExtendAfter time.Duration
	// RateLimit holds the per-client budgets; the zero value limits nothing.
	RateLimit RateLimit
	// UnknownSessions bounds, per client IP, how many session tokens unknown to this node are
	// checked against the leader's commit before they are refused (default 20 a second, burst
	// 100). It is on whatever RateLimit says: each check costs a call to the leader.
	UnknownSessions Budget
	// CatchUpTimeout bounds one such check (default 2 s).
	CatchUpTimeout time.Duration
}

// Deps are what auth uses besides its configuration.
type Deps struct {
	Logger  *slog.Logger // nil: slog.Default()
	Metrics *metrics.Set // nil: a set of its own
	// Now is the clock; nil is time.Now (and lets request times come from the HTTP layer).
	Now func() time.Time
}

// DefaultConfig returns the defaults of every field that has one.
func DefaultConfig() Config {
	return Config{
		Service:         "Paimon Edge",
		NonceTTL:        5 * time.Minute,
		SessionTTL:      30 * time.Minute,
		UnknownSessions: Budget{Rate: 20, Burst: 100},
		CatchUpTimeout:  2 * time.Second,
	}
}

// Validate checks the configuration: roles, budgets and lifetimes.
func (c *Config) Validate() error {
	for _, w := range c.Wallets {
		if _, ok := ParseRole(w.Role); !ok {
			return fmt.Errorf("auth: wallet %x has role %q; want %s", w.Address, w.Role, RoleNames)
		}
	}
	for _, t := range c.Tokens {
		if _, ok := ParseRole(t.Role); !ok || t.Name == "" {
			return fmt.Errorf("auth: token %q has role %q; want %s", t.Name, t.Role, RoleNames)
		}
	}
	if c.NonceTTL < 0 || c.SessionTTL < 0 || c.SessionExtendAfter < 0 {
		return errors.New("auth: lifetimes must not be negative")
	}
	if c.UnknownSessions.Rate < 0 || c.UnknownSessions.Burst < 0 {
		return errors.New("auth: the unknown-session budget must not be negative")
	}
	return nil
}

// fill sets the defaults of zero fields.
func (c *Config) fill() {
	d := DefaultConfig()
	if c.Service == "" {
		c.Service = d.Service
	}
	if c.NonceTTL == 0 {
		c.NonceTTL = d.NonceTTL
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = d.SessionTTL
	}
	if c.SessionExtendAfter <= 0 || c.SessionExtendAfter >= c.SessionTTL {
		c.SessionExtendAfter = c.SessionTTL / 6
	}
	if c.UnknownSessions.Rate == 0 {
		c.UnknownSessions = d.UnknownSessions
	}
	if c.UnknownSessions.Burst < 1 {
		c.UnknownSessions.Burst = 1
	}
	if c.CatchUpTimeout <= 0 {
		c.CatchUpTimeout = d.CatchUpTimeout
	}
}

// Replica is what auth needs of the node's replicated state: sessions and roles are read from
// it, and a session token unknown here is looked for again once this node has applied what the
// leader had committed (CatchUp: a read-index barrier).
type Replica interface {
	// ReadState opens a read view of this node's replica; done releases it.
	ReadState() (r kv.Reader, done func(), err error)
	// CatchUp returns once this node has applied everything the leader had committed when it
	// was called. Its error, when the leader cannot be asked, is passed on to the caller of
	// CheckUnknownSession; one wrapping ErrSessionInvalid (the leader cannot check sessions)
	// refuses the token.
	CatchUp(ctx context.Context) error
}

// Auth authenticates credentials and decides access. New does no I/O; Bind gives it the
// replica before the first request.
type Auth struct {
	cfg       Config
	now       func() time.Time
	realClock bool // Deps.Now was not set: callers may pass the request's time
	logger    *slog.Logger
	tokens    map[[32]byte]Principal
	wallets   map[[20]byte]Role // bootstrap wallet roles
	sessions  *sessionCache
	touches   *TouchQueue
	limits    atomic.Pointer[limits] // replaced whole by SetRateLimit
	set       *metrics.Set
	metrics   metricSet
	replica   atomic.Pointer[replicaBox]

	known   atomic.Pointer[map[string]Principal] // raw static tokens verified (learnToken)
	knownMu sync.Mutex
}

type replicaBox struct{ r Replica }

// New returns an Auth for cfg.
func New(cfg Config, deps Deps) (*Auth, error) {
	realClock := deps.Now == nil
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Metrics == nil {
		deps.Metrics = metrics.NewSet()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fill()
	if err := cfg.RateLimit.validate(); err != nil {
		return nil, err
	}
	a := &Auth{
		cfg:       cfg,
		now:       deps.Now,
		realClock: realClock,
		logger:    deps.Logger,
		tokens:    make(map[[32]byte]Principal, len(cfg.Tokens)),
		wallets:   make(map[[20]byte]Role, len(cfg.Wallets)),
		sessions:  newSessionCache(),
		touches:   newTouchQueue(),
		set:       deps.Metrics,
	}
	a.limits.Store(newLimits(cfg.RateLimit, cfg.UnknownSessions, deps.Metrics))
	a.registerLimitGauges()
	for _, t := range cfg.Tokens {
		r, _ := ParseRole(t.Role)
		a.tokens[t.SHA256] = Principal{Name: t.Name, Role: r}
	}
	for _, w := range cfg.Wallets {
		r, _ := ParseRole(w.Role)
		a.wallets[w.Address] = Higher(a.wallets[w.Address], r)
	}
	a.metrics = newMetricSet(deps.Metrics, a.sessions)
	return a, nil
}

// Bind gives auth the replica it reads sessions and roles from. The node's server binds its
// store before it serves; until then only static tokens are known.
func (a *Auth) Bind(r Replica) { a.replica.Store(&replicaBox{r}) }

func (a *Auth) readState() (kv.Reader, func(), error) {
	b := a.replica.Load()
	if b == nil {
		return nil, nil, errors.New("auth: no replica bound yet")
	}
	return b.r.ReadState()
}

// Config returns the configuration in effect (defaults filled).
func (a *Auth) Config() Config { return a.cfg }

// Now is the configured clock's time, in unix nanoseconds.
func (a *Auth) Now() int64 { return a.now().UnixNano() }

// Clock is the configured clock (Deps.Now, else time.Now).
func (a *Auth) Clock() func() time.Time { return a.now }

// RealClock reports whether no test clock is configured, so a caller may pass the time it
// already read for the request instead of reading the clock again.
func (a *Auth) RealClock() bool { return a.realClock }

// SessionPrefix starts every session token; static API tokens start with "pmn_".
const SessionPrefix = "pms_"

// MaxTokenLen bounds a bearer token.
const MaxTokenLen = 512

// Authenticate resolves a bearer token into *p (zero on entry, but for Via): a static token,
// a wallet session (use: it extends the session when due), or the cluster secret. now is the
// request's time (unix ns). A session token this node does not know is ErrSessionUnknown:
// the caller may then CheckUnknownSession. It does not allocate for a known token.
func (a *Auth) Authenticate(tok []byte, use bool, now int64, p *Principal) error {
	if len(tok) == 0 || len(tok) > MaxTokenLen {
		return ErrAuthInvalid
	}
	via := p.Via
	if bytes.HasPrefix(tok, []byte(SessionPrefix)) {
		if a.replica.Load() == nil {
			return ErrSessionInvalid // no replica bound yet: only static tokens resolve
		}
		return a.sessionPrincipal(tok, use, now, p)
	}
	if m := a.known.Load(); m != nil {
		if k, ok := (*m)[string(tok)]; ok {
			*p = k
			p.Via = via
			return nil
		}
	}
	key := sha256.Sum256(tok)
	k, ok := a.tokens[key]
	if !ok {
		if a.isClusterSecret(tok) {
			*p = Principal{Name: "cluster-secret", Role: RoleAdmin, Cluster: true}
			return nil
		}
		return ErrAuthInvalid
	}
	k.Key = key
	a.learnToken(tok, k)
	*p = k
	p.Via = via
	return nil
}

// AuthenticateToken is Authenticate for a token in a string (a WebSocket auth frame), checking
// a session unknown here against the leader's commit; ip is the client's, for that check's
// budget. It uses the session.
func (a *Auth) AuthenticateToken(ctx context.Context, token, ip string) (Principal, error) {
	var p Principal
	now := a.Now()
	err := a.Authenticate([]byte(token), true, now, &p)
	if errors.Is(err, ErrSessionUnknown) {
		var key [32]byte
		IPStringKey(&key, ip)
		err = a.CheckUnknownSession(ctx, []byte(token), &key, now, &p)
	}
	return p, err
}

// Recheck re-resolves a credential by its hash (a WebSocket connection's, when a batch may
// have revoked it): a static token stands; a session must still be open and unexpired, with
// its current role. It does not extend the session: only requests and auth frames do.
func (a *Auth) Recheck(key [32]byte) (Principal, error) {
	if p, ok := a.tokens[key]; ok {
		p.Key = key
		return p, nil
	}
	var p Principal
	if err := a.sessionByHash(key, false, a.Now(), &p); err != nil {
		return Principal{}, err
	}
	return p, nil
}

func (a *Auth) isClusterSecret(tok []byte) bool {
	return len(a.cfg.ClusterSecret) > 0 && subtle.ConstantTimeCompare(tok, a.cfg.ClusterSecret) == 1
}

// maxKnownTokens bounds the static tokens remembered raw: only configured tokens are, so a
// handful in practice.
const maxKnownTokens = 1024

// learnToken remembers a verified static token by its raw bytes, so that its next requests
// skip the SHA-256 (copy on write: readers never lock).
func (a *Auth) learnToken(tok []byte, p Principal) {
	a.knownMu.Lock()
	defer a.knownMu.Unlock()
	old := a.known.Load()
	if old != nil {
		if _, ok := (*old)[string(tok)]; ok || len(*old) >= maxKnownTokens {
			return
		}
	}
	m := make(map[string]Principal, 1)
	if old != nil {
		maps.Copy(m, *old)
	}
	m[string(tok)] = p
	a.known.Store(&m)
}

// TokenHash returns the hex SHA-256 of a token, the form [[auth.tokens]] sha256 takes.
func TokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// NewToken returns a random API token and its hex SHA-256, for `paimon token`.
func NewToken() (token, sha256Hex string) {
	var b [24]byte
	_, _ = rand.Read(b[:])
	token = "pmn_" + hex.EncodeToString(b[:])
	return token, TokenHash(token)
}
