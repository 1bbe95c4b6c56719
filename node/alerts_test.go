package node

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"paimon/alerts"
	"paimon/alerts/alertstest"
	"paimon/chainlog"
	"paimon/fund"
	"paimon/fund/fundtest"
	"paimon/internal/testutil"
	"paimon/version"
)

// riskEvent is a CriticalLiquidityAlert log of its own transaction (seq names it) at the next
// block, at time t: a CHAIN risk event, CRITICAL, which raises an alert.
func riskEvent(t testing.TB, seq int, at time.Time) chainlog.Event {
	ev, err := fundtest.NewEvent("CriticalLiquidityAlert", 500+seq, 1000, fundtest.E18(1))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(fmt.Appendf(nil, "alert-test/%d/%d", seq, at.UnixNano()))
	ev.TxHash, ev.BlockNumber, ev.BlockTime = common.Hash(h), fundtest.NextBlock(), at.Unix()
	ev.BlockHash = common.Hash(sha256.Sum256(h[:]))
	return ev
}

// waitClusterVersion waits until node i applies this release's cluster version (alerts are
// raised from it on).
func (c *testCluster) waitClusterVersion(i int) {
	c.t.Helper()
	checkFor(c.t, 20*time.Second, func() error {
		if v := c.nodes[i].Store().ClusterVersion(); v != version.Cluster {
			return fmt.Errorf("cluster version %s", v)
		}
		return nil
	})
}

// TestAlertOutboxContract: the node's outbox over a real Raft store keeps the contract the
// Deliverer relies on (alertstest.TestOutbox). Alerts are raised as they are in production,
// from a risk event in an applied log.
func TestAlertOutboxContract(t *testing.T) {
	alertstest.TestOutbox(t, func(t *testing.T) (alerts.Outbox, func(alerts.Alert) alerts.Alert) {
		c := newCluster(t, 1)
		c.cfgs[0].Cluster.Join, c.cfgs[0].Cluster.BootstrapExpect = nil, 0 // a single node bootstraps itself
		c.start(0)
		c.waitLeader(10 * time.Second)
		c.waitClusterVersion(0)
		st := c.nodes[0].Store()
		ob := &alertOutbox{store: st, applyTimeout: 3 * time.Second, now: time.Now}
		seq := 0
		raise := func(a alerts.Alert) alerts.Alert {
			seq++
			ev := riskEvent(t, seq, a.Time)
			cmd := fund.EncodeLogs(&fund.LogsCommand{Time: time.Now().UnixNano(), Events: []chainlog.Event{ev}, ReorderWindow: fund.DefaultReorderWindow})
			if _, err := st.Propose(context.Background(), cmd); err != nil {
				t.Fatal(err)
			}
			v, err := st.Read()
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			as, err := fund.ReadAlerts(v, 0, 0)
			if err != nil || len(as) != seq {
				t.Fatalf("%d alerts after %d risk events: %v", len(as), seq, err)
			}
			return alertEntry(&as[len(as)-1]).Alert
		}
		return ob, raise
	})
}

// alertReceiver is a webhook receiver: it checks each request's signature and id, counts the
// attempts per alert id, and answers as its test says (200 by default).
type alertReceiver struct {
	t      *testing.T
	secret string
	// answer may write the response (it returns true then); attempt counts from 1 per id.
	answer func(id string, attempt int, w http.ResponseWriter) bool

	mu        sync.Mutex
	attempts  map[string]int
	delivered []string // ids answered 2xx, in order (an id twice when it was sent again)
	problems  []string
}

func newAlertReceiver(t *testing.T, secret string) *alertReceiver {
	return &alertReceiver{t: t, secret: secret, attempts: map[string]int{}}
}

