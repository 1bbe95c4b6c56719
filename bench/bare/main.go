// Command bare is the baseline of the HTTP read benchmark: a fasthttp server that answers every
// request with the same bytes, so that httpbench can report the node's read path as a fraction
// of what fasthttp itself does on the same machine in the same run.
//
//	bare -addr 127.0.0.1:0 -body overview.json
//
// It prints "listening ADDR" on stdout once it accepts connections and stops on SIGINT or
// SIGTERM. It runs as its own process, like the node, so that neither shares a Go runtime (GC,
// scheduler) with the other or with the benchmark runner.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	bodyFile := flag.String("body", "", "file whose bytes every response carries")
	flag.Parse()
	if err := run(*addr, *bodyFile); err != nil {
		fmt.Fprintf(os.Stderr, "bare: %v\n", err)
		os.Exit(1)
	}
}

func run(addr, bodyFile string) error {
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	// The same server options as the node's (no Server header, explicit content type), and
	// nothing else: no routing, auth, cache or metrics.
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.SetContentType("application/json")
			ctx.SetBody(body)
		},
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("listening %s\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return srv.Shutdown()
}
