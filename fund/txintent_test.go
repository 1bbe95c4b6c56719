package fund

import (
	"bytes"
	"testing"

	"paimon/version"
)

func (e *env) intents() []TxIntent {
	e.t.Helper()
	ts, err := ReadTxIntents(e.st, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return ts
}

// One intent per decision: a second CmdTxIntent for the same (purpose, reference) stores
// nothing and answers the first; updates move it on, a replacement keeps the older attempts as
// REPLACED, and a final intent changes no more.
func TestTxIntentOncePerDecision(t *testing.T) {
	e := newEnv(t)
	c := &TxIntentCommand{Time: testNow * 1e9, Purpose: "APPROVE", Reference: "ticket-1", Nonce: 7, Hash: [32]byte{1}, Raw: []byte{0x02, 1, 2}}
	c.From[0], c.To[0] = 0xaa, 0xbb
	first, ok := e.apply(EncodeTxIntent(c)).(*TxIntentResult)
	if !ok || !first.Created || first.Intent.State != TxSigned || first.Intent.Nonce != 7 {
		t.Fatalf("first: %+v", first)
	}
	dup := *c
	dup.Hash, dup.Raw, dup.Nonce = [32]byte{2}, []byte{0x02, 9}, 8
	second, ok := e.apply(EncodeTxIntent(&dup)).(*TxIntentResult)
	if !ok || second.Created || second.Intent.Seq != first.Intent.Seq || second.Intent.Attempts[0].Hash != c.Hash {
		t.Fatalf("second: %+v", second)
	}
	other := *c
	other.Reference = "ticket-2"
	if r := e.apply(EncodeTxIntent(&other)).(*TxIntentResult); !r.Created {
		t.Fatalf("another decision: %+v", r)
	}
	seq := first.Intent.Seq
	upd := func(u TxUpdateCommand) bool {
		t.Helper()
		u.Time, u.Seq = testNow*1e9+1, seq
		r, ok := e.apply(EncodeTxUpdate(&u)).(*TxUpdateResult)
		if !ok {
			t.Fatalf("update %+v: %T", u, r)
		}
		return r.Applied
	}
	if !upd(TxUpdateCommand{State: TxSent}) || !upd(TxUpdateCommand{Replacement: TxAttempt{Hash: [32]byte{3}, Raw: []byte{0x02, 3}}}) {
		t.Fatal("sent, replaced: not applied")
	}
	if !upd(TxUpdateCommand{State: TxMined, Block: 40, MinedHash: [32]byte{3}}) || !upd(TxUpdateCommand{State: TxConfirmed, Block: 40, MinedHash: [32]byte{3}}) {
		t.Fatal("mined, confirmed: not applied")
	}
	if upd(TxUpdateCommand{State: TxFailed, Reason: "late"}) {
		t.Fatal("an update of a confirmed intent applied")
	}
	got := e.intents()
	if len(got) != 2 || got[0].Seq != seq {
		t.Fatalf("intents %+v", got)
	}
	g := got[0]
	if g.State != TxConfirmed || g.Block != 40 || len(g.Attempts) != 2 || g.Attempts[0].State != TxReplaced ||
		g.Attempts[1].State != TxConfirmed || !bytes.Equal(g.Attempts[1].Raw, []byte{0x02, 3}) || g.From[0] != 0xaa || g.To[0] != 0xbb {
		t.Fatalf("intent %+v", g)
	}
	before := e.dump()
	for _, bad := range [][]byte{
		EncodeTxIntent(&TxIntentCommand{Time: 1, Purpose: "", Reference: "x", Raw: []byte{1}}),
		EncodeTxIntent(&TxIntentCommand{Time: 1, Purpose: "APPROVE", Reference: "y"}),
		EncodeTxUpdate(&TxUpdateCommand{Time: 1, Seq: seq, State: "LOST"}),
		EncodeTxUpdate(&TxUpdateCommand{Time: 1, Seq: 12345, State: TxSent}),
	} {
		if res := e.apply(bad); !isValidation(res) {
			t.Errorf("%x: %T %v", bad, res, res)
		}
	}
	if e.dump() != before {
		t.Fatal("a refused command changed the state")
	}
}

// The executor's commands are new: proposed only once every member runs this release.
func TestTxCommandsNeedClusterVersion(t *testing.T) {
	for _, cmd := range [][]byte{
		EncodeTxIntent(&TxIntentCommand{Time: 1, Purpose: "APPROVE", Raw: []byte{1}}),
		EncodeTxUpdate(&TxUpdateCommand{Time: 1, State: TxSent}),
	} {
		if v := CommandVersion(cmd); v != version.Cluster {
			t.Fatalf("command %d needs %s, want %s", cmd[0], v, version.Cluster)
		}
		if _, err := DecodeTxIntent(cmd[:len(cmd)-1]); err == nil {
			t.Fatalf("a truncated command %d decoded", cmd[0])
		}
	}
}
