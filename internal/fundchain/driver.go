package fundchain

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

// DriverConfig configures a Driver.
type DriverConfig struct {
	// Users is the number of user accounts (UserKeys derives them from Seed).
	Users int
	// Seed makes the user keys and the choices reproducible.
	Seed int64
	// RequestShare is the share of actions that are a redemption request (each preceded by
	// the deposit that pays for it); the rest are plain deposits.
	RequestShare float64
	// ApprovalShare is the share of redemption requests at or above the approval threshold.
	ApprovalShare float64
}

// DefaultDriverConfig returns 20 users, half the actions requests, a fifth of the requests
// needing approval.
func DefaultDriverConfig() DriverConfig {
	return DriverConfig{Users: 20, Seed: 1, RequestShare: 0.5, ApprovalShare: 0.2}
}

// Validate checks the configuration, naming the offending field.
func (c *DriverConfig) Validate() error {
	switch {
	case c.Users < 1:
		return fmt.Errorf("fundchain: Users %d must be at least 1", c.Users)
	case !(c.RequestShare >= 0 && c.RequestShare <= 1):
		return fmt.Errorf("fundchain: RequestShare %v must be within 0..1", c.RequestShare)
	case !(c.ApprovalShare >= 0 && c.ApprovalShare <= 1):
		return fmt.Errorf("fundchain: ApprovalShare %v must be within 0..1", c.ApprovalShare)
	}
	return nil
}

// DerivedKey returns a development key derived from a label and a seed: the simulator's
// admin, executor and users are reproducible from the seed. Never use one on a real chain.
func DerivedKey(label string, seed int64) *ecdsa.PrivateKey {
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte("paimon fundchain " + label + " " + strconv.FormatInt(seed, 10))))
	if err != nil {
		panic("fundchain: derived key: " + err.Error()) // a 32-byte hash is a valid key but with negligible odds
	}
	return k
}

// UserKeys returns the driver's user keys for cfg (fund them at genesis).
func UserKeys(cfg DriverConfig) []*ecdsa.PrivateKey {
	keys := make([]*ecdsa.PrivateKey, cfg.Users)
	for i := range keys {
		keys[i] = DerivedKey("user "+strconv.Itoa(i), cfg.Seed)
	}
	return keys
}

// DriverStats counts what the driver's users did. Sent counts transactions sent; the others
// count mined ones.
type DriverStats struct {
	Sent         int // transactions sent
	Deposits     int // mined deposits
	Requests     int // mined redemption requests
	NeedApproval int // of Requests, at or above the approval threshold
	Reverted     int // mined with a failed status
	Resynced     int // users whose transactions went missing (nonce read again)
	LastError    string
	LastErrorAt  time.Time
	PendingTxs   int // sent, no receipt yet
}

// Driver acts as the fund's users: each Step sends deposits and redemption requests (with
// their deposit) from users that have nothing in flight, with explicit nonces and fixed gas
// limits so that a user's deposit and request ride in the same block, and collects the
// receipts of earlier steps. A user's first action also mints it the stablecoin and approves
// the vault. It is not safe for concurrent use.
type Driver struct {
	f     *Fund
	cfg   DriverConfig
	rng   *rand.Rand
	users []*user
	stats DriverStats
}

type user struct {
	key     *ecdsa.PrivateKey
	addr    common.Address
	nonce   uint64
	ready   bool // nonce read, faucet done
	pending []pendingTx
	since   time.Time
}

type pendingTx struct {
	hash common.Hash
	kind string // "faucet", "deposit", "request"
	big  bool   // a request at or above the threshold
}

// Gas limits of the driver's transactions, fixed because a request cannot be estimated before
// the deposit that pays for it is mined. Storage is dear on go-ethereum 1.17's dev chain: a
// first deposit uses ~380k, a request ~0.9-1.2M (DESIGN.md).
var userGas = map[string]uint64{"mint": 600_000, "approve": 400_000, "deposit": 1_000_000, "requestRedemption": 2_500_000}

// missingTxWait is how long a user's transactions may go without a receipt before the driver
// takes them for dropped and reads the user's nonce again.
const missingTxWait = 30 * time.Second

// NewDriver returns a driver over a deployed fund.
func NewDriver(f *Fund, cfg DriverConfig) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Driver{f: f, cfg: cfg, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0xd51e))}
	for _, k := range UserKeys(cfg) {
		d.users = append(d.users, &user{key: k, addr: crypto.PubkeyToAddress(k.PublicKey)})
	}
	return d, nil
}

// Stats returns the counts so far.
func (d *Driver) Stats() DriverStats {
	st := d.stats
	st.PendingTxs = 0
	for _, u := range d.users {
		st.PendingTxs += len(u.pending)
	}
	return st
}

