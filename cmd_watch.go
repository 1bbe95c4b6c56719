package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"

	"paimon/node"
)

const watchUsage = `usage:
  paimon watch [-url ws://127.0.0.1:8080/v1/ws] [-token T] [-since N] [-reconnect] CHANNEL...
      subscribe to push channels (fund:overview, fund:nav, prices, redemptions, transactions,
      account:0x...) and print every frame as a line of JSON. The token (default $PAIMON_TOKEN,
      else ./data/admin.token when it exists) is sent in an auth frame; redemptions,
      transactions and other accounts need viewer. With -reconnect it reconnects after a drop
      and resumes with since = the last seq it printed.
`

func watch(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, watchUsage) }
	url := fs.String("url", "ws://127.0.0.1:8080/v1/ws", "the node's WebSocket endpoint")
	token := fs.String("token", os.Getenv("PAIMON_TOKEN"), "API or session token (default $PAIMON_TOKEN, else data/admin.token)")
	since := fs.Int64("since", -1, "resume after this seq (default: live only)")
	reconnect := fs.Bool("reconnect", false, "reconnect after a drop, resuming after the last seq printed")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	channels := fs.Args()
	if len(channels) == 0 {
		fmt.Fprint(stderr, watchUsage)
		return 2
	}
	if *token == "" {
		if b, err := os.ReadFile(filepath.Join("data", node.LocalAdminTokenFile)); err == nil {
			*token = strings.TrimSpace(string(b))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := watcher{url: *url, token: *token, channels: channels, out: stdout, errOut: stderr, last: *since}
	for attempt := 0; ; attempt++ {
		err := w.session(ctx)
		if ctx.Err() != nil {
			return 0
		}
		fmt.Fprintf(stderr, "paimon watch: %v\n", err)
		var fatal *fatalWatchError
		if !*reconnect || errors.As(err, &fatal) {
			return 1
		}
		d := min(time.Duration(1<<min(attempt, 5))*250*time.Millisecond, 5*time.Second)
		fmt.Fprintf(stderr, "paimon watch: reconnecting in %s (since %d)\n", d, w.last)
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(d):
		}
	}
}

// fatalWatchError is a refusal a reconnect cannot fix (a bad token, an unknown channel).
type fatalWatchError struct{ msg string }

func (e *fatalWatchError) Error() string { return e.msg }

type watcher struct {
	url, token  string
	channels    []string
	out, errOut io.Writer
	last        int64 // the last seq printed, -1 for none
}

func (w *watcher) session(ctx context.Context) error {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.DialContext(ctx, w.url, nil)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			msg := fmt.Sprintf("%s: %s %s", w.url, resp.Status, strings.TrimSpace(string(body)))
			if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests {
				return &fatalWatchError{msg}
			}
			return errors.New(msg)
		}
		return err
	}
	defer ws.Close()
	go func() {
		<-ctx.Done()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = ws.Close()
	}()
	if w.token != "" {
		if err := ws.WriteJSON(map[string]string{"op": "auth", "token": w.token}); err != nil {
			return err
		}
	}
	sub := map[string]any{"op": "subscribe", "channels": w.channels}
	if w.last >= 0 {
		sub["since"] = w.last
	}
	if err := ws.WriteJSON(sub); err != nil {
		return err
	}
	for {
		_, p, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		fmt.Fprintln(w.out, string(p))
		var f struct {
			Type    string `json:"type"`
			Seq     *int64 `json:"seq"`
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(p, &f) != nil {
			continue
		}
		switch {
		case f.Type == "error" && (f.Code == "AUTH_INVALID" || f.Code == "AUTH_REQUIRED" || f.Code == "FORBIDDEN" || f.Code == "VALIDATION_ERROR"):
			return &fatalWatchError{f.Code + ": " + f.Message}
		case (f.Type == "event" || f.Type == "removed" || f.Type == "reset" || f.Type == "subscribed") && f.Seq != nil:
			w.last = max(w.last, *f.Seq)
		}
	}
}
