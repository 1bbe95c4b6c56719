package executor

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Status is what the executor reports for GET /v1/system/health: as the leader sees it (a
// follower's executor does not run: Leading false, the rest zero).
type Status struct {
	Leading bool
	// RPCs is the number of endpoints; RPCsDown those whose last call failed (a transport
	// error, a timeout; a revert or a refused transaction is an answer).
	RPCs, RPCsDown int
	// Open is the number of open intents (SIGNED, SENT, MINED) at the last round; Stuck those
	// not mined after 3 × replace_after (still SIGNED: never sent; SENT: replacements did not
	// help, or the fee caps stop them).
	Open, Stuck int
}

// stuckAfter is how many replace_after periods an open intent may wait before it counts as
// stuck: one to be sent and mined, one for a replacement, one more to be sure.
const stuckAfter = 3

// monitor holds the executor's status and metrics (names under paimon_executor_).
type monitor struct {
	rpcDown []atomic.Bool
	leading atomic.Bool

	mu          sync.Mutex
	open, stuck int

	states       map[string]*metrics.Counter
	replacements *metrics.Counter
	mined        *metrics.PrometheusHistogram
}

func newMonitor(set *metrics.Set, rpcs int) *monitor {
	m := &monitor{rpcDown: make([]atomic.Bool, rpcs), states: map[string]*metrics.Counter{}}
	for _, s := range []string{StateSigned, StateSent, StateMined, StateConfirmed, StateFailed} {
		m.states[s] = set.GetOrCreateCounter(`paimon_executor_transactions_total{state="` + s + `"}`)
	}
	m.replacements = set.GetOrCreateCounter("paimon_executor_replacements_total")
	m.mined = set.GetOrCreatePrometheusHistogram("paimon_executor_intent_to_mined_seconds")
	set.GetOrCreateGauge("paimon_executor_leading", func() float64 { return b2f(m.leading.Load()) })
	set.GetOrCreateGauge("paimon_executor_open_intents", func() float64 { return float64(m.status().Open) })
	set.GetOrCreateGauge("paimon_executor_stuck_intents", func() float64 { return float64(m.status().Stuck) })
	set.GetOrCreateGauge("paimon_executor_rpcs_down", func() float64 { return float64(m.status().RPCsDown) })
	return m
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// rpc notes the outcome of a call to endpoint i.
func (m *monitor) rpc(i int, err error) { m.rpcDown[i].Store(err != nil) }

// rpcOrder lists the endpoints to try: those whose last call answered, then those whose last
// call failed, each in the configured order.
func (m *monitor) rpcOrder() []int {
	order := make([]int, 0, len(m.rpcDown))
	for _, down := range []bool{false, true} {
		for i := range m.rpcDown {
			if m.rpcDown[i].Load() == down {
				order = append(order, i)
			}
		}
	}
	return order
}

// state counts a state this executor committed.
func (m *monitor) state(s string) {
	if c := m.states[s]; c != nil {
		c.Inc()
	}
}

// round notes the open intents a leader's round saw.
func (m *monitor) round(intents []Intent, now time.Time, replaceAfter time.Duration) {
	open, stuck := 0, 0
	for i := range intents {
		t := &intents[i]
		if !t.open() {
			continue
		}
		open++
		if t.State != StateMined && now.Sub(t.Created) >= stuckAfter*replaceAfter {
			stuck++
		}
	}
	m.mu.Lock()
	m.open, m.stuck = open, stuck
	m.mu.Unlock()
}

// setLeading notes the start or end of a term; a follower reports nothing of its own.
func (m *monitor) setLeading(b bool) {
	m.leading.Store(b)
	if !b {
		m.mu.Lock()
		m.open, m.stuck = 0, 0
		m.mu.Unlock()
		for i := range m.rpcDown {
			m.rpcDown[i].Store(false)
		}
	}
}

func (m *monitor) status() Status {
	s := Status{Leading: m.leading.Load(), RPCs: len(m.rpcDown)}
	for i := range m.rpcDown {
		if m.rpcDown[i].Load() {
			s.RPCsDown++
		}
	}
	m.mu.Lock()
	s.Open, s.Stuck = m.open, m.stuck
	m.mu.Unlock()
	return s
}

// Status reports the executor as this node sees it (see Status).
func (e *Executor) Status() Status { return e.mon.status() }
