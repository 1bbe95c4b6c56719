package push

import (
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/fund/fundtest"
)

// TestLateLogPushesTheCorrectedResource: a settlement that arrives before its request creates
// the redemption from what it carries; when the request arrives (a late log, applied at its
// place in the ledger order), the client sees the redemption again, corrected (its request
// fields, requestedAt, the timeline in chain order), with a higher seq, and the fund:nav
// channel sees again the NAV point whose totals a late deposit changed.
func TestLateLogPushesTheCorrectedResource(t *testing.T) {
	e := newEnv(t, testConfig())
	c := e.dial(nil)
	if f := c.auth(viewerToken); f.Type != "authenticated" {
		t.Fatalf("auth: %+v", f)
	}
	c.subscribe(nil, "redemptions", "fund:nav")

	owner := fundtest.Addr("late-owner")
	block := fundtest.NextBlock() // after the mints so far, in ledger order
	// The deposit brings more cash than the request adds to the liability, so that the NAV
	// point's totalAssets (grossAssets − liability − fees) changes.
	deposit := redemptionEvent(t, block, "Deposit", 0, owner, owner, fundtest.E18(20), fundtest.E18(20))
	request := redemptionEvent(t, block, "RedemptionRequested", 1, big.NewInt(42), owner, owner, fundtest.E18(10), fundtest.E18(10), big.NewInt(0), uint8(0), false, big.NewInt(0), big.NewInt(1))
	nav := redemptionEvent(t, block, "NavUpdated", 2, fundtest.E18(1), fundtest.Amount("1.01"), big.NewInt(1_750_000_100))
	settle := redemptionEvent(t, block, "RedemptionSettled", 3, big.NewInt(42), owner, owner, fundtest.E18(10), big.NewInt(0), fundtest.E18(10), uint8(0))
	first := e.apply(logs(nav, settle))
	late := e.apply(logs(request, deposit)) // both before the NAV point and the settlement

	var seen []serverFrame
	for len(seen) < 4 {
		f := c.read()
		if f.Type == "event" {
			seen = append(seen, f)
		}
	}
	byChannel := map[string][]serverFrame{}
	for _, f := range seen {
		byChannel[f.Channel] = append(byChannel[f.Channel], f)
	}
	reds, navs := byChannel["redemptions"], byChannel["fund:nav"]
	if len(reds) != 2 || len(navs) != 2 {
		t.Fatalf("frames %v, want two redemptions and two fund:nav", seen)
	}
	if *reds[0].Seq != first || *reds[1].Seq != late || *navs[0].Seq != first || *navs[1].Seq != late {
		t.Fatalf("seqs %d %d / %d %d, want %d then %d", *reds[0].Seq, *reds[1].Seq, *navs[0].Seq, *navs[1].Seq, first, late)
	}
	var before, after struct {
		Status       string
		LockedAmount string
		RequestedAt  *string
		Timeline     []struct{ Status string }
	}
	if json.Unmarshal(reds[0].Data, &before) != nil || json.Unmarshal(reds[1].Data, &after) != nil {
		t.Fatalf("redemption data %s / %s", reds[0].Data, reds[1].Data)
	}
	if before.LockedAmount != "0" || before.RequestedAt != nil || len(before.Timeline) != 1 {
		t.Fatalf("settlement alone: %s", reds[0].Data)
	}
	if after.Status != "SETTLED" || after.LockedAmount != fundtest.E18(10).Dec() || after.RequestedAt == nil ||
		len(after.Timeline) != 2 || after.Timeline[0].Status != "PENDING" || after.Timeline[1].Status != "SETTLED" {
		t.Fatalf("corrected: %s", reds[1].Data)
	}
	var p0, p1 struct{ TotalAssets string }
	_ = json.Unmarshal(navs[0].Data, &p0)
	_ = json.Unmarshal(navs[1].Data, &p1)
	if p0.TotalAssets == p1.TotalAssets {
		t.Fatalf("the NAV point was not pushed corrected: %s / %s", navs[0].Data, navs[1].Data)
	}
}

// redemptionEvent builds an event at log index li of block.
func redemptionEvent(t *testing.T, block uint64, name string, li uint64, args ...any) chainlog.Event {
	t.Helper()
	ev, err := fundtest.NewEvent(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	ev.BlockNumber = block
	ev.LogIndex = li
	ev.TxHash = common.BigToHash(big.NewInt(int64(7_000_000 + li)))
	ev.BlockHash = common.Hash{7}
	ev.BlockTime = 1_750_000_100
	return ev
}

func logs(evs ...chainlog.Event) []byte {
	return fund.EncodeLogs(&fund.LogsCommand{Time: time.Now().UnixNano(), Events: evs})
}
