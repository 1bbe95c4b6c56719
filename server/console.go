package server

import (
	"fmt"

	"github.com/valyala/fasthttp"

	"paimon/console"
)

// Console is what the server needs of the operator console (package console): its page and its
// assets by hashed name.
type Console interface {
	Index() []byte
	ContentSecurityPolicy() string
	Asset(hashed string) (console.Asset, bool)
}

// serveConsole answers the console's page. It names the current assets, so it is never cached
// without asking again; the assets it names are.
func (s *Server) serveConsole(ctx *fasthttp.RequestCtx) error {
	if s.deps.Console == nil {
		return fmt.Errorf("%w: the console is off", errNotFound)
	}
	h := &ctx.Response.Header
	h.SetContentType("text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", s.deps.Console.ContentSecurityPolicy())
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	ctx.SetBody(s.deps.Console.Index())
	return nil
}

// redirectConsole sends /console to /console/, where the page's relative URLs resolve.
func (s *Server) redirectConsole(ctx *fasthttp.RequestCtx) error {
	ctx.Response.Header.Set("Location", "/console/")
	ctx.SetStatusCode(fasthttp.StatusMovedPermanently)
	return nil
}

// serveConsoleAsset answers an asset by its hashed name, cacheable for a year.
func (s *Server) serveConsoleAsset(ctx *fasthttp.RequestCtx, rc *reqCtx) error {
	if s.deps.Console == nil {
		return fmt.Errorf("%w: the console is off", errNotFound)
	}
	a, ok := s.deps.Console.Asset(string(rc.param))
	if !ok {
		return fmt.Errorf("%w: no console asset %q", errNotFound, rc.param)
	}
	h := &ctx.Response.Header
	h.SetContentType(a.ContentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	ctx.SetBody(a.Body)
	return nil
}
