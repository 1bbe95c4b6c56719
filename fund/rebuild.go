package fund

import (
	"bytes"
	"fmt"

	"paimon/kv"
)

// Primary records are the state PostgreSQL holds: everything else in the store is derived
// from them (index keys, views), belongs to the sync (outbox, mark) or to raftstore (m/).

// primaryPrefixes lists the key prefixes of the primary records.
var primaryPrefixes = [256]bool{
	pFund: true, pAccount: true, pRedemption: true, pAsset: true, pPrice: true, pPriceHist: true,
	pNav: true, pFlow: true, pRisk: true, pLedger: true, pAudit: true, pIngest: true, pRole: true,
	pAssetMeta: true, pDaySnap: true, pTicket: true, pTicketRec: true, pTxIntent: true, pPlan: true,
}

// indexPrefixes lists the prefixes of the index keys, which RebuildIndexes derives.
var indexPrefixes = []byte{pLedgerTx, pLedgerAddr, pLedgerEv, pLedgerCon, pRedOwner, pRedStatus, pAuditIdx, pTicketDue, pTxDecision, pPlanStatus}

// IsPrimaryRecord reports whether key is a primary record (the outbox/PostgreSQL set): the
// fund singleton (S), the ingest checkpoint (I), accounts (A), redemptions (R), assets (X), current prices (P), price
// points (H), NAV points (N), flow buckets (F), risk events (K), the ledger (L), the audit
// log (U), wallet roles (Y), asset metadata (D), daily snapshots (B), approval tickets (G) and
// their trails (g), and the executor's transaction intents (C). Index keys, views, the outbox, the sync mark, login nonces and
// wallet sessions (ephemeral: a node rebuilt from PostgreSQL starts with none) and raftstore's
// keys are not.
func IsPrimaryRecord(key []byte) bool {
	return len(key) > 0 && primaryPrefixes[key[0]] && ((key[0] != pFund && key[0] != pIngest) || len(key) == 1)
}

// Record types, as RecordType names them.
const (
	RecFund       = "fund"
	RecAccount    = "account"
	RecRedemption = "redemption"
	RecAsset      = "asset"
	RecPrice      = "price"
	RecPricePoint = "price_point"
	RecNavPoint   = "nav_point"
	RecFlowBucket = "flow_bucket"
	RecRiskEvent  = "risk_event"
	RecLedger     = "ledger"
	RecAudit      = "audit"
	RecIngest     = "ingest_checkpoint"
	RecRole       = "role"
	RecAssetMeta  = "asset_meta"
	RecDaySnap    = "daily_snapshot"
	RecTicket     = "approval_ticket"
	RecApproval   = "approval_record"
	RecTxIntent   = "executor_transaction"
	RecPlan       = "rebalance_plan"
)

// RecordType names the kind of a primary record from its key alone (a deleted record's outbox
// entry has no value), or returns "" for a key that is not a primary record.
func RecordType(key []byte) string {
	if !IsPrimaryRecord(key) {
		return ""
	}
	switch key[0] {
	case pFund:
		return RecFund
	case pAccount:
		return RecAccount
	case pRedemption:
		return RecRedemption
	case pAsset:
		return RecAsset
	case pPrice:
		return RecPrice
	case pPriceHist:
		return RecPricePoint
	case pNav:
		return RecNavPoint
	case pFlow:
		return RecFlowBucket
	case pRisk:
		return RecRiskEvent
	case pLedger:
		return RecLedger
	case pAudit:
		return RecAudit
	case pIngest:
		return RecIngest
	case pRole:
		return RecRole
	case pAssetMeta:
		return RecAssetMeta
	case pDaySnap:
		return RecDaySnap
	case pTicket:
		return RecTicket
	case pTicketRec:
		return RecApproval
	case pTxIntent:
		return RecTxIntent
	case pPlan:
		return RecPlan
	}
	return ""
}

// ViewKey returns the key a materialized view is stored under (see ViewNames and
// Machine.RenderView), for rebuilding views after a restore.
func ViewKey(name string) []byte { return viewKey(name) }

// rebuildChunk bounds the records read per scan: the index keys of a chunk are written after
// its scan, since a store may not be modified during its own scan.
const rebuildChunk = 4096

// RebuildIndexes derives every index key (T a e c o s u h x) from the primary records present in
// rw, deleting any stale index keys first; used after primary records were written back from
// PostgreSQL. Applying it to a state whose index keys were all removed restores it byte for
// byte. Views are not touched: render them with Machine.RenderView and store them under
// ViewKey.
func RebuildIndexes(rw kv.ReadWriter) error { return rebuildIndexes(rw, rebuildChunk) }

func rebuildIndexes(rw kv.ReadWriter, chunk int) error {
	for _, p := range indexPrefixes {
		if err := rw.DeleteRange([]byte{p}, []byte{p + 1}); err != nil {
			return fmt.Errorf("fund: rebuild indexes: delete %c: %w", p, err)
		}
	}
	for _, r := range []struct {
		prefix byte
		keys   func(k, v []byte) ([]kvPair, error)
	}{
		{pLedger, ledgerIndexPairs},
		{pRedemption, redemptionIndexPairs},
		{pAudit, auditIndexPairs},
		{pTicket, ticketIndexPairs},
		{pTxIntent, txIntentIndexPairs},
		{pPlan, planIndexPairs},
	} {
		if err := rebuildFrom(rw, r.prefix, chunk, r.keys); err != nil {
			return err
		}
	}
	return nil
}

