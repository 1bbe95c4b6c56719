package fund

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"paimon/chainlog"
	"paimon/chainlog/chainlogtest"
	"paimon/internal/testutil"
	"paimon/kv"
)

var field = testutil.Field

type expect = testutil.Fields // path → value (compared with fmt.Sprint)

func (e *env) check(what string, got map[string]any, want expect) {
	e.t.Helper()
	testutil.CheckFields(e.t, what, got, want)
}

func (e *env) redemption(id string) map[string]any { return e.json(Redemption(e.st, id)) }

func (e *env) count(prefix byte) int {
	n := 0
	e.st.Scan([]byte{prefix}, []byte{prefix + 1}, false, func(k, v []byte) bool { n++; return true })
	return n
}

func TestEffectsAndInverse(t *testing.T) {
	h1, h2, tok1, tok2 := addr(1), addr(2), addr(50), addr(51)
	zero := common.Address{}
	mint := func(to common.Address, v uint64, bn uint64) chainlog.Event {
		return mk("Transfer", bn, 0, testNow, zero, to, e18(v))
	}
	request := func(id int, approval bool) chainlog.Event {
		return mk("RedemptionRequested", 20, uint64(id), testNow, id, h1, h2, e18(2), e18(2), u(5), 0, approval, testNow+7*day, 9)
	}
	tests := []struct {
		name  string
		setup []chainlog.Event
		ev    chainlog.Event
		check func(e *env)
	}{
		{"Transfer mint", nil, mint(h1, 5, 30), func(e *env) {
			e.check("overview", e.view(ViewOverview), expect{"totalSupply": e18(5), "holderCount": 1})
			e.check("account", e.account(h1), expect{"shares": e18(5), "firstSeen": "2025-01-06T21:46:40Z"})
		}},
		{"Transfer between holders", []chainlog.Event{mint(h1, 5, 1)}, mk("Transfer", 30, 0, testNow+10, h1, h2, e18(2)), func(e *env) {
			e.check("overview", e.view(ViewOverview), expect{"totalSupply": e18(5), "holderCount": 2})
			e.check("h1", e.account(h1), expect{"shares": e18(3), "lastActivity": "2025-01-06T21:46:50Z", "firstSeen": "2025-01-06T21:46:40Z"})
			e.check("h2", e.account(h2), expect{"shares": e18(2)})
		}},
		{"Transfer burn", []chainlog.Event{mint(h1, 5, 1)}, mk("Transfer", 30, 0, testNow, h1, zero, e18(5)), func(e *env) {
			e.check("overview", e.view(ViewOverview), expect{"totalSupply": 0, "holderCount": 0})
			e.check("account", e.account(h1), expect{"shares": 0})
		}},
		{"Transfer from unseen holder goes negative", nil, mk("Transfer", 30, 0, testNow, h1, h2, u(5)), func(e *env) {
			e.check("h1", e.account(h1), expect{"shares": "-5"})
			e.check("overview", e.view(ViewOverview), expect{"holderCount": 1, "totalSupply": 0})
		}},
		{"Deposit", nil, mk("Deposit", 30, 0, testNow, h2, h1, e18(10), e18(10)), func(e *env) {
			e.check("account", e.account(h1), expect{"deposited": e18(10), "shares": 0})
			e.check("overview", e.view(ViewOverview), expect{"totalAssets": e18(10)})
			e.check("flows", e.view(ViewFlows), expect{"subscriptions24h": e18(10), "subscriptions7d": e18(10), "net24h": e18(10)})
			if _, err := Account(e.st, h2); err != ErrNotFound {
				t.Errorf("sender account: err %v, want ErrNotFound", err)
			}
		}},
		{"Withdraw", nil, mk("Withdraw", 30, 0, testNow, h1, h2, h1, u(7), u(7)), func(e *env) {
			e.check("account", e.account(h1), expect{"withdrawn": 7})
			e.check("overview", e.view(ViewOverview), expect{"totalAssets": "-7"})
			e.check("flows", e.view(ViewFlows), expect{"redemptions24h": 7, "net7d": "-7"})
		}},
		{"SharesLocked", nil, mk("SharesLocked", 30, 0, testNow, h1, u(4)), func(e *env) {
			e.check("account", e.account(h1), expect{"lockedShares": 4})
			e.check("overview", e.view(ViewOverview), expect{"totalLockedShares": 4})
		}},
		{"SharesUnlocked", []chainlog.Event{mk("SharesLocked", 1, 0, testNow, h1, u(4))}, mk("SharesUnlocked", 30, 0, testNow, h1, u(3)), func(e *env) {
			e.check("account", e.account(h1), expect{"lockedShares": 1})
			e.check("overview", e.view(ViewOverview), expect{"totalLockedShares": 1})
		}},
		{"SharesBurned", []chainlog.Event{mk("SharesLocked", 1, 0, testNow, h1, u(4))}, mk("SharesBurned", 30, 0, testNow, h1, u(4)), func(e *env) {
			e.check("account", e.account(h1), expect{"lockedShares": 0})
			e.check("overview", e.view(ViewOverview), expect{"totalLockedShares": 0})
		}},
		{"NavUpdated", []chainlog.Event{mint(h1, 5, 1)}, mk("NavUpdated", 30, 0, testNow, oneE18, u(1_023_400_000_000_000_000), testNow-60), func(e *env) {
			e.check("overview", e.view(ViewOverview), expect{"sharePrice": "1023400000000000000", "nav": "1.0234"})
			e.check("nav", e.view(ViewNav), expect{"interval": "1d", "items.0.time": "2025-01-06T21:45:40Z", "items.0.nav": "1.0234", "items.0.totalSupply": e18(5), "change24h": nil})
		}},
		{"EmergencyModeChanged", nil, mk("EmergencyModeChanged", 30, 0, testNow, true), func(e *env) {
			e.check("overview", e.view(ViewOverview), expect{"emergencyMode": true})
			mustEqual(t, "risk records", e.count(pRisk), 1)
		}},
		{"RedemptionFeeAdded", nil, mk("RedemptionFeeAdded", 30, 0, testNow, u(9)), func(e *env) {
			e.check("overview", e.view(ViewOverview), expect{"fees.redemption": 9})
		}},
		{"RedemptionFeeReduced", []chainlog.Event{mk("RedemptionFeeAdded", 1, 0, testNow, u(9))}, mk("RedemptionFeeReduced", 30, 0, testNow, u(4)), func(e *env) {
			e.check("overview", e.view(ViewOverview), expect{"fees.redemption": 5})
		}},
		{"RedemptionRequested with approval", nil, request(1, true), func(e *env) {
			e.check("redemption", e.redemption("1"), expect{"status": "PENDING_APPROVAL", "owner": chainlog.HexAddress(h1), "receiver": chainlog.HexAddress(h2),
				"lockedAmount": e18(2), "channel": "STANDARD", "requiresApproval": true, "windowId": 9,
				"settlementTime": "2025-01-13T21:46:40Z", "requestedAt": "2025-01-06T21:46:40Z", "timeline.0.status": "PENDING_APPROVAL", "timeline.0.blockNumber": 20})
			e.check("overview", e.view(ViewOverview), expect{"totalRedemptionLiability": e18(2)})
			e.check("flows", e.view(ViewFlows), expect{"pendingRedemptions": e18(2)})
			e.check("account", e.account(h1), expect{"pendingRedemptions": e18(2)})
			e.check("by status", e.json(Redemptions(e.st, RedemptionFilter{Status: "PENDING_APPROVAL"}, Page{})), expect{"items.0.requestId": 1})
		}},
		{"RedemptionRequested without approval", nil, request(1, false), func(e *env) {
			e.check("redemption", e.redemption("1"), expect{"status": "PENDING", "requiresApproval": false})
		}},
		{"RedemptionApproved", []chainlog.Event{request(1, true)}, mk("RedemptionApproved", 30, 0, testNow+5, 1, addr(9), testNow+day), func(e *env) {
			e.check("redemption", e.redemption("1"), expect{"status": "APPROVED", "settlementTime": "2025-01-07T21:46:40Z",
				"timeline.1.status": "APPROVED", "timeline.1.time": "2025-01-06T21:46:45Z", "timeline.1.txHash": chainlog.HexHash(chainlogtest.TxHash(30, 0))})
			e.check("account", e.account(h1), expect{"pendingRedemptions": e18(2)})
			if _, err := Account(e.st, addr(9)); err != ErrNotFound {
				t.Errorf("approver account: %v", err)
			}
		}},
		{"RedemptionApproved unknown id", nil, mk("RedemptionApproved", 30, 0, testNow, 77, addr(9), testNow+day), func(e *env) {
			e.check("redemption", e.redemption("77"), expect{"status": "APPROVED", "owner": nil, "lockedAmount": 0, "requestedAt": nil})
			e.check("overview", e.view(ViewOverview), expect{"totalRedemptionLiability": 0})
		}},
		{"RedemptionRejected", []chainlog.Event{request(1, true)}, mk("RedemptionRejected", 30, 0, testNow, 1, addr(9), "kyc"), func(e *env) {
			e.check("redemption", e.redemption("1"), expect{"status": "REJECTED"})
			e.check("overview", e.view(ViewOverview), expect{"totalRedemptionLiability": 0})
			e.check("account", e.account(h1), expect{"pendingRedemptions": 0})
		}},
		{"RedemptionCancelled", []chainlog.Event{request(1, false)}, mk("RedemptionCancelled", 30, 0, testNow, 1, h1), func(e *env) {
			e.check("redemption", e.redemption("1"), expect{"status": "CANCELLED"})
			e.check("overview", e.view(ViewOverview), expect{"totalRedemptionLiability": 0})
		}},
		{"RedemptionSettled", []chainlog.Event{mk("Deposit", 1, 0, testNow, h1, h1, e18(10), e18(10)), request(1, true), mk("RedemptionApproved", 21, 0, testNow, 1, addr(9), testNow)},
			mk("RedemptionSettled", 30, 0, testNow, 1, h1, h2, e18(2), u(5), e18(1), 0), func(e *env) {
				e.check("redemption", e.redemption("1"), expect{"status": "SETTLED", "grossAmount": e18(2), "fee": 5, "netAmount": e18(1), "timeline.2.status": "SETTLED"})
				e.check("overview", e.view(ViewOverview), expect{"totalRedemptionLiability": 0, "totalAssets": e18(9)})
				e.check("account", e.account(h1), expect{"redeemed": e18(1), "pendingRedemptions": 0})
				e.check("flows", e.view(ViewFlows), expect{"redemptions24h": e18(1), "net24h": e18(9)})
			}},
		{"RedemptionSettled unknown id", nil, mk("RedemptionSettled", 30, 0, testNow, 5, h1, h2, u(3), u(1), u(2), 2), func(e *env) {
			e.check("redemption", e.redemption("5"), expect{"status": "SETTLED", "owner": chainlog.HexAddress(h1), "channel": "SCHEDULED", "netAmount": 2})
			e.check("by owner", e.json(Redemptions(e.st, RedemptionFilter{Owner: &h1}, Page{})), expect{"items.0.requestId": 5})
		}},
		{"LowLiquidityAlert", nil, mk("LowLiquidityAlert", 30, 0, testNow, 900, 1000, u(1), u(2)), func(e *env) {
			mustEqual(t, "risk records", e.count(pRisk), 1)
		}},
		{"CriticalLiquidityAlert", nil, mk("CriticalLiquidityAlert", 30, 0, testNow, 500, 1000, u(1)), func(e *env) {
			mustEqual(t, "risk records", e.count(pRisk), 1)
		}},
		{"AssetAdded", nil, mk("AssetAdded", 30, 0, testNow, tok1, 1, 4000), func(e *env) {
			e.check("assets", e.view(ViewAssets), expect{"items.0.token": chainlog.HexAddress(tok1), "items.0.tier": "L2", "items.0.active": true, "items.0.targetAllocation": 4000, "items.0.price": nil})
		}},
		{"AssetAdded re-activates", []chainlog.Event{mk("AssetAdded", 1, 0, testNow, tok1, 1, 4000), mk("AssetPurchased", 1, 1, testNow, tok1, 1, u(10), u(9)), mk("AssetRemoved", 1, 2, testNow, tok1)},
			mk("AssetAdded", 30, 0, testNow, tok1, 2, 3000), func(e *env) {
				e.check("assets", e.view(ViewAssets), expect{"items.0.tier": "L3", "items.0.active": true, "items.0.holding": 9, "items.0.targetAllocation": 3000})
			}},
		{"AssetRemoved", []chainlog.Event{mk("AssetAdded", 1, 0, testNow, tok1, 1, 4000)}, mk("AssetRemoved", 30, 0, testNow, tok1), func(e *env) {
			e.check("assets", e.view(ViewAssets), expect{"items.0.active": false})
		}},
		{"AssetAllocationUpdated", []chainlog.Event{mk("AssetAdded", 1, 0, testNow, tok1, 1, 4000)}, mk("AssetAllocationUpdated", 30, 0, testNow, tok1, 4000, 6000), func(e *env) {
			e.check("assets", e.view(ViewAssets), expect{"items.0.targetAllocation": 6000})
		}},
		{"AssetPurchased", []chainlog.Event{mk("AssetAdded", 1, 0, testNow, tok1, 0, 4000), mk("AssetAdded", 1, 1, testNow, tok2, 1, 4000),
			mk("AssetPurchased", 1, 2, testNow, tok2, 1, e18(1), e18(1)),
			mk("PriceSet", 1, 3, testNow, tok1, e18(2), testNow, 0), mk("PriceSet", 1, 4, testNow, tok2, oneE18, testNow, 0),
			mk("Deposit", 1, 5, testNow, h1, h1, e18(10), e18(10))},
			mk("AssetPurchased", 30, 0, testNow, tok1, 0, e18(6), e18(3)), func(e *env) {
				// cash 10 - 1 - 6 = 3; L1 = cash 3 + 3 tokens at 2 = 9, L2 = 1.
				e.check("assets", e.view(ViewAssets), expect{"items.0.holding": e18(3), "items.0.value": e18(6), "items.0.price": e18(2), "items.0.decimals": 18})
				e.check("tiers", e.view(ViewTiers), expect{"items.0.value": e18(9), "items.0.ratio": 9000, "items.1.ratio": 1000, "items.0.assets.0": chainlog.HexAddress(tok1)})
				e.check("overview", e.view(ViewOverview), expect{"tiers.L1.ratio": 9000, "tiers.L2.value": e18(1), "cash": e18(3), "grossAssets": e18(10), "totalAssets": e18(10)})
			}},
		{"AssetPurchased unknown asset", nil, mk("AssetPurchased", 30, 0, testNow, tok1, 2, u(6), u(3)), func(e *env) {
			e.check("assets", e.view(ViewAssets), expect{"items.0.holding": 3, "items.0.tier": "L3", "items.0.active": true})
		}},
		{"AssetRedeemed", []chainlog.Event{mk("AssetPurchased", 1, 0, testNow, tok1, 0, u(6), u(3))}, mk("AssetRedeemed", 30, 0, testNow, tok1, 0, u(2), u(4)), func(e *env) {
			e.check("assets", e.view(ViewAssets), expect{"items.0.holding": 1})
		}},
		{"WaterfallLiquidation", []chainlog.Event{mk("AssetPurchased", 1, 0, testNow, tok1, 2, u(6), u(3))}, mk("WaterfallLiquidation", 30, 0, testNow, 2, tok1, u(2), u(2)), func(e *env) {
			e.check("assets", e.view(ViewAssets), expect{"items.0.holding": 1})
			mustEqual(t, "risk records", e.count(pRisk), 1)
		}},
		{"LayerConfigUpdated", nil, mk("LayerConfigUpdated", 30, 0, testNow, 2, 3000, 2000, 4000), func(e *env) {
			e.check("overview", e.view(ViewOverview), expect{"tiers.L3.targetRatio": 3000, "tiers.L3.minRatio": 2000, "tiers.L3.maxRatio": 4000})
			e.check("tiers", e.view(ViewTiers), expect{"items.2.deviation": -3000})
		}},
		{"LayerConfigUpdated unknown tier", nil, mk("LayerConfigUpdated", 30, 0, testNow, 7, 3000, 2000, 4000), func(e *env) {
			e.check("overview", e.view(ViewOverview), expect{"tiers.L3.targetRatio": 0, "lastBlock": 30})
		}},
		{"ManagementFeeCollected", nil, mk("ManagementFeeCollected", 30, 0, testNow, u(11), u(1000), 86400), func(e *env) {
			e.check("overview", e.view(ViewOverview), expect{"fees.management": 11})
		}},
		{"PerformanceFeeCollected", nil, mk("PerformanceFeeCollected", 30, 0, testNow, u(12), u(1000), u(3)), func(e *env) {
			e.check("overview", e.view(ViewOverview), expect{"fees.performance": 12})
		}},
		{"PriceSet", nil, mk("PriceSet", 30, 0, testNow, tok1, e18(3), testNow-100, 4), func(e *env) {
			e.check("prices", e.view(ViewPrices), expect{"items.0.asset": chainlog.HexAddress(tok1), "items.0.price": e18(3), "items.0.source": "oracle", "items.0.sourceId": 4, "items.0.time": "2025-01-06T21:45:00Z"})
			e.check("price", e.json(Price(e.st, chainlog.HexAddress(tok1), PriceQuery{History: true})), expect{"price": e18(3), "items.0.price": e18(3)})
		}},
		{"PriceSet older than current", []chainlog.Event{mk("PriceSet", 1, 0, testNow, tok1, e18(3), testNow, 4)}, mk("PriceSet", 30, 0, testNow, tok1, e18(2), testNow-100, 4), func(e *env) {
			e.check("price", e.json(Price(e.st, chainlog.HexAddress(tok1), PriceQuery{History: true})), expect{"price": e18(3), "items.0.price": e18(2), "items.1.price": e18(3)})
		}},
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.ev.Name] = true
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if len(tc.setup) > 0 {
				if r := e.logs(tc.setup...); r.Accepted != len(tc.setup) {
					t.Fatalf("setup: %+v", r)
				}
			} else {
				e.apply(EncodeLogs(&LogsCommand{Time: 1})) // render the views of the empty state
			}
			before := e.stateDump() // a risk event's alert stays (alerts.go)
			if r := e.logs(tc.ev); r.Accepted != 1 {
				t.Fatalf("apply: %+v", r)
			}
			tc.check(e)
			if r := e.logs(removed(tc.ev)); r.Reverted != 1 || r.Outcomes[0].Status != OutcomeReverted {
				t.Fatalf("revert: %+v", r)
			}
			if after := e.stateDump(); after != before {
				t.Fatalf("revert did not restore the state:\n%s", diffDumps(before, after))
			}
		})
	}
	for _, s := range chainlog.Specs() {
		if !covered[s.Name] {
			t.Errorf("no effect test for %s", s.Name)
		}
	}
}