func (rc *alertReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("X-Paimon-Alert-Id")
	var got struct{ ID, Severity, Source, Type string }
	rc.mu.Lock()
	if !alerts.Verify(rc.secret, body, r.Header.Get("X-Paimon-Signature")) {
		rc.problems = append(rc.problems, "bad signature on "+id)
	}
	if err := json.Unmarshal(body, &got); err != nil || got.ID != id || got.Source != "CHAIN" || got.Type != "CriticalLiquidityAlert" || got.Severity != "CRITICAL" {
		rc.problems = append(rc.problems, fmt.Sprintf("body %s for id %s", body, id))
	}
	rc.attempts[id]++
	n := rc.attempts[id]
	rc.mu.Unlock()
	if rc.answer != nil && rc.answer(id, n, w) {
		return
	}
	rc.mu.Lock()
	rc.delivered = append(rc.delivered, id)
	rc.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (rc *alertReceiver) state() (attempts map[string]int, delivered []string, problems []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	attempts = map[string]int{}
	for k, v := range rc.attempts {
		attempts[k] = v
	}
	return attempts, slices.Clone(rc.delivered), slices.Clone(rc.problems)
}

// listAlerts reads GET /v1/alerts on node i.
func (c *testCluster) listAlerts(i int) ([]map[string]any, error) {
	r, err := do("GET", c.url(i)+"/v1/alerts", viewerToken, nil)
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/alerts on node%d: %d %s", i+1, r.status, r.body)
	}
	var l struct{ Items []map[string]any }
	if err := json.Unmarshal(r.body, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// deliveries maps an alert's deliveries by webhook.
func deliveries(item map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	ds, _ := item["deliveries"].([]any)
	for _, d := range ds {
		m, _ := d.(map[string]any)
		out[fmt.Sprint(m["webhook"])] = m
	}
	return out
}

// TestAlertsDeliveredAcrossLeaders: risk events ingested by a 3-node cluster reach real
// webhook receivers, signed, from the leader: one receiver fails the first attempts of every
// alert; it also cuts the leader off (and the test kills it) after answering 200 to one alert
// and before the outcome can commit, and the new leader sends that alert again with the same
// id; a receiver down meanwhile gets every alert, in order, once it is up; a receiver answering
// 400 gets each alert once and the alert is marked FAILED. GET /v1/alerts shows the same on
// every node.
func TestAlertsDeliveredAcrossLeaders(t *testing.T) {
	const secret = "alert-secret-0123456789"
	flaky := newAlertReceiver(t, secret)
	strict := newAlertReceiver(t, secret)
	late := newAlertReceiver(t, secret)
	strict.answer = func(_ string, _ int, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "unknown schema")
		return true
	}
	c := newCluster(t, 3)
	var (
		armed  atomic.Bool // cut the leader off at the next alert flaky takes
		victim atomic.Int32
		cut    = make(chan string, 1)
	)
	flaky.answer = func(id string, attempt int, w http.ResponseWriter) bool {
		if attempt <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		if armed.CompareAndSwap(true, false) {
			flaky.mu.Lock()
			flaky.delivered = append(flaky.delivered, id)
			flaky.mu.Unlock()
			// The answer reaches the leader, which reads the body to its end, and so sees
			// it only once this handler returns: by then it is cut off and cannot commit
			// the outcome.
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			c.nets[victim.Load()].SetCut(true)
			cut <- id
			return true
		}
		return false
	}
	flakySrv := httptest.NewServer(flaky)
	defer flakySrv.Close()
	strictSrv := httptest.NewServer(strict)
	defer strictSrv.Close()
	lateAddr := freeAddr(t) // nothing listens there until the receiver comes up
	for _, cfg := range c.cfgs {
		cfg.Alerts.MinBackoff = 20 * time.Millisecond
		cfg.Alerts.MaxBackoff = 200 * time.Millisecond
		cfg.Alerts.AttemptTimeout = 2 * time.Second
		cfg.Alerts.PollInterval = 200 * time.Millisecond
		cfg.Alerts.PageSize = 2
		cfg.Alerts.Webhooks = []alerts.Webhook{
			{Name: "flaky", URL: flakySrv.URL, Secret: secret, MinSeverity: "INFO"},
			{Name: "strict", URL: strictSrv.URL, Secret: secret},
			{Name: "late", URL: "http://" + lateAddr + "/hook", Secret: secret, MinSeverity: "critical"},
		}
	}
	for i := range c.cfgs {
		c.start(i)
	}
	l := c.waitLeader(20 * time.Second)
	c.waitClusterVersion(l)
	start := time.Now()
	post := func(node, seq int) string {
		t.Helper()
		ev := riskEvent(t, seq, time.Now())
		raw, err := fundtest.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if r := c.do(node, "POST", "/v1/admin/logs", adminToken, fundtest.Body(raw)); r.status != http.StatusOK {
			t.Fatalf("post risk event %d: %d %s", seq, r.status, r.body)
		}
		return fmt.Sprintf("%d-%d-%s", ev.BlockNumber, ev.LogIndex, chainlog.HexHash(ev.TxHash)) // the risk event's id
	}
	flakyDelivered := func(id string) func() error {
		return func() error {
			l := c.leader()
			if l < 0 {
				return errors.New("no leader right now") // one stepped down (a starved machine): ask again
			}
			items, err := c.listAlerts(l)
			if err != nil {
				return err
			}
			for _, it := range items {
				if it["id"] == id && deliveries(it)["flaky"]["state"] == fund.AlertDelivered {
					return nil
				}
			}
			return fmt.Errorf("%s not delivered to flaky: %v", id, items)
		}
	}

	// term is the highest Raft term of the running nodes. Delivery is at least once: an alert
	// is sent exactly once only when leadership stays put from its post until its outcome
	// commits (flakyDelivered reads the committed outcome). On a starved machine a leader of
	// these short leases can lose its quorum for a moment; then a second delivery is correct.
	term := func() uint64 {
		var m uint64
		for _, n := range c.nodes {
			if n != nil {
				m = max(m, n.Store().Status().Term)
			}
		}
		return m
	}
	stable := map[string]bool{} // alerts delivered with no election between post and outcome

	// 1. The first alert: flaky fails twice, then takes it.
	before := term()
	id1 := post(l, 1)
	checkFor(t, 20*time.Second, flakyDelivered(id1))
	stable[id1] = term() == before

	// 2. The second: flaky takes it on the third attempt and cuts the leader off before the
	// outcome commits; the test kills it. The new leader sends it again, with the same id.
	victim.Store(int32(l))
	armed.Store(true)
	id2 := post(l, 2)
	select {
	case got := <-cut:
		if got != id2 {
			t.Fatalf("cut the leader off at %s, want %s", got, id2)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("flaky never took the second alert")
	}
	c.stop(l)
	nl := c.waitLeader(20 * time.Second)
	checkFor(t, 20*time.Second, flakyDelivered(id2))

	// 3. A third alert on the new leader; then the late receiver comes up and gets all three.
	before = term()
	id3 := post(nl, 3)
	checkFor(t, 20*time.Second, flakyDelivered(id3))
	stable[id3] = term() == before
	ln, err := net.Listen("tcp", lateAddr)
	if err != nil {
		t.Fatal(err)
	}
	lateSrv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: late}}
	lateSrv.Start()
	defer lateSrv.Close()
	want := []string{id1, id2, id3}
	checkFor(t, 20*time.Second, func() error {
		if _, d, _ := late.state(); !slices.Equal(d, want) {
			return fmt.Errorf("late got %v, want %v in order", d, want)
		}
		return nil
	})

	// 4. The killed node comes back; every node lists the same outcomes.
	c.nets[l] = testutil.NewCutNetwork()
	c.start(l)
	checkFor(t, 30*time.Second, func() error {
		for i := range c.nodes {
			items, err := c.listAlerts(i)
			if err != nil {
				return err
			}
			if len(items) != 3 {
				return fmt.Errorf("node%d lists %d alerts", i+1, len(items))
			}
			for k, it := range items { // newest first
				d := deliveries(it)
				if it["id"] != want[2-k] || d["flaky"]["state"] != fund.AlertDelivered || d["late"]["state"] != fund.AlertDelivered ||
					d["strict"]["state"] != fund.AlertFailed || d["strict"]["status"] != 400.0 {
					return fmt.Errorf("node%d: alert %d = %v", i+1, k, it)
				}
			}
		}
		return nil
	})

	attempts, delivered, problems := flaky.state()
	if len(problems) > 0 {
		t.Errorf("flaky: %v", problems)
	}
	seen := map[string]int{}
	for _, id := range delivered {
		seen[id]++
	}
	for _, id := range []string{id1, id3} {
		switch {
		case stable[id] && (attempts[id] != 3 || seen[id] != 1):
			t.Errorf("flaky: %s attempted %d times, taken %d: want 3 (two 503s first), taken once", id, attempts[id], seen[id])
		case !stable[id] && (attempts[id] < 3 || seen[id] < 1):
			t.Errorf("flaky: %s attempted %d times, taken %d: want at least 3, taken at least once", id, attempts[id], seen[id])
		case !stable[id]:
			t.Logf("an election while %s was delivered: attempted %d times, taken %d (at least once)", id, attempts[id], seen[id])
		}
	}
	if attempts[id2] < 4 || seen[id2] < 2 {
		t.Errorf("flaky: %s attempted %d times, taken %d: want at least 4 and twice (before the kill and from the new leader)", id2, attempts[id2], seen[id2])
	}
	t.Logf("3 alerts delivered across a leader kill in %s; flaky attempts %v", time.Since(start).Round(time.Millisecond), attempts)
	attempts, _, problems = strict.state()
	once := func(id string) bool { return attempts[id] == 1 || !stable[id] && attempts[id] >= 1 }
	if len(problems) > 0 || !once(id1) || attempts[id2] > 2 || !once(id3) {
		t.Errorf("strict: attempts %v (a 400 is not retried), problems %v", attempts, problems)
	}
	if _, _, problems = late.state(); len(problems) > 0 {
		t.Errorf("late: %v", problems)
	}
}
