package push

import "github.com/VictoriaMetrics/metrics"

// hubMetrics are the paimon_push_* metrics.
type hubMetrics struct {
	opened, closedConns, refusedConns  *metrics.Counter
	published, delivered, replayed     *metrics.Counter
	slow, writeErrors, resets          *metrics.Counter
	refused, overflows, renderErrors   *metrics.Counter
	pending, writes                    *metrics.Counter
	publishLag, deliveryLag, flushPass *metrics.Histogram
	overFrames, overQueue              *metrics.Counter
}

// overBudget counts a connection closed (1008) for exceeding budget (budgetFrames,
// budgetQueue).
func (m *hubMetrics) overBudget(budget string) *metrics.Counter {
	if budget == budgetFrames {
		return m.overFrames
	}
	return m.overQueue
}

func newHubMetrics(set *metrics.Set) *hubMetrics {
	if set == nil {
		set = metrics.NewSet()
	}
	return &hubMetrics{
		opened:       set.GetOrCreateCounter("paimon_push_connections_opened_total"),
		closedConns:  set.GetOrCreateCounter("paimon_push_connections_closed_total"),
		refusedConns: set.GetOrCreateCounter("paimon_push_connections_refused_total"),
		published:    set.GetOrCreateCounter("paimon_push_messages_published_total"),
		delivered:    set.GetOrCreateCounter("paimon_push_messages_delivered_total"),
		replayed:     set.GetOrCreateCounter("paimon_push_messages_replayed_total"),
		pending:      set.GetOrCreateCounter("paimon_push_pending_messages_total"),
		writes:       set.GetOrCreateCounter("paimon_push_socket_writes_total"),
		slow:         set.GetOrCreateCounter("paimon_push_slow_consumers_total"),
		writeErrors:  set.GetOrCreateCounter("paimon_push_write_errors_total"),
		resets:       set.GetOrCreateCounter("paimon_push_resets_total"),
		refused:      set.GetOrCreateCounter("paimon_push_frames_refused_total"),
		overflows:    set.GetOrCreateCounter("paimon_push_overflows_total"),
		renderErrors: set.GetOrCreateCounter("paimon_push_render_errors_total"),
		overFrames:   set.GetOrCreateCounter(`paimon_push_over_budget_total{budget="frames"}`),
		overQueue:    set.GetOrCreateCounter(`paimon_push_over_budget_total{budget="queue"}`),
		// apply → hub goroutine, and apply → written to the client's socket
		publishLag:  set.GetOrCreateHistogram("paimon_push_publish_seconds"),
		deliveryLag: set.GetOrCreateHistogram("paimon_push_delivery_seconds"),
		// how long a flush pass takes (every marked connection written once)
		flushPass: set.GetOrCreateHistogram("paimon_push_flush_pass_seconds"),
	}
}
