package fundtest

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"paimon/chainlog"
)

// eventNames lists every event in a fixed order (map iteration order must not reach the
// generated data).
var eventNames = func() []string {
	names := chainlog.EventNames()
	sort.Strings(names)
	return names
}()

// RandomEvents returns n decoded events, deterministic in seed, for state-machine benchmarks
// and property tests: the first ones cover every event of EVENTS.md once (in a shuffled
// order), the rest are drawn uniformly. Arguments come from small pools (50 holders, 4 tokens,
// request ids up to n/8) so that events interact; amounts are 0.001–1,000 tokens, ratios and
// allocations in basis points, times near the block time, channels and tiers 0–2. A
// transaction holds two events on average and a block two transactions. Some balances may
// go "negative" (a holder sending shares it never received), which the fund allows.
func RandomEvents(seed int64, n int) []chainlog.Event {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	c := NewChain(ChainConfig{Seed: seed})
	holders := make([]common.Address, 50)
	for i := range holders {
		holders[i] = Addr(fmt.Sprintf("fundtest random %d: holder %d", seed, i))
	}
	tokens := make([]common.Address, 4)
	for i := range tokens {
		tokens[i] = Addr(fmt.Sprintf("fundtest random %d: token %d", seed, i))
	}
	maxID := max(n/8, 1)
	order := rng.Perm(len(eventNames))
	for i := 0; i < n; i++ {
		name := eventNames[rng.IntN(len(eventNames))]
		if i < len(order) {
			name = eventNames[order[i]]
		}
		if i > 0 && rng.IntN(2) == 0 {
			if rng.IntN(2) == 0 {
				c.NextBlock()
			}
			c.NewTx()
		}
		c.Emit(name, randomArgs(rng, chainlog.SpecByName(name), c.Now(), holders, tokens, maxID)...)
	}
	return c.events
}

func randomArgs(rng *rand.Rand, s *chainlog.Spec, now int64, holders, tokens []common.Address, maxID int) []any {
	args := make([]any, len(s.Args))
	for i, a := range s.Args {
		name := strings.ToLower(a.Name)
		switch a.Type {
		case chainlog.ArgAddress:
			switch {
			case name == "token" || name == "asset":
				args[i] = tokens[rng.IntN(len(tokens))]
			case name == "from" || name == "to":
				if rng.IntN(4) == 0 {
					args[i] = common.Address{} // mint or burn
					continue
				}
				args[i] = holders[rng.IntN(len(holders))]
			default:
				args[i] = holders[rng.IntN(len(holders))]
			}
		case chainlog.ArgUint256:
			switch {
			case name == "requestid":
				args[i] = 1 + rng.IntN(maxID)
			case name == "period":
				args[i] = 30 * day
			case strings.Contains(name, "time"):
				args[i] = now + rng.Int64N(8*day)
			case strings.Contains(name, "nav") || name == "price" || name == "newhighwatermark":
				args[i] = new(uint256.Int).Add(oneE18, uint256.NewInt(rng.Uint64N(1e17)))
			case strings.Contains(name, "ratio") || strings.Contains(name, "allocation") || name == "threshold":
				args[i] = rng.Uint64N(10_001)
			case name == "windowid":
				args[i] = rng.Uint64N(60)
			default:
				args[i] = new(uint256.Int).Mul(uint256.NewInt(1+rng.Uint64N(1_000_000)), uint256.NewInt(1e15))
			}
		case chainlog.ArgUint8:
			args[i] = rng.IntN(3)
		case chainlog.ArgBool:
			args[i] = rng.IntN(2) == 0
		case chainlog.ArgString:
			args[i] = []string{"", "kyc", "limit reached", "compliance review"}[rng.IntN(4)]
		}
	}
	return args
}
