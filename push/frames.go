package push

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// The client frame operations of API.md.
const (
	opAuth        = "auth"
	opSubscribe   = "subscribe"
	opUnsubscribe = "unsubscribe"
	opPing        = "ping"
)

// Error codes of error frames. The HTTP API's codes where one fits, plus BAD_FRAME for a frame
// that is not a valid client frame.
const (
	codeBadFrame      = "BAD_FRAME"
	codeValidation    = "VALIDATION_ERROR"
	codeAuthRequired  = "AUTH_REQUIRED"
	codeAuthInvalid   = "AUTH_INVALID"
	codeForbidden     = "FORBIDDEN"
	codeTooLarge      = "PAYLOAD_TOO_LARGE"
	codeLimit         = "RATE_LIMITED"
	codeLimitExceeded = "LIMIT_EXCEEDED"
	codeUnknownOp     = "UNKNOWN_OP"
	codeNotSubscribed = "NOT_SUBSCRIBED"
)

// frameError is a client frame the connection refuses: it becomes an error frame and the
// connection stays usable.
type frameError struct {
	code, msg string
}

func (e *frameError) Error() string { return e.code + ": " + e.msg }

func badFrame(format string, args ...any) *frameError {
	return &frameError{code: codeBadFrame, msg: fmt.Sprintf(format, args...)}
}

// clientFrame is a decoded client frame.
type clientFrame struct {
	Op       string   `json:"op"`
	Token    string   `json:"token,omitempty"`
	Channels []string `json:"channels,omitempty"`
	Since    *uint64  `json:"since,omitempty"`
}

// maxChannelsPerFrame bounds the channel list of one frame independently of the subscription
// limit, so that decoding a hostile frame stays cheap.
const maxChannelsPerFrame = 256

// decodeClientFrame parses and validates one client text frame. It never panics; every refusal
// is a *frameError naming what is wrong.
func decodeClientFrame(cat *catalog, data []byte) (clientFrame, *frameError) {
	var f clientFrame
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return clientFrame{}, badFrame("field %s must be %s", ute.Field, jsonKind(ute.Type.Kind().String()))
		}
		return clientFrame{}, badFrame("not a JSON object frame: %v", err)
	}
	if d.More() {
		return clientFrame{}, badFrame("one JSON object per frame")
	}
	if _, err := d.Token(); err == nil {
		return clientFrame{}, badFrame("one JSON object per frame")
	}
	switch f.Op {
	case opAuth:
		if f.Token == "" {
			return clientFrame{}, &frameError{code: codeValidation, msg: "auth needs a token"}
		}
		if len(f.Token) > 512 {
			return clientFrame{}, &frameError{code: codeAuthInvalid, msg: "token too long"}
		}
		if f.Channels != nil || f.Since != nil {
			return clientFrame{}, badFrame("auth takes only a token")
		}
	case opSubscribe, opUnsubscribe:
		if len(f.Channels) == 0 {
			return clientFrame{}, &frameError{code: codeValidation, msg: f.Op + " needs a non-empty channels list"}
		}
		if len(f.Channels) > maxChannelsPerFrame {
			return clientFrame{}, &frameError{code: codeValidation, msg: fmt.Sprintf("at most %d channels per frame", maxChannelsPerFrame)}
		}
		if f.Token != "" {
			return clientFrame{}, badFrame("%s takes no token; authenticate with op auth", f.Op)
		}
		if f.Op == opUnsubscribe && f.Since != nil {
			return clientFrame{}, badFrame("unsubscribe takes no since")
		}
		for i, name := range f.Channels {
			c, err := cat.parse(name)
			if err != nil {
				return clientFrame{}, err
			}
			f.Channels[i] = c.String()
		}
	case opPing:
		if f.Token != "" || f.Channels != nil || f.Since != nil {
			return clientFrame{}, badFrame("ping takes no fields")
		}
	case "":
		return clientFrame{}, badFrame("missing op")
	default:
		return clientFrame{}, &frameError{code: codeUnknownOp, msg: fmt.Sprintf("unknown op %.40q; ops are auth, subscribe, unsubscribe, ping", f.Op)}
	}
	return f, nil
}

