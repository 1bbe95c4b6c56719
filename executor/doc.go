// Package executor sends the fund's transactions from the leader: each recorded in Raft as an
// intent before it is sent, simulated, broadcast, tracked to confirmation, replaced when
// stuck, never signed twice for one decision (see DESIGN.md).
package executor
