package console_test

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"paimon/internal/testutil"
)

// axeSource is axe-core 4.14.1 (MPL-2.0), vendored for the tests only: it is injected into the
// page by the test, never served by the node.
//
//go:embed testdata/axe.min.js
var axeSource string

// accessible runs axe-core on the page and fails on any serious or critical violation.
func accessible(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	if !js[bool](t, ctx, `typeof axe !== 'undefined'`) {
		js[bool](t, ctx, axeSource+";\ntrue")
	}
	found := js[[]string](t, ctx, `axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
		.filter(v => v.impact === 'serious' || v.impact === 'critical')
		.map(v => v.impact + ' ' + v.id + ': ' + v.help + ' at ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')))`)
	for _, v := range found {
		t.Errorf("%s page: %s", page, v)
	}
	t.Logf("%s page: axe-core found %d serious or critical violations", page, len(found))
}

// testRisk: the level, score and every indicator as the API says; an event resolved from the
// page; the alerts listed.
func testRisk(t *testing.T, e *env, ctx context.Context, sh *shots) {
	var st struct {
		Level      string
		Score      int
		Indicators []struct{ Name, Status string }
	}
	if err := e.get("/v1/risk/status", "", &st); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, e.url+"/console/#/risk")
	waitText(t, ctx, 10*time.Second, `[data-k="level"]`, func(s string) bool { return s != "" })
	testutil.CheckFor(t, 10*time.Second, func() error {
		if err := e.get("/v1/risk/status", "", &st); err != nil {
			return err
		}
		got := js[[]string](t, ctx, `[document.querySelector('[data-k="level"]').textContent, document.querySelector('[data-k="score"]').textContent]`)
		if got[0] != st.Level || got[1] != fmt.Sprint(st.Score) {
			return fmt.Errorf("the page shows level %s score %s, the API %s %d", got[0], got[1], st.Level, st.Score)
		}
		for _, in := range st.Indicators {
			row := js[string](t, ctx, textOf(`tr[data-indicator="`+in.Name+`"]`))
			if !strings.Contains(row, in.Status) {
				return fmt.Errorf("indicator %s: the page shows %q, the API %s", in.Name, row, in.Status)
			}
		}
		return nil
	})
	if len(st.Indicators) != 9 {
		t.Fatalf("%d indicators, want 9", len(st.Indicators))
	}

	var evs struct {
		Items []struct {
			ID       string
			Resolved bool
		}
	}
	if err := e.get("/v1/risk/events?limit=50", adminToken, &evs); err != nil {
		t.Fatal(err)
	}
	unresolved := ""
	for _, ev := range evs.Items {
		if !ev.Resolved {
			unresolved = ev.ID
			break
		}
	}
	if unresolved == "" {
		t.Fatalf("no unresolved risk event among %d to resolve", len(evs.Items))
	}
	waitText(t, ctx, 10*time.Second, `#risk-events tr[data-event="`+unresolved+`"]`, contains("Resolve"))
	if n := js[int](t, ctx, `document.querySelectorAll('#risk-events tbody tr').length`); n != len(evs.Items) {
		t.Errorf("the page lists %d risk events, the API %d", n, len(evs.Items))
	}
	sh.take(ctx, "risk")
	click(t, ctx, `#risk-events tr[data-event="`+unresolved+`"] button`)
	waitText(t, ctx, 10*time.Second, `#risk-events tr[data-event="`+unresolved+`"]`, contains("by wallet:"))
	testutil.CheckFor(t, 5*time.Second, func() error {
		if err := e.get("/v1/risk/events?limit=50", adminToken, &evs); err != nil {
			return err
		}
		for _, x := range evs.Items {
			if x.ID == unresolved && x.Resolved {
				return nil
			}
		}
		return fmt.Errorf("event %s is not resolved", unresolved)
	})
	waitText(t, ctx, 10*time.Second, "#alerts", func(s string) bool { return strings.Contains(s, "no webhook") || strings.Contains(s, "No alerts") })
	accessible(t, ctx, "risk")
}

