package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
  paimon watch [-url ws://127.0.0.1:8080/v1/ws] [-token T] [-since N] [-reconnect] [-ca FILE] [-insecure] CHANNEL...
      subscribe to push channels (fund:overview, fund:nav, prices, redemptions, transactions,
      risk, account:0x...) and print every frame as a line of JSON. The token (default
      $PAIMON_TOKEN, else ./data/admin.token when it exists) is sent in an auth frame;
      redemptions, transactions, risk and other accounts need viewer. With -reconnect it reconnects after a drop
      and resumes with since = the last seq it printed. A node with [http] TLS answers at
      wss://; -ca trusts a private CA (PEM) besides the system roots, -insecure trusts any
      certificate (testing only).
`

func watch(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return watchContext(ctx, args, stdout, stderr)
}

// watchContext is watch until ctx ends.
func watchContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, watchUsage) }
	url := fs.String("url", "ws://127.0.0.1:8080/v1/ws", "the node's WebSocket endpoint")
	token := fs.String("token", os.Getenv("PAIMON_TOKEN"), "API or session token (default $PAIMON_TOKEN, else data/admin.token)")
	since := fs.Int64("since", -1, "resume after this seq (default: live only)")
	reconnect := fs.Bool("reconnect", false, "reconnect after a drop, resuming after the last seq printed")
	caFile := fs.String("ca", "", "PEM file of a CA to trust for wss:// besides the system roots")
	insecure := fs.Bool("insecure", false, "accept any certificate for wss:// (testing only)")
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
	tlsCfg, err := watchTLS(*caFile, *insecure)
	if err != nil {
		fmt.Fprintf(stderr, "paimon watch: %v\n", err)
		return 2
	}
	w := watcher{url: *url, token: *token, channels: channels, out: stdout, errOut: stderr, last: *since, tls: tlsCfg}
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
	last        int64       // the last seq printed, -1 for none
	tls         *tls.Config // for wss://; nil: the system roots
}

// watchTLS is the client TLS configuration of -ca and -insecure, or nil for neither.
func watchTLS(caFile string, insecure bool) (*tls.Config, error) {
	if caFile == "" && !insecure {
		return nil, nil
	}
	cfg := &tls.Config{InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("-ca: %w", err)
		}
		roots, err := x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-ca: %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = roots
	}
	return cfg, nil
}

func (w *watcher) session(ctx context.Context) error {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, TLSClientConfig: w.tls}
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
