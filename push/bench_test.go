package push

import (
	"sort"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// BenchmarkApplyWithSlowClients measures what apply costs with the hub observing 200 clients
// that read everything and 200 stuck clients (subscribed, never reading, their queues allowed
// to grow without bound so they are never dropped), each next to one measured fast client:
// apply only hands the batch to the hub, so the two must match. It reports apply-us (per
// batch of 10 events) and the measured client's apply→receive P99.
//
//	go test ./push -run XXX -bench ApplyWithSlowClients -benchtime 2000x
func BenchmarkApplyWithSlowClients(b *testing.B) {
	for _, stuck := range []bool{false, true} {
		name := "reading=200"
		if stuck {
			name = "stuck=200"
		}
		b.Run(name, func(b *testing.B) {
			t := &testing.T{}
			cfg := DefaultConfig()
			cfg.QueueMessages = 1 << 30
			cfg.WriteTimeout = time.Hour
			cfg.SendBufferBytes = 4096
			e := newEnvB(b, t, cfg)
			for range 200 {
				d := websocket.DefaultDialer
				if stuck {
					d = stuckDialer
				}
				ws, _, err := d.Dial(e.url, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer ws.Close()
				if !stuck {
					go func() {
						for {
							if _, _, err := ws.NextReader(); err != nil {
								return
							}
						}
					}()
				}
				if err := ws.WriteJSON(map[string]any{"op": "subscribe", "channels": []string{"fund:overview", "fund:nav"}}); err != nil {
					b.Fatal(err)
				}
			}
			fast, _, err := websocket.DefaultDialer.Dial(e.url, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer fast.Close()
			if err := fast.WriteJSON(map[string]any{"op": "subscribe", "channels": []string{"fund:overview"}}); err != nil {
				b.Fatal(err)
			}
			for e.hub.Stats().Subscribers < 2*200+1 {
				time.Sleep(time.Millisecond)
			}
			cmds := make([][]byte, b.N)
			for i := range cmds {
				cmds[i] = e.mints(10)
			}
			lat := make(chan []time.Duration, 1)
			sent := make([]time.Time, b.N)
			go func() {
				var l []time.Duration
				for len(l) < b.N {
					_, p, err := fast.ReadMessage()
					if err != nil {
						break
					}
					if len(p) > 20 && string(p[:9]) == `{"type":"` && string(p[9:14]) == "event" {
						l = append(l, time.Since(sent[len(l)]))
					}
				}
				lat <- l
			}()
			b.ResetTimer()
			var applyTime time.Duration
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for i := range b.N {
				<-tick.C // a steady 1,000 batches a second, not a burst
				sent[i] = time.Now()
				e.apply(cmds[i])
				applyTime += time.Since(sent[i])
			}
			b.StopTimer()
			l := <-lat
			sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
			b.ReportMetric(float64(applyTime.Microseconds())/float64(b.N), "apply-us")
			if len(l) > 0 {
				b.ReportMetric(float64(l[len(l)*99/100].Microseconds())/1000, "fast-p99-ms")
			}
			b.ReportMetric(float64(len(l)), "fast-received")
		})
	}
}
