package fund

import (
	"encoding/binary"
	"fmt"
	"slices"

	"paimon/kv"
)

// The executor's transactions (executor/DESIGN.md): every transaction the leader's executor
// sends is first recorded here as an intent, keyed by the decision it executes (purpose,
// reference), with its nonce and raw signed bytes; its progress (sent, mined, confirmed,
// failed, replaced by a higher fee at the same nonce) is recorded through CmdTxUpdate. A new
// leader reads the open intents and rebroadcasts their bytes: it never signs a second
// transaction for a decision that has an intent. Intents are primary records (C): PostgreSQL
// holds them (executor_transactions), so a node restored from it knows what was signed and
// sent; the decision key (x) is their index, derived again by RebuildIndexes. They are never
// pruned yet.

// Command types of the executor, following CmdTick (19) in the append-only list.
const (
	// CmdTxIntent records a signed transaction for a decision, once per (purpose, reference).
	CmdTxIntent byte = 20
	// CmdTxUpdate records a transaction's progress, or a replacement at the same nonce.
	CmdTxUpdate byte = 21
)

// States of an intent and of its attempts (the signed transactions sent for it).
const (
	TxSigned    = "SIGNED"    // recorded, not yet known to be sent
	TxSent      = "SENT"      // accepted by at least one RPC
	TxMined     = "MINED"     // in a block with a successful receipt
	TxConfirmed = "CONFIRMED" // mined at least `confirmations` deep (final)
	TxFailed    = "FAILED"    // reverted in simulation or on chain, or its nonce went to another transaction (final)
	TxReplaced  = "REPLACED"  // an attempt replaced by a higher fee at the same nonce
)

// Limits of an intent's fields, checked by apply.
const (
	maxTxPurposeLen   = 32
	MaxTxReferenceLen = 128
	MaxTxReasonLen    = 512
	maxTxRawLen       = 128 << 10
	maxTxAttempts     = 64
)

// TxAttempt is one signed transaction of an intent: the first, or a replacement at the same
// nonce with a higher fee.
type TxAttempt struct {
	Hash  [32]byte
	Raw   []byte
	State string // TxSent, TxSigned, TxReplaced, TxMined...
	Time  int64  // when it was recorded, unix ns (the proposer's clock)
}

// TxIntent is one transaction the executor sends for a decision, as ReadTxIntents returns it.
type TxIntent struct {
	// Seq is the intent's place: the index of the command that recorded it << 16.
	Seq                uint64
	Purpose, Reference string // the decision: one intent per pair
	From, To           [20]byte
	Nonce              uint64
	State              string
	Reason             string // why it FAILED
	Block              uint64 // the block it was mined in (MINED, CONFIRMED, FAILED on chain)
	MinedHash          [32]byte
	Created, Updated   int64 // unix ns, the proposers' clocks
	Attempts           []TxAttempt
}

// Final reports whether the intent's state can no longer change.
func (t *TxIntent) Final() bool { return t.State == TxConfirmed || t.State == TxFailed }

// TxIntentCommand is a CmdTxIntent: the intent as the leader signed it (its state SIGNED,
// one attempt).
type TxIntentCommand struct {
	Time               int64
	Purpose, Reference string
	From, To           [20]byte
	Nonce              uint64
	Hash               [32]byte
	Raw                []byte
}

// TxIntentResult is the result of a CmdTxIntent: the intent stored for the decision, and
// whether this command created it (false: one existed, the command's bytes were discarded).
type TxIntentResult struct {
	Intent  TxIntent
	Created bool
}

// TxUpdateCommand is a CmdTxUpdate. With Replacement set it appends an attempt (the earlier
// ones become REPLACED) and the intent is SENT; otherwise it sets the intent's State (and
// Reason, Block, MinedHash). An update of a final intent changes nothing.
type TxUpdateCommand struct {
	Time      int64
	Seq       uint64
	State     string
	Reason    string
	Block     uint64
	MinedHash [32]byte
	// Replacement, when its Raw is not empty, is a new attempt at the same nonce.
	Replacement TxAttempt
}