func TestDuplicatesAndRemovedNotFound(t *testing.T) {
	e := newEnv(t)
	ev := mk("Deposit", 5, 0, testNow, addr(1), addr(1), u(10), u(10))
	r := e.logs(ev, ev)
	mustEqual(t, "first", r.Outcomes[0].Status, OutcomeAccepted)
	mustEqual(t, "second", r.Outcomes[1].Status, OutcomeDuplicate)
	before := e.dump()
	r = e.logs(ev)
	if r.Duplicates != 1 || r.Accepted != 0 {
		t.Fatalf("resubmit: %+v", r)
	}
	// The same (txHash, logIndex) with different content is still a duplicate.
	other := ev
	other.Args = mk("Deposit", 5, 0, testNow, addr(2), addr(2), u(99), u(99)).Args
	if r = e.logs(other); r.Duplicates != 1 {
		t.Fatalf("changed content: %+v", r)
	}
	if e.dump() != before {
		t.Fatal("a duplicate changed the state")
	}
	gone := removed(mk("Deposit", 5, 1, testNow, addr(1), addr(1), u(10), u(10)))
	if r = e.logs(gone); r.NotFound != 1 || r.Outcomes[0].Status != OutcomeNotFound {
		t.Fatalf("removed unknown: %+v", r)
	}
	if e.dump() != before {
		t.Fatal("a not_found removal changed the state")
	}
	// After a revert the log can be applied again.
	if r = e.logs(removed(ev), ev); r.Reverted != 1 || r.Accepted != 1 {
		t.Fatalf("revert and re-apply: %+v", r)
	}
	e.check("account", e.account(addr(1)), expect{"deposited": 10})
}

