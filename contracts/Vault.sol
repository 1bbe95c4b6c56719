// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./Roles.sol";
import "./MockERC20.sol";

interface ILiability {
    function totalLiability() external view returns (uint256);
}

interface IInvested {
    function investedValue() external view returns (uint256);
}

/// @title PaimonVault: an ERC-4626-like vault whose shares are priced at the published NAV.
/// @notice Users deposit the stablecoin and get shares at sharePrice (1e18 = 1.0), withdraw or
/// redeem free shares at it. The redemption manager locks, unlocks and burns shares of requests;
/// the asset controller moves cash out for purchases and fees. totalAssets() is the books'
/// formula of EVENTS.md: cash + invested value - redemption liability - redemption fees.
contract PaimonVault is Roles {
    string public constant name = "Paimon Fund Share";
    string public constant symbol = "PFS";
    uint8 public constant decimals = 18;

    MockERC20 public immutable asset;
    address public redemptionManager;
    address public assetController;

    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => uint256) public lockedShares;
    uint256 public totalLockedShares;
    uint256 public sharePrice = 1e18;
    uint256 public redemptionFees;
    bool public emergencyMode;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Deposit(address indexed sender, address indexed owner, uint256 assets, uint256 shares);
    event Withdraw(address indexed sender, address indexed receiver, address indexed owner, uint256 assets, uint256 shares);
    event SharesLocked(address indexed owner, uint256 shares);
    event SharesUnlocked(address indexed owner, uint256 shares);
    event SharesBurned(address indexed owner, uint256 shares);
    event NavUpdated(uint256 oldNav, uint256 newNav, uint256 timestamp);
    event EmergencyModeChanged(bool enabled);
    event RedemptionFeeAdded(uint256 fee);
    event RedemptionFeeReduced(uint256 fee);

    constructor(MockERC20 asset_) {
        asset = asset_;
    }

    modifier onlyRedemptionManager() {
        require(msg.sender == redemptionManager, "vault: caller is not the redemption manager");
        _;
    }

    modifier onlyAssetController() {
        require(msg.sender == assetController, "vault: caller is not the asset controller");
        _;
    }

    /// @notice Wires the two modules, once.
    function setModules(address redemptionManager_, address assetController_) external onlyAdmin {
        require(redemptionManager == address(0), "vault: modules already set");
        redemptionManager = redemptionManager_;
        assetController = assetController_;
    }

    // ---- views ----

    /// @notice The stablecoin the vault holds less the redemption fees it owes to the fund:
    /// what settlements, withdrawals and purchases may spend.
    function availableCash() public view returns (uint256) {
        uint256 cash = asset.balanceOf(address(this));
        return cash > redemptionFees ? cash - redemptionFees : 0;
    }

    function grossAssets() public view returns (uint256) {
        uint256 invested = assetController == address(0) ? 0 : IInvested(assetController).investedValue();
        return asset.balanceOf(address(this)) + invested;
    }

    function totalAssets() public view returns (uint256) {
        uint256 liability = redemptionManager == address(0) ? 0 : ILiability(redemptionManager).totalLiability();
        uint256 owed = liability + redemptionFees;
        uint256 gross = grossAssets();
        return gross > owed ? gross - owed : 0;
    }

    function freeShares(address owner) public view returns (uint256) {
        return balanceOf[owner] - lockedShares[owner];
    }

    function convertToShares(uint256 assets) public view returns (uint256) {
        return assets * 1e18 / sharePrice;
    }

    function convertToAssets(uint256 shares) public view returns (uint256) {
        return shares * sharePrice / 1e18;
    }

    // ---- users ----

    /// @notice Deposits assets of the stablecoin (approved to the vault) for shares at the NAV.
    function deposit(uint256 assets, address receiver) external returns (uint256 shares) {
        require(!emergencyMode, "vault: emergency mode");
        shares = convertToShares(assets);
        require(shares > 0, "vault: zero shares");
        require(asset.transferFrom(msg.sender, address(this), assets), "vault: transfer failed");
        _mint(receiver, shares);
        emit Deposit(msg.sender, receiver, assets, shares);
    }

    /// @notice Withdraws assets for the shares they are worth at the NAV (rounded up).
    function withdraw(uint256 assets, address receiver, address owner) external returns (uint256 shares) {
        shares = (assets * 1e18 + sharePrice - 1) / sharePrice;
        _withdraw(assets, shares, receiver, owner);
    }

    /// @notice Redeems shares for the assets they are worth at the NAV (rounded down).
    function redeem(uint256 shares, address receiver, address owner) external returns (uint256 assets) {
        assets = convertToAssets(shares);
        _withdraw(assets, shares, receiver, owner);
    }

    function _withdraw(uint256 assets, uint256 shares, address receiver, address owner) internal {
        require(msg.sender == owner, "vault: caller is not the owner");
        require(shares > 0 && assets > 0, "vault: zero amount");
        require(freeShares(owner) >= shares, "vault: not enough free shares");
        require(availableCash() >= assets, "vault: insufficient liquidity");
        _burn(owner, shares);
        require(asset.transfer(receiver, assets), "vault: transfer failed");
        emit Withdraw(msg.sender, receiver, owner, assets, shares);
    }

    /// @notice Moves free shares.
    function transfer(address to, uint256 value) external returns (bool) {
        require(to != address(0), "vault: transfer to the zero address");
        require(freeShares(msg.sender) >= value, "vault: not enough free shares");
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }

    // ---- the redemption manager ----

    function lockShares(address owner, uint256 shares) external onlyRedemptionManager {
        require(freeShares(owner) >= shares, "vault: not enough free shares");
        lockedShares[owner] += shares;
        totalLockedShares += shares;
        emit SharesLocked(owner, shares);
    }

    function unlockShares(address owner, uint256 shares) external onlyRedemptionManager {
        lockedShares[owner] -= shares;
        totalLockedShares -= shares;
        emit SharesUnlocked(owner, shares);
    }

    /// @notice Settles a request: burns its locked shares, pays net to the receiver and keeps
    /// the fee as redemption fees.
    function settleShares(address owner, uint256 shares, address receiver, uint256 net, uint256 fee)
        external
        onlyRedemptionManager
    {
        require(availableCash() >= net, "vault: insufficient liquidity");
        lockedShares[owner] -= shares;
        totalLockedShares -= shares;
        emit SharesBurned(owner, shares);
        _burn(owner, shares);
        require(asset.transfer(receiver, net), "vault: transfer failed");
        if (fee > 0) {
            redemptionFees += fee;
            emit RedemptionFeeAdded(fee);
        }
    }

    // ---- the asset controller ----

    /// @notice Pays cash out of the vault: a purchase's price, a fee.
    function payCash(address to, uint256 amount) external onlyAssetController {
        require(availableCash() >= amount, "vault: insufficient liquidity");
        require(asset.transfer(to, amount), "vault: transfer failed");
    }

    // ---- operators ----

    /// @notice Publishes the NAV per share.
    function updateNav(uint256 newNav) external onlyExecutor {
        require(newNav > 0, "vault: zero nav");
        uint256 old = sharePrice;
        sharePrice = newNav;
        emit NavUpdated(old, newNav, block.timestamp);
    }

    function setEmergencyMode(bool enabled) external onlyAdmin {
        emergencyMode = enabled;
        emit EmergencyModeChanged(enabled);
    }

    /// @notice Takes accrued redemption fees out of the vault.
    function withdrawRedemptionFees(address to, uint256 fee) external onlyAdmin {
        require(fee <= redemptionFees, "vault: more than the fees");
        redemptionFees -= fee;
        require(asset.transfer(to, fee), "vault: transfer failed");
        emit RedemptionFeeReduced(fee);
    }

    function _mint(address to, uint256 shares) internal {
        totalSupply += shares;
        balanceOf[to] += shares;
        emit Transfer(address(0), to, shares);
    }

    function _burn(address from, uint256 shares) internal {
        balanceOf[from] -= shares;
        totalSupply -= shares;
        emit Transfer(from, address(0), shares);
    }
}
