package fund

import (
	"encoding/binary"
	"math/big"

	"github.com/holiman/uint256"
	"paimon/kv"
)

// Daily snapshots (DESIGN.md "The books"): the books at the end of every UTC day, written
// inside Apply when an event's block time moves the fund into a later UTC day, so that they
// are replicated state (PostgreSQL's daily_snapshots). Journaled in that event's entry like a
// NAV point: reverting the event deletes them, and a late log applied at its place rewrites
// them with its effect.

// pDaySnap is the key prefix of the daily snapshots: B day8 (the UTC day's first second) →
// daySnapshot.
const pDaySnap = 'B'

func daySnapKey(day int64) []byte { return key(pDaySnap, be64(uint64(day))) }

const secondsPerDay = 86400

// maxSnapshotDays bounds the snapshots one event writes: a gap of more days (a chain quiet for
// over a year, or a first event after a long pause) writes the last maxSnapshotDays days.
const maxSnapshotDays = 400

// utcDay returns the first second of t's UTC day.
func utcDay(t int64) int64 {
	d := t - t%secondsPerDay
	if t < 0 && t%secondsPerDay != 0 {
		d -= secondsPerDay
	}
	return d
}

// daySnapshot is the books at the end of one UTC day.
type daySnapshot struct {
	blockTime, lastBlock                int64 // the latest block time (s) and block of the day
	cash, gross, total                  uint256.Int
	tierValue, tierRatio                [3]uint256.Int
	liability, feeRed, feeMgmt, feePerf uint256.Int
	supply, locked, sharePrice          uint256.Int
	computed, drift                     uint256.Int
	hasComputed, hasDrift, emergency    bool
	holders                             int64
}

// snapshotDays writes the snapshot of every UTC day from the one holding the fund's latest
// block time up to the day before t, with the books as they are now (before the event at t).
// Nothing before the books started, nor for the first event ever.
func (ac *applyContext) snapshotDays(t int64) error {
	last := ac.fund.ints[fLatestTime]
	if !ac.fund.books || last <= 0 || t <= last {
		return nil
	}
	from, to := utcDay(last), utcDay(t)
	if from >= to {
		return nil
	}
	b := &ac.booksBuf
	if err := ac.books(b); err != nil {
		return err
	}
	s := snapshotOf(b)
	enc := s.encode()
	from = max(from, to-maxSnapshotDays*secondsPerDay)
	for d := from; d < to; d += secondsPerDay {
		if err := ac.setKey(daySnapKey(d), enc); err != nil {
			return err
		}
	}
	return nil
}

func snapshotOf(b *Books) *daySnapshot {
	s := &daySnapshot{
		blockTime: b.BlockTime, lastBlock: int64(b.LastBlock),
		hasComputed: b.HasComputedSharePrice, hasDrift: b.HasNavDrift, emergency: b.EmergencyMode, holders: b.HolderCount,
	}
	s.cash, s.gross, s.total = b.Cash, b.GrossAssets, b.TotalAssets
	for t := range b.Tiers {
		s.tierValue[t], s.tierRatio[t] = b.Tiers[t].Value, b.Tiers[t].Ratio
	}
	s.liability, s.feeRed, s.feeMgmt, s.feePerf = b.Liability, b.RedemptionFees, b.ManagementFees, b.PerformanceFees
	s.supply, s.locked, s.sharePrice = b.TotalSupply, b.LockedShares, b.SharePrice
	s.computed, s.drift = b.ComputedSharePrice, b.NavDriftBps
	return s
}

func (s *daySnapshot) amounts() []*uint256.Int {
	return []*uint256.Int{&s.cash, &s.gross, &s.total, &s.tierValue[0], &s.tierValue[1], &s.tierValue[2],
		&s.tierRatio[0], &s.tierRatio[1], &s.tierRatio[2], &s.liability, &s.feeRed, &s.feeMgmt, &s.feePerf,
		&s.supply, &s.locked, &s.sharePrice, &s.computed, &s.drift}
}

