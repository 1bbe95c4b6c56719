package fund

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
	"paimon/kv"
)

// Risk events (OPERATIONS.md, "Risk"): CHAIN ones from the four chain events, RULE ones when an
// indicator crosses a threshold, SYSTEM ones the leader observes (ingest halted, PostgreSQL
// lag). Every one is raised inside apply by raiseRiskEvent and stored under K; see DESIGN.md,
// "Risk events", for the key scheme, the ids and the record versions.

// RiskSource says what raised a risk event.
type RiskSource uint8

// The risk event sources.
const (
	SourceChain  RiskSource = 1 // one of the four chain events
	SourceRule   RiskSource = 2 // an indicator crossing a threshold
	SourceSystem RiskSource = 3 // a condition the leader observed (CmdRiskEvent)
)

var sourceNames = [...]string{"", "CHAIN", "RULE", "SYSTEM"}

// String returns the API name ("CHAIN", "RULE", "SYSTEM"), or "" for an invalid source.
func (s RiskSource) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return ""
}

// ParseRiskSource parses an API source name, case-insensitively.
func ParseRiskSource(v string) (RiskSource, bool) {
	for i := 1; i < len(sourceNames); i++ {
		if strings.EqualFold(v, sourceNames[i]) {
			return RiskSource(i), true
		}
	}
	return 0, false
}

// RiskSeverity is a risk event's severity; the values are ordered (INFO < … < CRITICAL).
type RiskSeverity uint8

// The risk severities.
const (
	SeverityInfo     RiskSeverity = 1
	SeverityWarning  RiskSeverity = 2
	SeverityHigh     RiskSeverity = 3
	SeverityCritical RiskSeverity = 4
)

var riskSeverityNames = [...]string{"", "INFO", "WARNING", "HIGH", "CRITICAL"}

// String returns the API name ("INFO" … "CRITICAL"), or "" for an invalid severity.
func (s RiskSeverity) String() string {
	if int(s) < len(riskSeverityNames) {
		return riskSeverityNames[s]
	}
	return ""
}

// ParseRiskSeverity parses an API severity name, case-insensitively.
func ParseRiskSeverity(v string) (RiskSeverity, bool) {
	for i := 1; i < len(riskSeverityNames); i++ {
		if strings.EqualFold(v, riskSeverityNames[i]) {
			return RiskSeverity(i), true
		}
	}
	return 0, false
}

// RiskEvent is what raiseRiskEvent is given: everything of the event but where and when,
// which the applying command decides.
type RiskEvent struct {
	Source   RiskSource
	Severity RiskSeverity
	Type     string // CHAIN: the chain event's name; RULE: the indicator; SYSTEM: the condition
	Message  string // one line for a person
	// Details is a JSON object (nil stands for {}). It is stored as given, so it must be a
	// pure function of the state and the command (no map iteration, no float formatting
	// that could differ): it is replicated state.
	Details []byte

	contract common.Address // a CHAIN event's contract (set by raiseChainRisk)
}

// Limits of a risk event's text, checked where a command carries them (CmdRiskEvent) and
// enforced by raiseRiskEvent for the others.
const (
	maxRiskType    = 64
	maxRiskMessage = 1024
	maxRiskDetails = 16 << 10
	maxRiskNote    = 1024
)

// riskVersion is the newest risk record version. Version 1 (v0.1.0's, still written by the
// commands that keep v0.1.0's rules) holds a CHAIN event's severity, spec, block time and
// contract; version 2 is the whole event.
const riskVersion byte = 2

// riskRec is a stored risk event. A version-1 record decodes with source CHAIN, its
// severity upcast (v1 numbered warning 1, high 2, critical 3), the spec's name as type and
// no message, details or index: the read renders those from the ledger entry at the same
// position (riskChainText).
type riskRec struct {
	ver        byte
	source     RiskSource
	severity   RiskSeverity
	spec       uint8 // CHAIN: the chain event's spec id; 0 otherwise
	time       int64 // unix s: the block time (CHAIN), the command's time (RULE, SYSTEM)
	contract   common.Address
	index      uint64 // RULE, SYSTEM: the Raft index of the command that raised it; CHAIN: 0
	typ        string
	message    string
	details    []byte // JSON object, or nil
	resolved   bool
	resolvedBy string
	resolvedAt int64 // unix ns, the resolving command's time
	note       string
}

// v1 severities (riskRec version 1).
const (
	sevWarning  uint8 = 1
	sevHigh     uint8 = 2
	sevCritical uint8 = 3
)

// encodeV1 is version 1's encoding, byte for byte what v0.1.0 wrote.
func (k *riskRec) encodeV1() []byte {
	b := make([]byte, 3, 3+binary.MaxVarintLen64+20)
	b[0], b[1], b[2] = 1, uint8(k.severity)-1, k.spec
	b = binary.AppendVarint(b, k.time)
	return append(b, k.contract[:]...)
}

