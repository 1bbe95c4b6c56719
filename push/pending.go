package push

import (
	"strconv"
	"time"

	"paimon/chainlog"
	"paimon/readmodel"
)

// Pending pushes unconfirmed chain events (ingest.PendingSink): each as a "pending" frame on
// transactions and on the account:{address} channels of its address arguments, its data the
// ledger entry it becomes once applied. Pending frames carry no seq and are not kept for
// resume: they are a preview, and the event arrives as an event frame with its seq once its
// block is confirmed and applied (or as "removed" if it leaves the chain first).
func (h *Hub) Pending(evs []chainlog.Event) {
	now := h.now().Unix()
	for i := range evs {
		ev := &evs[i]
		body, err := readmodel.LedgerJSONOf(ev, now)
		if err != nil {
			h.log.Warn("push: cannot render a pending event", "tx", ev.TxHash.Hex(), "log_index", ev.LogIndex, "err", err)
			continue
		}
		h.broadcastEvent("pending", ev, body)
	}
}

// Withdrawn pushes a "removed" frame for each pending event that left the chain before its
// confirmation (ingest.PendingSink); data names the event: {"txHash","logIndex","blockNumber"}.
func (h *Hub) Withdrawn(evs []chainlog.Event) {
	for i := range evs {
		ev := &evs[i]
		b := make([]byte, 0, 128)
		b = append(b, `{"txHash":"`...)
		b = append(b, ev.TxHash.Hex()...)
		b = append(b, `","logIndex":`...)
		b = strconv.AppendUint(b, ev.LogIndex, 10)
		b = append(b, `,"blockNumber":`...)
		b = strconv.AppendUint(b, ev.BlockNumber, 10)
		b = append(b, '}')
		h.broadcastEvent("removed", ev, b)
	}
}

// broadcastEvent queues a frame of typ about ev on the channels that carry pending events
// (transactions, and the account:{address} of each address of ev).
func (h *Hub) broadcastEvent(typ string, ev *chainlog.Event, data []byte) {
	at := time.Now().UnixNano()
	accts := readmodel.EventAccounts(ev)
	defer h.kickFlush()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range h.cat.pending {
		if !h.cat.chans[k].PerAddress() {
			h.broadcastLocked(h.subs[k], pendingFrame(typ, h.cat.channel(k, [20]byte{}), data), at)
			continue
		}
		for _, a := range accts {
			if subs := h.addrSubs[k][a]; len(subs) > 0 {
				h.broadcastLocked(subs, pendingFrame(typ, h.cat.channel(k, a), data), at)
			}
		}
	}
}

func (h *Hub) broadcastLocked(subs subscribers, f []byte, at int64) {
	if len(subs) == 0 {
		return
	}
	frames := [][]byte{f}
	for cn := range subs {
		if !cn.enqueue(frames, at) {
			h.m.slow.Inc()
		}
	}
	h.m.pending.Add(len(subs))
}
