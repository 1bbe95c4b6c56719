package node

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"paimon/config"
	"paimon/executor"
	"paimon/fund"
	"paimon/kv"
	"paimon/raftstore"
	"paimon/version"
)

// executorStore is the executor.Store of a node: the intents of the state machine
// (fund/txintent.go), read from the local replica (the executor works on the leader only,
// whose replica holds every committed intent) and written by proposing CmdTxIntent and
// CmdTxUpdate.
type executorStore struct {
	store        *raftstore.Store
	applyTimeout time.Duration
}

// Intents implements executor.Store.
func (s *executorStore) Intents(ctx context.Context) ([]executor.Intent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, err := s.store.Read()
	if err != nil {
		return nil, err
	}
	defer v.Close()
	ts, err := fund.ReadTxIntents(v, 0, 0)
	if err != nil {
		return nil, err
	}
	out := make([]executor.Intent, len(ts))
	for i := range ts {
		out[i] = intentOf(&ts[i])
	}
	return out, nil
}

// intentOf converts a stored intent (fund does not import executor).
func intentOf(t *fund.TxIntent) executor.Intent {
	it := executor.Intent{Seq: t.Seq, Purpose: t.Purpose, Reference: t.Reference, From: t.From, To: t.To, Nonce: t.Nonce,
		State: t.State, Reason: t.Reason, Block: t.Block, MinedHash: t.MinedHash,
		Created: time.Unix(0, t.Created).UTC(), Updated: time.Unix(0, t.Updated).UTC()}
	for _, a := range t.Attempts {
		it.Attempts = append(it.Attempts, executor.Attempt{Hash: a.Hash, Raw: a.Raw, State: a.State, Time: time.Unix(0, a.Time).UTC()})
	}
	return it
}

// Record implements executor.Store: one CmdTxIntent.
func (s *executorStore) Record(ctx context.Context, t executor.Intent) (executor.Intent, bool, error) {
	if len(t.Attempts) != 1 {
		return executor.Intent{}, false, errors.New("executor store: an intent is recorded with one attempt")
	}
	c := &fund.TxIntentCommand{Time: t.Created.UnixNano(), Purpose: t.Purpose, Reference: t.Reference, From: t.From, To: t.To,
		Nonce: t.Nonce, Hash: t.Attempts[0].Hash, Raw: t.Attempts[0].Raw}
	res, err := s.propose(ctx, fund.EncodeTxIntent(c))
	if err != nil {
		return executor.Intent{}, false, err
	}
	r, ok := res.(*fund.TxIntentResult)
	if !ok {
		return executor.Intent{}, false, fmt.Errorf("executor store: unexpected result %T", res)
	}
	return intentOf(&r.Intent), r.Created, nil
}

// Update implements executor.Store: one CmdTxUpdate.
func (s *executorStore) Update(ctx context.Context, u executor.Update) error {
	c := &fund.TxUpdateCommand{Time: u.Time.UnixNano(), Seq: u.Seq, State: u.State, Reason: truncateUTF8(u.Reason, fund.MaxTxReasonLen),
		Block: u.Block, MinedHash: u.MinedHash, Replacement: fund.TxAttempt{Hash: u.Replacement.Hash, Raw: u.Replacement.Raw}}
	_, err := s.propose(ctx, fund.EncodeTxUpdate(c))
	return err
}

func (s *executorStore) propose(ctx context.Context, cmd []byte) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, s.applyTimeout)
	defer cancel()
	res, err := s.store.Propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if verr, ok := res.Value.(*fund.ValidationError); ok {
		return nil, fmt.Errorf("executor store: refused: %s", verr.Message)
	}
	return res.Value, nil
}

