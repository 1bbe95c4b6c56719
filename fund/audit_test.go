package fund

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestAuditCommand(t *testing.T) {
	e := newEnv(t)
	root := Actor{Name: "root", Role: "admin", IP: "10.0.0.9", UserAgent: "curl/8"}
	cmd := EncodeAudit(&AuditCommand{Time: 1_767_225_600e9, Actor: root, Action: "cluster.join", Resource: "node4",
		After: []byte(`{"id":"node4","raftAddr":"10.0.0.4:7000"}`)})
	if _, ok := e.apply(cmd).(*AuditResult); !ok {
		t.Fatal("audit command refused")
	}
	body, err := Audit(e.st, AuditFilter{}, Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Items) != 1 {
		t.Fatalf("audit list %s: %v", body, err)
	}
	got := page.Items[0]
	for k, want := range map[string]any{"actor": "root", "role": "admin", "action": "cluster.join", "resource": "node4", "ip": "10.0.0.9", "time": "2026-01-01T00:00:00Z"} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if after, _ := got["after"].(map[string]any); after["id"] != "node4" {
		t.Errorf("after = %v", got["after"])
	}

	before := e.dump()
	for name, c := range map[string]*AuditCommand{
		"no actor":       {Time: 1, Action: "x"},
		"no action":      {Time: 1, Actor: root},
		"after not JSON": {Time: 1, Actor: root, Action: "x", After: []byte("{")},
	} {
		var ve *ValidationError
		if res := e.apply(EncodeAudit(c)); !errors.As(res.(error), &ve) {
			t.Fatalf("%s: result %v", name, res)
		}
	}
	if after := e.dump(); after != before {
		t.Fatal("a refused audit command changed the state")
	}
	// Strict decoding: truncated and trailing bytes are errors, never a silent skip.
	if _, err := DecodeAudit(cmd[:len(cmd)-1]); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("truncated: %v", err)
	}
	if _, err := DecodeAudit(append(append([]byte(nil), cmd...), 0)); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("trailing byte: %v", err)
	}
}