// Step collects receipts, then sends up to actions user actions.
func (d *Driver) Step(ctx context.Context, actions int) error {
	if err := d.collect(ctx); err != nil {
		return err
	}
	nav, err := d.f.Uint(ctx, Vault, "sharePrice")
	if err != nil {
		return err
	}
	for i := 0; i < actions; i++ {
		u := d.users[d.rng.IntN(len(d.users))]
		if len(u.pending) > 0 {
			continue // one batch in flight per user
		}
		if err := d.act(ctx, u, nav); err != nil {
			d.stats.LastError, d.stats.LastErrorAt = err.Error(), time.Now()
			return err
		}
	}
	return nil
}

// act sends one action of u: a deposit, or a deposit and a redemption request of the shares
// it bought.
func (d *Driver) act(ctx context.Context, u *user, nav *big.Int) error {
	threshold := d.f.Params.ApprovalThreshold
	if !u.ready {
		n, err := d.f.Backend.PendingNonceAt(ctx, u.addr)
		if err != nil {
			return fmt.Errorf("fundchain: nonce of %s: %w", u.addr, err)
		}
		u.nonce = n
		// Enough stablecoin for a lifetime of actions, and the vault approved once.
		mint := new(big.Int).Mul(threshold, big.NewInt(1_000_000))
		if mint.Sign() == 0 {
			mint = E18(1_000_000_000)
		}
		if err := d.send(ctx, u, pendingTx{kind: "faucet"}, USDT, "mint", u.addr, mint); err != nil {
			return err
		}
		if err := d.send(ctx, u, pendingTx{kind: "faucet"}, USDT, "approve", d.f.Addr.Vault, maxUint256); err != nil {
			return err
		}
		u.ready = true
	}
	// Amounts relative to the threshold (1,000 USDT when it is 0): a large request is 1 to 1.5
	// times it, a small one 1 % to 50 %, a plain deposit 1 % to 100 %.
	unit := threshold
	if unit.Sign() == 0 {
		unit = E18(1000)
	}
	frac := func(lo, hi float64) *big.Int {
		permille := int64(1000 * (lo + (hi-lo)*d.rng.Float64()))
		return new(big.Int).Div(new(big.Int).Mul(unit, big.NewInt(max(permille, 1))), big.NewInt(1000))
	}
	if d.rng.Float64() >= d.cfg.RequestShare {
		return d.send(ctx, u, pendingTx{kind: "deposit"}, Vault, "deposit", frac(0.01, 1), u.addr)
	}
	large := d.rng.Float64() < d.cfg.ApprovalShare
	amount := frac(0.01, 0.5)
	if large {
		amount = frac(1, 1.5)
	}
	// Shares worth at least the amount at the NAV (rounded up), bought first.
	shares := new(big.Int).Mul(amount, big.NewInt(1e18))
	shares.Add(shares, new(big.Int).Sub(nav, big.NewInt(1))).Div(shares, nav)
	deposit := new(big.Int).Add(new(big.Int).Div(new(big.Int).Mul(shares, nav), big.NewInt(1e18)), big.NewInt(1))
	if err := d.send(ctx, u, pendingTx{kind: "deposit"}, Vault, "deposit", deposit, u.addr); err != nil {
		return err
	}
	channel := ChannelStandard
	if r := d.rng.Float64(); r < 0.1 {
		channel = ChannelEmergency
	} else if r < 0.2 {
		channel = ChannelScheduled
	}
	return d.send(ctx, u, pendingTx{kind: "request", big: large}, RedemptionManager, "requestRedemption", shares, u.addr, channel)
}

func (d *Driver) send(ctx context.Context, u *user, p pendingTx, c Contract, method string, args ...any) error {
	t := d.f.CallTx(c, method, args...)
	n := u.nonce
	t.Nonce, t.Gas = &n, userGas[method]
	tx, err := d.f.Send(ctx, u.key, t)
	if err != nil {
		return err
	}
	u.nonce++
	if len(u.pending) == 0 {
		u.since = time.Now()
	}
	p.hash = tx.Hash()
	u.pending = append(u.pending, p)
	d.stats.Sent++
	return nil
}

// collect reads the receipts of the transactions in flight. A user whose transactions have
// had no receipt for a long time (dropped from the pool) reads its nonce again.
func (d *Driver) collect(ctx context.Context) error {
	for _, u := range d.users {
		for len(u.pending) > 0 {
			p := u.pending[0]
			r, err := d.f.Backend.TransactionReceipt(ctx, p.hash)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				break // not mined yet (or an RPC hiccup: try again next step)
			}
			u.pending = u.pending[1:]
			u.since = time.Now()
			d.count(r, p)
		}
		if len(u.pending) > 0 && time.Since(u.since) > missingTxWait {
			u.pending, u.ready = nil, false
			d.stats.Resynced++
		}
	}
	return nil
}

func (d *Driver) count(r *types.Receipt, p pendingTx) {
	if r.Status != types.ReceiptStatusSuccessful {
		d.stats.Reverted++
		return
	}
	switch p.kind {
	case "deposit":
		d.stats.Deposits++
	case "request":
		d.stats.Requests++
		if p.big {
			d.stats.NeedApproval++
		}
	}
}