// newExecutor builds the executor from [executor] when a key file is configured (nil, nil
// otherwise): the key loaded (an error names the file, never its content), a client per
// ingest.rpc_urls, the redemption manager from [[ingest.contracts]].
func newExecutor(cfg *config.Config, store *raftstore.Store, n *Node) (*executor.Executor, func(), error) {
	ec := cfg.Executor
	if !ec.Enabled() {
		return nil, func() {}, nil
	}
	key, err := executor.LoadKey(ec.KeyFile)
	if err != nil {
		return nil, nil, err
	}
	// The contract of each kind, or the one [executor] names when several are listed
	// (config.Validate refuses several unnamed).
	var rm, ac common.Address
	for _, c := range cfg.Ingest.Contracts {
		switch {
		case c.Kind == "redemption_manager" && (ec.RedemptionManager == "" || ec.RedemptionManager == c.Name):
			rm = common.HexToAddress(c.Address)
		case c.Kind == "asset_controller" && (ec.AssetController == "" || ec.AssetController == c.Name):
			ac = common.HexToAddress(c.Address)
		}
	}
	if rm == (common.Address{}) {
		return nil, nil, errors.New("executor: no [[ingest.contracts]] of kind redemption_manager to send to")
	}
	if len(cfg.Ingest.RPCURLs) == 0 {
		return nil, nil, errors.New("executor: no ingest.rpc_urls to send through")
	}
	var clients []executor.Client
	var eths []*ethclient.Client
	closeAll := func() {
		for _, c := range eths {
			c.Close()
		}
	}
	for _, u := range cfg.Ingest.RPCURLs {
		c, err := ethclient.Dial(u)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("ingest.rpc_urls %s: %w", u, err)
		}
		eths = append(eths, c)
		clients = append(clients, c)
	}
	chainID := ec.ChainID
	if chainID == 0 {
		chainID = cfg.Ingest.ChainID
	}
	confirmations := ec.Confirmations
	if confirmations == 0 {
		confirmations = int(min(cfg.Ingest.Confirmations, 1<<20))
	}
	e, err := executor.New(ec, executor.Deps{
		Store: &executorStore{store: store, applyTimeout: cfg.Raft.ApplyTimeout}, Leadership: store, Clients: clients,
		Key: key, RedemptionManager: rm, AssetController: ac, ChainID: chainID, Confirmations: confirmations, Logger: n.logger, Now: n.opts.Now,
		Source: sources{&ticketDecisions{store: store}, &planDecisions{store: store}}, Keeper: cfg.Keeper, Due: &dueRedemptions{store: store}, Metrics: n.metrics,
		Poll: n.opts.ExecutorPoll,
	})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return e, closeAll, nil
}

// executorWaker wakes the executor when an applied batch changed an approval ticket
// (ClassApprovals: among others a ticket turning APPROVED or REJECTED), so that the leader's
// loop reads the decision at once rather than at its next Poll (which stays the fallback). It
// observes from the first batch, before the executor exists; Notify never blocks, and on a
// follower it only fills the wake the loop reads once it leads.
type executorWaker struct {
	e atomic.Pointer[executor.Executor]
}

// Applied implements fund.Observer.
func (w *executorWaker) Applied(c *fund.Changes) {
	if !c.Classes[fund.ClassApprovals] {
		return
	}
	if e := w.e.Load(); e != nil {
		e.Notify()
	}
}

// ticketDecisions is the executor's Source on a node: every redemption ticket the approvers
// decided (APPROVED: approveRedemption; REJECTED: rejectRedemption with the rejecting
// approver's reason), keyed by the ticket's execution reference (its id, "<id>/retry-N" after
// an operator's N-th retry of a failed transaction: fund.TicketExecReference), so a ticket gets
// one intent per retry whichever leader reads it and however often. The chain's RedemptionApproved / RedemptionRejected then closes
// the ticket as EXECUTED (fund/approvals.go). Read from the leader's replica.
type ticketDecisions struct {
	store *raftstore.Store
}

