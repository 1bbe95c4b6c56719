package fundchain

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// The operations below are one transaction each (Faucet two), waited for; the executor's
// functions revert for an account without the executor role.

// GrantExecutor gives account the executor role on the vault (NAV), the redemption manager
// (approve, reject, settle) and the asset controller (purchases, redemptions), from the admin.
func (f *Fund) GrantExecutor(ctx context.Context, admin *ecdsa.PrivateKey, account common.Address) error {
	for _, c := range []Contract{Vault, RedemptionManager, AssetController} {
		if _, err := f.Exec(ctx, admin, c, "setExecutor", account, true); err != nil {
			return err
		}
	}
	return nil
}

// Faucet mints amount of the stablecoin to the key's account and approves the vault for all
// of it and more (an unlimited allowance), so that Deposit works.
func (f *Fund) Faucet(ctx context.Context, key *ecdsa.PrivateKey, amount *big.Int) error {
	if _, err := f.Exec(ctx, key, USDT, "mint", addressOf(key), amount); err != nil {
		return err
	}
	_, err := f.Exec(ctx, key, USDT, "approve", f.Addr.Vault, maxUint256)
	return err
}

var maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// Deposit deposits assets into the vault for shares to the key's own account.
func (f *Fund) Deposit(ctx context.Context, key *ecdsa.PrivateKey, assets *big.Int) (*types.Receipt, error) {
	return f.Exec(ctx, key, Vault, "deposit", assets, addressOf(key))
}

// RequestRedemption requests the redemption of shares to the key's own account through a
// channel and returns the request id.
func (f *Fund) RequestRedemption(ctx context.Context, key *ecdsa.PrivateKey, shares *big.Int, channel uint8) (*big.Int, *types.Receipt, error) {
	r, err := f.Exec(ctx, key, RedemptionManager, "requestRedemption", shares, addressOf(key), channel)
	if err != nil {
		return nil, r, err
	}
	id, err := f.RequestID(r)
	return id, r, err
}

// RequestID returns the request id of the RedemptionRequested log in a receipt.
func (f *Fund) RequestID(r *types.Receipt) (*big.Int, error) {
	topic := ABI(RedemptionManager).Events["RedemptionRequested"].ID
	for _, l := range r.Logs {
		if l.Address == f.Addr.RedemptionManager && len(l.Topics) > 1 && l.Topics[0] == topic {
			return l.Topics[1].Big(), nil
		}
	}
	return nil, fmt.Errorf("fundchain: transaction %s has no RedemptionRequested", r.TxHash)
}

// ApproveRedemption approves a request waiting for approval (executor).
func (f *Fund) ApproveRedemption(ctx context.Context, executor *ecdsa.PrivateKey, id *big.Int) (*types.Receipt, error) {
	return f.Exec(ctx, executor, RedemptionManager, "approveRedemption", id)
}

// RejectRedemption rejects a request waiting for approval with a reason (executor).
func (f *Fund) RejectRedemption(ctx context.Context, executor *ecdsa.PrivateKey, id *big.Int, reason string) (*types.Receipt, error) {
	return f.Exec(ctx, executor, RedemptionManager, "rejectRedemption", id, reason)
}

// SettleRedemption settles one due request (executor).
func (f *Fund) SettleRedemption(ctx context.Context, executor *ecdsa.PrivateKey, id *big.Int) (*types.Receipt, error) {
	return f.Exec(ctx, executor, RedemptionManager, "settleRedemption", id)
}

// BatchSettleRedemptions settles up to max due requests, oldest first (executor).
func (f *Fund) BatchSettleRedemptions(ctx context.Context, executor *ecdsa.PrivateKey, max int) (*types.Receipt, error) {
	return f.Exec(ctx, executor, RedemptionManager, "batchSettleRedemptions", big.NewInt(int64(max)))
}

// PurchaseAsset buys the i-th asset of Params.Assets with usdt of the vault's cash (executor).
func (f *Fund) PurchaseAsset(ctx context.Context, executor *ecdsa.PrivateKey, i int, usdt *big.Int) (*types.Receipt, error) {
	return f.Exec(ctx, executor, AssetController, "purchaseAsset", f.Addr.Assets[i], usdt, new(big.Int))
}

// RedeemAsset sells tokens of the i-th asset back for the vault (executor).
func (f *Fund) RedeemAsset(ctx context.Context, executor *ecdsa.PrivateKey, i int, tokens *big.Int) (*types.Receipt, error) {
	return f.Exec(ctx, executor, AssetController, "redeemAsset", f.Addr.Assets[i], tokens, new(big.Int))
}

// Request is a redemption request as the redemption manager stores it.
type Request struct {
	Owner, Receiver     common.Address
	Shares, Locked, Fee *big.Int
	SettlementTime      uint64
	Channel, Status     uint8
}

// Request reads a redemption request.
func (f *Fund) Request(ctx context.Context, id *big.Int) (Request, error) {
	v, err := f.Call(ctx, RedemptionManager, "requests", id)
	if err != nil {
		return Request{}, err
	}
	return Request{
		Owner: v[0].(common.Address), Receiver: v[1].(common.Address),
		Shares: v[2].(*big.Int), Locked: v[3].(*big.Int), Fee: v[4].(*big.Int),
		SettlementTime: v[5].(*big.Int).Uint64(), Channel: v[6].(uint8), Status: v[7].(uint8),
	}, nil
}

// Uint reads a view function of contract c that returns one uint256.
func (f *Fund) Uint(ctx context.Context, c Contract, method string, args ...any) (*big.Int, error) {
	v, err := f.Call(ctx, c, method, args...)
	if err != nil {
		return nil, err
	}
	return v[0].(*big.Int), nil
}

func addressOf(key *ecdsa.PrivateKey) common.Address { return cryptoAddress(key) }
