package fund

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"paimon/chainlog"
	"paimon/kv"
	"paimon/risk"
	"paimon/version"
)

// TestFormatVersions: every command and record decoder accepts the versions up to the current
// one and refuses a newer one by name (ErrFutureFormat), and a version 0 as a bad encoding.
func TestFormatVersions(t *testing.T) {
	now := testNow * 1e9
	cmds := map[string][]byte{
		"logs":             EncodeLogs(&LogsCommand{Time: now, Events: []chainlog.Event{mk("Transfer", 1, 0, testNow, addr(1), addr(2), e18(1))}}),
		"prices":           EncodePrices(&PricesCommand{Time: now, Prices: []PriceUpdate{{Asset: addr(3).Hex(), Price: *e18(2), Time: testNow}}}),
		"audit":            EncodeAudit(&AuditCommand{Time: now, Actor: Actor{Name: "root", Role: "admin"}, Action: "x", Resource: "y"}),
		"sync mark":        EncodeSyncMark(1, now),
		"ingest":           EncodeIngest(&IngestCommand{Time: now, Head: BlockRef{Number: 1, Hash: common.Hash{1}}, Window: 8}),
		"nonce":            EncodeNonce(&NonceCommand{Time: now, Address: addr(1)}),
		"login":            EncodeLogin(&LoginCommand{Time: now, Address: addr(1)}),
		"touch":            EncodeTouch(&TouchCommand{Time: now}),
		"logout":           EncodeLogout(&LogoutCommand{Time: now}),
		"risk event":       EncodeRiskEvent(&RiskEventCommand{Time: now, Type: "PG_SYNC_LAG", Severity: SeverityWarning}),
		"risk resolve":     EncodeRiskResolve(&RiskResolveCommand{Time: now, ID: "1-i1-0"}),
		"role":             EncodeRole(&RoleCommand{Time: now, Address: addr(1), Role: "viewer"}),
		"risk thresholds":  EncodeRiskThresholds(&RiskThresholdsCommand{Time: now, Thresholds: risk.DefaultThresholds()}),
		"ticket retry":     EncodeTicketRetry(&TicketRetryCommand{Time: now, Actor: Actor{Name: "ops", Role: "operator"}, Ticket: "redemption-1"}),
		"rebalance plan":   EncodeRebalancePlan(&RebalancePlanCommand{Time: now, Actor: Actor{Name: "ops"}, Targets: [3]uint64{10_000}}),
		"rebalance run":    EncodeRebalanceExecute(&RebalanceExecuteCommand{Time: now, Actor: Actor{Name: "ops"}, PlanID: 1}),
		"rebalance cancel": EncodeRebalanceCancel(&RebalanceCancelCommand{Time: now, Actor: Actor{Name: "ops"}, PlanID: 1, Reason: "no"}),
	}
	for name, cmd := range cmds {
		t.Run("command "+name, func(t *testing.T) {
			newest := newestVersion(cmd[0]) // OrderedVersion for logs and prices
			if cmd[1] != newest {
				t.Fatalf("encoded with version %d, want %d", cmd[1], newest)
			}
			if _, err := newEnv(t).m.Apply(kv.NewMem(), 1, cmd); err != nil {
				t.Fatalf("current version refused: %v", err)
			}
			future := bytes.Clone(cmd)
			future[1] = newest + 1
			_, err := newEnv(t).m.Apply(kv.NewMem(), 1, future)
			want := fmt.Sprintf("format version %d, this release reads versions 1 to %d", newest+1, newest)
			if !errors.Is(err, ErrFutureFormat) || !errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), want) {
				t.Fatalf("a newer version: %v, want ErrFutureFormat naming it (%q)", err, want)
			}
			zero := bytes.Clone(cmd)
			zero[1] = 0
			if _, err := newEnv(t).m.Apply(kv.NewMem(), 1, zero); !errors.Is(err, ErrBadCommand) || errors.Is(err, ErrFutureFormat) {
				t.Fatalf("version 0: %v, want ErrBadCommand", err)
			}
		})
	}

	e := recordsEnv(t)
	kinds := map[byte]bool{}
	err := e.st.Scan(nil, nil, false, func(k, v []byte) bool {
		if !IsPrimaryRecord(k) || kinds[k[0]] {
			return true
		}
		kinds[k[0]] = true
		if _, _, err := DecodeRecord(k, v); err != nil {
			t.Errorf("record %q: current version refused: %v", k[:1], err)
		}
		future := bytes.Clone(v)
		future[0] = newestRecordVersion(k[0]) + 1
		if _, _, err := DecodeRecord(k, future); !errors.Is(err, ErrFutureFormat) || !errors.Is(err, ErrInvariant) {
			t.Errorf("record %q: a newer version: %v, want ErrFutureFormat", k[:1], err)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(kinds) < 10 {
		t.Fatalf("only %d record kinds in the sample state", len(kinds))
	}
}

// TestCommandVersion: v0.1.0's commands need the base cluster version; a command v0.1.0 could
// not apply (a new type, a newer version, the approver role) needs this release's.
func TestCommandVersion(t *testing.T) {
	now := testNow * 1e9
	for _, tc := range []struct {
		name string
		cmd  []byte
		want string
	}{
		{"logs", EncodeLogs(&LogsCommand{Time: now, Version: 1}), version.Base},
		{"logs in ledger order", EncodeLogs(&LogsCommand{Time: now}), version.Cluster},
		{"prices", EncodePrices(&PricesCommand{Time: now, Version: 1}), version.Base},
		{"prices refusing the future", EncodePrices(&PricesCommand{Time: now}), version.Cluster},
		{"operator role", EncodeRole(&RoleCommand{Time: now, Address: addr(1), Role: "operator"}), version.Base},
		{"role removed", EncodeRole(&RoleCommand{Time: now, Address: addr(1), Role: ""}), version.Base},
		{"approver role", EncodeRole(&RoleCommand{Time: now, Address: addr(1), Role: "approver"}), version.Cluster},
		{"logs version 2", append([]byte{CmdLogs, 2}, EncodeLogs(&LogsCommand{Time: now})[2:]...), version.Cluster},
		{"a type v0.1.0 lacks", []byte{11, 1, 0}, version.Cluster},
		{"ingest", EncodeIngest(&IngestCommand{Version: 1, Time: now}), version.Base},
		{"ingest with whole risk events", EncodeIngest(&IngestCommand{Time: now}), version.Cluster},
		{"asset metadata", EncodeAssetMeta(&AssetMetaCommand{Time: now}), version.Cluster},
		{"risk thresholds", EncodeRiskThresholds(&RiskThresholdsCommand{Time: now, Thresholds: risk.DefaultThresholds()}), version.Cluster},
		{"rebalance plan", EncodeRebalancePlan(&RebalancePlanCommand{Time: now}), version.Cluster},
		{"rebalance execute", EncodeRebalanceExecute(&RebalanceExecuteCommand{Time: now}), version.Cluster},
		{"rebalance cancel", EncodeRebalanceCancel(&RebalanceCancelCommand{Time: now}), version.Cluster},
	} {
		if got := CommandVersion(tc.cmd); got != tc.want {
			t.Errorf("%s: CommandVersion = %q, want %q", tc.name, got, tc.want)
		}
	}
}
