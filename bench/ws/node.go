package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"paimon/bench/internal/benchkit"
)

// openFilesLimit reads the soft "Max open files" limit from the text of /proc/PID/limits;
// 0 when it is missing or unlimited.
func openFilesLimit(limits []byte) int {
	sc := bufio.NewScanner(bytes.NewReader(limits))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Max open files")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		n, err := strconv.Atoi(f[0])
		if err != nil || n < 0 {
			return 0 // "unlimited"
		}
		return n
	}
	return 0
}

// metrics is one scrape of the node's /metrics: each series' text (name and labels) → value.
type metrics map[string]float64

// parseMetrics reads the Prometheus text format the node writes (VictoriaMetrics/metrics).
// Comment lines and lines that do not end in a number are skipped.
func parseMetrics(b []byte) metrics {
	m := metrics{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[strings.TrimSpace(line[:i])] = v
	}
	return m
}

// vmBucket is one bucket of a VictoriaMetrics histogram: count values in (lo, hi].
type vmBucket struct {
	Lo, Hi float64
	Count  float64
}

// vmHistogram returns the buckets of histogram name (series name_bucket{vmrange="lo...hi"}),
// by increasing bounds.
func (m metrics) vmHistogram(name string) []vmBucket {
	prefix := name + `_bucket{vmrange="`
	var out []vmBucket
	for k, v := range m {
		r, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		r, ok = strings.CutSuffix(r, `"}`)
		if !ok {
			continue
		}
		los, his, ok := strings.Cut(r, "...")
		lo, err1 := strconv.ParseFloat(los, 64)
		hi, err2 := strconv.ParseFloat(his, 64)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		out = append(out, vmBucket{Lo: lo, Hi: hi, Count: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lo < out[j].Lo })
	return out
}

// subBuckets returns after − before bucket by bucket (the values added between two scrapes),
// dropping empty ones.
func subBuckets(after, before []vmBucket) []vmBucket {
	prev := map[[2]float64]float64{}
	for _, b := range before {
		prev[[2]float64{b.Lo, b.Hi}] = b.Count
	}
	var out []vmBucket
	for _, b := range after {
		if c := b.Count - prev[[2]float64{b.Lo, b.Hi}]; c > 0 {
			out = append(out, vmBucket{Lo: b.Lo, Hi: b.Hi, Count: c})
		}
	}
	return out
}

// vmQuantile returns the upper bound of the bucket holding quantile q; 0 when empty.
func vmQuantile(buckets []vmBucket, q float64) float64 {
	var total float64
	for _, b := range buckets {
		total += b.Count
	}
	if total == 0 {
		return 0
	}
	rank := q * total
	var seen float64
	for _, b := range buckets {
		if seen += b.Count; seen >= rank {
			return b.Hi
		}
	}
	return buckets[len(buckets)-1].Hi
}

// nodeClient reads the node's metrics.
type nodeClient struct {
	base string // http://host:port
	http *http.Client
}

func (n *nodeClient) metrics(ctx context.Context) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := n.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d %s", resp.StatusCode, benchkit.Snippet(b))
	}
	return parseMetrics(b), nil
}

// memory is the node's memory as its /metrics reports it.
type memory struct {
	RSS        float64 `json:"rssBytes"`       // process_resident_memory_bytes
	Heap       float64 `json:"heapBytes"`      // go_memstats_heap_inuse_bytes
	Stack      float64 `json:"stackBytes"`     // go_memstats_stack_inuse_bytes
	HeapStack  float64 `json:"heapStackBytes"` // the two together
	Goroutines float64 `json:"goroutines"`
	LastGC     float64 `json:"lastGcUnix"` // go_memstats_last_gc_time_seconds
}

func memoryOf(m metrics) memory {
	heap, stack := m["go_memstats_heap_inuse_bytes"], m["go_memstats_stack_inuse_bytes"]
	return memory{RSS: m["process_resident_memory_bytes"], Heap: heap, Stack: stack, HeapStack: heap + stack,
		Goroutines: m["go_goroutines"], LastGC: m["go_memstats_last_gc_time_seconds"]}
}

// settledMemory samples the node's memory every 500 ms for d and returns the smallest RSS and
// heap+stack seen (each on its own, heap and stack those of the smallest heap+stack): garbage
// not yet collected and pages not yet returned only ever add to a sample. It also returns the
// latest GC time seen.
func (n *nodeClient) settledMemory(ctx context.Context, d time.Duration) (memory, error) {
	var low memory
	deadline := time.Now().Add(d)
	for i := 0; ; i++ {
		m, err := n.metrics(ctx)
		if err != nil {
			return low, err
		}
		s := memoryOf(m)
		if i == 0 {
			low = s
		}
		low.RSS = min(low.RSS, s.RSS)
		if s.HeapStack < low.HeapStack {
			low.Heap, low.Stack, low.HeapStack = s.Heap, s.Stack, s.HeapStack
		}
		low.Goroutines, low.LastGC = s.Goroutines, max(low.LastGC, s.LastGC)
		if time.Now().After(deadline) {
			return low, nil
		}
		select {
		case <-ctx.Done():
			return low, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
