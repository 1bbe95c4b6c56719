package push

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

var frameCodes = map[string]bool{
	codeBadFrame: true, codeValidation: true, codeAuthInvalid: true, codeUnknownOp: true,
}

// FuzzClientFrame: the frame decoder never panics; it accepts a frame only with a known op and
// valid channels (canonical afterwards), and refuses everything else with a known code.
func FuzzClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"op":"auth","token":"abc"}`,
		`{"op":"subscribe","channels":["fund:overview","fund:nav","prices","redemptions","transactions","account:0xAbCdEf0123456789abcdef0123456789ABCDEF01"],"since":1234}`,
		`{"op":"unsubscribe","channels":["prices"]}`,
		`{"op":"ping"}`,
		`{"op":"subscribe","channels":[]}`,
		`{"op":"subscribe","channels":["account:0x12"]}`,
		`{"op":"subscribe","channels":["prices"],"since":-1}`,
		`{"op":"subscribe","channels":["prices"],"since":1.5}`,
		`{"op":"subscribe","channels":"prices"}`,
		`{"op":"dance"}`, `{"op":null}`, `{}`, `[]`, `null`, `"x"`, `{"op":"ping"}{"op":"ping"}`,
		`{"op":"ping","token":"x"}`, `{"op":"auth","token":"x","channels":["prices"]}`,
		`{"op":"subscribe","channels":["prices"],"token":"x"}`, "{\"op\":\"ping\"}\n", "\xff\xfe",
		`{"op":"subscribe","channels":["prices","prices"]}`, `{"OP":"ping"}`,
		// Issue 18: text that is not UTF-8 (the connection closes 1007 before decoding).
		"{\"op\":\"ping\",\"x\":\"\xff\xfe\"}", "{\"op\":\"auth\",\"token\":\"\xc3\x28\"}",
	} {
		f.Add([]byte(s))
	}
	cat, cerr := newCatalog(testChannels)
	if cerr != nil {
		f.Fatal(cerr)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := decodeClientFrame(cat, data)
		if err != nil {
			if !frameCodes[err.code] || err.msg == "" {
				t.Fatalf("%q: refused with %q %q", data, err.code, err.msg)
			}
			if len(errorFrame(err.code, err.msg)) == 0 {
				t.Fatal("empty error frame")
			}
			return
		}
		switch fr.Op {
		case opAuth:
			if fr.Token == "" {
				t.Fatalf("%q: auth without token accepted", data)
			}
		case opSubscribe, opUnsubscribe:
			if len(fr.Channels) == 0 {
				t.Fatalf("%q: no channels accepted", data)
			}
			for _, name := range fr.Channels {
				c, err := cat.parse(name)
				if err != nil || c.String() != name {
					t.Fatalf("%q: channel %q not canonical (%v)", data, name, err)
				}
			}
		case opPing:
		default:
			t.Fatalf("%q: op %q accepted", data, fr.Op)
		}
		// What was accepted is a valid JSON object.
		if !json.Valid(bytes.TrimSpace(data)) {
			t.Fatalf("%q accepted but not JSON", data)
		}
	})
}

// FuzzReadFrame: reading a message never returns more than max+1 bytes of it and says whether
// it was cut.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("hello"), 3)
	f.Add([]byte(""), 0)
	f.Add(bytes.Repeat([]byte("x"), 5000), 4096)
	f.Fuzz(func(t *testing.T, msg []byte, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		data, tooBig, err := readFrame(bytes.NewReader(msg), nil, max)
		if err != nil {
			t.Fatal(err)
		}
		if tooBig != (len(msg) > max) {
			t.Fatalf("len %d max %d: tooBig %v", len(msg), max, tooBig)
		}
		if !tooBig && !bytes.Equal(data, msg) {
			t.Fatalf("read %q, want %q", data, msg)
		}
	})
}

// FuzzHandshake: checkHandshake accepts exactly a Sec-WebSocket-Key of 16 bytes in standard
// base64 and the version 13 (seeds from issue 18: keys the library let through), and its
// refusal quotes nothing of the request.
func FuzzHandshake(f *testing.F) {
	for _, s := range [][2]string{
		{"dGhlIHNhbXBsZSBub25jZQ==", "13"}, {"not*base64*at*all*secret", "13"},
		{"AAAAAAAAAAAAAAAAAAAA", "13"}, {"AAAAAAAAAAAAAAAAAAAAAAA=", "13"}, {"", "13"},
		{"dGhlIHNhbXBsZSBub25jZQ==", "8"}, {"dGhlIHNhbXBsZSBub25jZQ==", "13, 8"},
		{"dGhlIHNhbXBsZSBub25jZQ", "13"}, {"dGhlIHNhbXBsZSBub25jZQ==", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, key, version string) {
		var hdr fasthttp.RequestHeader
		hdr.Set("Sec-WebSocket-Key", key)
		hdr.Set("Sec-WebSocket-Version", version)
		// What the header holds after fasthttp's own normalization is what is checked.
		k, v := strings.TrimSpace(string(hdr.Peek("Sec-WebSocket-Key"))), strings.TrimSpace(string(hdr.Peek("Sec-WebSocket-Version")))
		raw, derr := base64.StdEncoding.DecodeString(k)
		want := derr == nil && len(raw) == 16 && v == "13"
		err := checkHandshake(&hdr)
		if (err == nil) != want {
			t.Fatalf("key %q version %q: err %v, want accepted %v", k, v, err, want)
		}
		if err != nil && len(k) > 3 && strings.Contains(err.Error(), k) {
			t.Fatalf("the refusal quotes the key: %v", err)
		}
	})
}