// TxUpdateResult is the result of a CmdTxUpdate: whether it changed the intent.
type TxUpdateResult struct {
	Applied bool
}

func txIntentKey(seq uint64) []byte { return key(pTxIntent, be64(seq)) }
func txDecisionKey(purpose, reference string) []byte {
	return key(pTxDecision, []byte(purpose), []byte{0}, []byte(reference))
}

// EncodeTxIntent encodes c: type, version, time, purpose, reference, from, to, nonce, hash, raw.
func EncodeTxIntent(c *TxIntentCommand) []byte {
	b := make([]byte, 0, 128+len(c.Raw)+len(c.Reference))
	b = append(b, CmdTxIntent, codecVersion)
	b = binary.AppendVarint(b, c.Time)
	b = appendString(b, c.Purpose)
	b = appendString(b, c.Reference)
	b = append(b, c.From[:]...)
	b = append(b, c.To[:]...)
	b = binary.AppendUvarint(b, c.Nonce)
	b = append(b, c.Hash[:]...)
	return appendString(b, string(c.Raw))
}

// DecodeTxIntent decodes a CmdTxIntent strictly; errors wrap ErrBadCommand.
func DecodeTxIntent(cmd []byte) (*TxIntentCommand, error) {
	d, err := newDec(cmd, CmdTxIntent)
	if err != nil {
		return nil, err
	}
	c := &TxIntentCommand{Time: d.varint(), Purpose: d.str(), Reference: d.str()}
	copy(c.From[:], d.fixed(20))
	copy(c.To[:], d.fixed(20))
	c.Nonce = d.uvarint()
	copy(c.Hash[:], d.fixed(32))
	if raw := d.str(); raw != "" {
		c.Raw = []byte(raw)
	}
	return c, d.finish()
}

// EncodeTxUpdate encodes c: type, version, time, seq, state, reason, block, mined hash, the
// replacement (hash, raw; raw empty: none).
func EncodeTxUpdate(c *TxUpdateCommand) []byte {
	b := make([]byte, 0, 96+len(c.Reason)+len(c.Replacement.Raw))
	b = append(b, CmdTxUpdate, codecVersion)
	b = binary.AppendVarint(b, c.Time)
	b = binary.AppendUvarint(b, c.Seq)
	b = appendString(b, c.State)
	b = appendString(b, c.Reason)
	b = binary.AppendUvarint(b, c.Block)
	b = append(b, c.MinedHash[:]...)
	b = append(b, c.Replacement.Hash[:]...)
	return appendString(b, string(c.Replacement.Raw))
}

// DecodeTxUpdate decodes a CmdTxUpdate strictly; errors wrap ErrBadCommand.
func DecodeTxUpdate(cmd []byte) (*TxUpdateCommand, error) {
	d, err := newDec(cmd, CmdTxUpdate)
	if err != nil {
		return nil, err
	}
	c := &TxUpdateCommand{Time: d.varint(), Seq: d.uvarint(), State: d.str(), Reason: d.str(), Block: d.uvarint()}
	copy(c.MinedHash[:], d.fixed(32))
	copy(c.Replacement.Hash[:], d.fixed(32))
	if raw := d.str(); raw != "" {
		c.Replacement.Raw = []byte(raw)
	}
	return c, d.finish()
}

