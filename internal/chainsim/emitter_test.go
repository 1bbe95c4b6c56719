package chainsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"paimon/fund/fundtest"
)

func TestAsm(t *testing.T) {
	a := newAsm()
	a.push(0).push(1).push(0xFF).push(0x100).push(1 << 40)
	a.label("x").jump("x").jumpIf("y").label("y").op(vm.STOP)
	code, err := a.assemble()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		byte(vm.PUSH0), byte(vm.PUSH1), 1, byte(vm.PUSH1), 0xFF, byte(vm.PUSH2), 1, 0,
		byte(vm.PUSH6), 1, 0, 0, 0, 0, 0,
		byte(vm.JUMPDEST),                    // x at 15
		byte(vm.PUSH2), 0, 15, byte(vm.JUMP), // jump x
		byte(vm.PUSH2), 0, 24, byte(vm.JUMPI), // jumpIf y
		byte(vm.JUMPDEST), byte(vm.STOP), // y at 24
	}
	if !bytes.Equal(code, want) {
		t.Fatalf("code\n%x, want\n%x", code, want)
	}
	for name, build := range map[string]func(*asm){
		"undefined label": func(a *asm) { a.jump("nowhere") },
		"duplicate label": func(a *asm) { a.label("l").label("l") },
		"push as op":      func(a *asm) { a.op(vm.PUSH1) },
	} {
		a := newAsm()
		build(a)
		if _, err := a.assemble(); err == nil {
			t.Errorf("%s: assembled", name)
		}
	}
}

// TestEmitterCodeJumps checks the bytecode statically: it decodes as instructions to the end
// (no push runs past it), and every jump is a PUSH2 of a JUMPDEST right before JUMP or JUMPI.
func TestEmitterCodeJumps(t *testing.T) {
	code := EmitterCode()
	dests := map[int]bool{}
	type jump struct{ at, to int }
	var jumps []jump
	for pc := 0; pc < len(code); pc++ {
		op := vm.OpCode(code[pc])
		switch {
		case op == vm.JUMPDEST:
			dests[pc] = true
		case op == vm.JUMP || op == vm.JUMPI:
			if pc < 3 || vm.OpCode(code[pc-3]) != vm.PUSH2 {
				t.Fatalf("%s at %d does not follow a PUSH2", op, pc)
			}
			jumps = append(jumps, jump{pc, int(code[pc-2])<<8 | int(code[pc-1])})
		case op.IsPush():
			n := int(op - vm.PUSH0)
			if pc+n >= len(code) {
				t.Fatalf("%s at %d runs past the end", op, pc)
			}
			pc += n
		}
	}
	for _, j := range jumps {
		if !dests[j.to] {
			t.Errorf("jump at %d to %d: not a JUMPDEST", j.at, j.to)
		}
	}
	t.Logf("emitter: %d bytes, %d jumps", len(code), len(jumps))
}

func TestCalldata(t *testing.T) {
	v, rm := fundtest.VaultAddress, fundtest.RedemptionManagerAddress
	topic := common.HexToHash("0x01")
	data, err := Calldata(rm, []Log{
		{Address: v, Topics: []common.Hash{topic}, Data: []byte{0xaa}},
		{Address: rm, Data: nil},
	})
	if err != nil {
		t.Fatal(err)
	}
	inner := append(append([]byte{1}, topic[:]...), 0, 1, 0xaa)
	want := append(append([]byte{callRecord}, v[:]...), 0, byte(len(inner)))
	want = append(append(want, inner...), 0, 0, 0)
	if !bytes.Equal(data, want) {
		t.Fatalf("calldata\n%x, want\n%x", data, want)
	}
	if _, err := Calldata(v, []Log{{Address: v, Topics: make([]common.Hash, 5)}}); err == nil {
		t.Error("five topics encoded")
	}
	if _, err := Calldata(v, []Log{{Address: v, Data: make([]byte, MaxLogData+1)}}); err == nil {
		t.Error("oversized data encoded")
	}
}

