package rebalance_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"paimon/rebalance"
)

// FuzzParsePreview: a preview body parses into targets that sum to 10000 (or none), or is a
// *RequestError naming a parameter; never a panic. A parsed body re-encoded parses the same.
func FuzzParsePreview(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"targetRatios":{"L1":4000,"L2":3000,"L3":3000}}`,
		`{"targetRatios":{"L1":10000,"L2":0,"L3":0}}`, `{"targetRatios":{"L1":4000,"L2":3000}}`,
		`{"targetRatios":{"L1":4000,"L2":3000,"L3":3001}}`, `{"targetRatios":{"L1":-1,"L2":5001,"L3":5000}}`,
		`{"targetRatios":{"L1":4e3,"L2":3000,"L3":3000}}`, `{"targetRatios":{"L4":1}}`, `{"targetRatios":null}`,
		`{"other":1}`, `{"targetRatios":{"L1":"4000","L2":3000,"L3":3000}}`, `{} {}`, `[`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := rebalance.ParsePreview(body)
		if err != nil {
			var re *rebalance.RequestError
			if !errors.As(err, &re) || re.Param == "" || re.Message == "" {
				t.Fatalf("error %v is not a RequestError", err)
			}
			return
		}
		if req.Targets == nil {
			return
		}
		tg := *req.Targets
		if tg[0]+tg[1]+tg[2] != 10_000 {
			t.Fatalf("targets %v", tg)
		}
		b, _ := json.Marshal(map[string]any{"targetRatios": map[string]uint64{"L1": tg[0], "L2": tg[1], "L3": tg[2]}})
		again, err := rebalance.ParsePreview(b)
		if err != nil || *again.Targets != tg {
			t.Fatalf("round trip of %s: %v", b, err)
		}
	})
}

// FuzzParseExecute: a plan id, or a *RequestError.
func FuzzParseExecute(f *testing.F) {
	for _, s := range []string{`{"planId":"42"}`, `{"planId":42}`, `{"planId":"0"}`, `{"planId":"042"}`, `{"planId":null}`,
		`{}`, ``, `{"planId":"18446744073709551616"}`, `{"planId":"1","x":1}`, `{"planId":1.5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := rebalance.ParseExecute(body)
		if err != nil {
			var re *rebalance.RequestError
			if !errors.As(err, &re) || re.Param == "" {
				t.Fatalf("error %v is not a RequestError", err)
			}
			return
		}
		if req.PlanID == 0 {
			t.Fatal("plan id 0 accepted")
		}
	})
}

// FuzzParseCancel: a reason within its bound, or a *RequestError naming a parameter; a parsed
// reason re-encoded parses the same.
func FuzzParseCancel(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"reason":"targets under review"}`, `{"reason":null}`, `{"reason":1}`,
		`{"reason":"\xff"}`, `{"reason":"` + strings.Repeat("x", rebalance.MaxCancelReason+1) + `"}`, `{"why":"x"}`, `{} {}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := rebalance.ParseCancel(body)
		if err != nil {
			var re *rebalance.RequestError
			if !errors.As(err, &re) || re.Param == "" || re.Message == "" {
				t.Fatalf("error %v is not a RequestError", err)
			}
			return
		}
		if len(req.Reason) > rebalance.MaxCancelReason || !utf8.ValidString(req.Reason) {
			t.Fatalf("reason %q accepted", req.Reason)
		}
		b, _ := json.Marshal(map[string]string{"reason": req.Reason})
		if again, err := rebalance.ParseCancel(b); err != nil || again != req {
			t.Fatalf("round trip of %s: %v", b, err)
		}
	})
}
