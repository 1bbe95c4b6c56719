package chaos

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// registerModel is a per-key max-register (see history_test.go): the input is the op, the
// output unused; the state is the greatest seq written so far.
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[int][]porcupine.Operation{}
		var keys []int
		for _, o := range history {
			k := o.Input.(op).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], o)
		}
		sort.Ints(keys)
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return int64(0) },
	Step: func(state, input, _ any) (bool, any) {
		s, o := state.(int64), input.(op)
		if o.Kind == opWrite {
			return true, max(s, o.Seq)
		}
		return o.Seq == s, s
	},
	Equal: func(a, b any) bool { return a == b },
	DescribeOperation: func(input, _ any) string {
		o := input.(op)
		if o.Kind == opWrite {
			ack := "acked"
			if !o.OK {
				ack = "unknown: " + o.Err
			}
			return fmt.Sprintf("n%d write k%d=%d (%s)", o.Node+1, o.Key, o.Seq, ack)
		}
		return fmt.Sprintf("n%d %s read k%d -> %d (index %d)", o.Node+1, o.Kind, o.Key, o.Seq, o.Index)
	},
	DescribeState: func(s any) string { return fmt.Sprint(s) },
}

// verdict is the outcome of checking a history.
type verdict struct {
	Linearizable porcupine.CheckResult // writes + linearizable reads
	Leader       porcupine.CheckResult // writes + leader reads
	LocalErrors  []string              // local reads that went back in time or read an uncommitted write
	infos        map[opKind]porcupine.LinearizationInfo
}

func (v verdict) ok() bool {
	return v.Linearizable == porcupine.Ok && v.Leader == porcupine.Ok && len(v.LocalErrors) == 0
}

// checkHistory checks the recorded operations; committed is the set of seqs every node holds
// after the campaign (a local read may only show one of those).
func checkHistory(history []op, committed map[int64]bool, timeout time.Duration) verdict {
	var end int64
	for _, o := range history {
		end = max(end, o.Return)
	}
	v := verdict{infos: map[opKind]porcupine.LinearizationInfo{}}
	for _, level := range []opKind{opReadLinearizable, opReadLeader} {
		var ops []porcupine.Operation
		for _, o := range history {
			if o.Kind != opWrite && o.Kind != level {
				continue
			}
			ret := o.Return
			if o.Kind == opWrite && !o.OK {
				if !committed[o.Seq] {
					continue // no node holds it after the campaign: it never took effect
				}
				ret = end + int64(time.Hour) // it took effect at some time after its call
			}
			ops = append(ops, porcupine.Operation{ClientId: o.Client, Input: o, Call: o.Call, Return: ret})
		}
		res, info := porcupine.CheckOperationsVerbose(registerModel, ops, timeout)
		v.infos[level] = info
		if level == opReadLinearizable {
			v.Linearizable = res
		} else {
			v.Leader = res
		}
	}
	v.LocalErrors = checkLocal(history, committed)
	return v
}

// checkLocal checks local reads: on one node and key, a read that starts after another ended
// never shows an older price; and every price read was committed.
func checkLocal(history []op, committed map[int64]bool) []string {
	type nk struct{ node, key int }
	reads := map[nk][]op{}
	var errs []string
	for _, o := range history {
		if o.Kind != opReadLocal {
			continue
		}
		if o.Seq != 0 && !committed[o.Seq] {
			errs = append(errs, fmt.Sprintf("node%d local read of key %d showed write %d, which no node holds after the campaign", o.Node+1, o.Key, o.Seq))
		}
		reads[nk{o.Node, o.Key}] = append(reads[nk{o.Node, o.Key}], o)
	}
	for k, rs := range reads {
		byReturn := append([]op(nil), rs...)
		sort.Slice(byReturn, func(i, j int) bool { return byReturn[i].Return < byReturn[j].Return })
		sort.Slice(rs, func(i, j int) bool { return rs[i].Call < rs[j].Call })
		var seen op // the read with the greatest seq among those returned before the current call
		j := 0
		for _, r := range rs {
			for ; j < len(byReturn) && byReturn[j].Return < r.Call; j++ {
				if byReturn[j].Seq > seen.Seq {
					seen = byReturn[j]
				}
			}
			if r.Seq < seen.Seq {
				errs = append(errs, fmt.Sprintf("node%d local read of key %d went back in time: %d at %s after %d at %s",
					k.node+1, k.key, r.Seq, time.Duration(r.Call), seen.Seq, time.Duration(seen.Return)))
			}
		}
	}
	sort.Strings(errs)
	return errs
}

// writeFailure writes the history (JSON) and porcupine's visualisation of the failing level
// (HTML) and returns their paths.
func writeFailure(dir string, seed int64, history []op, v verdict) (string, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	base := filepath.Join(dir, fmt.Sprintf("paimon-chaos-%d", seed))
	b, err := json.MarshalIndent(struct {
		Seed    int64    `json:"seed"`
		Verdict verdict  `json:"verdict"`
		Ops     []op     `json:"ops"`
		Local   []string `json:"localErrors"`
	}{seed, v, history, v.LocalErrors}, "", " ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(base+"-history.json", b, 0o644); err != nil {
		return "", err
	}
	files := base + "-history.json"
	for level, info := range v.infos {
		res := v.Linearizable
		if level == opReadLeader {
			res = v.Leader
		}
		if res == porcupine.Ok {
			continue
		}
		p := fmt.Sprintf("%s-%s.html", base, level)
		if err := porcupine.VisualizePath(registerModel, info, p); err != nil {
			return files, err
		}
		files += ", " + p
	}
	return files, nil
}
