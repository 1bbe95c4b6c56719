package benchkit

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"syscall"

	"github.com/fasthttp/websocket"
)

// ReadMessage reads the rest of a message into buf, growing it as needed.
func ReadMessage(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// CloseReason names how a connection ended: its close code, or the kind of network error.
func CloseReason(err error) (why, detail string) {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		return strconv.Itoa(ce.Code), fmt.Sprintf("close %d %q", ce.Code, ce.Text)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof", err.Error()
	case errors.Is(err, syscall.ECONNRESET):
		return "reset", err.Error()
	}
	return "error", err.Error()
}
