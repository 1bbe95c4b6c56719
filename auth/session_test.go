package auth

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"paimon/kv"
)

// emptyReplica is a replica with no sessions whose leader barrier is counted.
type emptyReplica struct {
	st       *kv.Mem
	catchUps atomic.Int32
	fail     bool
}

func (r *emptyReplica) ReadState() (kv.Reader, func(), error) { return r.st, func() {}, nil }
func (r *emptyReplica) CatchUp(context.Context) error {
	r.catchUps.Add(1)
	if r.fail {
		return errors.New("no leader")
	}
	return nil
}

// TestUnknownSessionBudget: a session token unknown here is checked against the leader at most
// as often as the client address's budget allows; past it, it is refused as an invalid session
// without a call; when the leader cannot be reached, the answer is the replica's error.
func TestUnknownSessionBudget(t *testing.T) {
	a, err := New(Config{UnknownSessions: Budget{Rate: 0.001, Burst: 2}}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	rep := &emptyReplica{st: kv.NewMem()}
	var p Principal
	tok := []byte(SessionPrefix + "00000000000000000000000000000000000000000000000000000000000000aa")
	if err := a.Authenticate(tok, true, a.Now(), &p); !errors.Is(err, ErrSessionInvalid) {
		t.Fatalf("before Bind: %v", err)
	}
	a.Bind(rep)
	if err := a.Authenticate(tok, true, a.Now(), &p); !errors.Is(err, ErrSessionUnknown) {
		t.Fatalf("unknown session: %v, want ErrSessionUnknown", err)
	}
	var ip1, ip2 [32]byte
	IPStringKey(&ip1, "203.0.113.1")
	IPStringKey(&ip2, "203.0.113.2")
	for i := range 4 {
		err := a.CheckUnknownSession(context.Background(), tok, &ip1, a.Now(), &p)
		if !errors.Is(err, ErrSessionInvalid) || errors.Is(err, ErrSessionUnknown) {
			t.Fatalf("check %d: %v, want an invalid session", i, err)
		}
	}
	if n := rep.catchUps.Load(); n != 2 {
		t.Fatalf("%d calls to the leader for 4 checks from one address with a burst of 2", n)
	}
	if err := a.CheckUnknownSession(context.Background(), tok, &ip2, a.Now(), &p); !errors.Is(err, ErrSessionInvalid) || rep.catchUps.Load() != 3 {
		t.Fatalf("another address: %v, %d calls", err, rep.catchUps.Load())
	}
	rep.fail = true
	var ip3 [32]byte
	IPStringKey(&ip3, "203.0.113.3")
	if err := a.CheckUnknownSession(context.Background(), tok, &ip3, a.Now(), &p); err == nil || errors.Is(err, ErrAuthInvalid) {
		t.Fatalf("leader unreachable: %v, want the replica's error, not a refusal", err)
	}
}
