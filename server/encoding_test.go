package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	brrr "github.com/molecule-man/go-brrr"

	"paimon/fund/fundtest"
)

func TestNegotiate(t *testing.T) {
	for _, c := range []struct {
		header string
		want   encoding
	}{
		{"", encIdentity},
		{"gzip", encGzip},
		{"GZIP", encGzip},
		{"x-gzip", encGzip},
		{"gzip, deflate, br, zstd", encBrotli}, // a browser: equal weights, the server's preference
		{"gzip, deflate", encGzip},
		{"deflate", encIdentity},
		{"zstd;q=1, br;q=0.5", encZstd},
		{"gzip;q=0.5, br;q=0.4", encGzip},
		{"br;q=0, *", encZstd},
		{"*", encBrotli},
		{"*;q=0", encIdentity},        // nothing acceptable: identity anyway
		{"identity;q=0", encIdentity}, // identity excluded, nothing else named: identity anyway
		{"identity;q=0, gzip;q=0.001", encGzip},
		{"gzip;q=0", encIdentity},
		{"gzip ; Q=0.8 , br;q=0.800", encBrotli}, // OWS around ';', a capital Q, a tie
		{"gzip;q=1.000", encGzip},
		{",, gzip ,", encGzip}, // empty list elements
		{"gzip;q=0.2, gzip;q=0.9, br;q=0.5", encGzip},
		{"identity, gzip;q=0.5", encIdentity},
		// Malformed: answered as identity.
		{"gzip;q=2", encIdentity},
		{"gzip;q=1.5", encIdentity},
		{"gzip;q=0.1234", encIdentity},
		{"gzip;q=", encIdentity},
		{"gzip;level=9", encIdentity},
		{"gzip;", encIdentity},
		{"gzip br", encIdentity},
		{"gzip;q=0.5x", encIdentity},
		{"g\x00zip", encIdentity},
		{"gzip;q=.5", encIdentity},
	} {
		if got := negotiate([]byte(c.header)); got != c.want {
			t.Errorf("Accept-Encoding %q: %s, want %s", c.header, encodingNames[got], encodingNames[c.want])
		}
	}
	for _, bad := range []string{"gzip;q=2", "gzip br", "gzip;q=", ";q=1", "gzip;q=0.1234", "gzip;foo"} {
		if _, err := parseAcceptEncoding([]byte(bad)); err == nil {
			t.Errorf("parseAcceptEncoding(%q) accepted a malformed header", bad)
		}
	}
}

func TestNoneMatch(t *testing.T) {
	tag := []byte(`"00000000000000ff-gz"`)
	for _, c := range []struct {
		header string
		want   bool
	}{
		{`"00000000000000ff-gz"`, true},
		{`W/"00000000000000ff-gz"`, true},
		{`"a", "00000000000000ff-gz"`, true},
		{`*`, true},
		{`"00000000000000ff"`, false}, // the identity representation's tag
		{`"00000000000000ff-br"`, false},
		{`00000000000000ff-gz`, false}, // unquoted: malformed
		{`"00000000000000ff-gz`, false},
		{``, false},
	} {
		if got := noneMatch([]byte(c.header), tag); got != c.want {
			t.Errorf("If-None-Match %q: %v, want %v", c.header, got, c.want)
		}
	}
}

// FuzzAcceptEncoding: any header parses or is refused without panicking; a parsed one never
// chooses a coding it gave weight 0, unless nothing is acceptable (identity); and a header
// naming one coding alone chooses it.
func FuzzAcceptEncoding(f *testing.F) {
	for _, s := range []string{"", "gzip", "gzip, deflate, br, zstd", "br;q=0, *", "identity;q=0", "gzip;q=0.5, br;q=0.4",
		"*;q=0", "x-gzip;Q=1.000", "gzip;q=2", "gzip;level=1", ",,", "gzip\t;\tq=0.001", "zstd;q=0.", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		e := negotiate([]byte(h))
		if e >= numEncodings {
			t.Fatalf("%q: coding %d", h, e)
		}
		a, err := parseAcceptEncoding([]byte(h))
		if err != nil {
			if e != encIdentity {
				t.Fatalf("%q: malformed, but chose %s", h, encodingNames[e])
			}
			return
		}
		if e != encIdentity && a.q[e] == 0 {
			t.Fatalf("%q: chose %s, weighed 0", h, encodingNames[e])
		}
		for _, n := range []string{"gzip", "br", "zstd"} {
			if strings.EqualFold(strings.TrimSpace(h), n) && encodingNames[e] != n {
				t.Fatalf("%q: chose %s", h, encodingNames[e])
			}
		}
		_ = noneMatch([]byte(h), []byte(`"x"`))
	})
}