func jsonKind(k string) string {
	switch k {
	case "uint64":
		return "a non-negative integer"
	case "slice":
		return "an array of strings"
	}
	return "a " + k
}

// Server frames are written as complete WebSocket frames, built once per message and shared by
// every connection that receives it (see DESIGN.md, "writes").

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opText  = 0x1
	opClose = 0x8
	opPingF = 0x9
	opPongF = 0xA
)

// startFrame returns a final unmasked server frame with the given opcode and payload room: the
// header is written and the payload is appended by the caller, which then calls finishFrame.
// Building the JSON in place avoids a copy per message.
func startFrame(op byte) []byte {
	b := make([]byte, 10, 256)
	b[0] = 0x80 | op
	return b
}

// finishFrame moves the header next to the payload appended after the 10 reserved bytes and
// returns the frame.
func finishFrame(b []byte) []byte {
	n := len(b) - 10
	var h []byte
	switch {
	case n < 126:
		b[8], b[9] = b[0], byte(n)
		h = b[8:]
	case n <= 0xFFFF:
		b[6], b[7] = b[0], 126
		binary.BigEndian.PutUint16(b[8:10], uint16(n))
		h = b[6:]
	default:
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:10], uint64(n))
		h = b
	}
	return h
}

// frame builds a complete frame of op with payload p.
func frame(op byte, p []byte) []byte {
	b := append(startFrame(op), p...)
	return finishFrame(b)
}

// eventFrame is {"type":typ,"channel":ch,"seq":seq,"data":data} as a text frame.
func eventFrame(typ string, ch channel, seq uint64, data []byte) []byte {
	b := startFrame(opText)
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","channel":"`...)
	b = ch.appendName(b)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	b = append(b, '}')
	return finishFrame(b)
}

// pendingFrame is {"type":typ,"channel":ch,"data":data}: unconfirmed chain events carry no seq,
// since they are not applied; they are not kept for resume.
func pendingFrame(typ string, ch channel, data []byte) []byte {
	b := startFrame(opText)
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","channel":"`...)
	b = ch.appendName(b)
	b = append(b, `","data":`...)
	b = append(b, data...)
	b = append(b, '}')
	return finishFrame(b)
}

func resetFrame(ch channel, seq uint64) []byte {
	b := startFrame(opText)
	b = append(b, `{"type":"reset","channel":"`...)
	b = ch.appendName(b)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '}')
	return finishFrame(b)
}

func subscribedFrame(channels []string, seq uint64) []byte {
	return channelsFrame("subscribed", channels, seq)
}

func unsubscribedFrame(channels []string, seq uint64) []byte {
	return channelsFrame("unsubscribed", channels, seq)
}

// channelsFrame is {"type":typ,"channels":[...],"seq":seq}.
func channelsFrame(typ string, channels []string, seq uint64) []byte {
	b := startFrame(opText)
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","channels":`...)
	cj, _ := json.Marshal(channels)
	b = append(b, cj...)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '}')
	return finishFrame(b)
}

func authenticatedFrame(name, role, address string) []byte {
	v := struct {
		Type    string `json:"type"`
		Name    string `json:"name,omitempty"`
		Role    string `json:"role"`
		Address string `json:"address,omitempty"`
	}{"authenticated", name, role, address}
	p, _ := json.Marshal(v)
	return frame(opText, p)
}

func errorFrame(code, msg string) []byte {
	v := struct {
		Type    string `json:"type"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}{"error", code, msg}
	p, _ := json.Marshal(v)
	return frame(opText, p)
}

var pongFrame = frame(opText, []byte(`{"type":"pong"}`))

// closeFrame is a close control frame with code and reason (at most 123 bytes, RFC 6455 §5.5).
func closeFrame(code int, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	p := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	return frame(opClose, append(p, reason...))
}

// WebSocket close codes used here (RFC 6455 §7.4.1).
const (
	closeNormal        = 1000
	closeGoingAway     = 1001
	closePolicy        = 1008
	closeInvalidData   = 1007
	closeTooBig        = 1009
	closeTryAgainLater = 1013
)
