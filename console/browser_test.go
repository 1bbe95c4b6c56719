package console_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/common"

	"paimon/internal/chainsim"
	"paimon/internal/testutil"
)

// -console.update-screenshots rewrites docs/console/*.png from the test's screenshots.
var updateScreenshots = flag.Bool("console.update-screenshots", false, "write the screenshots to docs/console/ (the README's)")

// browser starts headless Chromium (Debian's chromium; scripts/test.sh installs it) and returns
// a context of one tab. A missing browser fails the test: it is never skipped.
func browser(t *testing.T, ctx context.Context, opts ...chromedp.ContextOption) context.Context {
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (apt-get install -y chromium; scripts/test.sh installs it): %v", err)
	}
	aopts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-gpu", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(ctx, aopts...)
	t.Cleanup(cancel)
	bctx, cancel2 := chromedp.NewContext(actx, append(opts, chromedp.WithErrorf(t.Logf))...)
	t.Cleanup(cancel2)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// shots are where the screenshots go: the test's output folder, and docs/console with the flag.
type shots struct {
	t   *testing.T
	dir string
}

func newShots(t *testing.T) *shots {
	dir := os.Getenv("PAIMON_CONSOLE_SHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &shots{t: t, dir: dir}
}

func (s *shots) take(ctx context.Context, name string) {
	s.t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	s.save(name, png)
}

// takeOf is a screenshot of the element sel alone.
func (s *shots) takeOf(ctx context.Context, name, sel string) {
	s.t.Helper()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err != nil {
		s.t.Fatalf("screenshot %s of %s: %v", name, sel, err)
	}
	s.save(name, png)
}

func (s *shots) save(name string, png []byte) {
	s.t.Helper()
	write := func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
	write(s.dir)
	if *updateScreenshots {
		write(filepath.Join("..", "docs", "console"))
	}
	s.t.Logf("screenshot %s.png (%d bytes) in %s", name, len(png), s.dir)
}

// js evaluates expr in the page (awaiting a promise) and returns its value.
func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// textOf is the expression of sel's text ("" when there is no such element).
func textOf(sel string) string {
	return fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.textContent.trim() : ""; })()`, sel)
}

// click clicks the element sel, failing when there is none.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if !js[bool](t, ctx, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e || e.disabled) return false; e.click(); return true; })()`, sel)) {
		t.Fatalf("click %s: no such enabled element", sel)
	}
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
}

