package readmodel

import "testing"

func TestFees(t *testing.T) {
	e := newEnv(t)
	e.check("no fees", e.json(Fees(e.st)), expect{"accumulated.redemption": 0, "withdrawable.redemption": 0, "withdrawn.management": 0, "rates.management": nil})
	e.logs(
		mk("RedemptionFeeAdded", 1, 0, testNow, u(30)),
		mk("ManagementFeeCollected", 1, 1, testNow, u(7), u(1000), 86400),
		mk("RedemptionFeeAdded", 2, 0, testNow+10, u(12)),
		mk("RedemptionFeeReduced", 3, 0, testNow+20, u(25)),
		mk("PerformanceFeeCollected", 3, 1, testNow+20, u(5), u(50), u(1)),
		mk("ManagementFeeCollected", 4, 0, testNow+30, u(3), u(1000), 86400),
	)
	e.check("fees", e.json(Fees(e.st)), expect{
		"accumulated.management": 10, "accumulated.performance": 5, "accumulated.redemption": 42,
		"withdrawable.management": 0, "withdrawable.performance": 0, "withdrawable.redemption": 17,
		"withdrawn.management": 10, "withdrawn.performance": 5, "withdrawn.redemption": 25,
		"rates.management": nil, "rates.performance": nil, "rates.redemption": nil,
	})
}
