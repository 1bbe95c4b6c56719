// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./Roles.sol";

/// @title PaimonPriceOracle: the asset prices (1e18-scaled USD per whole token) the asset
/// controller trades at and the node values holdings with.
contract PaimonPriceOracle is Roles {
    mapping(address => uint256) public prices;

    event PriceSet(address indexed asset, uint256 price, uint256 timestamp, uint8 source);

    /// @notice Publishes a price; source is the feed's own code (0 manual, 1 feed, ...).
    function setPrice(address asset, uint256 price, uint8 source) external onlyExecutor {
        require(price > 0, "oracle: zero price");
        prices[asset] = price;
        emit PriceSet(asset, price, block.timestamp, source);
    }
}