func TestMissingBlockTimeUsesCommandTime(t *testing.T) {
	e := newEnv(t)
	ev := mk("Deposit", 5, 0, 0, addr(1), addr(1), u(10), u(10))
	e.logs(ev)
	e.check("account", e.account(addr(1)), expect{"firstSeen": fmtUnix(testNow)})
	e.check("tx", e.json(LedgerEntry(e.st, ev.TxHash, 0)), expect{"blockTime": fmtUnix(testNow)})
}

func TestApplyUserErrorsChangeNothing(t *testing.T) {
	good := mk("Deposit", 5, 0, testNow, addr(1), addr(1), u(10), u(10))
	badName := good
	badName.Name = "Nope"
	badKind := good
	badKind.Kind = chainlog.KindOracle
	badArgs := good
	badArgs.Args = good.Args[:2]
	badType := mk("Deposit", 5, 0, testNow, addr(1), addr(1), u(10), u(10))
	badType.Args[2].Type = chainlog.ArgBool
	badU8 := mk("AssetAdded", 5, 1, testNow, addr(1), 1, 1)
	badU8.Args[1].Uint.SetUint64(256)
	badTime := good
	badTime.BlockTime = -1
	tests := []struct {
		name string
		cmd  []byte
	}{
		{"unknown event", EncodeLogs(&LogsCommand{Time: 1, Events: []chainlog.Event{good, badName}})},
		{"wrong kind", EncodeLogs(&LogsCommand{Time: 1, Events: []chainlog.Event{badKind}})},
		{"arg count", EncodeLogs(&LogsCommand{Time: 1, Events: []chainlog.Event{badArgs}})},
		{"arg type", EncodeLogs(&LogsCommand{Time: 1, Events: []chainlog.Event{badType}})},
		{"uint8 range", EncodeLogs(&LogsCommand{Time: 1, Events: []chainlog.Event{badU8}})},
		{"block time", EncodeLogs(&LogsCommand{Time: 1, Events: []chainlog.Event{badTime}})},
		{"negative command time", EncodeLogs(&LogsCommand{Time: -1, Events: []chainlog.Event{good}})},
		{"price bad asset", EncodePrices(&PricesCommand{Time: 1, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(1)), Price: *u(1), Time: 5}, {Asset: "0xnope", Price: *u(1), Time: 5}}})},
		{"price zero", EncodePrices(&PricesCommand{Time: 1, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(1)), Price: *u(0), Time: 5}}})},
		{"price time", EncodePrices(&PricesCommand{Time: 1, Prices: []PriceUpdate{{Asset: chainlog.HexAddress(addr(1)), Price: *u(1), Time: 0}}})},
		{"no prices", EncodePrices(&PricesCommand{Time: 1})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.logs(mk("Transfer", 1, 0, testNow, common.Address{}, addr(1), u(3)))
			before, fund := e.dump(), e.m.fund
			e.index++
			res, err := e.m.Apply(e.st, e.index, tc.cmd)
			if err != nil {
				t.Fatalf("fatal error for a user error: %v", err)
			}
			if !isValidation(res) {
				t.Fatalf("result %T %v, want *ValidationError", res, res)
			}
			if err := e.m.EndBatch(e.st, e.index); err != nil {
				t.Fatal(err)
			}
			if e.dump() != before || fmt.Sprint(e.m.fund) != fmt.Sprint(fund) {
				t.Fatal("a rejected command changed the state")
			}
		})
	}
}

