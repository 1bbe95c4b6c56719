package executor

import (
	"context"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// Transaction states (fund.TxSigned...): an intent's, and its attempts'.
const (
	StateSigned    = "SIGNED"
	StateSent      = "SENT"
	StateMined     = "MINED"
	StateConfirmed = "CONFIRMED"
	StateFailed    = "FAILED"
	StateReplaced  = "REPLACED"
)

// Store holds the intents: on a node, the replicated state machine (node/executor.go), read
// from the local replica and written through Raft proposals. The executor uses it only while
// its node leads.
type Store interface {
	// Intents returns every intent, oldest first.
	Intents(ctx context.Context) ([]Intent, error)
	// Record commits t (state SIGNED, one attempt) unless an intent exists for its (Purpose,
	// Reference): it returns the intent stored for the decision and whether it is t.
	Record(ctx context.Context, t Intent) (stored Intent, created bool, err error)
	// Update commits u; once it returns nil the update is committed. An update of a final
	// intent (CONFIRMED, FAILED) changes nothing and is no error.
	Update(ctx context.Context, u Update) error
}

// Intent is a transaction the executor sends for a decision.
type Intent struct {
	Seq                uint64 // its place, assigned by the store
	Purpose, Reference string
	From, To           common.Address
	Nonce              uint64
	State              string
	Reason             string // why it FAILED
	Block              uint64 // the block it was mined in
	MinedHash          common.Hash
	Created, Updated   time.Time
	Attempts           []Attempt // the first signed transaction, then its replacements
}

// Attempt is one signed transaction of an intent.
type Attempt struct {
	Hash  common.Hash
	Raw   []byte
	State string
	Time  time.Time // when it was recorded
}

// Update is a change of an intent: a new State (with Reason, Block, MinedHash), or, with
// Replacement.Raw set, a replacement at the same nonce (the intent is SENT again).
type Update struct {
	Seq         uint64
	Time        time.Time
	State       string
	Reason      string
	Block       uint64
	MinedHash   common.Hash
	Replacement Attempt
}

// open reports whether the intent still holds its nonce: signed or sent and not settled.
func (t *Intent) open() bool {
	return t.State == StateSigned || t.State == StateSent || t.State == StateMined
}

// last returns the newest attempt.
func (t *Intent) last() *Attempt { return &t.Attempts[len(t.Attempts)-1] }
