package systest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"paimon/auth"
	"paimon/internal/chainsim"
	"paimon/internal/fundchain"
	"paimon/internal/testutil"
	"paimon/version"
)

// rpcProxy stands between one node and the simulated chain's JSON-RPC endpoint, so that the
// test decides what that node's executor can send: everything (proxyPass), nothing
// (proxyRefuseSend: eth_sendRawTransaction answered 503, counted in refused), or one
// transaction after which the node dies (proxyKillOnSend: the transaction reaches the chain,
// then onSend runs, a kill -9, before the node sees the answer).
type rpcProxy struct {
	target  string
	srv     *http.Server
	url     string
	mode    atomic.Int32
	refused atomic.Int64
	sent    atomic.Int64
	mu      sync.Mutex
	onSend  func()
	seen    []common.Hash // transactions sent or refused, see hashes
}

const (
	proxyPass int32 = iota
	proxyRefuseSend
	proxyKillOnSend
)

func newRPCProxy(t *testing.T, target string) *rpcProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &rpcProxy{target: target, url: "http://" + ln.Addr().String()}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go p.srv.Serve(ln)
	t.Cleanup(func() { p.srv.Close() })
	return p
}

var proxyClient = &http.Client{Timeout: 10 * time.Second}

func (p *rpcProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	txs := rawTransactions(body)
	send := len(txs) > 0
	if send {
		p.mu.Lock()
		for _, h := range txs {
			if !slices.Contains(p.seen, h) {
				p.seen = append(p.seen, h)
			}
		}
		p.mu.Unlock()
	}
	mode := p.mode.Load()
	if send && mode == proxyRefuseSend {
		p.refused.Add(1)
		http.Error(w, "the test refuses this node's transactions", http.StatusServiceUnavailable)
		return
	}
	resp, err := proxyClient.Post(p.target, "application/json", bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if send {
		p.sent.Add(1)
		if mode == proxyKillOnSend && p.mode.CompareAndSwap(proxyKillOnSend, proxyPass) {
			p.mu.Lock()
			f := p.onSend
			p.mu.Unlock()
			if f != nil {
				f()
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

// rawTransactions returns the hashes of the transactions a JSON-RPC request (one call or a
// batch) sends with eth_sendRawTransaction.
func rawTransactions(body []byte) []common.Hash {
	type call struct {
		Method string
		Params []string
	}
	var calls []call
	if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '[' {
		_ = json.Unmarshal(b, &calls)
	} else {
		var one call
		_ = json.Unmarshal(b, &one)
		calls = append(calls, one)
	}
	var out []common.Hash
	for _, c := range calls {
		if c.Method != "eth_sendRawTransaction" || len(c.Params) != 1 {
			continue
		}
		tx := new(types.Transaction)
		raw, err := hexutil.Decode(c.Params[0])
		if err == nil && tx.UnmarshalBinary(raw) == nil {
			out = append(out, tx.Hash())
		} else {
			out = append(out, common.Hash{}) // counted, and never an intent's hash
		}
	}
	return out
}

// hashes returns the distinct transactions the node behind the proxy tried to send since the
// last call, and forgets them.
func (p *rpcProxy) hashes() []common.Hash {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.seen
	p.seen = nil
	return out
}

// TestExecutorKill9AroundBroadcast is issue 12's "kill -9 of the leader after the
// quorum-reaching approval, before and after broadcast" on three real paimon processes whose
// executors and ingest reach the simulated chain over HTTP JSON-RPC, each through its own
// proxy. Three tickets (redemptions over the threshold), each approved by two approvers
// through the two followers; the leader is killed with SIGKILL:
//
//   - before: the intent is committed (SIGNED) and its broadcast refused by the leader's
//     proxy; killed on the first refused eth_sendRawTransaction;
//   - during: its eth_sendRawTransaction reaches the chain, and the leader dies before it
//     sees the answer (its intent SIGNED in Raft, the transaction in the chain's pool);
//   - after: blocks paused, the leader broadcasts and commits SENT (seen in GET
//     /v1/executor/transactions) and dies before any receipt; blocks resume only once the new
//     leader has broadcast again (it must send the recorded bytes, not sign anew).
//
// Each time the killed node is started again on its data, and: exactly one
// RedemptionApproved log for the request on chain (eth_getLogs), the ticket EXECUTED on every
// node (executed by that transaction), one intent for the ticket with one signed attempt,
// mined under its recorded hash at the nonce it recorded, the executor account's nonce on
// chain up by exactly one, and no node sent (or tried to send) any other transaction.
func TestExecutorKill9AroundBroadcast(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const seed = 12
	admin, exec, user := fundchain.DerivedKey("admin", seed), fundchain.DerivedKey("executor", seed), fundchain.DerivedKey("user", seed)
	scfg := chainsim.DefaultConfig()
	scfg.BlockInterval, scfg.Rate, scfg.Seed = 0, 0, seed // blocks from mine below, which can pause
	for _, k := range []*ecdsa.PrivateKey{admin, exec, user} {
		scfg.Accounts = append(scfg.Accounts, crypto.PubkeyToAddress(k.PublicKey))
	}
	scfg.Logger = testutil.Logger(t, "chainsim", slog.LevelWarn)
	sim, err := chainsim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	var paused atomic.Bool
	mining := make(chan struct{})
	go func() {
		defer close(mining)
		for ctx.Err() == nil {
			if !paused.Load() {
				if err := sim.Mine(ctx, 1); err != nil && ctx.Err() == nil {
					t.Errorf("mine: %v", err)
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	defer func() { cancel(); <-mining }()
	client, err := ethclient.DialContext(ctx, sim.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	f, err := fundchain.Deploy(ctx, &fundchain.Chain{Backend: client}, admin, fundchain.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	execAddr := crypto.PubkeyToAddress(exec.PublicKey)
	if err := f.GrantExecutor(ctx, admin, execAddr); err != nil {
		t.Fatal(err)
	}
	if err := f.Faucet(ctx, user, fundchain.E18(5_000_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Deposit(ctx, user, fundchain.E18(4_000_000)); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "executor.key")
	if err := crypto.SaveECDSA(keyFile, exec); err != nil {
		t.Fatal(err)
	}

	// Three processes, each ingesting and executing through its own proxy; two approvers.
	c := newProcessCluster(t)
	ann, annSum := auth.NewToken()
	ben, benSum := auth.NewToken()
	proxies := make([]*rpcProxy, 3)
	for i := range 3 {
		proxies[i] = newRPCProxy(t, sim.URL())
		extra := fmt.Sprintf(`
[[auth.tokens]]
name = "ann"
role = "approver"
sha256 = %q

[[auth.tokens]]
name = "ben"
role = "approver"
sha256 = %q

[executor]
key_file = %q

[keeper]
settle_interval = "0s"

%s`, annSum, benSum, keyFile, strings.Replace(sim.ConfigSnippetFor(2, f.ContractConfigs()), sim.URL(), proxies[i].url, 1))
		appendFile(t, c.args[i][2], extra)
		c.start(i)
	}
	c.waitLeader(30 * time.Second)
	for i := range 3 {
		c.waitFor(i, 30*time.Second, "/v1/cluster/status", func(b []byte) error {
			var st struct{ ClusterVersion string }
			if err := json.Unmarshal(b, &st); err != nil || st.ClusterVersion != version.Cluster {
				return fmt.Errorf("cluster version %q, want %s", st.ClusterVersion, version.Cluster)
			}
			return nil
		})
	}

	rm := f.Addr.Of(fundchain.RedemptionManager)
	approved := fundchain.ABI(fundchain.RedemptionManager).Events["RedemptionApproved"].ID
	intents := 0
	var killedAt time.Time
	for _, tc := range []struct {
		name string
		kill func(l int, ticket string)
	}{
		{"before broadcast", func(l int, ticket string) {
			waitUntil(t, 30*time.Second, "a refused broadcast", func() bool { return proxies[l].refused.Load() > 0 })
			c.procs[l].kill9()
			killedAt = time.Now()
		}},
		{"during broadcast", func(l int, ticket string) {
			<-c.procs[l].done // killed by the proxy
			killedAt = time.Now()
			if proxies[l].sent.Load() == 0 {
				t.Fatal("the leader died before its broadcast")
			}
		}},
		{"after broadcast", func(l int, ticket string) {
			c.waitFor(l, 30*time.Second, "/v1/executor/transactions", func(b []byte) error {
				if it, err := intentOf(b, ticket); err != nil || it.State != "SENT" {
					return fmt.Errorf("intent of %s: %+v %v", ticket, it, err)
				}
				return nil
			})
			others := func() int64 { return proxies[(l+1)%3].sent.Load() + proxies[(l+2)%3].sent.Load() }
			before := others()
			c.procs[l].kill9()
			killedAt = time.Now()
			// Blocks stay paused until the new leader has looked at the intent a few times
			// (its executor polls every 500 ms): it must send the recorded bytes again, not
			// sign anything new.
			waitUntil(t, 30*time.Second, "a new leader", func() bool {
				n := c.leader()
				return n >= 0 && n != l
			})
			waitUntil(t, 10*time.Second, "the new leader's rebroadcast", func() bool {
				return others() > before
			})
			time.Sleep(time.Second)
			paused.Store(false)
		}},
	} {
		// Over the default large amount (1,000,000 USDT), so two approvals are needed from the
		// first entry on, before and after the leader replicates its [approvals] rules.
		id, _, err := f.RequestRedemption(ctx, user, fundchain.E18(int64(1_100_000+10_000*intents)), fundchain.ChannelStandard)
		if err != nil {
			t.Fatal(err)
		}
		ticket := "redemption-" + id.String()
		for i := range 3 {
			c.waitFor(i, 30*time.Second, "/v1/approvals/"+ticket, ticketIs("PENDING", ""))
		}
		for _, p := range proxies {
			p.hashes() // this ticket's transactions only
		}
		nonce, err := client.NonceAt(ctx, execAddr, nil)
		if err != nil {
			t.Fatal(err)
		}
		l := c.waitLeader(20 * time.Second)
		f1, f2 := (l+1)%3, (l+2)%3
		c.decide(f1, ann, ticket, "PARTIALLY_APPROVED")
		switch tc.name {
		case "before broadcast":
			proxies[l].mode.Store(proxyRefuseSend)
		case "during broadcast":
			proc := c.procs[l]
			proxies[l].mu.Lock()
			proxies[l].onSend = func() { proc.cmd.Process.Signal(syscall.SIGKILL) }
			proxies[l].mu.Unlock()
			proxies[l].mode.Store(proxyKillOnSend)
		case "after broadcast":
			paused.Store(true)
		}
		start := time.Now()
		c.decide(f2, ben, ticket, "APPROVED") // acknowledged: committed
		tc.kill(l, ticket)
		killed := killedAt.Sub(start)
		proxies[l].mode.Store(proxyPass)
		c.start(l)
		intents++
		c.waitFor(f1, 30*time.Second, "/v1/approvals/"+ticket, ticketIs("EXECUTED", ""))
		logs, err := client.FilterLogs(ctx, ethereum.FilterQuery{Addresses: []common.Address{rm},
			Topics: [][]common.Hash{{approved}, {common.BigToHash(id)}}})
		if err != nil || len(logs) != 1 {
			t.Fatalf("%s: %d RedemptionApproved logs for %s (%v), want exactly 1", tc.name, len(logs), id, err)
		}
		for i := range 3 {
			c.waitFor(i, 30*time.Second, "/v1/approvals/"+ticket, ticketIs("EXECUTED", logs[0].TxHash.Hex()))
		}
		after, err := client.NonceAt(ctx, execAddr, nil)
		if err != nil || after != nonce+1 {
			t.Fatalf("%s: the executor's nonce went from %d to %d (%v): want exactly one transaction", tc.name, nonce, after, err)
		}
		for i := range 3 {
			c.waitFor(i, 30*time.Second, "/v1/executor/transactions", func(b []byte) error {
				var page struct{ Items []json.RawMessage }
				if err := json.Unmarshal(b, &page); err != nil || len(page.Items) != intents {
					return fmt.Errorf("%d intents, want %d: %s", len(page.Items), intents, b)
				}
				it, err := intentOf(b, ticket)
				switch {
				case err != nil:
					return err
				case it.State != "MINED" && it.State != "CONFIRMED":
					return fmt.Errorf("intent %+v", it)
				case len(it.Attempts) != 1 || it.Nonce != nonce || it.Hash != logs[0].TxHash.Hex() || it.Attempts[0].Hash != it.Hash:
					return fmt.Errorf("intent %+v: want one attempt at nonce %d, mined as %s", it, nonce, logs[0].TxHash.Hex())
				}
				return nil
			})
		}
		// Every transaction any node sent (or tried to) for the ticket is the intent's one.
		var sent []string
		for _, p := range proxies {
			for _, h := range p.hashes() {
				if !slices.Contains(sent, h.Hex()) {
					sent = append(sent, h.Hex())
				}
			}
		}
		if len(sent) != 1 || sent[0] != logs[0].TxHash.Hex() {
			t.Fatalf("%s: transactions sent %v, want only the mined %s", tc.name, sent, logs[0].TxHash.Hex())
		}
		t.Logf("%s: node%d killed %s after the quorum-reaching approval; one RedemptionApproved (%s), the ticket EXECUTED on every node",
			tc.name, l+1, killed.Round(time.Millisecond), logs[0].TxHash.Hex())
	}
}

// ticketIs checks a ticket's status, its quorum of two and, unless txHash is "", the hash of
// the transaction that executed it.
func ticketIs(status, txHash string) func([]byte) error {
	return func(b []byte) error {
		var tk struct {
			Status            string
			RequiredApprovals int
			Execution         *struct{ TxHash string }
		}
		if err := json.Unmarshal(b, &tk); err != nil {
			return err
		}
		if tk.RequiredApprovals != 2 {
			return fmt.Errorf("ticket %s needs %d approvals, want 2 (a large amount)", b, tk.RequiredApprovals)
		}
		if tk.Status != status || (txHash != "" && (tk.Execution == nil || !strings.EqualFold(tk.Execution.TxHash, txHash))) {
			return fmt.Errorf("ticket %s, want %s executed by %s", b, status, txHash)
		}
		return nil
	}
}

// executorIntent is the part of an item of GET /v1/executor/transactions the test checks.
type executorIntent struct {
	Reference string
	State     string
	Nonce     uint64
	Hash      string
	Attempts  []struct{ Hash string }
}

// intentOf finds the intent of a decision's reference in a page of GET
// /v1/executor/transactions; it fails when there is none or more than one.
func intentOf(page []byte, reference string) (executorIntent, error) {
	var p struct{ Items []executorIntent }
	if err := json.Unmarshal(page, &p); err != nil {
		return executorIntent{}, err
	}
	var found []executorIntent
	for _, it := range p.Items {
		if it.Reference == reference {
			found = append(found, it)
		}
	}
	if len(found) != 1 {
		return executorIntent{}, fmt.Errorf("%d intents for %s", len(found), reference)
	}
	return found[0], nil
}

// decide approves a ticket through node i with an approver's token until the node answers 200
// with the status wanted.
func (c *processCluster) decide(i int, token, ticket, want string) {
	c.t.Helper()
	var last string
	waitUntil(c.t, 20*time.Second, "approval of "+ticket, func() bool {
		status, b, err := c.procs[i].do("POST", "/v1/approvals/"+ticket+"/approve", token, `{"reason":"checked"}`)
		last = fmt.Sprintf("%d %s %v", status, b, err)
		return err == nil && status == 200 && bytes.Contains(b, []byte(`"status":"`+want+`"`))
	}, &last)
}

// waitFor polls GET path on node i (with the admin token) until check accepts the body.
func (c *processCluster) waitFor(i int, timeout time.Duration, path string, check func([]byte) error) {
	c.t.Helper()
	var last string
	waitUntil(c.t, timeout, fmt.Sprintf("node%d GET %s", i+1, path), func() bool {
		status, b, err := c.procs[i].do("GET", path, c.token, "")
		if err == nil && status == 200 {
			if err = check(b); err == nil {
				return true
			}
		}
		last = fmt.Sprintf("%d %v", status, err)
		return false
	}, &last)
}

// waitUntil polls cond every 50 ms and fails the test after timeout, with *last if given.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool, last ...*string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			if len(last) > 0 {
				msg = ": " + *last[0]
			}
			t.Fatalf("%s: not after %s%s", what, timeout, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// appendFile appends text to a file.
func appendFile(t *testing.T, path, text string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}
