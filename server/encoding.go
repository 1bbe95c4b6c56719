package server

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"
)

// Response compression (DESIGN.md, "Compression"): a cached read is compressed once per
// rendering and encoding, on the first request that wants that encoding, and kept in the
// cache beside the identity bytes; answers built on request are compressed on the fly.

// encoding is a content coding the node produces.
type encoding uint8

const (
	encIdentity encoding = iota
	encGzip
	encBrotli
	encZstd
	numEncodings
)

// encodingNames are the codings' names in Accept-Encoding and Content-Encoding.
var encodingNames = [numEncodings]string{"identity", "gzip", "br", "zstd"}

// etagSuffix tells the representations of one rendering apart: each encoding has its own
// entity tag (RFC 9110 §8.8.3: a strong validator differs for every representation).
var etagSuffix = [numEncodings]string{"", "-gz", "-br", "-zst"}

// preference breaks ties between codings a client weighs the same: the smallest output
// first (on the views, Brotli then zstd then gzip: bench/RESULTS.md §16), identity last.
var preference = [numEncodings]encoding{encBrotli, encZstd, encGzip, encIdentity}

// minCompressBytes is the smallest body worth compressing: below ~1 KiB the encodings save a
// few hundred bytes at most, about one TCP segment, for the client's decompression work.
const minCompressBytes = 1024

// Compression levels. A cached rendering is compressed once and served many times, so it gets
// a high level; an answer compressed on the fly pays the compression on every request.
var (
	cachedLevel = [numEncodings]int{encGzip: fasthttp.CompressBestCompression, encBrotli: 9, encZstd: fasthttp.CompressZstdBestCompression}
	streamLevel = [numEncodings]int{encGzip: fasthttp.CompressDefaultCompression, encBrotli: fasthttp.CompressBrotliDefaultCompression, encZstd: fasthttp.CompressZstdDefault}
)

// errAcceptEncoding: an Accept-Encoding header that does not follow RFC 9110 §12.5.3. The
// request is answered as if it had none: identity, which every client reads.
var errAcceptEncoding = errors.New("malformed Accept-Encoding")

// acceptEncoding is a parsed Accept-Encoding header: the weight (q × 1000) of each coding the
// node produces and of "*", or -1 where the header does not name it. Codings the node does
// not produce (deflate, compress, ...) are skipped.
type acceptEncoding struct {
	q    [numEncodings]int16
	star int16
}

// parseAcceptEncoding parses an Accept-Encoding value strictly:
//
//	Accept-Encoding = #( codings [ OWS ";" OWS "q=" qvalue ] )
//	codings         = token                        ; content-coding, "identity" or "*"
//	qvalue          = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
//
// Names and "q" are case-insensitive, "x-gzip" is gzip (§8.4.1.3), empty list elements are
// allowed (§5.6.1), a coding named twice keeps its highest weight. Anything else — another
// parameter, a q over 1 or with four decimals, a stray character — is errAcceptEncoding. It
// does not allocate.
func parseAcceptEncoding(h []byte) (acceptEncoding, error) {
	a := acceptEncoding{q: [numEncodings]int16{-1, -1, -1, -1}, star: -1}
	i := 0
	for {
		i = skipOWS(h, i)
		for i < len(h) && h[i] == ',' {
			i = skipOWS(h, i+1)
		}
		if i == len(h) {
			return a, nil
		}
		start := i
		for i < len(h) && isTchar(h[i]) {
			i++
		}
		if i == start {
			return a, errAcceptEncoding
		}
		name := h[start:i]
		q := int16(1000)
		if j := skipOWS(h, i); j < len(h) && h[j] == ';' {
			j = skipOWS(h, j+1)
			if j+1 >= len(h) || (h[j] != 'q' && h[j] != 'Q') || h[j+1] != '=' {
				return a, errAcceptEncoding
			}
			var ok bool
			if q, i, ok = parseQvalue(h, j+2); !ok {
				return a, errAcceptEncoding
			}
		}
		i = skipOWS(h, i)
		if i < len(h) && h[i] != ',' {
			return a, errAcceptEncoding
		}
		switch {
		case name[0] == '*' && len(name) == 1:
			a.star = max(a.star, q)
		default:
			if e, ok := codingOf(name); ok {
				a.q[e] = max(a.q[e], q)
			}
		}
	}
}