// testCluster: the leader, members, components and the executor's transaction as the API says.
func testCluster(t *testing.T, e *env, ctx context.Context, sh *shots) {
	var health struct {
		Components map[string]struct{ Status string }
	}
	if err := e.get("/v1/system/health", "", &health); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, e.url+"/console/#/cluster")
	waitText(t, ctx, 10*time.Second, `[data-k="leader"]`, contains("node1"))
	waitText(t, ctx, 10*time.Second, `tr[data-node="node1"]`, contains("(leader)"))
	for name, c := range health.Components {
		waitText(t, ctx, 10*time.Second, `tr[data-component="`+name+`"]`, contains(c.Status))
	}
	if n := js[int](t, ctx, `document.querySelectorAll('tr[data-component]').length`); n != len(health.Components) || n != 8 {
		t.Errorf("the page shows %d components, the API %d", n, len(health.Components))
	}
	waitText(t, ctx, 10*time.Second, `[data-k="wsConnections"]`, func(s string) bool { return s != "0" && s != "—" && s != "" })
	waitText(t, ctx, 10*time.Second, "#executor", func(s string) bool {
		return strings.Contains(s, "APPROVE") && strings.Contains(s, "redemption-1")
	})
	var cs struct{ AppliedIndex uint64 }
	if err := e.get("/v1/cluster/status", adminToken, &cs); err != nil {
		t.Fatal(err)
	}
	var shown uint64
	fmt.Sscan(js[string](t, ctx, textOf(`[data-k="appliedIndex"]`)), &shown)
	if shown == 0 || shown > cs.AppliedIndex+1000 {
		t.Errorf("applied index shown %d, the API %d", shown, cs.AppliedIndex)
	}
	sh.take(ctx, "cluster")
	accessible(t, ctx, "cluster")

	// Polled, not pushed (no WebSocket channel carries these): every poll period while the tab
	// is visible, nothing while it is hidden, at once when it is shown again. The period is
	// shortened to 200 ms for the test (taken when the polling restarts).
	reads := `performance.getEntriesByType('resource').filter(r => r.name.endsWith('/v1/system/health')).length`
	hide := func(hidden bool) {
		t.Helper()
		js[bool](t, ctx, fmt.Sprintf(`(() => {
  if (%t) {
    Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
    Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
  } else { delete document.hidden; delete document.visibilityState; }
  document.dispatchEvent(new Event('visibilitychange'));
  return document.hidden === %t;
})()`, hidden, hidden))
	}
	atLeast := func(n int, within time.Duration) {
		t.Helper()
		testutil.CheckFor(t, within, func() error {
			if got := js[int](t, ctx, reads); got < n {
				return fmt.Errorf("%d reads of /v1/system/health, want %d", got, n)
			}
			return nil
		})
	}
	js[bool](t, ctx, `performance.setResourceTimingBufferSize(100000), paimonCluster.every = 200, true`)
	hide(true)
	hide(false)
	atLeast(js[int](t, ctx, reads)+3, 5*time.Second)
	hide(true)
	time.Sleep(300 * time.Millisecond) // a read under way lands
	paused := js[int](t, ctx, reads)
	time.Sleep(1500 * time.Millisecond)
	if n := js[int](t, ctx, reads); n != paused {
		t.Errorf("a hidden tab read /v1/system/health %d times in 1.5 s", n-paused)
	}
	hide(false)
	atLeast(paused+1, time.Second)
	js[bool](t, ctx, `paimonCluster.every = 5000, true`)
}

// -console.firstpaint N measures the first contentful paint of the Fund page N times, cold
// (browser cache off) and warm, against /healthz's (a bare JSON answer of the same node) as the
// baseline measured in the same run (bench/RESULTS.md).
var firstPaintRuns = flag.Int("console.firstpaint", 0, "measure the Fund page's first paint this many times (0: not at all)")

func testFirstPaint(t *testing.T, e *env, ctx context.Context) {
	cache := func(disabled bool) {
		err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: disabled})
			return err
		}))
		if err != nil {
			t.Fatal(err)
		}
	}
	// The time the overview's figures are on the page, recorded by an observer the test adds.
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
new MutationObserver((_, o) => {
  const e = document.querySelector('[data-k="totalAssets"]');
  if (e && e.textContent) { window.__figuresAt = performance.now(); o.disconnect(); }
}).observe(document, {subtree: true, childList: true, characterData: true});`})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	var figures []float64
	fcp := func(url, ready string) float64 {
		navigate(t, ctx, "about:blank")
		navigate(t, ctx, url)
		if ready != "" {
			waitText(t, ctx, 10*time.Second, ready, func(s string) bool { return s != "" })
		}
		if ready != "" {
			figures = append(figures, js[float64](t, ctx, `window.__figuresAt || -1`))
		}
		var v float64
		testutil.CheckFor(t, 5*time.Second, func() error {
			v = js[float64](t, ctx, `(performance.getEntriesByName('first-contentful-paint')[0] || {startTime: -1}).startTime`)
			if v < 0 {
				return fmt.Errorf("no first paint yet")
			}
			return nil
		})
		return v
	}
	median := func(xs []float64) float64 {
		sort.Float64s(xs)
		return xs[len(xs)/2]
	}
	var cold, warm, base []float64
	for range *firstPaintRuns {
		cache(true)
		cold = append(cold, fcp(e.url+"/console/#/fund", `[data-k="totalAssets"]`))
		base = append(base, fcp(e.url+"/healthz", ""))
		cache(false)
		fcp(e.url+"/console/#/fund", `[data-k="totalAssets"]`)
		warm = append(warm, fcp(e.url+"/console/#/fund", `[data-k="totalAssets"]`))
	}
	// figures holds, per run: cold, warm-up, warm.
	var figCold, figWarm []float64
	for i := 0; i+2 < len(figures); i += 3 {
		figCold, figWarm = append(figCold, figures[i]), append(figWarm, figures[i+2])
	}
	mb, mc, mw := median(base), median(cold), median(warm)
	fc, fw := median(figCold), median(figWarm)
	t.Logf("first contentful paint, median of %d: /healthz %.0f ms; Fund page cold %.0f ms (%.2fx), warm %.0f ms (%.2fx); its figures shown cold %.0f ms (%.2fx), warm %.0f ms (%.2fx)",
		*firstPaintRuns, mb, mc, mc/mb, mw, mw/mb, fc, fc/mb, fw, fw/mb)
	t.Logf("runs: base %v; cold %v; warm %v; figures cold %v, warm %v", base, cold, warm, figCold, figWarm)
}
