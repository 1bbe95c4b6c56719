// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./Roles.sol";
import "./Vault.sol";

/// @title PaimonRedemptionManager: redemption requests, their approval and settlement.
/// @notice A holder requests the redemption of free shares through a channel (0 STANDARD,
/// 1 EMERGENCY, 2 SCHEDULED); the vault locks them and the request owes lockedAmount (the shares
/// at the NAV of the request) until it is rejected, cancelled or settled. A request whose
/// lockedAmount is at or above approvalThreshold needs an executor's approveRedemption before
/// it can settle; the executor settles due requests one by one or in batches.
contract PaimonRedemptionManager is Roles {
    uint8 public constant STANDARD = 0;
    uint8 public constant EMERGENCY = 1;
    uint8 public constant SCHEDULED = 2;

    enum Status { None, Pending, PendingApproval, Approved, Rejected, Cancelled, Settled }

    struct Request {
        address owner;
        address receiver;
        uint256 shares;
        uint256 lockedAmount;
        uint256 fee;
        uint256 settlementTime;
        uint8 channel;
        Status status;
    }

    /// @notice Liquidity alert thresholds of checkLiquidity, basis points of gross assets.
    uint256 public constant LOW_LIQUIDITY_BPS = 1500;
    uint256 public constant CRITICAL_LIQUIDITY_BPS = 500;

    PaimonVault public immutable vault;
    uint256 public approvalThreshold;
    uint256 public standardDelay;
    uint256 public emergencyDelay;
    uint256 public windowLength;

    uint256 public nextRequestId = 1;
    uint256 public firstOpen = 1; // every request below it is closed
    uint256 public totalLiability;
    mapping(uint256 => Request) public requests;

    event RedemptionRequested(uint256 indexed requestId, address indexed owner, address receiver, uint256 shares, uint256 lockedAmount, uint256 estimatedFee, uint8 channel, bool requiresApproval, uint256 settlementTime, uint256 windowId);
    event RedemptionApproved(uint256 indexed requestId, address indexed approver, uint256 settlementTime);
    event RedemptionRejected(uint256 indexed requestId, address indexed rejector, string reason);
    event RedemptionCancelled(uint256 indexed requestId, address indexed owner);
    event RedemptionSettled(uint256 indexed requestId, address indexed owner, address receiver, uint256 grossAmount, uint256 fee, uint256 netAmount, uint8 channel);
    event LowLiquidityAlert(uint256 currentRatio, uint256 threshold, uint256 available, uint256 total);
    event CriticalLiquidityAlert(uint256 currentRatio, uint256 threshold, uint256 available);

    /// @param approvalThreshold_ lockedAmount at or above which a request needs approval
    /// @param standardDelay_ seconds from a STANDARD request to its settlement time (T+7: 7 days)
    /// @param emergencyDelay_ the same for EMERGENCY
    /// @param windowLength_ SCHEDULED requests settle at the end of the window after the
    /// current one (windows of this many seconds, numbered from the epoch)
    constructor(PaimonVault vault_, uint256 approvalThreshold_, uint256 standardDelay_, uint256 emergencyDelay_, uint256 windowLength_) {
        require(windowLength_ > 0, "redemption: zero window");
        vault = vault_;
        approvalThreshold = approvalThreshold_;
        standardDelay = standardDelay_;
        emergencyDelay = emergencyDelay_;
        windowLength = windowLength_;
    }

    function setApprovalThreshold(uint256 threshold) external onlyAdmin {
        approvalThreshold = threshold;
    }

    /// @notice The redemption fee of a channel, basis points of lockedAmount.
    function feeBps(uint8 channel) public pure returns (uint256) {
        if (channel == EMERGENCY) return 100;
        if (channel == SCHEDULED) return 5;
        return 10;
    }

    /// @notice Whether a request can settle now: pending without approval, or approved, and due.
    function isDue(uint256 id) public view returns (bool) {
        Request storage r = requests[id];
        return (r.status == Status.Pending || r.status == Status.Approved) && block.timestamp >= r.settlementTime;
    }

    // ---- users ----

    /// @notice Requests the redemption of shares (free shares of the caller) to receiver.
    function requestRedemption(uint256 shares, address receiver, uint8 channel) external returns (uint256 id) {
        require(shares > 0, "redemption: zero shares");
        require(channel <= SCHEDULED, "redemption: unknown channel");
        require(receiver != address(0), "redemption: zero receiver");
        uint256 locked = shares * vault.sharePrice() / 1e18;
        require(locked > 0, "redemption: zero amount");
        uint256 settlement = block.timestamp + standardDelay;
        uint256 window = 0;
        if (channel == EMERGENCY) {
            settlement = block.timestamp + emergencyDelay;
        } else if (channel == SCHEDULED) {
            window = block.timestamp / windowLength + 1;
            settlement = (window + 1) * windowLength;
        }
        bool needsApproval = locked >= approvalThreshold;
        id = nextRequestId++;
        requests[id] = Request({
            owner: msg.sender,
            receiver: receiver,
            shares: shares,
            lockedAmount: locked,
            fee: locked * feeBps(channel) / 10000,
            settlementTime: settlement,
            channel: channel,
            status: needsApproval ? Status.PendingApproval : Status.Pending
        });
        totalLiability += locked;
        vault.lockShares(msg.sender, shares);
        emit RedemptionRequested(id, msg.sender, receiver, shares, locked, requests[id].fee, channel, needsApproval, settlement, window);
    }

    /// @notice Cancels the caller's own request while it has not been decided or settled.
    function cancelRedemption(uint256 id) external {
        Request storage r = requests[id];
        require(r.owner == msg.sender, "redemption: caller is not the owner");
        require(r.status == Status.Pending || r.status == Status.PendingApproval, "redemption: not cancellable");
        r.status = Status.Cancelled;
        totalLiability -= r.lockedAmount;
        emit RedemptionCancelled(id, msg.sender);
        vault.unlockShares(r.owner, r.shares);
    }

    // ---- the executor ----

    function approveRedemption(uint256 id) external onlyExecutor {
        Request storage r = requests[id];
        require(r.status == Status.PendingApproval, "redemption: not pending approval");
        r.status = Status.Approved;
        emit RedemptionApproved(id, msg.sender, r.settlementTime);
    }

    function rejectRedemption(uint256 id, string calldata reason) external onlyExecutor {
        Request storage r = requests[id];
        require(r.status == Status.PendingApproval, "redemption: not pending approval");
        require(bytes(reason).length > 0, "redemption: empty reason");
        r.status = Status.Rejected;
        totalLiability -= r.lockedAmount;
        emit RedemptionRejected(id, msg.sender, reason);
        vault.unlockShares(r.owner, r.shares);
    }

    /// @notice Settles one due request; reverts when it is not due or cash is short.
    function settleRedemption(uint256 id) external onlyExecutor {
        require(isDue(id), "redemption: not due");
        _settle(id);
        _advance();
    }

    /// @notice Settles up to max due requests, oldest first, skipping those the vault's cash
    /// cannot pay; returns how many it settled. It scans the open requests from the oldest.
    function batchSettleRedemptions(uint256 max) external onlyExecutor returns (uint256 settled) {
        uint256 cash = vault.availableCash();
        for (uint256 id = firstOpen; id < nextRequestId && settled < max; id++) {
            if (!isDue(id)) continue;
            Request storage r = requests[id];
            if (r.lockedAmount - r.fee > cash) continue;
            // A settlement pays net and books the fee as redemption fees, which the vault
            // then reserves: its available cash falls by the whole lockedAmount.
            cash = cash > r.lockedAmount ? cash - r.lockedAmount : 0;
            _settle(id);
            settled++;
        }
        _advance();
    }

    /// @notice Emits a liquidity alert when the vault's available cash is below the thresholds
    /// (basis points of gross assets). Anyone may call it (a keeper does).
    function checkLiquidity() external returns (uint256 ratio) {
        uint256 total = vault.grossAssets();
        if (total == 0) return 10000;
        uint256 available = vault.availableCash();
        ratio = available * 10000 / total;
        if (ratio < CRITICAL_LIQUIDITY_BPS) {
            emit CriticalLiquidityAlert(ratio, CRITICAL_LIQUIDITY_BPS, available);
        } else if (ratio < LOW_LIQUIDITY_BPS) {
            emit LowLiquidityAlert(ratio, LOW_LIQUIDITY_BPS, available, total);
        }
    }

    function _settle(uint256 id) internal {
        Request storage r = requests[id];
        r.status = Status.Settled;
        totalLiability -= r.lockedAmount;
        uint256 net = r.lockedAmount - r.fee;
        emit RedemptionSettled(id, r.owner, r.receiver, r.lockedAmount, r.fee, net, r.channel);
        vault.settleShares(r.owner, r.shares, r.receiver, net, r.fee);
    }

    // _advance moves firstOpen past the closed requests at the front.
    function _advance() internal {
        uint256 id = firstOpen;
        while (id < nextRequestId) {
            Status s = requests[id].status;
            if (s == Status.Pending || s == Status.PendingApproval || s == Status.Approved) break;
            id++;
        }
        firstOpen = id;
    }
}
