package testutil

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestField(t *testing.T) {
	var doc any
	if err := json.Unmarshal([]byte(`{"tiers":{"L1":{"value":"5"}},"items":[{"status":"OPEN"},{"n":1e21}]}`), &doc); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]any{
		"tiers.L1.value": "5", "items.0.status": "OPEN", "items.1.n": 1e21,
		"items.2.status": nil, "items.-1": nil, "items.x": nil, "tiers.L2": nil, "tiers.L1.value.more": nil,
	} {
		if got := Field(doc, path); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Field(%q) = %v, want %v", path, got, want)
		}
	}
	CheckFields(t, "doc", doc, Fields{"items.1.n": "1000000000000000000000", "tiers.L1.value": 5})
}