// FuzzNoneMatch: any If-None-Match parses without panicking or allocating, and matches the
// tag it names: quoted alone, weak (W/), or after a malformed-free list of other tags.
func FuzzNoneMatch(f *testing.F) {
	for _, s := range []string{`"00000000000000ff-gz"`, `W/"00000000000000ff-gz"`, `"a", "b" ,W/"c"`, `*`, `,,, "x"`,
		`"unterminated`, `W/`, `W`, `""`, `"a"x"b"`, "\"\xff\"", ` `} {
		f.Add(s, `"00000000000000ff-gz"`)
	}
	f.Fuzz(func(t *testing.T, h, tag string) {
		if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' || strings.Contains(tag[1:len(tag)-1], `"`) {
			tag = `"` + strings.ReplaceAll(tag, `"`, "") + `"` // an ETag as the server makes them
		}
		hb, tb := []byte(h), []byte(tag)
		if n := testing.AllocsPerRun(1, func() { noneMatch(hb, tb) }); n != 0 {
			t.Fatalf("%q: %v allocations", h, n)
		}
		got := noneMatch(hb, tb)
		if !noneMatch([]byte(tag), tb) || !noneMatch([]byte("W/"+tag), tb) {
			t.Fatalf("%s does not match itself", tag)
		}
		if strings.ContainsAny(h, `*`) {
			return // "*" anywhere in a list matches: nothing more to say
		}
		if got && !strings.Contains(h, tag) {
			t.Fatalf("%q matches %s without naming it", h, tag)
		}
	})
}

// decode undoes a Content-Encoding with a decoder of its own (not the server's encoders).
func decode(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case "":
		return b
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brrr.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("unexpected Content-Encoding %q", enc)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding %s: %v", enc, err)
	}
	return out
}

