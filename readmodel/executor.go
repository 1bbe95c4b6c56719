package readmodel

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"paimon/fund"
	"paimon/kv"
)

// GET /v1/executor/transactions: the executor's transaction intents newest first, each with
// its decision (purpose, reference), nonce, state, the hash that was mined and every signed
// attempt (a replacement at the same nonce adds one). The signed bytes are not shown: they
// are in the state for a new leader to rebroadcast, and an operator needs the hashes.

// ExecutorTxParams are the query parameters ParseExecutorTxFilter reads.
var ExecutorTxParams = []string{"state", "purpose"}

// ExecutorTxFilter selects intents by state and purpose.
type ExecutorTxFilter struct {
	State, Purpose string
}

// ParseExecutorTxFilter reads state (SIGNED, SENT, MINED, CONFIRMED, FAILED) and purpose
// (APPROVE, REJECT, SETTLE, BATCH_SETTLE), case-insensitively.
func ParseExecutorTxFilter(get Getter) (ExecutorTxFilter, error) {
	var f ExecutorTxFilter
	for _, p := range []struct {
		name  string
		dst   *string
		valid []string
	}{
		{"state", &f.State, []string{fund.TxSigned, fund.TxSent, fund.TxMined, fund.TxConfirmed, fund.TxFailed}},
		{"purpose", &f.Purpose, []string{"APPROVE", "REJECT", "SETTLE", "BATCH_SETTLE"}},
	} {
		s, ok := get(p.name)
		if !ok {
			continue
		}
		s = strings.ToUpper(s)
		if !slices.Contains(p.valid, s) {
			return ExecutorTxFilter{}, invalidParam(p.name, "%s must be one of %s", p.name, strings.Join(p.valid, ", "))
		}
		*p.dst = s
	}
	return f, nil
}

type txAttemptJSON struct {
	Hash                 string `json:"hash"`
	State                string `json:"state"`
	MaxFeePerGas         string `json:"maxFeePerGas"`
	MaxPriorityFeePerGas string `json:"maxPriorityFeePerGas"`
	Time                 string `json:"time"`
}

type txIntentJSON struct {
	ID        uint64          `json:"id"`
	Purpose   string          `json:"purpose"`
	Reference string          `json:"reference"`
	From      string          `json:"from"`
	To        string          `json:"to"`
	Nonce     uint64          `json:"nonce"`
	State     string          `json:"state"`
	Reason    string          `json:"reason"`
	Hash      string          `json:"hash"`
	Block     *uint64         `json:"block"`
	Created   string          `json:"createdAt"`
	Updated   string          `json:"updatedAt"`
	Attempts  []txAttemptJSON `json:"attempts"`
}

// ExecutorTransactions lists the intents newest first, filtered.
func ExecutorTransactions(r kv.Reader, f ExecutorTxFilter, p Page) ([]byte, error) {
	pg := &pager{prefix: []byte{fund.PrefixTxIntent}, posLen: 8, page: fixPage(p)}
	lo, hi, err := pg.bounds(nil, nil)
	if err != nil {
		return nil, err
	}
	err = scan(r, lo, hi, true, func(k, v []byte) (bool, error) {
		t, err := fund.DecodeTxIntentRecord(k, v)
		if err != nil {
			return false, err
		}
		if (f.State != "" && t.State != f.State) || (f.Purpose != "" && t.Purpose != f.Purpose) {
			return true, nil
		}
		item := txIntentJSON{ID: t.Seq, Purpose: t.Purpose, Reference: t.Reference, From: common.Address(t.From).Hex(),
			To: common.Address(t.To).Hex(), Nonce: t.Nonce, State: t.State, Reason: t.Reason,
			Created: fmtUnixNano(t.Created), Updated: fmtUnixNano(t.Updated), Attempts: make([]txAttemptJSON, 0, len(t.Attempts))}
		if t.MinedHash != ([32]byte{}) {
			item.Hash = common.Hash(t.MinedHash).Hex()
		} else if len(t.Attempts) > 0 {
			item.Hash = common.Hash(t.Attempts[len(t.Attempts)-1].Hash).Hex()
		}
		if t.Block != 0 {
			b := t.Block
			item.Block = &b
		}
		for _, a := range t.Attempts {
			aj := txAttemptJSON{Hash: common.Hash(a.Hash).Hex(), State: a.State, Time: fmtUnixNano(a.Time)}
			if fee, tip, ok := txFees(a.Raw); ok {
				aj.MaxFeePerGas, aj.MaxPriorityFeePerGas = fee, tip
			}
			item.Attempts = append(item.Attempts, aj)
		}
		b, err := json.Marshal(&item)
		if err != nil {
			return false, err
		}
		return pg.add(k[1:], b), nil
	})
	if err != nil {
		return nil, err
	}
	return pg.body()
}

// txFees reads the fee caps of a signed transaction (decimal wei).
func txFees(raw []byte) (feeCap, tip string, ok bool) {
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(raw); err != nil {
		return "", "", false
	}
	return tx.GasFeeCap().String(), tx.GasTipCap().String(), true
}
