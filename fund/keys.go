package fund

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"

	"github.com/ethereum/go-ethereum/common"
	"paimon/kv"
)

// Key prefixes, one byte per record kind (see DESIGN.md). Numbers in keys are big-endian so
// that scans are ordered. "m/" belongs to raftstore: no prefix here is 'm'.
const (
	pFund       = 'S' // S → fund singleton
	pView       = 'V' // V name → rendered JSON view
	pLedger     = 'L' // L bn8 li8 tx32 → ledger record (event + undo journal)
	pLedgerTx   = 'T' // T tx32 li8 → bn8 (dedup and lookup by (txHash, logIndex))
	pLedgerAddr = 'a' // a addr20 bn8 li8 tx32 → ∅ (ledger by address argument)
	pLedgerEv   = 'e' // e spec1 bn8 li8 tx32 → ∅ (ledger by event name)
	pLedgerCon  = 'c' // c contract20 bn8 li8 tx32 → ∅ (ledger by contract)
	pAccount    = 'A' // A addr20 → account
	pRedemption = 'R' // R id32 → redemption
	pRedOwner   = 'o' // o owner20 id32 → ∅
	pRedStatus  = 's' // s status1 id32 → ∅
	pAsset      = 'X' // X token20 → asset
	pPrice      = 'P' // P asset20 → current price
	pPriceHist  = 'H' // H asset20 time8 origin17 → price point
	pNav        = 'N' // N time8 bn8 li8 → NAV point
	pFlow       = 'F' // F hour8 → flow bucket
	pRisk       = 'K' // K bn8 li8 tx32 → risk event
	pAudit      = 'U' // U index8 ord4 → audit entry
	pAuditIdx   = 'u' // u 'a' fnv8(actor) index8 ord4 → ∅; u 'x' fnv8(action) index8 ord4 → ∅
	pOutbox     = 'O' // O index8 ord4 → outbox entry (time, record key, new value or tombstone)
	pSyncMark   = 'W' // W → replicated sync high-water mark (index, time)
	pNonce      = 'n' // n nonce24 (expiry8 random16) → address20 (session.go)
	pSession    = 'Z' // Z hash32 → wallet session (not synced: sessions are ephemeral)
	pSessionExp = 'z' // z expires8 hash32 → ∅ (sessions by expiry, for pruning)
	pRole       = 'Y' // Y addr20 → wallet role
	pAlert      = 'J' // J seq8 → alert and its delivery outcomes (alerts.go; not synced)
	pAlertID    = 'j' // j id → seq8 (an alert per risk event id)
	pRiskState  = 'Q' // Q → the risk indicators' thresholds and statuses (riskstatus.go; not synced)
	pTxIntent   = 'C' // C seq8 → the executor's transaction intent (txintent.go; a primary record)
	pTxDecision = 'x' // x purpose 0 reference → seq8 (one intent per decision; index, derived from C)
)

// ledgerPosLen is the length of a ledger position: bn8 li8 tx32.
const ledgerPosLen = 48

type ledgerPos [ledgerPosLen]byte

func makeLedgerPos(bn, li uint64, tx common.Hash) ledgerPos {
	var p ledgerPos
	binary.BigEndian.PutUint64(p[0:], bn)
	binary.BigEndian.PutUint64(p[8:], li)
	copy(p[16:], tx[:])
	return p
}

func key(prefix byte, parts ...[]byte) []byte {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 1, n)
	k[0] = prefix
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func be64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func txKey(tx common.Hash, li uint64) []byte { return key(pLedgerTx, tx[:], be64(li)) }

func accountKey(a common.Address) []byte { return key(pAccount, a[:]) }

func assetKey(a common.Address) []byte { return key(pAsset, a[:]) }

func priceKey(a common.Address) []byte { return key(pPrice, a[:]) }

func viewKey(name string) []byte { return key(pView, []byte(name)) }

func flowKey(hour int64) []byte { return key(pFlow, be64(uint64(hour))) }

func navKey(t int64, bn, li uint64) []byte { return key(pNav, be64(uint64(t)), be64(bn), be64(li)) }

// priceHistKey: origin is tag 0 + bn8 + li8 for oracle events, tag 1 + index8 + ordinal8 for
// operator pushes, so that two points at the same second never collide.
func priceHistKey(a common.Address, t int64, tag byte, x, y uint64) []byte {
	return key(pPriceHist, a[:], be64(uint64(t)), []byte{tag}, be64(x), be64(y))
}

func auditPos(index uint64, ord uint32) []byte {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:], index)
	binary.BigEndian.PutUint32(b[8:], ord)
	return b[:]
}

// hash8 is the index key component for free-form strings (actor, action); readers filter the
// records exactly, so a collision only costs a skipped record.
func hash8(s string) []byte {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum(nil)
}

// be64get reads a big-endian uint64 (keys hold their numbers big-endian).
func be64get(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// scan wraps kv.Reader.Scan so that the callback can fail.
func scan(r kv.Reader, lo, hi []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	var ferr error
	err := r.Scan(lo, hi, reverse, func(k, v []byte) bool {
		more, err := fn(k, v)
		if err != nil {
			ferr = err
			return false
		}
		return more
	})
	if err != nil {
		return fmt.Errorf("fund: scan: %w", err)
	}
	return ferr
}
