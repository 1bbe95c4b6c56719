package executor

import (
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"paimon/internal/fundchain"
)

// A rebalance's trades (OPERATIONS.md "Rebalancing"): one decision per action of a plan,
// (PURCHASE|REDEEM, rebalance-<plan>-<index>), sent to the asset controller.
const (
	PurposePurchase = "PURCHASE" // purchaseAsset(asset, amount (stablecoin), minReceived (tokens))
	PurposeRedeem   = "REDEEM"   // redeemAsset(asset, amount (tokens), minReceived (stablecoin))
)

// assetCalldata is a trade's input on the asset controller.
func (d *Decision) assetCalldata() ([]byte, error) {
	if d.Asset == (common.Address{}) || d.Amount == nil || d.Amount.Sign() <= 0 || d.MinReceived == nil || d.MinReceived.Sign() < 0 ||
		d.Amount.BitLen() > 256 || d.MinReceived.BitLen() > 256 {
		return nil, fmt.Errorf("%w: %s needs an asset, a positive amount and a minimum received", ErrBadDecision, d.Purpose)
	}
	m := "purchaseAsset"
	if d.Purpose == PurposeRedeem {
		m = "redeemAsset"
	}
	return fundchain.Pack(fundchain.AssetController, m, d.Asset, new(big.Int).Set(d.Amount), new(big.Int).Set(d.MinReceived))
}

// target is the contract a decision's transaction calls.
func (e *Executor) target(purpose string) (common.Address, error) {
	if purpose == PurposePurchase || purpose == PurposeRedeem {
		if e.deps.AssetController == (common.Address{}) {
			return common.Address{}, fmt.Errorf("%w: %s needs an asset controller ([[ingest.contracts]] of kind asset_controller)", ErrBadDecision, purpose)
		}
		return e.deps.AssetController, nil
	}
	return e.deps.RedemptionManager, nil
}