func (k *riskRec) encode() []byte {
	b := make([]byte, 0, 48+len(k.typ)+len(k.message)+len(k.details)+len(k.resolvedBy)+len(k.note))
	b = append(b, riskVersion, uint8(k.source), uint8(k.severity), k.spec)
	b = binary.AppendVarint(b, k.time)
	b = append(b, k.contract[:]...)
	b = binary.AppendUvarint(b, k.index)
	b = appendString(b, k.typ)
	b = appendString(b, k.message)
	b = appendString(b, string(k.details))
	b = append(b, boolByte(k.resolved))
	b = appendString(b, k.resolvedBy)
	b = binary.AppendVarint(b, k.resolvedAt)
	return appendString(b, k.note)
}

func (k *riskRec) decode(v []byte) error {
	d := &dec{b: v}
	ver := d.u8()
	if d.err != nil {
		return d.err
	}
	if err := checkVersion("risk record", ver, riskVersion); err != nil {
		return err
	}
	*k = riskRec{ver: ver}
	if ver == 1 {
		sev := d.u8()
		k.source, k.spec = SourceChain, d.u8()
		k.time = d.varint()
		k.contract = [20]byte(d.fixed(20))
		if d.err == nil && (sev < sevWarning || sev > sevCritical) {
			d.fail(fmt.Sprintf("risk severity %d", sev))
		}
		k.severity = RiskSeverity(sev + 1)
		if s := chainlog.SpecByID(k.spec); s != nil {
			k.typ = s.Name
		} else if d.err == nil {
			d.fail(fmt.Sprintf("risk event spec %d", k.spec))
		}
		return d.finish()
	}
	k.source, k.severity, k.spec = RiskSource(d.u8()), RiskSeverity(d.u8()), d.u8()
	k.time = d.varint()
	k.contract = [20]byte(d.fixed(20))
	k.index = d.uvarint()
	k.typ, k.message = d.str(), d.str()
	if det := d.str(); det != "" {
		k.details = []byte(det)
	}
	k.resolved = d.bool()
	k.resolvedBy = d.str()
	k.resolvedAt = d.varint()
	k.note = d.str()
	if d.err == nil && (k.source.String() == "" || k.severity.String() == "") {
		d.fail(fmt.Sprintf("risk source %d, severity %d", k.source, k.severity))
	}
	return d.finish()
}

// Risk event keys (DESIGN.md, "Risk events"): a CHAIN event sits at its ledger position,
// K bn8 li8 tx32 (v0.1.0's key); a RULE or SYSTEM event at K bn8 FF×8 index8 ord4, bn being the
// fund's last block when it was raised. Both sort by block number first, so the prefix is one
// total order: the chain's events of a block, then what was raised while that block was the
// last.
const (
	riskChainKeyLen = 1 + ledgerPosLen
	riskCmdKeyLen   = 1 + 8 + 8 + 8 + 4
)

func riskCmdKey(bn, index uint64, ord uint32) []byte {
	k := make([]byte, riskCmdKeyLen)
	k[0] = pRisk
	binary.BigEndian.PutUint64(k[1:], bn)
	binary.BigEndian.PutUint64(k[9:], ^uint64(0))
	binary.BigEndian.PutUint64(k[17:], index)
	binary.BigEndian.PutUint32(k[25:], ord)
	return k
}

// isRiskKey reports whether k is a risk event key of either shape.
func isRiskKey(k []byte) bool {
	return len(k) > 0 && k[0] == pRisk && (len(k) == riskChainKeyLen || len(k) == riskCmdKeyLen)
}

// RiskEventID is the API id of the risk event stored under key k: "<blockNumber>-<logIndex>-
// <txHash>" for a CHAIN event, "<blockNumber>-i<raftIndex>-<ord>" for the others. Both are
// stable (a CHAIN event re-applied after a reorder keeps its id) and identical on every node.
func RiskEventID(k []byte) string {
	switch len(k) {
	case riskChainKeyLen:
		return strconv.FormatUint(binary.BigEndian.Uint64(k[1:]), 10) + "-" + strconv.FormatUint(binary.BigEndian.Uint64(k[9:]), 10) +
			"-" + chainlog.HexHash([32]byte(k[17:]))
	case riskCmdKeyLen:
		return strconv.FormatUint(binary.BigEndian.Uint64(k[1:]), 10) + "-i" + strconv.FormatUint(binary.BigEndian.Uint64(k[17:]), 10) +
			"-" + strconv.FormatUint(uint64(binary.BigEndian.Uint32(k[25:])), 10)
	}
	return ""
}

