package fundchain

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

var (
	// ErrReverted is returned for a transaction mined with a failed status, or refused by gas
	// estimation because it would revert (the error then carries the revert reason).
	ErrReverted = errors.New("fundchain: transaction reverted")
	// ErrNotMined is returned when a transaction has no receipt before the context ends.
	ErrNotMined = errors.New("fundchain: transaction not mined")
)

// Backend is what fundchain needs of a chain: an ethclient.Client dialled to an RPC URL, or a
// simulated backend's Client.
type Backend interface {
	ethereum.ChainIDReader
	ethereum.ContractCaller
	ethereum.GasEstimator
	ethereum.GasPricer1559
	ethereum.TransactionSender
	ethereum.TransactionReader
	ethereum.ChainReader
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
}

// Chain is a backend with how its blocks get mined.
type Chain struct {
	Backend Backend
	// Commit, when set, is called after each transaction is sent and must mine it (a
	// simulated backend's Commit, or chainsim's Mine with on-demand blocks). Nil: blocks come
	// by themselves and fundchain polls for the receipt.
	Commit func()
	// Poll is the receipt polling interval without Commit (default 20ms).
	Poll time.Duration

	chainID atomic.Pointer[big.Int] // read once
}

// ChainID returns the backend's chain id, asked once.
func (c *Chain) ChainID(ctx context.Context) (*big.Int, error) {
	if id := c.chainID.Load(); id != nil {
		return id, nil
	}
	id, err := c.Backend.ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("fundchain: chain id: %w", err)
	}
	c.chainID.Store(id)
	return id, nil
}

// Tx is one transaction to send: a call of Method on To's contract, or a deployment.
type Tx struct {
	Contract Contract
	To       common.Address // the contract; zero for a deployment of Contract
	Method   string         // empty for a deployment
	Args     []any          // method or constructor arguments
	// Gas is the gas limit; 0 estimates it (an estimate that fails because the call reverts
	// returns ErrReverted with the reason, and nothing is sent).
	Gas uint64
	// Nonce is the sender's nonce; nil asks the chain (the pending nonce).
	Nonce *uint64
}

// Data returns the transaction's input: calldata, or creation code with constructor arguments.
func (t *Tx) Data() ([]byte, error) {
	if t.Method != "" {
		return Pack(t.Contract, t.Method, t.Args...)
	}
	a := artifacts[t.Contract]
	args, err := a.abi.Pack("", t.Args...)
	if err != nil {
		return nil, fmt.Errorf("fundchain: %s constructor: %w", t.Contract, err)
	}
	return append(append([]byte(nil), a.code...), args...), nil
}

// Sign builds and signs t from key: an EIP-1559 transaction with a 1 gwei tip and a fee cap of
// twice the head's base fee plus the tip.
func (c *Chain) Sign(ctx context.Context, key *ecdsa.PrivateKey, t Tx) (*types.Transaction, error) {
	from := crypto.PubkeyToAddress(key.PublicKey)
	data, err := t.Data()
	if err != nil {
		return nil, err
	}
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	var nonce uint64
	if t.Nonce != nil {
		nonce = *t.Nonce
	} else if nonce, err = c.Backend.PendingNonceAt(ctx, from); err != nil {
		return nil, fmt.Errorf("fundchain: nonce of %s: %w", from, err)
	}
	head, err := c.Backend.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("fundchain: head: %w", err)
	}
	tip := big.NewInt(1e9)
	feeCap := new(big.Int).Add(tip, new(big.Int).Mul(head.BaseFee, big.NewInt(2)))
	var to *common.Address
	if t.Method != "" {
		to = &t.To
	}
	gas := t.Gas
	if gas == 0 {
		gas, err = c.Backend.EstimateGas(ctx, ethereum.CallMsg{From: from, To: to, Data: data, GasTipCap: tip, GasFeeCap: feeCap})
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrReverted, t.describe(), err)
		}
		gas += gas / 4 // refunds and state that moves before the block
	}
	return types.SignNewTx(key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID: chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas, To: to, Data: data,
	})
}

func (t *Tx) describe() string {
	if t.Method == "" {
		return "deploy " + t.Contract.String()
	}
	return t.Contract.String() + "." + t.Method
}

// Send signs and sends t (and mines it with Commit) without waiting for its receipt.
func (c *Chain) Send(ctx context.Context, key *ecdsa.PrivateKey, t Tx) (*types.Transaction, error) {
	tx, err := c.Sign(ctx, key, t)
	if err != nil {
		return nil, err
	}
	if err := c.Backend.SendTransaction(ctx, tx); err != nil {
		return nil, fmt.Errorf("fundchain: send %s: %w", t.describe(), err)
	}
	if c.Commit != nil {
		c.Commit()
	}
	return tx, nil
}

// Exec sends t and waits for its receipt; a failed status is ErrReverted.
func (c *Chain) Exec(ctx context.Context, key *ecdsa.PrivateKey, t Tx) (*types.Receipt, error) {
	tx, err := c.Send(ctx, key, t)
	if err != nil {
		return nil, err
	}
	r, err := c.Wait(ctx, tx.Hash())
	if err != nil {
		return r, fmt.Errorf("%s: %w", t.describe(), err)
	}
	return r, nil
}

// Wait waits for the receipt of a transaction; a failed status is ErrReverted (the receipt
// is returned with it).
func (c *Chain) Wait(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	poll := c.Poll
	if poll <= 0 {
		poll = 20 * time.Millisecond
	}
	for {
		r, err := c.Backend.TransactionReceipt(ctx, hash)
		if err == nil {
			if r.Status != types.ReceiptStatusSuccessful {
				return r, fmt.Errorf("%w: %s in block %d", ErrReverted, hash, r.BlockNumber)
			}
			return r, nil
		}
		// Not mined yet, or mined but not indexed yet (geth answers "transaction indexing is
		// in progress" for a while after start).
		if !errors.Is(err, ethereum.NotFound) && !strings.Contains(err.Error(), "not found") && !strings.Contains(err.Error(), "indexing is in progress") {
			return nil, fmt.Errorf("fundchain: receipt of %s: %w", hash, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %s: %w", ErrNotMined, hash, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// call runs a view function of the contract at `to` and unpacks its outputs.
func (c *Chain) call(ctx context.Context, contract Contract, to common.Address, method string, args ...any) ([]any, error) {
	data, err := Pack(contract, method, args...)
	if err != nil {
		return nil, err
	}
	out, err := c.Backend.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		return nil, fmt.Errorf("fundchain: %s.%s: %w", contract, method, err)
	}
	vals, err := artifacts[contract].abi.Unpack(method, out)
	if err != nil {
		return nil, fmt.Errorf("fundchain: %s.%s: %w", contract, method, err)
	}
	return vals, nil
}

func cryptoAddress(key *ecdsa.PrivateKey) common.Address {
	return crypto.PubkeyToAddress(key.PublicKey)
}
