// Package fundchain deploys and drives the fund's Solidity mocks (contracts/: vault, redemption
// manager, asset controller, price oracle) on an EVM chain such as chainsim's or go-ethereum's
// simulated backend, for tests, the chain simulator and the executor.
package fundchain
