package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"paimon/bench/internal/benchkit"
)

// refusedError is an upgrade the node answered with an HTTP error (a limit, the token).
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// subscribeError is a connection that upgraded but whose subscribe was refused or never
// answered.
type subscribeError struct{ err error }

func (e *subscribeError) Error() string { return e.err.Error() }
func (e *subscribeError) Unwrap() error { return e.err }

// dialed is a subscribed connection handed to a poller: its own descriptor (non-blocking,
// not in the Go runtime's poller) and the bytes read past the "subscribed" frame.
type dialed struct {
	fd   int
	rest []byte
}

// websocketGUID is RFC 6455's key suffix for Sec-WebSocket-Accept.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// dialSubscribed opens one connection from src: TCP, the upgrade with the token, the subscribe
// frame, and the frames up to "subscribed", with a deadline of timeout for all of it. Frames
// before "subscribed" other than an error are counted in other.
func dialSubscribed(ctx context.Context, u *url.URL, src netip.Addr, token string, timeout time.Duration, other func()) (*dialed, error) {
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: timeout}
	nc, err := nd.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	defer nc.Close() // the connection lives on in the descriptor dup returns
	if err := nc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n"
	if token != "" {
		req += "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := io.WriteString(nc, req+"\r\n"); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, &refusedError{fmt.Sprintf("%s from %s: %s", resp.Status, src, benchkit.Snippet(body))}
	}
	sum := sha1.Sum([]byte(key + websocketGUID))
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("upgrade: Sec-WebSocket-Accept %q does not match the key", got)
	}

	var mask [4]byte
	_, _ = rand.Read(mask[:])
	if _, err := nc.Write(clientFrame(nil, opText, subscribeFrame, mask)); err != nil {
		return nil, &subscribeError{fmt.Errorf("subscribe from %s: %w", src, err)}
	}
	buf := make([]byte, 0, 4096)
	for subscribed := false; !subscribed; {
		f, n, err := nextFrame(buf, maxServerFrame)
		if err != nil {
			return nil, &subscribeError{fmt.Errorf("waiting for subscribed from %s: %w", src, err)}
		}
		if n == 0 {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			m, err := br.Read(buf[len(buf):cap(buf)])
			if err != nil {
				return nil, &subscribeError{fmt.Errorf("waiting for subscribed from %s: %w", src, err)}
			}
			buf = buf[:len(buf)+m]
			continue
		}
		switch kind, _ := classify(f.payload); {
		case f.op == opClose:
			code, reason := closeCode(f.payload)
			return nil, &subscribeError{fmt.Errorf("waiting for subscribed from %s: close %d %q", src, code, reason)}
		case f.op == opText && kind == frameSubscribed:
			subscribed = true
		case f.op == opText && kind == frameError:
			return nil, &subscribeError{fmt.Errorf("subscribe refused: %s", benchkit.Snippet(f.payload))}
		default:
			other()
		}
		buf = buf[n:]
	}
	rest := append([]byte(nil), buf...)
	if k := br.Buffered(); k > 0 {
		more, _ := br.Peek(k)
		rest = append(rest, more...)
	}
	fd, err := dup(nc)
	if err != nil {
		return nil, err
	}
	return &dialed{fd: fd, rest: rest}, nil
}

// dup returns a non-blocking copy of nc's descriptor. The caller closes nc, which takes the
// original out of the Go runtime's poller: a worker's poller then is the only one woken when
// the socket has data.
func dup(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := raw.Control(func(s uintptr) { fd, derr = unix.Dup(int(s)) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
