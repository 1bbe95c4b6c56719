package fundchain

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"paimon/chainlog"
)

// Redemption channels, as the redemption manager numbers them.
const (
	ChannelStandard  uint8 = 0
	ChannelEmergency uint8 = 1
	ChannelScheduled uint8 = 2
)

// Redemption request statuses, as the redemption manager's Status enum numbers them.
const (
	StatusPending         uint8 = 1
	StatusPendingApproval uint8 = 2
	StatusApproved        uint8 = 3
	StatusRejected        uint8 = 4
	StatusCancelled       uint8 = 5
	StatusSettled         uint8 = 6
)

// E18 returns n whole tokens in base units (18 decimals).
func E18(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(1e18)) }

// AssetSpec is an asset the deployment adds to the asset controller, with a token of its own
// and an oracle price.
type AssetSpec struct {
	Symbol     string
	Tier       uint8    // 0 L1, 1 L2, 2 L3
	Allocation uint64   // target allocation within the tier, basis points
	Price      *big.Int // 1e18-scaled USD per whole token
	// Decimals of the token (0: 18). A holding is worth holding × Price / 10^Decimals, for
	// the asset controller as for the node's books.
	Decimals uint8
}

// TokenDecimals is the token's decimals: Decimals, or 18 when unset.
func (a *AssetSpec) TokenDecimals() uint8 {
	if a.Decimals == 0 {
		return 18
	}
	return a.Decimals
}

// Band is a tier's target, minimum and maximum ratio, basis points.
type Band struct{ Target, Min, Max uint64 }

// Params are the deployment's parameters.
type Params struct {
	// ApprovalThreshold is the lockedAmount (18 decimals) at or above which a redemption
	// request needs approval.
	ApprovalThreshold *big.Int
	// StandardDelay and EmergencyDelay are the time from a request to its settlement time on
	// those channels; WindowLength the SCHEDULED channel's window (whole seconds).
	StandardDelay, EmergencyDelay, WindowLength time.Duration
	// Bands are the tiers' bands (L1, L2, L3) published with LayerConfigUpdated.
	Bands [3]Band
	// Assets are added with their tokens and prices.
	Assets []AssetSpec
}

// DefaultParams returns the fund's production-like parameters: approval from 100,000 USDT,
// T+7 standard settlement, one hour for emergencies, weekly windows, the bands of the fund and
// one asset per tier.
func DefaultParams() Params {
	return Params{
		ApprovalThreshold: E18(100_000),
		StandardDelay:     7 * 24 * time.Hour,
		EmergencyDelay:    time.Hour,
		WindowLength:      7 * 24 * time.Hour,
		Bands:             [3]Band{{2000, 1500, 3000}, {3000, 2000, 4000}, {5000, 4000, 6000}},
		Assets: []AssetSpec{
			{Symbol: "TBILL", Tier: 0, Allocation: 10000, Price: E18(1)},
			{Symbol: "MMF", Tier: 1, Allocation: 10000, Price: new(big.Int).Div(E18(102), big.NewInt(100))},
			{Symbol: "RWA", Tier: 2, Allocation: 10000, Price: E18(100)},
		},
	}
}

// Validate checks the parameters, naming the offending field.
func (p *Params) Validate() error {
	switch {
	case p.ApprovalThreshold == nil || p.ApprovalThreshold.Sign() < 0:
		return errors.New("fundchain: ApprovalThreshold must be set and not negative")
	case p.StandardDelay < 0 || p.EmergencyDelay < 0:
		return errors.New("fundchain: StandardDelay and EmergencyDelay must not be negative")
	case p.WindowLength < time.Second:
		return errors.New("fundchain: WindowLength must be at least a second")
	}
	for i, b := range p.Bands {
		if b.Min > b.Target || b.Target > b.Max || b.Max > 10000 {
			return fmt.Errorf("fundchain: Bands[%d] %+v: want min ≤ target ≤ max ≤ 10000", i, b)
		}
	}
	for i, a := range p.Assets {
		if a.Symbol == "" || a.Tier > 2 || a.Allocation > 10000 || a.Price == nil || a.Price.Sign() <= 0 || a.Decimals > 36 {
			return fmt.Errorf("fundchain: Assets[%d]: want a symbol, tier 0..2, allocation ≤ 10000, a positive price and decimals ≤ 36", i)
		}
	}
	return nil
}

// Addresses are the deployed contracts' addresses.
type Addresses struct {
	USDT, Oracle, Vault, RedemptionManager, AssetController common.Address
	Assets                                                  []common.Address // the tokens of Params.Assets, in order
}

// Of returns the address of one contract.
func (a *Addresses) Of(c Contract) common.Address {
	return [numContracts]common.Address{a.USDT, a.Oracle, a.Vault, a.RedemptionManager, a.AssetController}[c]
}

// Fund is a deployed contract set on a chain.
type Fund struct {
	*Chain
	Addr   Addresses
	Params Params
	Admin  common.Address // the deployer: admin of every contract and the oracle's price feed
}

// Gas limits of deployment transactions, sent without estimation (a later one depends on
// contracts not yet mined); each is checked by its receipt.
const (
	deployGas = 6_000_000
	setupGas  = 1_000_000
)

