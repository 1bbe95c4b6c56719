package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// watcher follows one node's `approvals` channel over WebSocket and notes when each ticket
// turned EXECUTED there. A `reset` (a command too large to stream) is answered by reading the
// EXECUTED tickets over HTTP, which stamps those not seen yet with the time of that read.
type watcher struct {
	c    *cluster
	n    *node
	conn *websocket.Conn
	done chan struct{}

	mu       sync.Mutex
	executed map[string]time.Time
	resets   int
	err      error
}

func watch(ctx context.Context, c *cluster, n *node) (*watcher, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.DialContext(ctx, "ws://"+n.httpAddr+"/v1/ws", http.Header{"Authorization": {"Bearer " + c.admin}})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: WebSocket: %w", n.id, err)
	}
	if err := conn.WriteJSON(map[string]any{"op": "subscribe", "channels": []string{"approvals"}}); err != nil {
		conn.Close()
		return nil, err
	}
	var first struct{ Type string }
	if err := conn.ReadJSON(&first); err != nil || first.Type != "subscribed" {
		conn.Close()
		return nil, fmt.Errorf("%s: subscribe to approvals: %q %v", n.id, first.Type, err)
	}
	w := &watcher{c: c, n: n, conn: conn, done: make(chan struct{}), executed: map[string]time.Time{}}
	go w.read(ctx)
	return w, nil
}

func (w *watcher) read(ctx context.Context) {
	defer close(w.done)
	for {
		_, b, err := w.conn.ReadMessage()
		at := time.Now()
		if err != nil {
			w.mu.Lock()
			if ctx.Err() == nil && w.err == nil {
				w.err = err
			}
			w.mu.Unlock()
			return
		}
		var m struct {
			Type string `json:"type"`
			Data struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"data"`
		}
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch m.Type {
		case "event":
			if m.Data.Status == "EXECUTED" {
				w.note(m.Data.ID, at)
			}
		case "reset":
			w.mu.Lock()
			w.resets++
			w.mu.Unlock()
			err := w.c.pages(ctx, w.n, "/v1/approvals?status=EXECUTED", w.c.admin, func(raw json.RawMessage) error {
				var t struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(raw, &t); err != nil {
					return err
				}
				w.note(t.ID, time.Now())
				return nil
			})
			if err != nil && ctx.Err() == nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
			}
		}
	}
}

func (w *watcher) note(id string, at time.Time) {
	w.mu.Lock()
	if _, ok := w.executed[id]; !ok {
		w.executed[id] = at
	}
	w.mu.Unlock()
}

// executedAt returns when the ticket turned EXECUTED on this node.
func (w *watcher) executedAt(id string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.executed[id]
	return t, ok
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.executed)
}

func (w *watcher) close() {
	w.conn.Close()
	<-w.done
}
