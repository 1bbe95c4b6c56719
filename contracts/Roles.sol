// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Roles: an admin and the executors it appoints.
/// @notice The fund's mocks guard operator functions with onlyExecutor (the backend's executor
/// account: approvals, rejections, settlements, purchases, NAV and price updates) and
/// configuration with onlyAdmin (the deployer). Role changes emit no event on purpose: every
/// log of a fund contract is one the ingester knows (EVENTS.md).
abstract contract Roles {
    address public admin;
    mapping(address => bool) public isExecutor;

    constructor() {
        admin = msg.sender;
    }

    modifier onlyAdmin() {
        require(msg.sender == admin, "roles: caller is not the admin");
        _;
    }

    modifier onlyExecutor() {
        require(isExecutor[msg.sender], "roles: caller is not an executor");
        _;
    }

    /// @notice Grants (enabled) or revokes the executor role.
    function setExecutor(address account, bool enabled) external onlyAdmin {
        isExecutor[account] = enabled;
    }

    /// @notice Hands the admin role to another account.
    function transferAdmin(address next) external onlyAdmin {
        require(next != address(0), "roles: zero admin");
        admin = next;
    }
}