// getEncoded is a GET over real HTTP with Accept-Encoding (and If-None-Match) as given; Go's
// client then leaves the body as sent.
func getEncoded(t *testing.T, n *testNode, path, token, accept, inm string) response {
	t.Helper()
	req, err := http.NewRequest("GET", n.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", accept)
	if inm != "" {
		req.Header.Set("If-None-Match", inm)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if cl := resp.Header.Get("Content-Length"); resp.StatusCode == 200 && cl != strconv.Itoa(len(b)) {
		t.Fatalf("GET %s (%s): Content-Length %s for %d bytes", path, accept, cl, len(b))
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// loadDataset posts a generated data set (40 holders, 40 days of hourly NAV points) whose NAV
// history is well over minCompressBytes.
func loadDataset(t testing.TB, n *testNode) {
	t.Helper()
	logs := fundtest.Dataset(1, 40, 24*40, 5)
	for len(logs) > 0 { // in bodies under the test node's limit
		k := min(len(logs), 50)
		if r := n.do("POST", "/v1/admin/logs", operatorToken, fundtest.Body(logs[:k]...)); r.status != 200 {
			t.Fatalf("loading a data set: %d %s", r.status, r.body)
		}
		logs = logs[k:]
	}
	if r := n.get("/v1/fund/nav/history", ""); len(r.body) < 2*minCompressBytes {
		t.Fatalf("the NAV history is %d bytes: too small to test compression", len(r.body))
	}
}

// TestCompressedReads reads cached views and lists over real HTTP in every coding: the bytes
// decode to the identity answer, Content-Length is the encoded length, each representation
// has its own ETag and If-None-Match gets a 304 for the matching one only; small bodies stay
// identity; q-values choose; a second request is served from the cache.
func TestCompressedReads(t *testing.T) {
	n := newTestNode(t)
	loadDataset(t, n)
	for _, c := range []struct{ path, token string }{
		{"/v1/fund/nav/history", ""},                    // a materialized view
		{"/v1/fund/nav/history?interval=raw", ""},       // rendered on a miss
		{"/v1/transactions?limit=100", viewerToken},     // a list
		{"/v1/fund/assets", ""},                         // rendered (assets with prices)
		{"/v1/fund/overview", ""},                       // small: identity for everyone
		{"/v1/fund/tiers", ""},                          // small too
		{"/v1/redemptions?status=SETTLED", viewerToken}, // maybe either
	} {
		t.Run(c.path, func(t *testing.T) {
			id := getEncoded(t, n, c.path, c.token, "identity", "")
			if id.status != 200 {
				t.Fatalf("%d %s", id.status, id.body)
			}
			if id.header.Get("Vary") != "Accept-Encoding" || id.header.Get("Content-Encoding") != "" {
				t.Fatalf("identity: Vary %q, Content-Encoding %q", id.header.Get("Vary"), id.header.Get("Content-Encoding"))
			}
			idTag := id.header.Get("ETag")
			if len(idTag) != 18 || idTag[0] != '"' {
				t.Fatalf("identity ETag %q", idTag)
			}
			small := len(id.body) < minCompressBytes
			tags := map[string]string{idTag: "identity"}
			for _, enc := range []string{"gzip", "br", "zstd"} {
				for round := range 2 { // the first makes the representation, the second hits it
					hits := n.cache.Stats().Hits
					r := getEncoded(t, n, c.path, c.token, enc, "")
					if r.status != 200 {
						t.Fatalf("%s: %d %s", enc, r.status, r.body)
					}
					got := r.header.Get("Content-Encoding")
					switch {
					case small && got != "":
						t.Fatalf("%s: a %d-byte body came %s", enc, len(id.body), got)
					case !small && got != enc:
						t.Fatalf("%s: a %d-byte body came as %q", enc, len(id.body), got)
					}
					if plain := decode(t, got, r.body); !bytes.Equal(plain, id.body) {
						t.Fatalf("%s: decodes to %d bytes that differ from the identity answer's %d", enc, len(plain), len(id.body))
					}
					if !small && len(r.body) >= len(id.body) {
						t.Fatalf("%s: %d bytes, identity %d", enc, len(r.body), len(id.body))
					}
					tag := r.header.Get("ETag")
					if small && tag != idTag || !small && tag != idTag[:17]+etagSuffix[codingNamed(enc)]+`"` {
						t.Fatalf("%s: ETag %q (identity %q)", enc, tag, idTag)
					}
					if round == 1 && n.cache.Stats().Hits <= hits {
						t.Fatalf("%s: the second request was not a cache hit", enc)
					}
					if r.header.Get("Vary") != "Accept-Encoding" {
						t.Fatalf("%s: Vary %q", enc, r.header.Get("Vary"))
					}
					tags[tag] = enc
					// If-None-Match: 304 for this representation's tag, 200 for another's.
					if nm := getEncoded(t, n, c.path, c.token, enc, `"x", `+tag); nm.status != 304 || len(nm.body) != 0 || nm.header.Get("ETag") != tag {
						t.Fatalf("%s: If-None-Match %s: %d, ETag %q, %d bytes", enc, tag, nm.status, nm.header.Get("ETag"), len(nm.body))
					}
					if !small {
						if other := getEncoded(t, n, c.path, c.token, enc, idTag); other.status != 200 {
							t.Fatalf("%s: If-None-Match with the identity tag: %d", enc, other.status)
						}
					}
				}
			}
			if !small && len(tags) != 4 {
				t.Fatalf("ETags %v: want one per representation", tags)
			}
		})
	}
	// The weights choose; a malformed header, or nothing acceptable, is identity.
	for _, c := range []struct{ accept, want string }{
		{"gzip;q=0.5, br;q=0.4", "gzip"},
		{"br;q=0, *", "zstd"},
		{"gzip, deflate, br, zstd", "br"},
		{"identity;q=0", ""},
		{"gzip;q=2", ""},
		{"deflate", ""},
	} {
		r := getEncoded(t, n, "/v1/fund/nav/history", "", c.accept, "")
		if r.status != 200 || r.header.Get("Content-Encoding") != c.want {
			t.Errorf("Accept-Encoding %q: %d, Content-Encoding %q, want %q", c.accept, r.status, r.header.Get("Content-Encoding"), c.want)
		}
	}
}

func codingNamed(name string) encoding {
	for e, n := range encodingNames {
		if n == name {
			return encoding(e)
		}
	}
	return encIdentity
}

// TestCompressedOnTheFly: answers built per request (reports, metrics) are compressed when
// large and the client accepts it, and decode to the identity answer.
func TestCompressedOnTheFly(t *testing.T) {
	n := newTestNode(t)
	n.do("POST", "/v1/admin/logs", operatorToken, readFile(t, "../examples/sample-logs.json"))
	for _, c := range []struct{ path, token string }{
		{"/metrics", ""},
		{"/v1/reports/monthly?date=2025-01-20&format=csv", viewerToken},
		{"/v1/reports/daily?date=2025-01-06", viewerToken},
	} {
		id := getEncoded(t, n, c.path, c.token, "identity", "")
		if id.status != 200 {
			t.Fatalf("%s: %d %s", c.path, id.status, id.body)
		}
		for _, enc := range []string{"gzip", "br", "zstd"} {
			r := getEncoded(t, n, c.path, c.token, enc, "")
			got := r.header.Get("Content-Encoding")
			if r.status != 200 || (len(id.body) >= minCompressBytes) != (got == enc) {
				t.Fatalf("%s (%s): %d, Content-Encoding %q for a %d-byte answer", c.path, enc, r.status, got, len(id.body))
			}
			plain := decode(t, got, r.body)
			if c.path == "/metrics" { // the figures move between two scrapes; the shape does not
				if !bytes.Contains(plain, []byte("paimon_http_requests_total")) {
					t.Fatalf("%s (%s): decoded body is not the metrics", c.path, enc)
				}
				continue
			}
			if !bytes.Equal(plain, id.body) {
				t.Fatalf("%s (%s): decodes to something else than the identity answer", c.path, enc)
			}
		}
	}
}
