// Package chainlogtest builds the chain events of tests: events of any kind from their
// arguments (strictly checked against the declaration), ABI-encoded logs made with go-ethereum
// independently of chainlog's decoder, the default contracts and one valid event of every kind.
// It imports only chainlog, go-ethereum and uint256, so that the internal tests of the packages
// above chainlog (fund, readmodel) and fund/fundtest can share it.
package chainlogtest

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"paimon/chainlog"
)

// The contract addresses of the default configuration (config.Default()).
var (
	VaultAddress             = common.HexToAddress("0x8505c32631034a7ce8800239c08547e0434edad9")
	RedemptionManagerAddress = common.HexToAddress("0x0000000000000000000000000000000000000a01")
	AssetControllerAddress   = common.HexToAddress("0x0000000000000000000000000000000000000a02")
	OracleAddress            = common.HexToAddress("0x0000000000000000000000000000000000000a03")
)

// Contracts returns the default contract set, with the names and addresses of config.Default()
// and the built-in ABIs. The slice is new on every call: callers may change it.
func Contracts() []chainlog.ContractConfig {
	return []chainlog.ContractConfig{
		{Name: "vault", Kind: "vault", Address: chainlog.HexAddress(VaultAddress)},
		{Name: "redemptions", Kind: "redemption_manager", Address: chainlog.HexAddress(RedemptionManagerAddress)},
		{Name: "assets", Kind: "asset_controller", Address: chainlog.HexAddress(AssetControllerAddress)},
		{Name: "oracle", Kind: "oracle", Address: chainlog.HexAddress(OracleAddress)},
	}
}

// Registry returns a registry of Contracts(). It panics if chainlog refuses them, which would
// mean the built-in ABIs are broken.
func Registry() *chainlog.Registry {
	r, err := chainlog.NewRegistry(Contracts())
	if err != nil {
		panic("chainlogtest: default contracts: " + err.Error())
	}
	return r
}

// ContractOf returns the default address of a contract kind (zero for an unknown kind).
func ContractOf(k chainlog.Kind) common.Address {
	switch k {
	case chainlog.KindVault:
		return VaultAddress
	case chainlog.KindRedemptionManager:
		return RedemptionManagerAddress
	case chainlog.KindAssetController:
		return AssetControllerAddress
	case chainlog.KindOracle:
		return OracleAddress
	}
	return common.Address{}
}

// Address returns the n-th test account, 0x…1000 + n: short, distinct and easy to read in a
// failure message.
func Address(n int) common.Address { return common.BigToAddress(big.NewInt(int64(0x1000 + n))) }

var oneE18 = uint256.NewInt(1_000_000_000_000_000_000)

// E18 returns n whole tokens (n × 1e18 base units); E18(1) is also a price of 1.
func E18(n uint64) *uint256.Int { return new(uint256.Int).Mul(uint256.NewInt(n), oneE18) }