// parseQvalue reads a qvalue at h[i:] and returns it × 1000 and the index after it.
func parseQvalue(h []byte, i int) (int16, int, bool) {
	if i >= len(h) || (h[i] != '0' && h[i] != '1') {
		return 0, i, false
	}
	one := h[i] == '1'
	q := int16(0)
	if one {
		q = 1000
	}
	i++
	if i < len(h) && h[i] == '.' {
		i++
		scale := int16(100)
		for n := 0; i < len(h) && h[i] >= '0' && h[i] <= '9'; n++ {
			if n == 3 || (one && h[i] != '0') {
				return 0, i, false
			}
			q += int16(h[i]-'0') * scale
			scale /= 10
			i++
		}
	}
	return q, i, true
}

// codingOf names the codings the node produces (case-insensitively).
func codingOf(name []byte) (encoding, bool) {
	switch {
	case bytes.EqualFold(name, []byte("gzip")), bytes.EqualFold(name, []byte("x-gzip")):
		return encGzip, true
	case bytes.EqualFold(name, []byte("br")):
		return encBrotli, true
	case bytes.EqualFold(name, []byte("zstd")):
		return encZstd, true
	case bytes.EqualFold(name, []byte("identity")):
		return encIdentity, true
	}
	return 0, false
}

func skipOWS(h []byte, i int) int {
	for i < len(h) && (h[i] == ' ' || h[i] == '\t') {
		i++
	}
	return i
}

// isTchar reports whether c may appear in an RFC 9110 token.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}

// choose picks the coding of the answer: the highest weight, ties broken by preference. A
// coding the header does not name has the weight of "*" if it names one, else 0 — except
// identity, acceptable unless excluded ("identity;q=0", or "*;q=0" without identity) but, not
// named, with the lowest weight (0.001): a client that names a coding prefers it. When
// nothing is acceptable the answer is identity anyway (RFC 9110 §12.5.3 allows it; a 406
// would help no client).
func (a *acceptEncoding) choose() encoding {
	best, bestQ := encIdentity, int16(0)
	for _, e := range preference {
		q := a.q[e]
		if q < 0 {
			q = a.star
			if q < 0 {
				q = 0
				if e == encIdentity {
					q = 1
				}
			}
		}
		if q > bestQ {
			best, bestQ = e, q
		}
	}
	return best
}

// negotiate returns the coding of the answer to a request with Accept-Encoding h: identity
// without the header, with an empty one (§12.5.3: no coding wanted) or a malformed one.
func negotiate(h []byte) encoding {
	if len(h) == 0 {
		return encIdentity
	}
	a, err := parseAcceptEncoding(h)
	if err != nil {
		return encIdentity
	}
	return a.choose()
}

// A cache entry of a read is one representation: its coding, the hash of the identity bytes
// (the entity tag of every representation of the rendering) and the bytes sent.
const entryHeader = 9

// entryPrefix is the header of an entry: the coding and the identity bytes' hash.
func entryPrefix(e encoding, hash uint64) [entryHeader]byte {
	var p [entryHeader]byte
	p[0] = byte(e)
	binary.BigEndian.PutUint64(p[1:], hash)
	return p
}

// splitEntry takes an entry apart; ok is false for bytes that are not one (which the server
// treats as a miss).
func splitEntry(v []byte) (e encoding, hash uint64, body []byte, ok bool) {
	if len(v) < entryHeader || encoding(v[0]) >= numEncodings {
		return 0, 0, nil, false
	}
	return encoding(v[0]), binary.BigEndian.Uint64(v[1:entryHeader]), v[entryHeader:], true
}

// identityEntry is the entry of freshly rendered identity bytes.
func identityEntry(body []byte) []byte {
	p := entryPrefix(encIdentity, xxhash.Sum64(body))
	return append(append(make([]byte, 0, entryHeader+len(body)), p[:]...), body...)
}