func TestApplyFatal(t *testing.T) {
	good := EncodeLogs(&LogsCommand{Time: 1, Events: []chainlog.Event{mk("Deposit", 5, 0, testNow, addr(1), addr(1), u(10), u(10))}})
	for name, cmd := range map[string][]byte{
		"empty":         nil,
		"unknown type":  {0x77, 1},
		"bad version":   {CmdLogs, 9},
		"trailing":      append(append([]byte(nil), good...), 0),
		"truncated":     good[:len(good)-1],
		"type only":     {CmdPrices},
		"huge count":    {CmdLogs, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad arg type":  bytesReplaceLast(good, []byte{byte(chainlog.ArgUint256)}, []byte{9}),
		"non-minimal":   {CmdPrices, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 2},
		"raft internal": {0xF0, 1},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			res, err := e.m.Apply(e.st, 1, cmd)
			if err == nil {
				t.Fatalf("no error, result %v", res)
			}
			if e.st.Len() != 0 {
				t.Fatal("an undecodable command wrote state")
			}
		})
	}
}

func bytesReplaceLast(b, old, new []byte) []byte {
	out := append([]byte(nil), b...)
	for i := len(out) - len(old); i >= 0; i-- {
		if string(out[i:i+len(old)]) == string(old) {
			copy(out[i:], new)
			return out
		}
	}
	panic("not found")
}