type kvPair struct{ k, v []byte }

// rebuildFrom scans the records under prefix in chunks and writes the index keys of each.
func rebuildFrom(rw kv.ReadWriter, prefix byte, chunk int, indexKeys func(k, v []byte) ([]kvPair, error)) error {
	lo, hi := []byte{prefix}, []byte{prefix + 1}
	for {
		var pairs []kvPair
		var last []byte
		n := 0
		err := scan(rw, lo, hi, false, func(k, v []byte) (bool, error) {
			p, err := indexKeys(k, v)
			if err != nil {
				return false, err
			}
			pairs = append(pairs, p...)
			last = bytes.Clone(k)
			n++
			return n < chunk, nil
		})
		if err != nil {
			return fmt.Errorf("fund: rebuild indexes: %w", err)
		}
		for _, p := range pairs {
			if err := rw.Set(p.k, p.v); err != nil {
				return fmt.Errorf("fund: rebuild indexes: write %x: %w", p.k, err)
			}
		}
		if n < chunk {
			return nil
		}
		lo = append(last, 0) // the next key after last
	}
}

// ledgerIndexPairs: the (txHash, logIndex) key and the address, event and contract indexes.
func ledgerIndexPairs(k, v []byte) ([]kvPair, error) {
	if len(k) != 1+ledgerPosLen {
		return nil, corrupt("ledger key", fmt.Errorf("%x", k))
	}
	rec, err := decodeLedger(v)
	if err != nil {
		return nil, corrupt("ledger entry", err)
	}
	s, verr := eventSpec(&rec.ev)
	if verr != nil {
		return nil, corrupt("ledger entry", verr)
	}
	pos := ledgerPos(k[1:])
	if rec.ev.BlockNumber != be64get(pos[:]) || rec.ev.LogIndex != be64get(pos[8:]) || !bytes.Equal(rec.ev.TxHash[:], pos[16:]) {
		return nil, corrupt("ledger entry", fmt.Errorf("entry does not match its key %x", k))
	}
	pairs := []kvPair{{txKey(rec.ev.TxHash, rec.ev.LogIndex), be64(rec.ev.BlockNumber)}}
	for _, ik := range ledgerIndexKeys(&rec.ev, s, &pos) {
		pairs = append(pairs, kvPair{ik, nil})
	}
	return pairs, nil
}

// redemptionIndexPairs: the owner (when known) and status indexes.
func redemptionIndexPairs(k, v []byte) ([]kvPair, error) {
	if len(k) != 1+32 {
		return nil, corrupt("redemption key", fmt.Errorf("%x", k))
	}
	var r redemption
	if err := r.decode(v); err != nil {
		return nil, corrupt("redemption", err)
	}
	id := k[1:]
	pairs := []kvPair{{key(pRedStatus, []byte{r.status}, id), nil}}
	if r.owner != ([20]byte{}) {
		pairs = append(pairs, kvPair{key(pRedOwner, r.owner[:], id), nil})
	}
	return pairs, nil
}

// auditIndexPairs: the actor and action indexes.
func auditIndexPairs(k, v []byte) ([]kvPair, error) {
	if len(k) != 1+12 {
		return nil, corrupt("audit key", fmt.Errorf("%x", k))
	}
	var a auditRec
	if err := a.decode(v); err != nil {
		return nil, corrupt("audit entry", err)
	}
	pos := k[1:]
	return []kvPair{
		{key(pAuditIdx, []byte{'a'}, hash8(a.actor.Name), pos), nil},
		{key(pAuditIdx, []byte{'x'}, hash8(a.action), pos), nil},
	}, nil
}

// ticketIndexPairs: an open ticket's next SLA time (the due index CmdTick reads).
func ticketIndexPairs(k, v []byte) ([]kvPair, error) {
	if len(k) != 1+1+32 {
		return nil, corrupt("approval ticket key", fmt.Errorf("%x", k))
	}
	var t ticketRec
	if err := t.decode(v); err != nil {
		return nil, corrupt("approval ticket", err)
	}
	if d := t.nextDue(); d != 0 {
		return []kvPair{{ticketDueKey(d, t.typ, &t.ref), nil}}, nil
	}
	return nil, nil
}

// txIntentIndexPairs: the decision's key (x purpose 0 reference → seq8), by which apply keeps
// one intent per decision: a node restored from PostgreSQL finds the intents it recorded and
// never signs a second transaction for the same decision.
func txIntentIndexPairs(k, v []byte) ([]kvPair, error) {
	t, err := decodeTxIntent(k, v)
	if err != nil {
		return nil, err
	}
	return []kvPair{{txDecisionKey(t.Purpose, t.Reference), be64(t.Seq)}}, nil
}

// planIndexPairs: a plan's status index.
func planIndexPairs(k, v []byte) ([]kvPair, error) {
	p, err := decodePlan(k, v)
	if err != nil {
		return nil, err
	}
	return []kvPair{{planStatusKey(p.Status, p.ID), nil}}, nil
}
