package server

import (
	"fmt"
	"testing"
	"time"

	"paimon/fund"
	"paimon/report"
)

// BenchmarkReadsWithPriceWrites measures GET /v1/fund/fees and GET /v1/reports/daily of the
// current (open) day over the generated data set, with a price write every writeEvery reads
// (the writes' own time not counted): "before" makes the read cache forget the answer as the
// code before this benchmark did (the fees on every price write, the current report on every
// request), "after" is the route as it is. ns/op is per read.
func BenchmarkReadsWithPriceWrites(b *testing.B) {
	const writeEvery = 10
	n := newTestNode(b)
	loadDataset(b, n)
	v, err := n.store.Read()
	if err != nil {
		b.Fatal(err)
	}
	books, err := fund.ReadBooks(v)
	v.Close()
	if err != nil {
		b.Fatal(err)
	}
	today := time.Unix(books.BlockTime, 0).UTC().Format(report.DateLayout)
	feesClass := routes[routeNamed("fund_fees")].read.class
	writes := 0
	priceWrite := func() {
		writes++
		at := time.Unix(books.BlockTime-int64(writes), 0).UTC().Format(time.RFC3339)
		body := fmt.Sprintf(`{"prices":[{"asset":"0x55d398326f99059ff775485246999027b3197955","price":"%d","time":%q}]}`, 1_000_000_000_000_000_000+writes, at)
		if r := n.do("POST", "/v1/admin/prices", operatorToken, []byte(body)); r.status != 200 {
			b.Fatalf("price write: %d %s", r.status, r.body)
		}
	}
	for _, c := range []struct {
		name, path string
		before     func() // what the code before forgot, after a price write and after each read
		perRead    bool
	}{
		{"fees", "/v1/fund/fees", func() { n.cache.Invalidate(feesClass, n.store.AppliedIndex()) }, false},
		{"daily_open_day", "/v1/reports/daily?date=" + today, func() { n.cache.Invalidate(reportClass, n.store.AppliedIndex()+1) }, true},
	} {
		for _, mode := range []string{"before", "after"} {
			b.Run(c.name+"/"+mode, func(b *testing.B) {
				ctx := handlerCtx(c.path, viewerToken)
				i := 0
				for b.Loop() {
					if i++; i%writeEvery == 0 {
						b.StopTimer()
						priceWrite()
						if mode == "before" {
							c.before()
						}
						b.StartTimer()
					}
					ctx.Response.Reset()
					n.srv.Handler(ctx)
					if ctx.Response.StatusCode() != 200 {
						b.Fatalf("%s: %d %s", c.path, ctx.Response.StatusCode(), ctx.Response.Body())
					}
					if mode == "before" && c.perRead {
						c.before()
					}
				}
			})
		}
	}
}
