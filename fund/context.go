package fund

import (
	"paimon/chainlog"
	"paimon/kv"
)

// applyContext is what applying one command needs beyond the Machine's long-lived state: the
// store it reads (through the batch's overlay), the command's Raft index and time, and, while
// an event is applied, the event's effective block time and undo journal. Apply makes one per
// command and every handler and primitive below it works on it; nothing of it outlives the
// command. It embeds the Machine for the state that does (the fund singleton, the overlay,
// the dirty classes and the batch's Changes).
type applyContext struct {
	*Machine
	store     kv.ReadWriter
	index     uint64 // the command's Raft index
	cmdTime   int64  // the command's time, unix ns
	blockTime int64  // effective block time (unix s) of the event being applied
	journal   []byte // undo journal of the event being applied
	// legacy applies v0.1.0's rules (a version-1 CmdLogs or CmdPrices, CmdIngest): events
	// where they arrive and the journaled current price restored on undo (legacy.go).
	legacy bool
	// riskV1 writes CHAIN risk events as v0.1.0 did (record version 1, nothing else raised):
	// a version-1 CmdLogs or CmdIngest (risk.go).
	riskV1  bool
	riskOrd uint32 // the next ordinal of a RULE or SYSTEM risk event of this command
	// riskKept holds the resolution of the CHAIN risk events this command reverted, by key, so
	// that an entry the sequencer re-applies comes back resolved (risk.go).
	riskKept map[string]riskRec
	// ticketsKept holds the tickets this command reverted with their opening event, by key,
	// so that the sequencer's re-application brings them back as they were (approvals.go).
	ticketsKept map[string][]byte
	// alertOrd is how many alerts the command raised so far (their Seq, alerts.go).
	alertOrd uint64
}

// applyEffects dispatches an event to its contract kind's handler (EVENTS.md has a section
// per kind: vault.go, redemption.go, assets.go, oracle.go). pos is the event's ledger position;
// every effect goes through the journaling primitives (journal.go), so that revertEvent can
// undo it exactly. (A switch rather than a table of handlers: an indirect call would make the
// context escape to the heap, one allocation per command.)
func (ac *applyContext) applyEffects(ev *chainlog.Event, s *chainlog.Spec, pos *ledgerPos) error {
	switch s.Kind {
	case chainlog.KindVault:
		return ac.vaultEvent(ev, s, pos)
	case chainlog.KindRedemptionManager:
		return ac.redemptionEvent(ev, s, pos)
	case chainlog.KindAssetController:
		return ac.assetEvent(ev, s, pos)
	case chainlog.KindOracle:
		return ac.oracleEvent(ev, s, pos)
	}
	return nil
}

// get reads key from the store being applied, through the batch's overlay; absent keys give
// (nil, false, nil). The overlay keeps k, and the value is shared with it: callers must modify
// neither (every key is built fresh by keys.go and never changed).
func (ac *applyContext) get(k []byte) ([]byte, bool, error) {
	return ac.overlay.get(ac.store, k)
}