func (ac *applyContext) applyTxIntent(c *TxIntentCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	switch {
	case c.Purpose == "" || len(c.Purpose) > maxTxPurposeLen:
		return invalidParam("purpose", "must be 1 to %d bytes", maxTxPurposeLen), nil
	case len(c.Reference) > MaxTxReferenceLen:
		return invalidParam("reference", "over %d bytes", MaxTxReferenceLen), nil
	case len(c.Raw) == 0 || len(c.Raw) > maxTxRawLen:
		return invalidParam("raw", "must be 1 to %d bytes", maxTxRawLen), nil
	}
	if t, ok, err := ac.intentOf(c.Purpose, c.Reference); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return &TxIntentResult{Intent: t}, nil
	}
	dk := txDecisionKey(c.Purpose, c.Reference)
	t := TxIntent{Seq: ac.index << 16, Purpose: c.Purpose, Reference: c.Reference, From: c.From, To: c.To,
		Nonce: c.Nonce, State: TxSigned, Created: c.Time, Updated: c.Time,
		Attempts: []TxAttempt{{Hash: c.Hash, Raw: c.Raw, State: TxSigned, Time: c.Time}}}
	if err := ac.set(txIntentKey(t.Seq), encodeTxIntent(&t)); err != nil {
		return nil, err
	}
	if err := ac.set(dk, be64(t.Seq)); err != nil {
		return nil, err
	}
	ac.mark(ClassExecutor)
	return &TxIntentResult{Intent: t, Created: true}, nil
}

func (ac *applyContext) txIntent(seq uint64) (TxIntent, error) {
	k := txIntentKey(seq)
	v, ok, err := ac.get(k)
	if err != nil {
		return TxIntent{}, err
	}
	if !ok {
		return TxIntent{}, corrupt("tx intent", fmt.Errorf("seq %d missing", seq))
	}
	return decodeTxIntent(k, v)
}

func validTxState(s string) bool {
	return slices.Contains([]string{TxSigned, TxSent, TxMined, TxConfirmed, TxFailed}, s)
}

func (ac *applyContext) applyTxUpdate(c *TxUpdateCommand) (any, error) {
	if verr := checkCommandTime(c.Time); verr != nil {
		return verr, nil
	}
	replacing := len(c.Replacement.Raw) > 0
	switch {
	case !replacing && !validTxState(c.State):
		return invalidParam("state", "%q is not a transaction state", c.State), nil
	case len(c.Reason) > MaxTxReasonLen:
		return invalidParam("reason", "over %d bytes", MaxTxReasonLen), nil
	case len(c.Replacement.Raw) > maxTxRawLen:
		return invalidParam("raw", "over %d bytes", maxTxRawLen), nil
	}
	k := txIntentKey(c.Seq)
	v, ok, err := ac.get(k)
	if err != nil {
		return nil, err
	}
	if !ok {
		return invalidParam("seq", "no transaction %d", c.Seq), nil
	}
	t, err := decodeTxIntent(k, v)
	if err != nil {
		return nil, err
	}
	if t.Final() || (replacing && len(t.Attempts) >= maxTxAttempts) {
		return &TxUpdateResult{}, nil
	}
	if replacing {
		for i := range t.Attempts {
			t.Attempts[i].State = TxReplaced
		}
		a := c.Replacement
		a.State, a.Time = TxSent, c.Time
		t.Attempts = append(t.Attempts, a)
		t.State = TxSent
	} else {
		t.State, t.Reason, t.Block, t.MinedHash = c.State, c.Reason, c.Block, c.MinedHash
		for i := range t.Attempts {
			a := &t.Attempts[i]
			switch {
			case c.State == TxSigned || c.State == TxFailed && c.Block == 0:
				// no attempt state changes: a simulation failure or a lost nonce
			case c.State == TxSent && a.State == TxSigned:
				a.State = TxSent
			case (c.State == TxMined || c.State == TxConfirmed || c.State == TxFailed) && a.Hash == c.MinedHash:
				a.State = c.State
			case c.State == TxMined || c.State == TxConfirmed || c.State == TxFailed:
				a.State = TxReplaced // another attempt at the nonce was mined
			}
		}
	}
	t.Updated = c.Time
	if err := ac.set(k, encodeTxIntent(&t)); err != nil {
		return nil, err
	}
	ac.mark(ClassExecutor)
	if err := ac.rebalanceIntentUpdated(&t, c.Time); err != nil {
		return nil, err
	}
	return &TxUpdateResult{Applied: true}, nil
}