// RiskEventKey parses a risk event id (RiskEventID) back into its key; ok is false for
// anything else.
func RiskEventKey(id string) (k []byte, ok bool) {
	parts := strings.Split(id, "-")
	if len(parts) != 3 {
		return nil, false
	}
	bn, err := strconv.ParseUint(parts[0], 10, 64)
	if err != nil || strconv.FormatUint(bn, 10) != parts[0] {
		return nil, false
	}
	if strings.HasPrefix(parts[1], "i") {
		index, err1 := strconv.ParseUint(parts[1][1:], 10, 64)
		ord, err2 := strconv.ParseUint(parts[2], 10, 32)
		if err1 != nil || err2 != nil || "i"+strconv.FormatUint(index, 10) != parts[1] || strconv.FormatUint(ord, 10) != parts[2] {
			return nil, false
		}
		return riskCmdKey(bn, index, uint32(ord)), true
	}
	li, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil || strconv.FormatUint(li, 10) != parts[1] {
		return nil, false
	}
	tx, err := chainlog.ParseHash(parts[2])
	if err != nil || chainlog.HexHash(tx) != parts[2] {
		return nil, false
	}
	pos := makeLedgerPos(bn, li, tx)
	return key(pRisk, pos[:]), true
}

// raiseRiskEvent is the one way a risk event enters the state, from inside apply. pos is the
// ledger position of the chain event that raised a CHAIN event (nil for RULE and SYSTEM).
//
// A CHAIN event is stored at its ledger position and journaled with that entry, so reverting
// the entry deletes it; under v0.1.0's rules (ac.riskV1: a version-1 CmdLogs or CmdIngest) it
// is written as v0.1.0 wrote it (record version 1) and nothing else happens, so that members in
// the middle of an upgrade stay identical. A RULE or SYSTEM event belongs to its command: it is
// stored at the fund's last block, this command's index and the next ordinal of the command,
// and is not journaled (a reorg does not undo that a threshold was crossed).
//
// The event's time is the block time (CHAIN) or the command's time (unix s). A RULE or SYSTEM
// event's index is its command's Raft index; a CHAIN event has none (0): like everything an
// event's apply writes, it must not depend on which command applied it (a late log re-applies
// the entries after it, and the state must equal the in-order replay byte for byte). Text over its limit is cut, details that are not a JSON object are
// replaced by {}: a raise never fails on what it is given.
func (ac *applyContext) raiseRiskEvent(e *RiskEvent, pos *ledgerPos) error {
	r := riskRec{ver: riskVersion, source: e.Source, severity: e.Severity,
		typ: truncate(e.Type, maxRiskType), message: truncate(e.Message, maxRiskMessage), details: e.Details}
	if r.source.String() == "" || r.severity.String() == "" {
		return fmt.Errorf("%w: risk event source %d, severity %d", ErrInvariant, e.Source, e.Severity)
	}
	if len(r.details) > maxRiskDetails || (r.details != nil && !isJSONObject(r.details)) {
		r.details = nil
	}
	var k []byte
	if e.Source == SourceChain {
		if pos == nil {
			return fmt.Errorf("%w: CHAIN risk event without a ledger position", ErrInvariant)
		}
		if s := chainlog.SpecByName(e.Type); s != nil {
			r.spec = s.ID
		}
		r.time, r.contract = ac.blockTime, e.contract
		k = key(pRisk, pos[:])
		if ac.riskV1 {
			return ac.setKey(k, r.encodeV1())
		}
		if kept, ok := ac.riskKept[string(k)]; ok {
			r.resolved, r.resolvedBy, r.resolvedAt, r.note = true, kept.resolvedBy, kept.resolvedAt, kept.note
			delete(ac.riskKept, string(k))
		}
		if err := ac.setKey(k, r.encode()); err != nil {
			return err
		}
	} else {
		r.time, r.index = ac.cmdTime/1e9, ac.index
		k = riskCmdKey(uint64(ac.fund.ints[fLastBlock]), ac.index, ac.riskOrd)
		ac.riskOrd++
		if err := ac.set(k, r.encode()); err != nil {
			return err
		}
	}
	ac.mark(ClassRisk)
	id := RiskEventID(k)
	// Every risk event raises its alert (alerts.go): once per id, not journaled.
	return ac.raiseAlert(&alertInput{id: id, time: r.time * 1e9, severity: r.severity.String(), source: r.source.String(),
		typ: r.typ, message: r.message, details: r.details})
}

// keepRiskResolution notes the resolution of the CHAIN risk event at k, whose value is cur,
// as its ledger entry is reverted: a late log before it makes the sequencer revert and
// re-apply the entry within the same command, and the event must come back as the in-order
// replay has it, resolved (a reorg that drops the entry for good drops the event with it).
func (ac *applyContext) keepRiskResolution(k, cur []byte) {
	var r riskRec
	if len(k) != riskChainKeyLen || cur == nil || r.decode(cur) != nil || !r.resolved {
		return
	}
	if ac.riskKept == nil {
		ac.riskKept = map[string]riskRec{}
	}
	ac.riskKept[string(k)] = r
}

