package readmodel

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"paimon/fund"
)

// TestRecordRefMatchesBody: the identity RecordRef renders for a pushed record names the same
// resource as the record's JSON (every field of the ref has the body's value), and the account
// address is the key's.
func TestRecordRefMatchesBody(t *testing.T) {
	logs, prices := sampleCommands(t)
	e := newOutboxEnv(t)
	seen := map[RecordKind]int{}
	for _, cmd := range [][]byte{logs, prices} {
		e.apply(cmd)
		for _, rec := range e.lastChanges().Records {
			body, ok, err := RecordJSON(rec.Key, rec.Value)
			k, addr, ref := RecordRef(rec.Key)
			if (k != RecordOther) != ok {
				t.Fatalf("%x: RecordRef kind %d, RecordJSON ok %v", rec.Key, k, ok)
			}
			if !ok {
				if ref != nil {
					t.Fatalf("%x: ref %s for a record not pushed", rec.Key, ref)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			var b, r map[string]any
			if err := json.Unmarshal(body, &b); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(ref, &r); err != nil {
				t.Fatalf("%x: ref %s: %v", rec.Key, ref, err)
			}
			if len(r) == 0 {
				t.Fatalf("%x: empty ref", rec.Key)
			}
			shared := 0
			for f, v := range r {
				bv, in := b[f]
				if !in && k == RecordNav && (f == "blockNumber" || f == "logIndex") {
					continue // a NAV item does not show its position; the ref names it exactly
				}
				shared++
				if !reflect.DeepEqual(bv, v) {
					t.Fatalf("%c record: ref %s=%v, body has %v\nbody %s", rec.Key[0], f, v, b[f], body)
				}
			}
			if shared == 0 {
				t.Fatalf("%x: ref %s shares no field with %s", rec.Key, ref, body)
			}
			if k == RecordAccount && common.Address(addr) != common.Address(rec.Key[1:]) {
				t.Fatalf("account address %x, key %x", addr, rec.Key)
			}
			seen[k]++
		}
	}
	// The 5 risk events are the RULE ones of the indicators the walkthrough crosses; the
	// redemption needs approval (its ticket).
	mustEqual(t, "kinds", seen, map[RecordKind]int{RecordAccount: 3, RecordRedemption: 1, RecordPrice: 6, RecordNav: 6, RecordLedger: 33, RecordRisk: 5, RecordTicket: 1})
	for _, k := range [][]byte{nil, {}, {fund.PrefixAccount, 1}, {'S'}, {fund.PrefixLedger}, append([]byte{'V'}, "overview"...)} {
		if kind, _, ref := RecordRef(k); kind != RecordOther || ref != nil {
			t.Fatalf("RecordRef(%x) = %d %s", k, kind, ref)
		}
	}
}

// TestEventAccounts: the distinct non-zero address arguments, in argument order.
func TestEventAccounts(t *testing.T) {
	ev := mk("Transfer", 1, 0, testNow, addr(1), addr(2), u(5))
	mustEqual(t, "transfer", EventAccounts(&ev), [][20]byte{addr(1), addr(2)})
	ev = mk("Transfer", 1, 0, testNow, common.Address{}, addr(2), u(5))
	mustEqual(t, "mint", EventAccounts(&ev), [][20]byte{addr(2)})
	ev = mk("Transfer", 1, 0, testNow, addr(3), addr(3), u(5))
	mustEqual(t, "self", EventAccounts(&ev), [][20]byte{addr(3)})
}
