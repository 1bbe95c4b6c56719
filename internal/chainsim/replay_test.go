package chainsim

import (
	"bytes"
	"fmt"
	"math/big"
	"sort"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"paimon/chainlog"
	"paimon/fund/fundtest"
)

// allEventNames lists every event of the fund's built-in ABIs (EVENTS.md).
func allEventNames() []string {
	var names []string
	for k := chainlog.KindVault; k <= chainlog.KindOracle; k++ {
		parsed, err := abi.JSON(bytes.NewReader(chainlog.BuiltinABI(k)))
		if err != nil {
			panic(err)
		}
		for name := range parsed.Events {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// decodeAll decodes logs as a node would, with the default contracts; any skip is an error.
func decodeAll(logs []types.Log) ([]chainlog.Event, error) {
	reg, err := chainlog.NewRegistry(fundtest.Contracts())
	if err != nil {
		return nil, err
	}
	return fundtest.Decode(reg, RawLogs(logs))
}

func argOf(ev *chainlog.Event, name string) *chainlog.Arg {
	for i := range ev.Args {
		if ev.Args[i].Name == name {
			return &ev.Args[i]
		}
	}
	panic(fmt.Sprintf("%s has no argument %s", ev.Name, name))
}

func u(ev *chainlog.Event, name string) *big.Int { return argOf(ev, name).Uint.ToBig() }
func addr(ev *chainlog.Event, name string) common.Address {
	return argOf(ev, name).Address
}

// checkConsistent replays events in chain order and checks what the generator promises: no
// balance, lock or holding goes negative, locks stay within balances at the end of each
// transaction, each NavUpdated starts from the previous NAV, fees reduced never exceed fees
// added, and every redemption event follows its request in a valid order. The transactions'
// shapes are checked too: a deposit is a mint Transfer and Deposit, a request SharesLocked
// and RedemptionRequested, a settlement RedemptionSettled, SharesBurned and the burn Transfer.
func checkConsistent(evs []chainlog.Event) error {
	type red struct {
		status string
		locked *big.Int
		shares *big.Int
	}
	bal, locked, holding := map[common.Address]*big.Int{}, map[common.Address]*big.Int{}, map[common.Address]*big.Int{}
	get := func(m map[common.Address]*big.Int, a common.Address) *big.Int {
		if m[a] == nil {
			m[a] = new(big.Int)
		}
		return m[a]
	}
	reds := map[uint64]*red{}
	var nextID uint64 = 1
	nav := big.NewInt(1e18)
	fees := new(big.Int)
	zero := common.Address{}
	neg := func(x *big.Int) bool { return x.Sign() < 0 }

	// transactions in order
	var txs [][]chainlog.Event
	for i := range evs {
		if i == 0 || evs[i].TxHash != evs[i-1].TxHash {
			txs = append(txs, nil)
		}
		txs[len(txs)-1] = append(txs[len(txs)-1], evs[i])
	}
	for _, tx := range txs {
		names := make([]string, len(tx))
		for i := range tx {
			names[i] = tx[i].Name
			if i > 0 && tx[i].LogIndex != tx[i-1].LogIndex+1 {
				return fmt.Errorf("tx %s: log indexes %d, %d not consecutive", tx[i].TxHash, tx[i-1].LogIndex, tx[i].LogIndex)
			}
		}
		shape := fmt.Sprint(names)
		switch tx[0].Name {
		case "Deposit", "SharesBurned", "RedemptionRequested", "SharesUnlocked", "Withdraw":
			return fmt.Errorf("tx %s starts with %s: %s", tx[0].TxHash, tx[0].Name, shape)
		case "RedemptionSettled":
			if len(tx) < 3 || tx[1].Name != "SharesBurned" || tx[2].Name != "Transfer" || addr(&tx[2], "to") != zero {
				return fmt.Errorf("settlement tx %s: %s", tx[0].TxHash, shape)
			}
		case "SharesLocked":
			if len(tx) != 2 || tx[1].Name != "RedemptionRequested" || tx[1].Contract != fundtest.RedemptionManagerAddress {
				return fmt.Errorf("request tx %s: %s", tx[0].TxHash, shape)
			}
		case "Transfer":
			if addr(&tx[0], "from") == zero && (len(tx) != 2 || tx[1].Name != "Deposit" || u(&tx[1], "shares").Cmp(u(&tx[0], "value")) != 0) {
				return fmt.Errorf("deposit tx %s: %s", tx[0].TxHash, shape)
			}
		}
		for i := range tx {
			ev := &tx[i]
			switch ev.Name {
			case "Transfer":
				from, to, v := addr(ev, "from"), addr(ev, "to"), u(ev, "value")
				if from != zero {
					if b := get(bal, from); neg(b.Sub(b, v)) {
						return fmt.Errorf("%s: %s balance negative", ev.TxHash, from)
					}
				}
				if to != zero {
					get(bal, to).Add(get(bal, to), v)
				}
			case "SharesLocked":
				get(locked, addr(ev, "owner")).Add(get(locked, addr(ev, "owner")), u(ev, "shares"))
			case "SharesUnlocked", "SharesBurned":
				if l := get(locked, addr(ev, "owner")); neg(l.Sub(l, u(ev, "shares"))) {
					return fmt.Errorf("%s %s: lock negative", ev.TxHash, ev.Name)
				}
			case "NavUpdated":
				if u(ev, "oldNav").Cmp(nav) != 0 {
					return fmt.Errorf("%s: NavUpdated from %s, the NAV was %s", ev.TxHash, u(ev, "oldNav"), nav)
				}
				nav = u(ev, "newNav")
			case "RedemptionFeeAdded":
				fees.Add(fees, u(ev, "fee"))
			case "RedemptionFeeReduced":
				if neg(fees.Sub(fees, u(ev, "fee"))) {
					return fmt.Errorf("%s: fees reduced below zero", ev.TxHash)
				}
			case "AssetPurchased":
				get(holding, addr(ev, "token")).Add(get(holding, addr(ev, "token")), u(ev, "tokensReceived"))
			case "AssetRedeemed", "WaterfallLiquidation":
				var amount *big.Int
				if ev.Name == "WaterfallLiquidation" {
					amount = u(ev, "amountLiquidated")
				} else {
					amount = u(ev, "tokenAmount")
				}
				if h := get(holding, addr(ev, "token")); neg(h.Sub(h, amount)) {
					return fmt.Errorf("%s: %s holding negative", ev.TxHash, addr(ev, "token"))
				}
			case "RedemptionRequested":
				id := u(ev, "requestId").Uint64()
				if id != nextID {
					return fmt.Errorf("%s: request %d, want %d", ev.TxHash, id, nextID)
				}
				nextID++
				st := "PENDING"
				if argOf(ev, "requiresApproval").Bool {
					st = "PENDING_APPROVAL"
				}
				reds[id] = &red{status: st, locked: u(ev, "lockedAmount"), shares: u(ev, "shares")}
			case "RedemptionApproved", "RedemptionRejected", "RedemptionCancelled", "RedemptionSettled":
				id := u(ev, "requestId").Uint64()
				r := reds[id]
				if r == nil {
					return fmt.Errorf("%s: %s of unknown request %d", ev.TxHash, ev.Name, id)
				}
				from := map[string][]string{
					"RedemptionApproved":  {"PENDING_APPROVAL"},
					"RedemptionRejected":  {"PENDING_APPROVAL"},
					"RedemptionCancelled": {"PENDING", "PENDING_APPROVAL", "APPROVED"},
					"RedemptionSettled":   {"PENDING", "APPROVED"},
				}[ev.Name]
				ok := false
				for _, f := range from {
					ok = ok || r.status == f
				}
				if !ok {
					return fmt.Errorf("%s: %s of request %d in status %s", ev.TxHash, ev.Name, id, r.status)
				}
				r.status = map[string]string{"RedemptionApproved": "APPROVED", "RedemptionRejected": "REJECTED", "RedemptionCancelled": "CANCELLED", "RedemptionSettled": "SETTLED"}[ev.Name]
				if ev.Name == "RedemptionSettled" {
					net := new(big.Int).Sub(u(ev, "grossAmount"), u(ev, "fee"))
					if u(ev, "grossAmount").Cmp(r.locked) != 0 || u(ev, "netAmount").Cmp(net) != 0 {
						return fmt.Errorf("%s: settlement amounts of request %d", ev.TxHash, id)
					}
					if u(&tx[i+1], "shares").Cmp(r.shares) != 0 {
						return fmt.Errorf("%s: request %d burns other shares than it locked", ev.TxHash, id)
					}
				}
			}
		}
		for a, l := range locked {
			if l.Cmp(get(bal, a)) > 0 {
				return fmt.Errorf("after tx %s: %s locks %s of a balance of %s", tx[0].TxHash, a, l, get(bal, a))
			}
		}
	}
	return nil
}
