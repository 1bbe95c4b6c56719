package fund

import (
	"paimon/chainlog"
)

// v0.1.0's rules, kept for the commands that carry them: a version-1 CmdLogs (what a server
// proposes while the cluster version is 0.1, and what v0.1.0 wrote to the log) and CmdIngest,
// whose confirmed ranges follow the ledger. A replica applies them exactly as v0.1.0 did, so a
// cluster in the middle of an upgrade, or a node replaying v0.1.0's log, stays identical on
// every member: each event where it arrives (a late one is not moved to its place), a removal
// matched by (txHash, logIndex) alone and reverted where it stands, the current price
// restored from the journal on undo, no reorder window. Version-1 CmdPrices only skips the
// future-price check (oracle.go).

// legacyLogs applies a version-1 CmdLogs's events in arrival order.
func (ac *applyContext) legacyLogs(c *LogsCommand, specs []*chainlog.Spec, res *LogsResult) error {
	ac.legacy, ac.riskV1 = true, true
	for i := range c.Events {
		ev := &c.Events[i]
		out := &res.Outcomes[i]
		out.TxHash, out.LogIndex = chainlog.HexHash(ev.TxHash), ev.LogIndex
		if ev.Removed {
			pos, rec, found, err := ac.ledgerEntry(ev.TxHash, ev.LogIndex)
			if err != nil {
				return err
			}
			if !found {
				out.Status, out.Reason = OutcomeNotFound, "log is not in the ledger"
				res.NotFound++
				continue
			}
			if _, err := ac.revertEntry(pos, rec); err != nil {
				return err
			}
			out.Status = OutcomeReverted
			res.Reverted++
			continue
		}
		dup, err := ac.legacyAdd(ev, specs[i])
		if err != nil {
			return err
		}
		if dup {
			out.Status, out.Reason = OutcomeDuplicate, "log is already in the ledger"
			res.Duplicates++
		} else {
			out.Status = OutcomeAccepted
			res.Accepted++
		}
	}
	return nil
}

// legacyAdd applies a new event where it arrives; one already in the ledger is a duplicate.
func (ac *applyContext) legacyAdd(ev *chainlog.Event, s *chainlog.Spec) (dup bool, err error) {
	tk := txKey(ev.TxHash, ev.LogIndex)
	if ok, err := ac.inLedger(tk); err != nil || ok {
		return ok, err
	}
	return false, ac.applyEvent(ev, s, tk)
}