// variantEntry builds the entry a client wanting e gets from an identity entry: the body
// compressed with e at the cached level, or the identity bytes when the body is small or does
// not shrink.
func variantEntry(identity []byte, e encoding) []byte {
	_, hash, body, _ := splitEntry(identity)
	if e != encIdentity && len(body) >= minCompressBytes {
		p := entryPrefix(e, hash)
		z := appendCompressed(append(make([]byte, 0, entryHeader+len(body)/2), p[:]...), e, cachedLevel[e], body)
		if len(z)-entryHeader < len(body) {
			return z
		}
	}
	return bytes.Clone(identity)
}

// appendCompressed appends body compressed with e at level to dst.
func appendCompressed(dst []byte, e encoding, level int, body []byte) []byte {
	switch e {
	case encGzip:
		return fasthttp.AppendGzipBytesLevel(dst, body, level)
	case encBrotli:
		return fasthttp.AppendBrotliBytesLevel(dst, body, level)
	case encZstd:
		return fasthttp.AppendZstdBytesLevel(dst, body, level)
	}
	return append(dst, body...)
}

// variantKey is the cache key of the representation for e: the identity key, then a zero byte
// and the coding. No identity key ends that way (a view's name; or a group and "?" and the
// query as k=v&..., ending in "?" or "&"), so representations never collide with one another
// or with another key. It appends to key's buffer.
func variantKey(key []byte, e encoding) []byte {
	if e == encIdentity {
		return key
	}
	return append(key, 0, byte(e))
}

// appendETag appends the entity tag of the representation in e of a rendering whose identity
// bytes hash to hash: "<16 hex digits><suffix>".
func appendETag(b []byte, hash uint64, e encoding) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for s := 60; s >= 0; s -= 4 {
		b = append(b, hexDigits[hash>>uint(s)&0xf])
	}
	b = append(b, etagSuffix[e]...)
	return append(b, '"')
}

// noneMatch reports whether If-None-Match h names etag (or is "*"), by the weak comparison
// of RFC 9110 §13.1.2 (a W/ prefix is ignored). A malformed list matches nothing: the client
// gets the full answer. It does not allocate.
func noneMatch(h, etag []byte) bool {
	i := 0
	for {
		i = skipOWS(h, i)
		for i < len(h) && h[i] == ',' {
			i = skipOWS(h, i+1)
		}
		if i == len(h) {
			return false
		}
		if h[i] == '*' {
			return true
		}
		if i+1 < len(h) && h[i] == 'W' && h[i+1] == '/' {
			i += 2
		}
		if i >= len(h) || h[i] != '"' {
			return false
		}
		end := bytes.IndexByte(h[i+1:], '"')
		if end < 0 {
			return false
		}
		if bytes.Equal(h[i:i+end+2], etag) {
			return true
		}
		i += end + 2
	}
}

// compressible reports whether an answer of content type ct is worth compressing on the fly
// (text; PDFs compress their own streams).
func compressible(ct []byte) bool {
	return bytes.HasPrefix(ct, []byte("application/json")) || bytes.HasPrefix(ct, []byte("text/"))
}

// compressOnTheFly compresses an answer that was built for this request (not a cached read,
// which carries its representations in the cache) when it is large and text, in the coding
// the client prefers. Forwarded answers, already encoded, are left as they are.
func compressOnTheFly(ctx *fasthttp.RequestCtx) {
	r := &ctx.Response
	if r.StatusCode() != fasthttp.StatusOK || r.IsBodyStream() || len(r.Header.ContentEncoding()) > 0 ||
		!compressible(r.Header.ContentType()) {
		return
	}
	body := r.Body()
	if len(body) < minCompressBytes {
		return
	}
	r.Header.Add(fasthttp.HeaderVary, fasthttp.HeaderAcceptEncoding)
	e := negotiate(ctx.Request.Header.Peek(fasthttp.HeaderAcceptEncoding))
	if e == encIdentity {
		return
	}
	z := appendCompressed(nil, e, streamLevel[e], body)
	if len(z) >= len(body) {
		return
	}
	r.SetBodyRaw(z)
	r.Header.SetContentEncoding(encodingNames[e])
}