// Deploy deploys the contracts from admin's account, wires the vault to its modules, makes
// admin the oracle's price feed, publishes the bands, adds the assets with their prices, and
// waits until all of it is mined. Without Commit it sends everything at once (explicit nonces)
// and waits for the last receipts, so it takes a few blocks, not one a transaction.
func Deploy(ctx context.Context, chain *Chain, admin *ecdsa.PrivateKey, p Params) (*Fund, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	from := crypto.PubkeyToAddress(admin.PublicKey)
	nonce, err := chain.Backend.PendingNonceAt(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("fundchain: nonce of %s: %w", from, err)
	}
	f := &Fund{Chain: chain, Params: p, Admin: from}
	var sent []*types.Transaction
	send := func(t Tx) (common.Address, error) {
		n := nonce
		t.Nonce = &n
		if t.Gas == 0 {
			t.Gas = setupGas
		}
		tx, err := chain.Send(ctx, admin, t)
		if err != nil {
			return common.Address{}, err
		}
		nonce++
		sent = append(sent, tx)
		return crypto.CreateAddress(from, n), nil
	}
	deploy := func(c Contract, args ...any) (common.Address, error) {
		return send(Tx{Contract: c, Args: args, Gas: deployGas})
	}
	if f.Addr.USDT, err = deploy(USDT, "Tether USD (Paimon mock)", "USDT", uint8(18)); err != nil {
		return nil, err
	}
	if f.Addr.Oracle, err = deploy(Oracle); err != nil {
		return nil, err
	}
	if f.Addr.Vault, err = deploy(Vault, f.Addr.USDT); err != nil {
		return nil, err
	}
	if f.Addr.RedemptionManager, err = deploy(RedemptionManager, f.Addr.Vault, p.ApprovalThreshold,
		seconds(p.StandardDelay), seconds(p.EmergencyDelay), seconds(p.WindowLength)); err != nil {
		return nil, err
	}
	if f.Addr.AssetController, err = deploy(AssetController, f.Addr.Vault, f.Addr.Oracle); err != nil {
		return nil, err
	}
	calls := []Tx{
		{Contract: Vault, To: f.Addr.Vault, Method: "setModules", Args: []any{f.Addr.RedemptionManager, f.Addr.AssetController}},
		{Contract: Oracle, To: f.Addr.Oracle, Method: "setExecutor", Args: []any{from, true}},
	}
	for tier, b := range p.Bands {
		calls = append(calls, Tx{Contract: AssetController, To: f.Addr.AssetController, Method: "setLayerConfig",
			Args: []any{uint8(tier), new(big.Int).SetUint64(b.Target), new(big.Int).SetUint64(b.Min), new(big.Int).SetUint64(b.Max)}})
	}
	for _, t := range calls {
		if _, err := send(t); err != nil {
			return nil, err
		}
	}
	for _, a := range p.Assets {
		token, err := deploy(USDT, a.Symbol+" (Paimon mock)", a.Symbol, a.TokenDecimals())
		if err != nil {
			return nil, err
		}
		f.Addr.Assets = append(f.Addr.Assets, token)
		for _, t := range []Tx{
			{Contract: AssetController, To: f.Addr.AssetController, Method: "addAsset", Args: []any{token, a.Tier, new(big.Int).SetUint64(a.Allocation)}},
			{Contract: Oracle, To: f.Addr.Oracle, Method: "setPrice", Args: []any{token, a.Price, uint8(0)}},
		} {
			if _, err := send(t); err != nil {
				return nil, err
			}
		}
	}
	for _, tx := range sent {
		if _, err := chain.Wait(ctx, tx.Hash()); err != nil {
			return nil, fmt.Errorf("fundchain: deploy: %w", err)
		}
	}
	return f, nil
}

func seconds(d time.Duration) *big.Int { return big.NewInt(int64(d / time.Second)) }

// ContractConfigs returns the fund's contracts as [[ingest.contracts]] entries (built-in ABIs):
// the node ingests these four; the tokens are not fund contracts.
func (f *Fund) ContractConfigs() []chainlog.ContractConfig {
	return []chainlog.ContractConfig{
		{Name: "vault", Kind: "vault", Address: f.Addr.Vault.Hex()},
		{Name: "redemptions", Kind: "redemption_manager", Address: f.Addr.RedemptionManager.Hex()},
		{Name: "assets", Kind: "asset_controller", Address: f.Addr.AssetController.Hex()},
		{Name: "oracle", Kind: "oracle", Address: f.Addr.Oracle.Hex()},
	}
}

// Registry returns a chainlog registry of ContractConfigs: how a node decodes the fund's logs.
func (f *Fund) Registry() (*chainlog.Registry, error) {
	return chainlog.NewRegistry(f.ContractConfigs())
}

// Exec calls method on contract c from key and waits for the receipt (gas estimated: a call
// that would revert returns ErrReverted with the reason, and nothing is sent).
func (f *Fund) Exec(ctx context.Context, key *ecdsa.PrivateKey, c Contract, method string, args ...any) (*types.Receipt, error) {
	return f.Chain.Exec(ctx, key, Tx{Contract: c, To: f.Addr.Of(c), Method: method, Args: args})
}

// Call runs a view function of contract c.
func (f *Fund) Call(ctx context.Context, c Contract, method string, args ...any) ([]any, error) {
	return f.call(ctx, c, f.Addr.Of(c), method, args...)
}

// CallTx returns a call of method on contract c as a Tx, for Send or Sign with an explicit
// nonce and gas limit.
func (f *Fund) CallTx(c Contract, method string, args ...any) Tx {
	return Tx{Contract: c, To: f.Addr.Of(c), Method: method, Args: args}
}
