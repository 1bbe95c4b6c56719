package node

import (
	"context"
	"sync"

	"paimon/raftstore"
)

// leaderLoop is the lifecycle of a piece of leader-only work that the node owns (the risk
// thresholds, the approval rules and ticks, the asset metadata): from start until Close, lead
// runs for each term this node leads, with a context that ends with the term
// (raftstore.WhileLeader). Embed it and call start from Start.
type leaderLoop struct {
	stop context.CancelFunc
	wg   sync.WaitGroup
}

func (l *leaderLoop) start(store *raftstore.Store, lead func(ctx context.Context)) {
	ctx, stop := context.WithCancel(context.Background())
	l.stop = stop
	changes, unsubscribe := store.SubscribeLeadership()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer unsubscribe()
		raftstore.WhileLeader(ctx, changes, lead)
	}()
}

// Close stops the work and waits for it; it is safe to call more than once.
func (l *leaderLoop) Close() error {
	if l.stop != nil {
		l.stop()
	}
	l.wg.Wait()
	return nil
}