func TestLoadMatchesMemory(t *testing.T) {
	e := newEnv(t)
	e.logs(chainlogtest.AllEvents(testNow)...)
	m2 := NewMachine(testInfo, NewViews(testInfo), nil)
	if err := m2.Load(e.st); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(m2.fund) != fmt.Sprint(e.m.fund) {
		t.Fatalf("loaded %v\nmemory %v", m2.fund, e.m.fund)
	}
	// A machine loaded from the store renders the same views.
	v, err := m2.RenderView(e.st, ViewOverview)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := ReadView(e.st, ViewOverview)
	if string(v) != string(stored) {
		t.Fatalf("rendered %s\nstored %s", v, stored)
	}
}

func TestChanges(t *testing.T) {
	e := newEnv(t)
	e.apply(EncodeLogs(&LogsCommand{Time: 1})) // the first batch renders every view
	e.logs(mk("Transfer", 1, 0, testNow, common.Address{}, addr(1), u(3)),
		mk("RedemptionRequested", 2, 0, testNow, 4, addr(1), addr(1), u(1), u(1), u(0), 0, false, 0, 0),
		mk("PriceSet", 3, 0, testNow, addr(50), u(5), testNow, 0))
	c := e.obs.got[len(e.obs.got)-1]
	mustEqual(t, "index", c.Index, e.index)
	for _, cl := range []Class{ClassOverview, ClassAccounts, ClassRedemptions, ClassLedger, ClassPrices, ClassFlows} {
		if !c.Classes[cl] {
			t.Errorf("class %d not marked", cl)
		}
	}
	if c.Classes[ClassAudit] || c.Classes[ClassNav] {
		t.Error("audit/nav marked without change")
	}
	mustEqual(t, "accounts", len(c.Accounts), 1)
	mustEqual(t, "redemptions", c.Redemptions, []string{"4"})
	mustEqual(t, "prices", c.Prices, []string{chainlog.HexAddress(addr(50))})
	mustEqual(t, "ledger entries", len(c.Entries), 3)
	names := map[string]bool{}
	for _, v := range c.Views {
		names[v.Name] = true
		if !json.Valid(v.Body) {
			t.Errorf("view %s is not JSON", v.Name)
		}
	}
	if !names[ViewOverview] || !names[ViewPrices] || !names[ViewFlows] {
		t.Errorf("views %v", names)
	}
	// A batch that changes nothing re-renders nothing.
	e.logs(mk("Transfer", 1, 0, testNow, common.Address{}, addr(1), u(3)))
	c = e.obs.got[len(e.obs.got)-1]
	if len(c.Views) != 0 || c.Classes[ClassOverview] {
		t.Errorf("duplicate-only batch changed %v views %d", c.Classes, len(c.Views))
	}
	var _ kv.Reader = e.st
}

// TestChangesReloaded: the first batch of a machine and the first after Load say so; the
// others do not.
func TestChangesReloaded(t *testing.T) {
	e := newOutboxEnv(t)
	mint := mk("Transfer", 1, 0, testNow, common.Address{}, addr(1), u(5))
	e.logs(mint)
	e.logs(mk("Transfer", 2, 0, testNow, common.Address{}, addr(2), u(5)))
	if err := e.m.Load(e.st); err != nil {
		t.Fatal(err)
	}
	e.logs(mk("Transfer", 3, 0, testNow, common.Address{}, addr(3), u(5)))
	e.logs(mk("Transfer", 4, 0, testNow, common.Address{}, addr(4), u(5)))
	var got []bool
	for _, c := range e.obs.got {
		got = append(got, c.Reloaded)
	}
	mustEqual(t, "Reloaded", got, []bool{true, false, true, false})
}
