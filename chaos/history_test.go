package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/crypto"
)

// The register of the campaign: each key is an asset's current price. A write is a price point
// at a unique time (the write's seq, in seconds after base) whose price is the seq too, and the
// current price is the point with the latest time (fund/oracle.go priceIsNewer), so the model
// is a max-register: a write replaces the state only if its seq is greater. A read returns the
// seq of the current price, 0 when the asset has none.

// opKind is what an operation did.
type opKind string

const (
	opWrite opKind = "write"
	// the three read levels of docs/API.md "Consistency"
	opReadLinearizable opKind = "linearizable"
	opReadLeader       opKind = "leader"
	opReadLocal        opKind = "local"
)

// op is one recorded operation.
type op struct {
	Client int    `json:"client"`
	Node   int    `json:"node"` // the node the client sent it to
	Kind   opKind `json:"kind"`
	Key    int    `json:"key"`
	Seq    int64  `json:"seq"` // written, or read (0: no price)
	Call   int64  `json:"call"`
	Return int64  `json:"return"` // math.MaxInt64-ish for a write whose outcome is unknown
	OK     bool   `json:"ok"`     // acknowledged (writes); reads are recorded only when answered
	// NoLeader: a write answered 503 NO_LEADER, which says it was not proposed (docs/API.md):
	// it must not be applied (TestCampaign asserts it; chaos/DESIGN.md Findings 3).
	NoLeader bool `json:"noLeader,omitempty"`
	// DiskFull: a write answered 503 UNAVAILABLE with details.reason "disk_full", refused
	// before the log by a leader short of space: it must not be applied either.
	DiskFull bool   `json:"diskFull,omitempty"`
	Index    uint64 `json:"index"` // X-Paimon-Index of the answer
	Served   string `json:"served,omitempty"`
	Err      string `json:"err,omitempty"`
}

// recorder collects the operations of every client.
type recorder struct {
	start time.Time
	mu    sync.Mutex
	ops   []op
}

func (r *recorder) now() int64 { return int64(time.Since(r.start)) }

func (r *recorder) add(o op) {
	r.mu.Lock()
	r.ops = append(r.ops, o)
	r.mu.Unlock()
}

func (r *recorder) history() []op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]op(nil), r.ops...)
}

// workload is the clients' shared setup.
type workload struct {
	c    *cluster
	rec  *recorder
	keys []string // asset addresses
	base time.Time
	seq  atomic.Int64
	// plantLocalAsLinearizable is the planted bug: the clients send linearizable reads as
	// local ones but record them as linearizable, as a node serving them locally would.
	plantLocalAsLinearizable bool
	// sessions: each node's session client signs in and uses the session elsewhere.
	sessions sessionStats
	// withSessions runs the session clients (the campaign, not the planted test).
	withSessions bool
}

func newWorkload(c *cluster, keys int) *workload {
	w := &workload{c: c, rec: &recorder{start: time.Now()}, base: time.Now().Add(-72 * time.Hour).Truncate(time.Second)}
	w.sessions.fails = map[string]int{}
	for k := range keys {
		w.keys = append(w.keys, fmt.Sprintf("0x%040x", 0xc4a0500+k))
	}
	return w
}

// write posts one price and records it.
func (w *workload) write(client, node int, rng *rand.Rand) {
	key := rng.IntN(len(w.keys))
	seq := w.seq.Add(1)
	body := fmt.Sprintf(`{"prices":[{"asset":%q,"price":"%d","time":%q}]}`, w.keys[key], seq, w.base.Add(time.Duration(seq)*time.Second).Format(time.RFC3339))
	o := op{Client: client, Node: node, Kind: opWrite, Key: key, Seq: seq, Call: w.rec.now()}
	status, b, idx, err := w.c.do(node, "POST", "/v1/admin/prices", body)
	o.Return = w.rec.now()
	switch {
	case err == nil && status == 200:
		o.OK, o.Index = true, idx
	case err != nil && isRefused(err):
		return // never reached a node: not applied, nothing to check
	case err != nil:
		o.Err = err.Error()
	default:
		o.Err = fmt.Sprintf("%d %s", status, b)
		o.NoLeader = status == 503 && strings.Contains(string(b), `"NO_LEADER"`)
		o.DiskFull = status == 503 && strings.Contains(string(b), `"reason":"disk_full"`)
	}
	w.rec.add(o)
}

