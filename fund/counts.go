package fund

import (
	"fmt"

	"paimon/kv"
)

// RedemptionCounts counts the redemptions of r by status through the status index (keys only):
// Open are those still owed (PENDING, PENDING_APPROVAL, APPROVED), Total all of them, every
// status included (every RedemptionRequested the ledger holds, and the redemptions an event of
// an unknown request created). For metrics; it scans the index, so its cost grows with the
// number of redemptions.
func RedemptionCounts(r kv.Reader) (open, total int, err error) {
	err = r.Scan([]byte{pRedStatus}, []byte{pRedStatus + 1}, false, func(k, _ []byte) bool {
		total++
		if len(k) > 1 && statusOpen(k[1]) {
			open++
		}
		return true
	})
	if err != nil {
		return 0, 0, fmt.Errorf("fund: scan: %w", err)
	}
	return open, total, nil
}
