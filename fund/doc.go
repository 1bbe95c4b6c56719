// Package fund is the Paimon Prime Fund's deterministic domain: the binary command codec, the
// state machine that applies (and exactly reverts) every chain event (decoded by package
// chainlog) to an ordered key-value store, and the read-only accessors of that state through
// which package readmodel renders the API's JSON (fund does not import readmodel).
//
// The package is pure: it has no clock, no randomness, no I/O and no goroutines. Time arrives
// in the command or the event, and all state lives in a kv.ReadWriter. See DESIGN.md for the
// key layout, the undo (journal) technique and the definitions the API relies on.
package fund
