package server

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/valyala/fasthttp"

	"paimon/api"
)

// openAPIETag is the entity tag of the embedded document, computed once.
var openAPIETag = sync.OnceValue(func() string {
	sum := sha256.Sum256(api.OpenAPI)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
})

// serveOpenAPI is GET /v1/openapi.json (public): the API's OpenAPI 3.1 document, embedded in
// the binary (api/openapi.json). It never changes while the process runs: clients may cache it
// for an hour and revalidate with If-None-Match (a list, weak tags and "*" as for cached reads).
func (s *Server) serveOpenAPI(ctx *fasthttp.RequestCtx) error {
	etag := openAPIETag()
	ctx.Response.Header.Set("ETag", etag)
	ctx.Response.Header.Set("Cache-Control", "public, max-age=3600")
	if noneMatch(ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch), []byte(etag)) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return nil
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(api.OpenAPI)
	return nil
}
