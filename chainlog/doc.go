// Package chainlog decodes the fund contracts' chain logs: the event declarations of EVENTS.md
// (the spec table and the built-in ABIs), the contract registry built from config, a strict
// decoder from eth_getLogs-shaped logs to typed events, and the checks an event must pass
// before the state machine applies it. It is pure: no I/O, no clock.
package chainlog