// raiseChainRisk raises the CHAIN risk event of one of the four chain events (OPERATIONS.md's
// severities: LowLiquidityAlert WARNING, CriticalLiquidityAlert CRITICAL, EmergencyModeChanged
// CRITICAL, WaterfallLiquidation HIGH).
func (ac *applyContext) raiseChainRisk(ev *chainlog.Event, s *chainlog.Spec, pos *ledgerPos, sev RiskSeverity) error {
	e := RiskEvent{Source: SourceChain, Severity: sev, Type: s.Name, contract: ev.Contract}
	if !ac.riskV1 {
		e.Message, e.Details = riskChainText(ev, s)
	}
	return ac.raiseRiskEvent(&e, pos)
}

// riskChainText is a CHAIN event's message and details: where the event is and its
// arguments as GET /v1/transactions renders them (chainlog.AppendArgsJSON). It is stored in
// the record, so its output is part of the record format.
func riskChainText(ev *chainlog.Event, s *chainlog.Spec) (string, []byte) {
	a := ev.Args
	var msg string
	switch s.ID {
	case chainlog.LowLiquidityAlert:
		msg = fmt.Sprintf("liquidity ratio %s bps is below the threshold of %s bps (available %s of %s)", a[0].Uint.Dec(), a[1].Uint.Dec(), a[2].Uint.Dec(), a[3].Uint.Dec())
	case chainlog.CriticalLiquidityAlert:
		msg = fmt.Sprintf("liquidity ratio %s bps is below the critical threshold of %s bps (available %s)", a[0].Uint.Dec(), a[1].Uint.Dec(), a[2].Uint.Dec())
	case chainlog.EmergencyModeChanged:
		msg = "emergency mode disabled"
		if a[0].Bool {
			msg = "emergency mode enabled"
		}
	case chainlog.WaterfallLiquidation:
		msg = fmt.Sprintf("waterfall liquidation of tier %d: %s of %s sold for %s", a[0].Uint.Uint64(), a[2].Uint.Dec(), chainlog.HexAddress(a[1].Address), a[3].Uint.Dec())
	default:
		msg = s.Name
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"contract":"`...)
	b = append(b, chainlog.HexAddress(ev.Contract)...)
	b = append(b, `","txHash":"`...)
	b = append(b, chainlog.HexHash(ev.TxHash)...)
	b = append(b, `","logIndex":`...)
	b = strconv.AppendUint(b, ev.LogIndex, 10)
	b = append(b, `,"blockNumber":`...)
	b = strconv.AppendUint(b, ev.BlockNumber, 10)
	b = append(b, `,"args":`...)
	b = chainlog.AppendArgsJSON(b, s, ev.Args)
	return msg, append(b, '}')
}

// truncate cuts s to at most n bytes at a rune boundary, and replaces invalid UTF-8 (text
// that PostgreSQL's text columns and JSON must be able to hold).
func truncate(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// isJSONObject reports whether b is one valid JSON object in valid UTF-8.
func isJSONObject(b []byte) bool {
	if !utf8.Valid(b) || !json.Valid(b) {
		return false
	}
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}

// RiskChainPosLen and RiskCmdPosLen are the lengths of the two shapes of a risk event's key
// after its prefix (a list's cursor is one).
const (
	RiskChainPosLen = riskChainKeyLen - 1
	RiskCmdPosLen   = riskCmdKeyLen - 1
)

// PrefixRisk is the key prefix of the risk events (K): one scan of it, in key order, is every
// risk event in the order of RiskEventID's total order.
const PrefixRisk = pRisk

// RiskEventOf decodes the risk event stored under k with value v. A version-1 record gets the
// message and details a version-2 one holds from its ledger entry in r (none when r is nil).
func RiskEventOf(r kv.Reader, k, v []byte) (*RiskEventRecord, error) {
	if !isRiskKey(k) {
		return nil, corrupt("risk event key", fmt.Errorf("%x", k))
	}
	rec, err := riskEventRecord(k, v)
	if err != nil || v[0] != 1 || r == nil {
		return rec, err
	}
	lv, err := r.Get(key(pLedger, k[1:]))
	if errors.Is(err, kv.ErrNotFound) {
		return rec, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fund: get: %w", err)
	}
	l, err := decodeLedger(lv)
	if err != nil {
		return nil, corrupt("ledger entry", err)
	}
	if s, verr := eventSpec(&l.ev); verr == nil {
		var det []byte
		rec.Message, det = riskChainText(&l.ev, s)
		rec.Details = json.RawMessage(det)
	}
	return rec, nil
}
