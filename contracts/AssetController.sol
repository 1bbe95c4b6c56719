// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./Roles.sol";
import "./MockERC20.sol";
import "./Vault.sol";
import "./PriceOracle.sol";

/// @title PaimonAssetController: the fund's investments by tier (0 L1 cash-like, 1 L2 money
/// market, 2 L3 long-duration RWA) and the fees paid out of the vault.
/// @notice The executor buys an asset with the vault's cash (the stablecoin goes to the token,
/// its issuer, which mints the tokens to the controller) and redeems it (the tokens are burnt,
/// the issuer pays the vault), both at the oracle's price. investedValue() is what the vault
/// counts in its gross assets. A price is USD (the stablecoin's 18 decimals) per whole token:
/// a holding is worth holding × price / 10^decimals, the token's decimals, as the node's books
/// count it (fund DESIGN.md "The books").
contract PaimonAssetController is Roles {
    struct Asset {
        uint8 tier;
        uint256 allocation;
        bool active;
        bool known;
    }

    PaimonVault public immutable vault;
    PaimonPriceOracle public immutable oracle;
    MockERC20 public immutable usdt;
    mapping(address => Asset) public assets;
    address[] public assetList;

    event AssetAdded(address indexed token, uint8 tier, uint256 allocation);
    event AssetRemoved(address indexed token);
    event AssetAllocationUpdated(address indexed token, uint256 oldAllocation, uint256 newAllocation);
    event AssetPurchased(address indexed token, uint8 tier, uint256 usdtAmount, uint256 tokensReceived);
    event AssetRedeemed(address indexed token, uint8 tier, uint256 tokenAmount, uint256 usdtReceived);
    event WaterfallLiquidation(uint8 tier, address indexed token, uint256 amountLiquidated, uint256 usdtReceived);
    event LayerConfigUpdated(uint8 indexed tier, uint256 targetRatio, uint256 minRatio, uint256 maxRatio);
    event ManagementFeeCollected(uint256 feeAmount, uint256 totalAssets, uint256 period);
    event PerformanceFeeCollected(uint256 feeAmount, uint256 profit, uint256 newHighWaterMark);

    constructor(PaimonVault vault_, PaimonPriceOracle oracle_) {
        vault = vault_;
        oracle = oracle_;
        usdt = vault_.asset();
    }

    function assetCount() external view returns (uint256) {
        return assetList.length;
    }

    /// @notice The value of every holding at the oracle's prices (an asset without a price
    /// counts 0, as in the node's books).
    function investedValue() external view returns (uint256 value) {
        for (uint256 i = 0; i < assetList.length; i++) {
            address token = assetList[i];
            value += MockERC20(token).balanceOf(address(this)) * oracle.prices(token) / _unit(token);
        }
    }

    // ---- configuration (admin) ----

    /// @notice Adds an asset to a tier, or re-activates a removed one (keeping its holding).
    function addAsset(address token, uint8 tier, uint256 allocation) external onlyAdmin {
        require(tier <= 2, "assets: unknown tier");
        require(allocation <= 10000, "assets: allocation over 100%");
        Asset storage a = assets[token];
        if (!a.known) {
            a.known = true;
            assetList.push(token);
        }
        a.tier = tier;
        a.allocation = allocation;
        a.active = true;
        emit AssetAdded(token, tier, allocation);
    }

    function removeAsset(address token) external onlyAdmin {
        require(assets[token].active, "assets: not active");
        assets[token].active = false;
        emit AssetRemoved(token);
    }

    function updateAllocation(address token, uint256 allocation) external onlyAdmin {
        Asset storage a = assets[token];
        require(a.known, "assets: unknown asset");
        require(allocation <= 10000, "assets: allocation over 100%");
        uint256 old = a.allocation;
        a.allocation = allocation;
        emit AssetAllocationUpdated(token, old, allocation);
    }

    function setLayerConfig(uint8 tier, uint256 targetRatio, uint256 minRatio, uint256 maxRatio) external onlyAdmin {
        require(tier <= 2, "assets: unknown tier");
        require(minRatio <= targetRatio && targetRatio <= maxRatio && maxRatio <= 10000, "assets: bad band");
        emit LayerConfigUpdated(tier, targetRatio, minRatio, maxRatio);
    }

    // ---- rebalancing (executor) ----

    /// @notice Buys an active asset with usdtAmount of the vault's cash at the oracle's price;
    /// reverts when fewer than minTokens would be received.
    function purchaseAsset(address token, uint256 usdtAmount, uint256 minTokens) external onlyExecutor returns (uint256 tokens) {
        Asset storage a = assets[token];
        require(a.active, "assets: not active");
        uint256 price = oracle.prices(token);
        require(price > 0, "assets: no price");
        tokens = usdtAmount * _unit(token) / price;
        require(tokens > 0 && tokens >= minTokens, "assets: slippage");
        vault.payCash(token, usdtAmount);
        MockERC20(token).mint(address(this), tokens);
        emit AssetPurchased(token, a.tier, usdtAmount, tokens);
    }

    /// @notice Redeems tokenAmount of a held asset for the vault at the oracle's price;
    /// reverts when less than minUsdt would be received.
    function redeemAsset(address token, uint256 tokenAmount, uint256 minUsdt) external onlyExecutor returns (uint256 received) {
        received = _sell(token, tokenAmount, minUsdt);
        emit AssetRedeemed(token, assets[token].tier, tokenAmount, received);
    }

    /// @notice Sells a holding to raise liquidity (the waterfall: L3 last), like redeemAsset.
    function waterfallLiquidation(address token, uint256 tokenAmount) external onlyExecutor returns (uint256 received) {
        received = _sell(token, tokenAmount, 0);
        emit WaterfallLiquidation(assets[token].tier, token, tokenAmount, received);
    }

    function _sell(address token, uint256 tokenAmount, uint256 minUsdt) internal returns (uint256 received) {
        require(assets[token].known, "assets: unknown asset");
        require(tokenAmount > 0, "assets: zero amount");
        uint256 price = oracle.prices(token);
        require(price > 0, "assets: no price");
        received = tokenAmount * price / _unit(token);
        require(received >= minUsdt, "assets: slippage");
        MockERC20(token).burn(tokenAmount); // reverts on more than the holding
        usdt.mint(address(vault), received); // the issuer pays
    }

    /// @notice 10^decimals of token: its base units per whole token.
    function _unit(address token) internal view returns (uint256) {
        return 10 ** uint256(MockERC20(token).decimals());
    }

    // ---- fees (admin) ----

    function collectManagementFee(uint256 feeAmount, uint256 period, address to) external onlyAdmin {
        vault.payCash(to, feeAmount);
        emit ManagementFeeCollected(feeAmount, vault.totalAssets(), period);
    }

    function collectPerformanceFee(uint256 feeAmount, uint256 profit, uint256 newHighWaterMark, address to) external onlyAdmin {
        vault.payCash(to, feeAmount);
        emit PerformanceFeeCollected(feeAmount, profit, newHighWaterMark);
    }
}
