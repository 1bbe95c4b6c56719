package chaos

import (
	"errors"
	"strings"
	"testing"
	"time"

	"paimon/internal/testutil"
)

// TestWaitingStacks: from a goroutine dump, the failure report keeps the goroutines of Raft,
// raftstore and Pebble, the longest waits first, and leaves out the rest.
func TestWaitingStacks(t *testing.T) {
	dump := `
goroutine 1 [running]:
main.main()

goroutine 7 [select, 3 minutes]:
github.com/hashicorp/raft.(*Raft).runFSM(0xc000)

goroutine 9 [chan send, 12 minutes]:
github.com/hashicorp/raft.(*Raft).processLogs(0xc000)

goroutine 11 [IO wait]:
net.(*netFD).Read()

goroutine 12 [sync.Cond.Wait]:
github.com/cockroachdb/pebble.(*DB).makeRoomForWrite()
`
	got := waitingStacks(dump, 400)
	want := []string{"goroutine 9 [chan send, 12 minutes]", "goroutine 7 [select, 3 minutes]", "goroutine 12 [sync.Cond.Wait]"}
	last := -1
	for _, w := range want {
		i := strings.Index(got, w)
		if i < 0 || i < last {
			t.Fatalf("want %q after the previous one in:\n%s", w, got)
		}
		last = i
	}
	for _, out := range []string{"goroutine 1 ", "goroutine 11 "} {
		if strings.Contains(got, out) {
			t.Fatalf("%q kept:\n%s", out, got)
		}
	}
	if got := waitingStacks(dump, 0); !strings.Contains(got, "more goroutines left out") {
		t.Fatalf("no cut at the limit:\n%s", got)
	}
}

// TestQuitWithStacks: a node asked for its stacks (what a failed run does before it reports)
// prints the Go runtime's goroutine dump into its log and exits, and the report finds its
// Raft goroutines in it.
func TestQuitWithStacks(t *testing.T) {
	c := newCluster(t, nil)
	c.start(0)
	n := c.nodes[0]
	testutil.CheckFor(t, 30*time.Second, func() error {
		if !strings.Contains(n.logText(), "raft store open") {
			return errors.New("node1 has not opened its raft store yet")
		}
		return nil
	})
	n.quitWithStacks()
	if n.running() {
		t.Fatal("node1 still runs after SIGQUIT")
	}
	_, stacks, ok := strings.Cut(n.logText(), "SIGQUIT: quit")
	if !ok {
		t.Fatalf("no goroutine dump in node1's log:\n%s", tail(n.logText(), 20))
	}
	if s := waitingStacks(stacks, 400); !strings.Contains(s, "hashicorp/raft") {
		t.Fatalf("no Raft goroutine picked from the dump:\n%s", tail(stacks, 40))
	}
}