// startSim starts a simulator that mines on demand, closed at the end of the test.
func startSim(t *testing.T, mutate func(*Config)) *Sim {
	t.Helper()
	cfg := DefaultConfig()
	cfg.BlockInterval = 0
	cfg.Rate = 0
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// dial connects a go-ethereum client to the simulator's HTTP endpoint, as a node would.
func dial(t *testing.T, s *Sim) *ethclient.Client {
	t.Helper()
	c, err := ethclient.Dial(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func hashes(n int, seed byte) []common.Hash {
	hs := make([]common.Hash, n)
	for i := range hs {
		hs[i] = crypto.Keccak256Hash([]byte{seed, byte(i)})
	}
	return hs
}

// TestEmitterLogs emits logs with 0 to 4 topics, data of several sizes, several logs per
// transaction and logs of two contracts in one transaction, and reads them back through the
// receipts and eth_getLogs over HTTP.
func TestEmitterLogs(t *testing.T) {
	s := startSim(t, nil)
	c := dial(t, s)
	ctx := testCtx(t)
	v, rm, ac, or := fundtest.VaultAddress, fundtest.RedemptionManagerAddress, fundtest.AssetControllerAddress, fundtest.OracleAddress
	long := bytes.Repeat([]byte{0x5a, 0}, 700)
	txs := [][]Log{
		{{Address: v}},
		{{Address: v, Topics: hashes(1, 1), Data: []byte{7}}},
		{{Address: rm, Topics: hashes(2, 2), Data: make([]byte, 31)}},
		{{Address: ac, Topics: hashes(3, 3), Data: bytes.Repeat([]byte{0xff}, 33)}},
		{{Address: or, Topics: hashes(4, 4), Data: long}},
		{ // several records from one contract, then a call to another and back
			{Address: rm, Topics: hashes(1, 5), Data: []byte("one")},
			{Address: rm, Topics: hashes(4, 6)},
			{Address: v, Topics: hashes(2, 7), Data: []byte("locked")},
			{Address: v, Data: []byte("second vault log")},
			{Address: rm, Topics: hashes(3, 8), Data: long},
		},
	}
	var want []Log
	var sent []common.Hash
	for _, logs := range txs {
		h, err := s.EmitTx(ctx, logs...)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, h)
		want = append(want, logs...)
	}
	if err := s.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	idx := 0
	for i, h := range sent {
		r, err := c.TransactionReceipt(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("tx %d failed", i)
		}
		tx, _, err := c.TransactionByHash(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		// The computed gas limit covers the run and is not far above it.
		if r.GasUsed*3/2 < tx.Gas() {
			t.Errorf("tx %d: gas limit %d for %d used", i, tx.Gas(), r.GasUsed)
		}
		if len(r.Logs) != len(txs[i]) {
			t.Fatalf("tx %d: %d logs, want %d", i, len(r.Logs), len(txs[i]))
		}
		for j, l := range r.Logs {
			if err := sameLog(l, &txs[i][j]); err != nil {
				t.Errorf("tx %d log %d: %v", i, j, err)
			}
			if l.Index != uint(idx) {
				t.Errorf("tx %d log %d: log index %d, want %d", i, j, l.Index, idx)
			}
			idx++
		}
	}
	got, err := c.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: common.Big0, Addresses: Addresses()})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("eth_getLogs: %d logs, want %d", len(got), len(want))
	}
	for i := range got {
		if err := sameLog(&got[i], &want[i]); err != nil {
			t.Errorf("eth_getLogs log %d: %v", i, err)
		}
	}
	canon, err := s.Canonical(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(canon) != len(want) {
		t.Fatalf("Canonical: %d logs, want %d", len(canon), len(want))
	}
}

func sameLog(l *types.Log, w *Log) error {
	if l.Address != w.Address {
		return fmt.Errorf("address %s, want %s", l.Address, w.Address)
	}
	if len(l.Topics) != len(w.Topics) {
		return fmt.Errorf("%d topics, want %d", len(l.Topics), len(w.Topics))
	}
	for i := range l.Topics {
		if l.Topics[i] != w.Topics[i] {
			return fmt.Errorf("topic %d %s, want %s", i, l.Topics[i], w.Topics[i])
		}
	}
	if !bytes.Equal(l.Data, w.Data) {
		return fmt.Errorf("data %x, want %x", l.Data, w.Data)
	}
	return nil
}

// sendRaw sends a transaction with arbitrary calldata to an emitter, mined with the next
// block; it returns the transaction's hash.
func sendRaw(t *testing.T, s *Sim, to common.Address, data []byte) common.Hash {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := types.MustSignNewTx(s.key, s.signer, &types.DynamicFeeTx{
		ChainID: big.NewInt(ChainID), Nonce: s.nonce, GasTipCap: gasTip, GasFeeCap: gasFeeCap, Gas: 200_000, To: &to, Data: data,
	})
	if err := s.client.SendTransaction(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	s.nonce++
	s.user.txs++
	s.user.gas += tx.Gas()
	return tx.Hash()
}

// TestEmitterReverts: a malformed record reverts the whole transaction, including the logs
// of the records before it and of a call whose callee fails.
func TestEmitterReverts(t *testing.T) {
	s := startSim(t, nil)
	c := dial(t, s)
	ctx := testCtx(t)
	v, rm := fundtest.VaultAddress, fundtest.RedemptionManagerAddress
	good, err := Calldata(v, []Log{{Address: v, Topics: hashes(1, 9), Data: []byte{1}}})
	if err != nil {
		t.Fatal(err)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	callVault := func(inner []byte) []byte {
		return cat([]byte{callRecord}, v[:], []byte{byte(len(inner) >> 8), byte(len(inner))}, inner)
	}
	type tc struct {
		to   common.Address
		data []byte
	}
	cases := map[string]tc{
		"empty":            {v, nil},
		"unknown kind":     {v, cat(good, []byte{5})},
		"truncated topics": {v, cat(good, []byte{2, 0xab})},
		"truncated data":   {v, cat(good, []byte{0, 0, 9, 1, 2})},
		// the redemption manager calls the vault, which logs and then calls itself with a
		// record of unknown kind 7: every frame reverts
		"failed call": {rm, callVault(cat(good, callVault([]byte{7})))},
	}
	sent := map[string]common.Hash{}
	for name, c := range cases {
		sent[name] = sendRaw(t, s, c.to, c.data)
	}
	if err := s.Mine(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for name, h := range sent {
		r, err := c.TransactionReceipt(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus := types.ReceiptStatusFailed
		if name == "empty" {
			wantStatus = types.ReceiptStatusSuccessful
		}
		if r.Status != wantStatus || len(r.Logs) != 0 {
			t.Errorf("%s: status %d with %d logs, want status %d and none", name, r.Status, len(r.Logs), wantStatus)
		}
	}
}

func TestEmitTxRefusesOtherAddresses(t *testing.T) {
	s := startSim(t, nil)
	_, err := s.EmitTx(testCtx(t), Log{Address: common.HexToAddress("0x1234")})
	if !errors.Is(err, ErrNotContract) {
		t.Fatalf("err %v, want ErrNotContract", err)
	}
}
