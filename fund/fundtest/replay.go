package fundtest

import (
	"fmt"
	"reflect"

	"paimon/chainlog"
	"paimon/fund"
	"paimon/kv"
	"paimon/readmodel"
)

// Replay applies raw logs, in order, to a fresh state machine, skipping the ones the registry
// cannot decode (as the node does), and returns the state: what a node that saw exactly these
// logs holds.
func Replay(reg *chainlog.Registry, logs []chainlog.RawLog) (*kv.Mem, error) {
	var evs []chainlog.Event
	for i := range logs {
		ev, err := reg.Decode(&logs[i])
		if err != nil {
			continue
		}
		evs = append(evs, ev)
	}
	st := kv.NewMem()
	m := fund.NewMachine(fund.Info{}, readmodel.NewViews(fund.Info{}), nil)
	res, err := m.Apply(st, 1, fund.EncodeLogs(&fund.LogsCommand{Time: 1, Events: evs}))
	if err != nil {
		return nil, err
	}
	if lr, ok := res.(*fund.LogsResult); !ok || lr.Accepted != len(evs) {
		return nil, fmt.Errorf("replay: %v", res)
	}
	return st, m.EndBatch(st, 1)
}

// ChainRecords decodes every primary record of a state that the chain's events determine (all
// but the ingest checkpoint, the audit log, the asset metadata the leader proposes (from its
// configuration or eth_call; it changes the books only for decimals other than 18), the
// executor's transaction intents and the
// risk events that commands raised rather
// than chain events: RULE ones when an indicator crossed a threshold, which depend on the
// commands the logs came in, and SYSTEM ones), with the fund's update time cleared (it is the
// command's time, not the chain's), keyed by state key.
func ChainRecords(r kv.Reader) (map[string]any, error) {
	out := map[string]any{}
	var derr error
	err := r.Scan(nil, nil, false, func(k, v []byte) bool {
		typ := fund.RecordType(k)
		if typ == "" || typ == fund.RecIngest || typ == fund.RecAudit || typ == fund.RecAssetMeta || typ == fund.RecTxIntent {
			return true
		}
		rec, _, err := fund.DecodeRecord(k, v)
		if err != nil {
			derr = err
			return false
		}
		if f, ok := rec.(*fund.FundRecord); ok {
			f.UpdatedAt = 0
		}
		if e, ok := rec.(*fund.RiskEventRecord); ok && e.Source != "CHAIN" {
			return true
		}
		out[string(k)] = rec
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}

// CompareChainRecords reports the first difference between the records of two states (see
// ChainRecords), or nil when they hold the same.
func CompareChainRecords(got, want kv.Reader) error {
	g, err := ChainRecords(got)
	if err != nil {
		return err
	}
	w, err := ChainRecords(want)
	if err != nil {
		return err
	}
	if len(w) == 0 {
		return fmt.Errorf("the expected state holds no record")
	}
	for k, wv := range w {
		if gv, ok := g[k]; !ok || !reflect.DeepEqual(gv, wv) {
			return fmt.Errorf("%s %x: have %+v, want %+v", fund.RecordType([]byte(k)), k, gv, wv)
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			return fmt.Errorf("unexpected %s %x", fund.RecordType([]byte(k)), k)
		}
	}
	return nil
}