// encodeTxIntent: version, purpose, reference, from, to, nonce, state, reason, block, mined
// hash, created, updated, the attempts (hash, raw, state, time).
func encodeTxIntent(t *TxIntent) []byte {
	n := 160 + len(t.Reference) + len(t.Reason)
	for i := range t.Attempts {
		n += 48 + len(t.Attempts[i].Raw)
	}
	b := make([]byte, 0, n)
	b = append(b, recVersion)
	b = appendString(b, t.Purpose)
	b = appendString(b, t.Reference)
	b = append(b, t.From[:]...)
	b = append(b, t.To[:]...)
	b = binary.AppendUvarint(b, t.Nonce)
	b = appendString(b, t.State)
	b = appendString(b, t.Reason)
	b = binary.AppendUvarint(b, t.Block)
	b = append(b, t.MinedHash[:]...)
	b = binary.AppendVarint(b, t.Created)
	b = binary.AppendVarint(b, t.Updated)
	b = binary.AppendUvarint(b, uint64(len(t.Attempts)))
	for i := range t.Attempts {
		a := &t.Attempts[i]
		b = append(b, a.Hash[:]...)
		b = appendString(b, string(a.Raw))
		b = appendString(b, a.State)
		b = binary.AppendVarint(b, a.Time)
	}
	return b
}

func decodeTxIntent(k, v []byte) (TxIntent, error) {
	if len(k) != 9 || k[0] != pTxIntent {
		return TxIntent{}, corrupt("tx intent key", fmt.Errorf("%x", k))
	}
	d := &dec{b: v}
	d.recordVersion()
	t := TxIntent{Seq: binary.BigEndian.Uint64(k[1:]), Purpose: d.str(), Reference: d.str()}
	copy(t.From[:], d.fixed(20))
	copy(t.To[:], d.fixed(20))
	t.Nonce = d.uvarint()
	t.State, t.Reason = d.str(), d.str()
	t.Block = d.uvarint()
	copy(t.MinedHash[:], d.fixed(32))
	t.Created, t.Updated = d.varint(), d.varint()
	n := d.count(35)
	for i := 0; i < n && d.err == nil; i++ {
		var a TxAttempt
		copy(a.Hash[:], d.fixed(32))
		a.Raw = []byte(d.str())
		a.State = d.str()
		a.Time = d.varint()
		t.Attempts = append(t.Attempts, a)
	}
	if err := d.finish(); err != nil {
		return TxIntent{}, corrupt("tx intent", err)
	}
	return t, nil
}

// ReadTxIntents returns the intents with Seq > after in increasing Seq order, at most limit
// (limit <= 0: all): what a new leader's executor reads to resume.
func ReadTxIntents(r kv.Reader, after uint64, limit int) ([]TxIntent, error) {
	if after == ^uint64(0) {
		return nil, nil
	}
	var out []TxIntent
	err := scan(r, txIntentKey(after+1), []byte{pTxIntent + 1}, false, func(k, v []byte) (bool, error) {
		t, err := decodeTxIntent(k, v)
		if err != nil {
			return false, err
		}
		out = append(out, t)
		return limit <= 0 || len(out) < limit, nil
	})
	return out, err
}

// ReadTxIntentsNewest returns up to limit intents newest first, those with Seq < before
// (before 0: from the newest).
func ReadTxIntentsNewest(r kv.Reader, before uint64, limit int) ([]TxIntent, error) {
	hi := []byte{pTxIntent + 1}
	if before != 0 {
		hi = txIntentKey(before)
	}
	var out []TxIntent
	err := scan(r, []byte{pTxIntent}, hi, true, func(k, v []byte) (bool, error) {
		t, err := decodeTxIntent(k, v)
		if err != nil {
			return false, err
		}
		out = append(out, t)
		return limit <= 0 || len(out) < limit, nil
	})
	return out, err
}

// PrefixTxIntent is the prefix of the executor's intents: C seq8 → intent
// (DecodeTxIntentRecord).
const PrefixTxIntent = pTxIntent

// DecodeTxIntentRecord decodes the intent stored at k (PrefixTxIntent, Seq); the result
// shares nothing with v.
func DecodeTxIntentRecord(k, v []byte) (TxIntent, error) { return decodeTxIntent(k, v) }