// Decisions implements executor.Source.
func (s *ticketDecisions) Decisions(ctx context.Context) ([]executor.Decision, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if version.Compare(s.store.ClusterVersion(), version.Cluster) < 0 {
		return nil, nil // the intents' commands wait for every member to run this release
	}
	v, err := s.store.Read()
	if err != nil {
		return nil, err
	}
	defer v.Close()
	var out []executor.Decision
	var derr error
	prefix := []byte{fund.PrefixTicket, byte(fund.TicketRedemption)}
	err = v.Scan(prefix, []byte{fund.PrefixTicket, byte(fund.TicketRedemption) + 1}, false, func(_, val []byte) bool {
		t, err := fund.DecodeTicket(val)
		if err != nil {
			derr = err
			return false
		}
		if d, ok := ticketDecision(&t); ok {
			out = append(out, d)
		}
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}

// ticketDecision is the decision a decided redemption ticket asks the executor for.
func ticketDecision(t *fund.TicketRecord) (executor.Decision, bool) {
	id, ok := new(big.Int).SetString(t.ReferenceID, 10)
	if !ok {
		return executor.Decision{}, false
	}
	switch t.Status {
	case fund.TicketApproved:
		return executor.Decision{Purpose: executor.PurposeApprove, Reference: t.ExecReference(), RedemptionID: id}, true
	case fund.TicketRejected:
		reason := "rejected"
		for _, a := range t.Approvals {
			if a.Decision == fund.DecisionReject && a.Reason != "" {
				reason = a.Reason
			}
		}
		return executor.Decision{Purpose: executor.PurposeReject, Reference: t.ExecReference(), RedemptionID: id, Reason: reason}, true
	}
	return executor.Decision{}, false
}

// dueRedemptions is the keeper's Due on a node: the redemptions PENDING or APPROVED whose
// settlement time has come, from the leader's replica.
type dueRedemptions struct {
	store *raftstore.Store
}

// Due implements executor.Due.
func (d *dueRedemptions) Due(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	v, err := d.store.Read()
	if err != nil {
		return 0, err
	}
	defer v.Close()
	n := 0
	for _, status := range []string{"PENDING", "APPROVED"} {
		prefix, ok := fund.RedemptionStatusPrefix(status)
		if !ok {
			return 0, fmt.Errorf("keeper: no redemption status %s", status)
		}
		var ids [][]byte
		err := v.Scan(prefix, kv.PrefixEnd(prefix), false, func(k, _ []byte) bool {
			ids = append(ids, append([]byte(nil), k[len(prefix):]...))
			return true
		})
		if err != nil {
			return 0, err
		}
		for _, id := range ids {
			val, err := v.Get(append([]byte{fund.PrefixRedemption}, id...))
			if err != nil {
				return 0, fmt.Errorf("keeper: redemption %x: %w", id, err)
			}
			r, err := fund.DecodeRedemption(val)
			if err != nil {
				return 0, err
			}
			if r.SettlementTime.IsUint64() && int64(r.SettlementTime.Uint64()) <= now.Unix() {
				n++
			}
		}
	}
	return n, nil
}

// executorSettler is the server's Settler: SETTLE decisions keyed by the request, so a request
// gets one settlement transaction however often an operator asks.
type executorSettler struct {
	e *executor.Executor
}

// intentJSON is how POST /v1/redemptions/{id}/settle shows the intent (the fields of GET
// /v1/executor/transactions that exist before it is sent).
type intentJSON struct {
	ID        uint64 `json:"id"`
	Purpose   string `json:"purpose"`
	Reference string `json:"reference"`
	Nonce     uint64 `json:"nonce"`
	State     string `json:"state"`
	Reason    string `json:"reason"`
	Hash      string `json:"hash"`
}

// SettleRedemption implements server.Settler.
func (s executorSettler) SettleRedemption(ctx context.Context, id *big.Int) (any, error) {
	t, err := s.e.Submit(ctx, executor.Decision{Purpose: executor.PurposeSettle, Reference: "redemption-" + id.String(), RedemptionID: id})
	if err != nil {
		return nil, err
	}
	out := intentJSON{ID: t.Seq, Purpose: t.Purpose, Reference: t.Reference, Nonce: t.Nonce, State: t.State, Reason: t.Reason}
	if t.MinedHash != (common.Hash{}) {
		out.Hash = t.MinedHash.Hex()
	} else if len(t.Attempts) > 0 {
		out.Hash = t.Attempts[len(t.Attempts)-1].Hash.Hex()
	}
	return out, nil
}
