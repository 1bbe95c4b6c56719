package alertstest

import (
	"testing"

	"paimon/alerts"
)

func TestMemOutbox(t *testing.T) {
	TestOutbox(t, func(t *testing.T) (alerts.Outbox, func(alerts.Alert) alerts.Alert) {
		ob := &MemOutbox{}
		return ob, ob.Raise
	})
}
