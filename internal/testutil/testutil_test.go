package testutil

import "testing"

// TestFreePortNeverRepeats draws far more ports than the birthday bound of the range allows
// without a repeat (2,000 of ~12,000 would repeat ~150 times by chance).
func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 2000 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}