// waitText polls the page until sel's text satisfies ok.
func waitText(t *testing.T, ctx context.Context, timeout time.Duration, sel string, ok func(string) bool) string {
	t.Helper()
	var last string
	testutil.CheckFor(t, timeout, func() error {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[*string](fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.textContent.trim() : null; })()`, sel)))
		if err != nil {
			return err
		}
		if s == nil {
			return fmt.Errorf("no %s", sel)
		}
		last = *s
		if !ok(last) {
			return fmt.Errorf("%s: %q", sel, last)
		}
		return nil
	})
	return last
}

func contains(sub string) func(string) bool {
	return func(s string) bool { return strings.Contains(s, sub) }
}

// TestConsole is the console in a real browser against a node with a year of history and the
// fund's contracts on a simulated chain: every page, its figures against the API, live
// updates with a resume after a reconnect, wallet sign-in and an approval carried to the chain.
func TestConsole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w := &wallet{chainID: chainsim.ChainID}
	bctx := browser(t, ctx, chromedp.WithListener(w.listener)) // first: a missing browser fails before the node is built
	e := newEnv(t, ctx, true)
	sh := newShots(t)
	if err := w.install(bctx); err != nil {
		t.Fatal(err)
	}

	t.Run("served", func(t *testing.T) { testServed(t, e) })
	t.Run("fund", func(t *testing.T) { testFundPage(t, e, bctx, sh) })
	t.Run("operations", func(t *testing.T) { testOperations(t, e, bctx, w, sh) })
	t.Run("risk", func(t *testing.T) { testRisk(t, e, bctx, sh) })
	t.Run("cluster", func(t *testing.T) { testCluster(t, e, bctx, sh) })
	if *firstPaintRuns > 0 {
		t.Run("firstpaint", func(t *testing.T) { testFirstPaint(t, e, bctx) })
	}
}

// testServed checks how the console is served: the page never cached, the assets under hashed
// names cached for a year, /console redirected.
func testServed(t *testing.T, e *env) {
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) *http.Response {
		r, err := client.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r
	}
	if r := get("/console"); r.StatusCode != 301 || r.Header.Get("Location") != "/console/" {
		t.Errorf("/console: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	r := get("/console/")
	if r.StatusCode != 200 || r.Header.Get("Cache-Control") != "no-cache" || !strings.Contains(r.Header.Get("Content-Security-Policy"), "script-src 'self' 'sha256-") {
		t.Errorf("/console/: %d %v", r.StatusCode, r.Header)
	}
	resp, err := http.Get(e.url + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	body := string(raw)
	if strings.Contains(body, "{{") {
		t.Errorf("the page has an unrendered placeholder: %s", body)
	}
	m := regexp.MustCompile(`/console/assets/app\.[0-9a-f]{10}\.js`).FindString(body)
	if m == "" {
		t.Fatalf("the page names no app module: %s", body)
	}
	asset := m
	if r := get(asset); r.StatusCode != 200 || r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("%s: %d %v", asset, r.StatusCode, r.Header)
	}
	if r := get("/console/assets/app.0000000000.js"); r.StatusCode != 404 {
		t.Errorf("an unknown asset: %d", r.StatusCode)
	}
}

func testFundPage(t *testing.T, e *env, ctx context.Context, sh *shots) {
	var ov struct {
		Nav, TotalAssets, TotalSupply, Cash string
		HolderCount                         int
	}
	if err := e.get("/v1/fund/overview", "", &ov); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, e.url+"/console/#/fund")
	waitText(t, ctx, 10*time.Second, `[data-k="totalAssets"]`, func(s string) bool { return s != "" })
	fcp := js[float64](t, ctx, `(performance.getEntriesByName('first-contentful-paint')[0] || {startTime: -1}).startTime`)
	t.Logf("fund page: first contentful paint %.0f ms", fcp)

	// The figures are the API's (the overview may have moved on: read it again when they differ).
	testutil.CheckFor(t, 10*time.Second, func() error {
		if err := e.get("/v1/fund/overview", "", &ov); err != nil {
			return err
		}
		for k, want := range map[string]string{"nav": ov.Nav, "totalAssets": amount(ov.TotalAssets), "totalSupply": amount(ov.TotalSupply),
			"cash": amount(ov.Cash), "holderCount": fmt.Sprint(ov.HolderCount)} {
			got, err := chromedp.Run(ctx, chromedp.Evaluate[string](textOf(`[data-k="`+k+`"]`)))
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%s: the page shows %q, the API %q", k, got, want)
			}
		}
		return nil
	})
	// The assets: each one's allocation (its share of its tier) and target as the API's.
	testutil.CheckFor(t, 10*time.Second, func() error {
		var as struct {
			Items []struct {
				Token            string
				Allocation       *int
				TargetAllocation int
			}
		}
		if err := e.get("/v1/fund/assets", "", &as); err != nil {
			return err
		}
		allocated := 0
		for _, a := range as.Items {
			cells := js[[]string](t, ctx, fmt.Sprintf(`[...(document.querySelector('#assets tr[data-token="%s"]') || {cells: []}).cells].map(c => c.textContent.trim())`, a.Token))
			want := "—"
			if a.Allocation != nil {
				want, allocated = bps(*a.Allocation), allocated+1
			}
			if len(cells) < 5 || cells[3] != want || cells[4] != bps(a.TargetAllocation) {
				return fmt.Errorf("asset %s: the page shows %q, the API allocation %s of target %s", a.Token, cells, want, bps(a.TargetAllocation))
			}
		}
		if allocated == 0 {
			return fmt.Errorf("no asset of %d has an allocation", len(as.Items))
		}
		return nil
	})
	// The chart: the default 30 daily points of the history, then a year of weeks.
	var hist struct{ Items []struct{ Nav string } }
	if err := e.get("/v1/fund/nav/history", "", &hist); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, 5*time.Second, "[data-points]", contains(fmt.Sprintf("%d points, 1d", len(hist.Items))))
	if len(hist.Items) < 25 {
		t.Fatalf("nav history has %d daily points, want a month of them", len(hist.Items))
	}
	setSelect(t, ctx, `#nav label:nth-of-type(1) select`, "1w")
	setSelect(t, ctx, `#nav label:nth-of-type(2) select`, "1y")
	waitText(t, ctx, 5*time.Second, "[data-points]", func(s string) bool {
		var n int
		fmt.Sscanf(s, "%d points, 1w", &n)
		return n >= 50 && strings.HasSuffix(s, "1w")
	})
	for _, tier := range []string{"L1", "L2", "L3"} {
		waitText(t, ctx, 5*time.Second, `[data-tier="`+tier+`"] .ratio`, contains("%"))
	}
	// The screenshot shows the page live (the state shown, not only the socket's: the socket
	// may open before the header listens to it).
	waitText(t, ctx, 10*time.Second, "#live-state", contains("live"))
	sh.take(ctx, "fund")

	// A price posted to the node arrives on the page through the WebSocket.
	// One of the history's assets: the chain's have oracle prices dated by its blocks, whose
	// clock runs ahead of this one (a block every 50 ms, each a second later).
	asset := strings.ToLower(e.year.Assets[1].Hex())
	postPrice := func(p string) {
		body := fmt.Sprintf(`{"prices":[{"asset":%q,"price":%q,"time":%q}]}`, asset, p, time.Now().UTC().Format(time.RFC3339))
		if err := e.do("POST", "/v1/admin/prices", adminToken, []byte(body), nil); err != nil {
			t.Fatal(err)
		}
	}
	countFetches := `performance.getEntriesByType('resource').filter(r => r.name.includes('/v1/prices')).length`
	fetchesBefore := js[int](t, ctx, countFetches)
	postPrice("1071200000000000000")
	row := `tr[data-asset="` + asset + `"] td:nth-child(2)`
	waitText(t, ctx, 10*time.Second, row, contains("1.071200"))

	// The connection drops; a price posted meanwhile arrives after the reconnect, replayed from
	// the last seq received (no refetch of the prices).
	js[bool](t, ctx, `paimonLive.reconnectDelay = 1500; paimonLive.resumes = []; paimonLive.ws.close(); true`)
	waitText(t, ctx, 5*time.Second, "#live-state", contains("reconnecting"))
	postPrice("1073400000000000000")
	waitText(t, ctx, 10*time.Second, row, contains("1.073400"))
	resumed := js[[]struct {
		Channel string
		Since   uint64
	}](t, ctx, `paimonLive.resumes`)
	fetchesAfter := js[int](t, ctx, countFetches)
	found := false
	for _, r := range resumed {
		found = found || r.Channel == "prices" && r.Since > 0
	}
	if !found || fetchesAfter != fetchesBefore {
		t.Fatalf("after the reconnect: resumes %+v, /v1/prices fetched %d times (before %d)", resumed, fetchesAfter, fetchesBefore)
	}
	waitText(t, ctx, 5*time.Second, "#live-state", contains("live"))

	accessible(t, ctx, "fund")

	// The keyboard: the first Tab reaches the skip link, the next ones the pages' links.
	js[bool](t, ctx, `document.activeElement && document.activeElement.blur(), true`)
	var focused []string
	for range 3 {
		if err := chromedp.Do(ctx, chromedp.KeyEvent("\t")); err != nil {
			t.Fatal(err)
		}
		focused = append(focused, js[string](t, ctx, `document.activeElement.textContent.trim()`))
	}
	if strings.Join(focused, "|") != "Skip to content|Fund|Operations" {
		t.Errorf("tabbing focuses %q, want the skip link then the pages", focused)
	}

	// A phone's screen.
	phone(t, ctx, true)
	sh.take(ctx, "fund-phone")
	phone(t, ctx, false)
}

// setSelect chooses value in a select and fires its change event (as a person's choice does).
func setSelect(t *testing.T, ctx context.Context, sel, value string) {
	t.Helper()
	expr := fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('change', {bubbles: true})); return s.value; })()`, sel, value)
	if got := js[string](t, ctx, expr); got != value {
		t.Fatalf("select %s = %s: %q", sel, value, got)
	}
}

// phone sets (or clears) a phone's screen: 390 × 844 CSS pixels, scale 3.
func phone(t *testing.T, ctx context.Context, on bool) {
	t.Helper()
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if !on {
			_, err := cdp.Call(ctx, tg, emulation.ClearDeviceMetricsOverride, cdp.Empty{})
			return err
		}
		_, err := cdp.Call(ctx, tg, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 390, Height: 844, DeviceScaleFactor: 2, Mobile: true})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
}

// setInput types value into the input sel (as a person does: an input event per change).
func setInput(t *testing.T, ctx context.Context, sel, value string) {
	t.Helper()
	expr := fmt.Sprintf(`(() => { const s = document.querySelector(%q); if (!s) return false; s.value = %q; s.dispatchEvent(new Event('input', {bubbles: true})); return true; })()`, sel, value)
	if !js[bool](t, ctx, expr) {
		t.Fatalf("no input %s", sel)
	}
}

// signInWithToken uses the header's token form.
func signInWithToken(t *testing.T, ctx context.Context, token, role string) {
	t.Helper()
	setInput(t, ctx, "#api-token", token)
	js[bool](t, ctx, `document.querySelector('.token-form').requestSubmit(), true`)
	waitText(t, ctx, 10*time.Second, "#session [data-role]", contains(role))
}

// signInWithWallet clicks "Sign in with wallet": the shim answers with w's current key.
func signInWithWallet(t *testing.T, ctx context.Context, w *wallet, role string) {
	t.Helper()
	before := w.count("personal_sign")
	click(t, ctx, "#wallet-signin")
	waitText(t, ctx, 10*time.Second, "#session [data-role]", contains(role))
	if w.count("personal_sign") != before+1 {
		t.Fatalf("sign-in: %d personal_sign requests, want 1", w.count("personal_sign")-before)
	}
}

func signOut(t *testing.T, ctx context.Context) {
	t.Helper()
	click(t, ctx, "#session button")
	waitText(t, ctx, 10*time.Second, "#wallet-signin", contains("Sign in"))
}

// testOperations: a viewer sees no approve button; two approvers sign in with their wallets and
// approve a ticket with signed decisions (approvals.require_signature is on), which the
// executor carries to the chain: the page shows it EXECUTED.
func testOperations(t *testing.T, e *env, ctx context.Context, w *wallet, sh *shots) {
	ticket := e.requestRedemption(150_000)
	requestID := strings.TrimPrefix(ticket, "redemption-")

	navigate(t, ctx, e.url+"/console/#/operations")
	waitText(t, ctx, 10*time.Second, "main h1", contains("Operations"))
	signInWithToken(t, ctx, viewerToken, "viewer")
	waitText(t, ctx, 10*time.Second, "#queue", contains("for approvers"))
	waitText(t, ctx, 10*time.Second, "#redemptions", contains(requestID))
	if n := js[int](t, ctx, `document.querySelectorAll('#approve, #queue button').length`); n != 0 {
		t.Fatalf("a viewer sees %d approve or open buttons", n)
	}
	signOut(t, ctx)

	for i, want := range []string{"PARTIALLY_APPROVED", "APPROVED"} {
		w.use(e.approvers[i])
		signInWithWallet(t, ctx, w, "approver")
		row := `#queue tr[data-ticket="` + ticket + `"]`
		waitText(t, ctx, 10*time.Second, row, contains(fmt.Sprintf("%d / 2", i)))
		sla := waitText(t, ctx, 5*time.Second, row+" [data-sla]", func(s string) bool { return s != "" })
		if !strings.Contains(sla, ":") && !strings.Contains(sla, "overdue") {
			t.Fatalf("SLA countdown %q", sla)
		}
		click(t, ctx, row+" button")
		waitText(t, ctx, 10*time.Second, "#ticket-status", func(s string) bool { return s == "PENDING" || s == "PARTIALLY_APPROVED" })
		if i == 0 {
			sh.take(ctx, "operations")
		}
		signed := w.count("eth_signTypedData_v4")
		click(t, ctx, "#approve")
		waitText(t, ctx, 10*time.Second, "#ticket-status", func(s string) bool { return s == want || s == "EXECUTED" })
		if w.count("eth_signTypedData_v4") != signed+1 {
			t.Fatalf("approval %d: no EIP-712 signature asked of the wallet", i+1)
		}
		if i == 0 {
			signOut(t, ctx)
		}
	}
	// The executor sends approveRedemption; the chain's event closes the ticket, which the
	// page learns on the approvals channel.
	testutil.CheckFor(t, 60*time.Second, func() error {
		var tk map[string]any
		if err := e.get("/v1/approvals/"+ticket, adminToken, &tk); err != nil {
			return err
		}
		if tk["status"] != "EXECUTED" {
			var txs any
			e.get("/v1/executor/transactions", adminToken, &txs)
			return fmt.Errorf("ticket %v; executor %v", tk, txs)
		}
		return nil
	})
	waitText(t, ctx, 10*time.Second, "#ticket-status", contains("EXECUTED"))
	waitText(t, ctx, 5*time.Second, "#ticket-execution", contains("APPROVED"))
	trail := waitText(t, ctx, 5*time.Second, "#ticket .trail", contains("APPROVE"))
	for _, k := range e.approvers {
		if !strings.Contains(trail, "wallet:"+addrOf(k)) {
			t.Errorf("the audit trail does not name %s: %s", addrOf(k), trail)
		}
	}
	var tk struct {
		Status    string
		Execution struct{ Outcome, TxHash string }
	}
	if err := e.get("/v1/approvals/"+ticket, adminToken, &tk); err != nil {
		t.Fatal(err)
	}
	if tk.Status != "EXECUTED" || tk.Execution.Outcome != "APPROVED" {
		t.Fatalf("the API says %+v", tk)
	}
	if r, err := e.client.TransactionReceipt(e.ctx, common.HexToHash(tk.Execution.TxHash)); err != nil || r.Status != 1 {
		t.Fatalf("the approval's transaction %s on chain: %v %v", tk.Execution.TxHash, r, err)
	}

	// The redemption's timeline, reports.
	click(t, ctx, `#redemptions button[aria-label="Timeline of request `+requestID+`"]`)
	waitText(t, ctx, 10*time.Second, "#timeline", func(s string) bool {
		return strings.Contains(s, "PENDING_APPROVAL") && strings.Contains(s, "APPROVED")
	})
	click(t, ctx, "#report-csv")
	waitText(t, ctx, 10*time.Second, "#report-msg", contains(".csv ("))
	click(t, ctx, "#report-pdf")
	waitText(t, ctx, 10*time.Second, "#report-msg", contains(".pdf ("))
	// Rebalancing: "not available" while the node has no such endpoint, else its status.
	var rb struct{ NeedsRebalance bool }
	switch err := e.get("/v1/rebalance/status", adminToken, &rb); {
	case err != nil && strings.Contains(err.Error(), ": 404 "):
		waitText(t, ctx, 5*time.Second, "#rebalance-na", contains("not available"))
	case err != nil:
		t.Fatal(err)
	case rb.NeedsRebalance:
		waitText(t, ctx, 5*time.Second, "#rebalance-status", contains("outside its band"))
	default:
		waitText(t, ctx, 5*time.Second, "#rebalance-status", contains("within its band"))
	}
	accessible(t, ctx, "operations")
}
