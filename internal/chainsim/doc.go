// Package chainsim is a chain simulator for development, demos, tests and benchmarks: a local
// EVM chain (go-ethereum's simulated backend) served over HTTP JSON-RPC, with a tiny "emitter"
// contract at each of the fund's contract addresses, an event generator that drives the fund's
// lifecycle through it, and a reorg injector. See DESIGN.md.
package chainsim