// isRefused reports whether the connection was refused: the request never left the client.
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// read reads one key at a level and records it when answered.
func (w *workload) read(client, node int, kind opKind, rng *rand.Rand) {
	key := rng.IntN(len(w.keys))
	level := string(kind)
	if kind == opReadLinearizable && w.plantLocalAsLinearizable {
		level = "local"
	}
	o := op{Client: client, Node: node, Kind: kind, Key: key, Call: w.rec.now()}
	status, b, idx, err := w.c.do(node, "GET", "/v1/prices/"+w.keys[key]+"?consistency="+level, "")
	o.Return = w.rec.now()
	if err != nil || (status != 200 && status != 404) {
		return // a refused or lost read has no effect: nothing to check
	}
	o.OK, o.Index = true, idx
	if status == 200 {
		var p struct{ Price string }
		if err := json.Unmarshal(b, &p); err != nil {
			return
		}
		o.Seq, _ = strconv.ParseInt(p.Price, 10, 64)
	}
	w.rec.add(o)
}

// run runs one writer and one reader per node until stop is closed; reads cycle through the
// three levels.
func (w *workload) run(seed int64, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	levels := []opKind{opReadLinearizable, opReadLeader, opReadLocal}
	roles := 2
	if w.withSessions {
		roles = 3
	}
	for n := range w.c.nodes {
		for role := range roles {
			client := n*roles + role
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(client)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					switch role {
					case 0:
						w.write(client, n, rng)
					case 1:
						w.read(client, n, levels[i%3], rng)
					case 2:
						w.session(n, rng)
						time.Sleep(200 * time.Millisecond)
					}
					time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond)
				}
			}()
		}
	}
	return &wg
}

// sessionStats counts the session clients' logins and uses.
type sessionStats struct {
	mu                 sync.Mutex
	logins, loginFails int
	uses, useRefused   int            // answered 200; refused with a 5xx (no leader, unknown)
	invalid            []string       // a use answered 401 after its login was acknowledged: never
	fails              map[string]int // login failures by answer
}

func (s *sessionStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("sessions logins=%d login-failures=%d uses=%d uses-refused=%d uses-invalid=%d", s.logins, s.loginFails, s.uses, s.useRefused, len(s.invalid))
}

// session signs in with a new wallet on node (nonce, personal_sign, login: docs/API.md) and
// uses the session on another node (GET /v1/auth/me): a session whose login was acknowledged
// is known on every node (a node that does not know it yet catches up before refusing it).
func (w *workload) session(node int, rng *rand.Rand) {
	st := &w.sessions
	fail := func(what string) {
		st.mu.Lock()
		st.loginFails++
		st.fails[what]++
		st.mu.Unlock()
	}
	key, err := crypto.GenerateKey()
	if err != nil {
		panic(err)
	}
	addr := strings.ToLower(crypto.PubkeyToAddress(key.PublicKey).Hex())
	status, b, _, err := w.c.doAs(node, "", "POST", "/v1/auth/nonce", fmt.Sprintf(`{"address":%q}`, addr))
	var nonce struct{ Nonce, Message string }
	if err != nil || status != 200 || json.Unmarshal(b, &nonce) != nil {
		fail(fmt.Sprintf("nonce %d", status))
		return
	}
	sig, err := crypto.Sign(accounts.TextHash([]byte(nonce.Message)), key)
	if err != nil {
		panic(err)
	}
	sig[64] += 27
	status, b, _, err = w.c.doAs(node, "", "POST", "/v1/auth/login", fmt.Sprintf(`{"address":%q,"nonce":%q,"signature":"0x%x"}`, addr, nonce.Nonce, sig))
	var login struct{ Token string }
	if err != nil || status != 200 || json.Unmarshal(b, &login) != nil || login.Token == "" {
		fail(fmt.Sprintf("login %d", status))
		return
	}
	st.mu.Lock()
	st.logins++
	st.mu.Unlock()
	other := (node + 1 + rng.IntN(len(w.c.nodes)-1)) % len(w.c.nodes)
	status, b, _, err = w.c.doAs(other, login.Token, "GET", "/v1/auth/me", "")
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case err == nil && status == 200:
		st.uses++
	case err == nil && status == 401:
		st.invalid = append(st.invalid, fmt.Sprintf("%s: session from node%d refused by node%d at %s: %s", addr, node+1, other+1, time.Duration(w.rec.now()), b))
	default:
		st.useRefused++
	}
}