func (s *daySnapshot) encode() []byte {
	b := make([]byte, 0, 256)
	b = append(b, recVersion)
	b = binary.AppendVarint(b, s.blockTime)
	b = binary.AppendVarint(b, s.lastBlock)
	for _, a := range s.amounts() {
		b = appendU256(b, a)
	}
	b = append(b, boolByte(s.hasComputed), boolByte(s.hasDrift), boolByte(s.emergency))
	return binary.AppendVarint(b, s.holders)
}

func (s *daySnapshot) decode(v []byte) error {
	d := &dec{b: v}
	d.recordVersion()
	s.blockTime, s.lastBlock = d.varint(), d.varint()
	for _, a := range s.amounts() {
		d.u256(a)
	}
	s.hasComputed, s.hasDrift, s.emergency = d.bool(), d.bool(), d.bool()
	s.holders = d.varint()
	return d.finish()
}

// DaySnapshotRecord is the books at the end of one UTC day (key B), for PostgreSQL's
// daily_snapshots. Amounts are signed (two's complement read as negative); TierRatios in
// basis points; ComputedSharePrice and NavDriftBps nil when not computable.
type DaySnapshotRecord struct {
	Day                                          int64 // the UTC day's first second
	BlockTime                                    int64 // the latest block time applied by then (unix s)
	LastBlock                                    uint64
	Cash, GrossAssets, TotalAssets               *big.Int
	TierValues, TierRatios                       [3]*big.Int
	TotalRedemptionLiability                     *big.Int
	FeeRedemption, FeeManagement, FeePerformance *big.Int
	TotalSupply, TotalLockedShares, SharePrice   *big.Int
	ComputedSharePrice, NavDriftBps              *big.Int
	EmergencyMode                                bool
	HolderCount                                  int64
}

// ReadDaySnapshot returns the daily snapshot of the UTC day that starts at day (its first
// second); ok is false when there is none (the day in progress, a day before the books
// started or before the fund's first event).
func ReadDaySnapshot(r kv.Reader, day int64) (rec *DaySnapshotRecord, ok bool, err error) {
	k := daySnapKey(day)
	v, ok, err := readOpt(r, k)
	if err != nil || !ok {
		return nil, false, err
	}
	rec, err = daySnapshotRecord(k, v)
	return rec, err == nil, err
}

// BooksSnapshot renders the books as they are now in the shape of a daily snapshot of the day
// that starts at day: the figures of the day in progress, which has no snapshot yet.
func BooksSnapshot(b *Books, day int64) *DaySnapshotRecord {
	k := daySnapKey(day)
	return daySnapshotRecordOf(k, snapshotOf(b))
}

func daySnapshotRecord(k, v []byte) (*DaySnapshotRecord, error) {
	var s daySnapshot
	if err := s.decode(v); err != nil {
		return nil, corrupt("daily snapshot", err)
	}
	return daySnapshotRecordOf(k, &s), nil
}

func daySnapshotRecordOf(k []byte, s *daySnapshot) *DaySnapshotRecord {
	sb := signedBig
	r := &DaySnapshotRecord{
		Day: int64(binary.BigEndian.Uint64(k[1:9])), BlockTime: s.blockTime, LastBlock: uint64(s.lastBlock),
		Cash: sb(&s.cash), GrossAssets: sb(&s.gross), TotalAssets: sb(&s.total),
		TotalRedemptionLiability: sb(&s.liability), FeeRedemption: sb(&s.feeRed), FeeManagement: sb(&s.feeMgmt), FeePerformance: sb(&s.feePerf),
		TotalSupply: sb(&s.supply), TotalLockedShares: sb(&s.locked), EmergencyMode: s.emergency, HolderCount: s.holders,
	}
	r.SharePrice = s.sharePrice.ToBig()
	for t := range s.tierValue {
		r.TierValues[t], r.TierRatios[t] = sb(&s.tierValue[t]), sb(&s.tierRatio[t])
	}
	if s.hasComputed {
		r.ComputedSharePrice = sb(&s.computed)
	}
	if s.hasDrift {
		r.NavDriftBps = sb(&s.drift)
	}
	return r
}
