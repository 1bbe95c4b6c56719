package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"paimon/internal/chainsim"
	"paimon/internal/testutil"
)

// planState is a state of a plan as the API gives it.
type planState struct {
	Cash, GrossAssets string
	Tiers             map[string]struct {
		Value string
		Ratio int
	}
}

// plan is a rebalancing plan as the API gives it (docs/API.md "Rebalancing").
type plan struct {
	PlanID                                          string
	Status, TotalAmount                             string
	Reason                                          *string
	RequiresApproval                                bool
	TicketID                                        *string
	TargetRatios                                    map[string]int
	PreState, TargetState, PostState, RealisedState *planState
	Actions                                         []struct {
		Index                                                          int
		Type, Tier, Asset, Amount, ExpectedTokens, MinReceived, Status string
	}
}

// bps formats basis points as the console does (api.js bps).
func bps(n int) string { return fmt.Sprintf("%.2f %%", float64(n)/100) }

// stateCell is a state's row as the console shows it (rebalance.js stateCell).
func stateCell(s *planState, k string) string {
	switch k {
	case "cash":
		return amount(s.Cash)
	case "gross":
		return amount(s.GrossAssets)
	}
	t := s.Tiers[k]
	return amount(t.Value) + " · " + bps(t.Ratio)
}

// samePlan compares the plan the page shows (#rebalance-plan) with p, the API's: the states in
// cols (pre, target, post, realised) and every action's figures.
func samePlan(t *testing.T, ctx context.Context, p plan, cols ...string) error {
	t.Helper()
	states := map[string]*planState{"pre": p.PreState, "target": p.TargetState, "post": p.PostState, "realised": p.RealisedState}
	for _, col := range cols {
		for _, k := range []string{"L1", "L2", "L3", "cash", "gross"} {
			got := js[string](t, ctx, textOf(`#rebalance-plan [data-state="`+k+`"] [data-col="`+col+`"]`))
			if want := stateCell(states[col], k); got != want {
				return fmt.Errorf("plan %s, %s %s: the page shows %q, the API %q", p.PlanID, col, k, got, want)
			}
		}
	}
	rows := js[[][]string](t, ctx, `[...document.querySelectorAll('#rebalance-plan tr[data-action]')].map(r => [...r.cells].map(c => c.textContent.trim()))`)
	if len(rows) != len(p.Actions) {
		return fmt.Errorf("plan %s: the page shows %d actions, the API %d", p.PlanID, len(rows), len(p.Actions))
	}
	for i, a := range p.Actions {
		want := []string{fmt.Sprint(a.Index), a.Type, a.Tier, a.Asset[:6] + "…" + a.Asset[len(a.Asset)-4:], amount(a.Amount), amount(a.ExpectedTokens), amount(a.MinReceived), a.Status}
		if got := rows[i][:len(want)]; strings.Join(got, "|") != strings.Join(want, "|") {
			return fmt.Errorf("plan %s, action %d: the page shows %q, the API %q", p.PlanID, i, got, want)
		}
	}
	return nil
}

// TestConsoleRebalance is rebalancing through the console in a real browser, against a node on
// the simulated chain with the fund's contracts (no generated history: its assets are not on
// this chain). The 500,000 deposited are all cash, so L1 is outside its band. A viewer sees the
// status and no preview, execute or approve control, and the API refuses them to a viewer and
// to an operator; an operator previews a plan with its own target ratios (the page's actions
// and states are the API's preview of the same targets), and executes it: above the approval
// amount it opens a REBALANCE ticket, which two approvers find in the approval queue and
// approve with EIP-712 signatures from their wallets; the executor's purchases are mined and
// ingested, and the page, not reloaded nor re-reading the history, shows the plan COMPLETED with
// its realised books (the API's) and every tier within its band.
func TestConsoleRebalance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w := &wallet{chainID: chainsim.ChainID}
	bctx := browser(t, ctx, chromedp.WithListener(w.listener))
	e := newEnv(t, ctx, false)
	sh := newShots(t)
	if err := w.install(bctx); err != nil {
		t.Fatal(err)
	}

	var st struct {
		NeedsRebalance bool
		GrossAssets    string
		Tiers          map[string]struct {
			Ratio, TargetRatio, Deviation int
			InBand                        bool
		}
	}
	testutil.CheckFor(t, 30*time.Second, func() error {
		if err := e.get("/v1/rebalance/status", viewerToken, &st); err != nil {
			return err
		}
		if !st.NeedsRebalance || st.GrossAssets != "500000000000000000000000" {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})

	// A viewer: the status, the tiers as the API's; no control.
	navigate(t, bctx, e.url+"/console/#/operations")
	waitText(t, bctx, 10*time.Second, "main h1", contains("Operations"))
	js[bool](t, bctx, `performance.setResourceTimingBufferSize(100000), true`) // the fetches are counted below
	signInWithToken(t, bctx, viewerToken, "viewer")
	waitText(t, bctx, 10*time.Second, "#rebalance-status", contains("outside its band"))
	for k, x := range st.Tiers {
		row := waitText(t, bctx, 5*time.Second, `#rebalance-status tr[data-tier="`+k+`"]`, contains(bps(x.Ratio)))
		if !strings.Contains(row, bps(x.TargetRatio)) || !strings.Contains(row, bps(x.Deviation)) || strings.Contains(row, "OUTSIDE") == x.InBand {
			t.Errorf("tier %s: the page shows %q, the API %+v", k, row, x)
		}
	}
	if n := js[int](t, bctx, `document.querySelectorAll('#rebalance-form, #rebalance-preview, #rebalance-execute, #rebalance-cancel, #approve, #queue button').length`); n != 0 {
		t.Fatalf("a viewer sees %d rebalancing or approval controls", n)
	}
	forbidden := func(token, method, path, body string) {
		t.Helper()
		err := e.do(method, path, token, []byte(body), nil)
		if err == nil || !strings.Contains(err.Error(), ": 403 ") {
			t.Fatalf("%s %s as %s: %v, want 403", method, path, token[:12], err)
		}
	}
	forbidden(viewerToken, "POST", "/v1/rebalance/preview", `{}`)
	var hist struct{ Items []plan }
	if err := e.get("/v1/rebalance/history", viewerToken, &hist); err != nil || len(hist.Items) != 0 {
		t.Fatalf("after a refused preview the history has %d plans (%v)", len(hist.Items), err)
	}
	signOut(t, bctx)

	// An operator: the form. A partial form is refused by the page, a target outside its band
	// by the node (422 with the planner's reason); the bands' targets by default.
	signInWithToken(t, bctx, operatorToken, "operator")
	waitText(t, bctx, 10*time.Second, "#rebalance-form", contains("Target ratios"))
	setTargets := func(l1, l2, l3 string) {
		setInput(t, bctx, "#target-L1", l1)
		setInput(t, bctx, "#target-L2", l2)
		setInput(t, bctx, "#target-L3", l3)
	}
	setTargets("25", "", "")
	click(t, bctx, "#rebalance-preview")
	waitText(t, bctx, 5*time.Second, `#rebalance [role="alert"]`, contains("all three"))
	setTargets("10", "40", "50")
	click(t, bctx, "#rebalance-preview")
	waitText(t, bctx, 10*time.Second, "#rebalance-reason", contains("TARGET_OUTSIDE_BAND"))
	setTargets("", "", "")
	click(t, bctx, "#rebalance-preview")
	waitText(t, bctx, 10*time.Second, "#rebalance-plan", contains("Targets L1 20.00 %, L2 30.00 %, L3 50.00 %"))

	// The operator's own targets: the page's plan is the API's preview of the same targets.
	var want plan
	if err := e.do("POST", "/v1/rebalance/preview", operatorToken, []byte(`{"targetRatios":{"L1":2500,"L2":2500,"L3":5000}}`), &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Actions) != 2 || !want.RequiresApproval || want.Status != "PROPOSED" {
		t.Fatalf("the API's preview: %+v", want)
	}
	setTargets("25", "25", "50")
	click(t, bctx, "#rebalance-preview")
	waitText(t, bctx, 10*time.Second, "#rebalance-plan", contains("Targets L1 25.00 %, L2 25.00 %, L3 50.00 %"))
	id := js[string](t, bctx, `document.querySelector('#rebalance-plan').dataset.plan`)
	if id == want.PlanID || id == "" {
		t.Fatalf("the page's plan %q, the API's %s", id, want.PlanID)
	}
	if err := samePlan(t, bctx, want, "pre", "target", "post"); err != nil {
		t.Fatal(err)
	}
	var mine plan
	if err := findPlan(e, id, &mine); err != nil || mine.Status != "PROPOSED" || mine.TotalAmount != want.TotalAmount {
		t.Fatalf("plan %s in the history: %+v (%v)", id, mine, err)
	}
	if n := js[int](t, bctx, `document.querySelectorAll('#approve, #queue button').length`); n != 0 {
		t.Fatalf("an operator sees %d approval controls", n)
	}
	var cfg struct {
		Rebalance struct{ ApprovalAmount string }
	}
	if err := e.get("/v1/system/config", viewerToken, &cfg); err != nil || cfg.Rebalance.ApprovalAmount == "" {
		t.Fatalf("system config: %+v (%v)", cfg, err)
	}
	waitText(t, bctx, 5*time.Second, "#rebalance-plan", contains("Above the approval amount ("+amount(cfg.Rebalance.ApprovalAmount)+")"))
	// The API's plan from the history (a PROPOSED plan there says requiresApproval only as
	// recorded): the page still says it needs approval; then back to the page's plan.
	click(t, bctx, `#rebalance button[aria-label="Show plan `+want.PlanID+`"]`)
	waitText(t, bctx, 5*time.Second, `#rebalance-plan[data-plan="`+want.PlanID+`"] h3`, contains("needs approval"))
	// That one is cancelled from the page, with a reason (a viewer may not).
	forbidden(viewerToken, "POST", "/v1/rebalance/"+want.PlanID+"/cancel", `{}`)
	setInput(t, bctx, "#rebalance-cancel-reason", "the page's plan instead")
	click(t, bctx, "#rebalance-cancel")
	waitText(t, bctx, 10*time.Second, `#rebalance-plan[data-plan="`+want.PlanID+`"] #rebalance-plan-status`, contains("CANCELLED"))
	waitText(t, bctx, 5*time.Second, `#rebalance-plan[data-plan="`+want.PlanID+`"]`, contains("cancelled by ops: the page's plan instead"))
	waitText(t, bctx, 5*time.Second, `#rebalance tr[data-plan="`+want.PlanID+`"]`, contains("CANCELLED"))
	var cancelled plan
	if err := findPlan(e, want.PlanID, &cancelled); err != nil || cancelled.Status != "CANCELLED" || cancelled.Reason == nil ||
		*cancelled.Reason != "cancelled by ops: the page's plan instead" {
		t.Fatalf("plan %s after the cancel: %+v (%v)", want.PlanID, cancelled, err)
	}
	if n := js[int](t, bctx, `document.querySelectorAll('#rebalance-execute, #rebalance-cancel').length`); n != 0 {
		t.Fatalf("a cancelled plan shows %d execute or cancel buttons", n)
	}
	click(t, bctx, `#rebalance button[aria-label="Show plan `+id+`"]`)
	waitText(t, bctx, 5*time.Second, `#rebalance-plan[data-plan="`+id+`"] h3`, contains("needs approval"))
	accessible(t, bctx, "operations (operator, a plan proposed)")

	// Execute: above the approval amount, a REBALANCE ticket needing two approvers.
	click(t, bctx, "#rebalance-execute")
	ticket := "rebalance-" + id
	waitText(t, bctx, 10*time.Second, "#rebalance-note", contains("ticket "+ticket))
	waitText(t, bctx, 5*time.Second, "#rebalance-plan-status", contains("PENDING_APPROVAL"))
	waitText(t, bctx, 5*time.Second, "#rebalance-pending", contains(ticket))
	var tk struct {
		Type, Status, ReferenceID string
		RequiredApprovals         int
	}
	if err := e.get("/v1/approvals/"+ticket, adminToken, &tk); err != nil || tk.Type != "REBALANCE" || tk.RequiredApprovals != 2 || tk.Status != "PENDING" {
		t.Fatalf("ticket %s: %+v (%v)", ticket, tk, err)
	}
	forbidden(operatorToken, "POST", "/v1/approvals/"+ticket+"/approve", `{}`)
	forbidden(viewerToken, "POST", "/v1/approvals/"+ticket+"/approve", `{}`)
	forbidden(viewerToken, "POST", "/v1/rebalance/execute", `{"planId":"`+want.PlanID+`"}`)
	signOut(t, bctx)

	// Two approvers find it in the queue and approve it, each signing with the wallet.
	historyFetches := `performance.getEntriesByType('resource').filter(r => r.name.includes('/v1/rebalance/history')).length`
	var fetched int
	for i, status := range []string{"PARTIALLY_APPROVED", "APPROVED"} {
		w.use(e.approvers[i])
		signInWithWallet(t, bctx, w, "approver")
		row := `#queue tr[data-ticket="` + ticket + `"]`
		waitText(t, bctx, 10*time.Second, row, contains(fmt.Sprintf("%d / 2", i)))
		click(t, bctx, row+" button")
		waitText(t, bctx, 10*time.Second, "#ticket-status", func(s string) bool { return s == "PENDING" || s == "PARTIALLY_APPROVED" })
		waitText(t, bctx, 5*time.Second, "#ticket", contains("REBALANCE "+id))
		if i == 0 { // what is approved: the plan, from the ticket
			click(t, bctx, "#ticket-plan")
			waitText(t, bctx, 10*time.Second, `#rebalance-plan[data-plan="`+id+`"] #rebalance-plan-status`, contains("PENDING_APPROVAL"))
			if err := samePlan(t, bctx, mine, "pre", "target", "post"); err != nil {
				t.Fatal(err)
			}
		}
		signed := w.count("eth_signTypedData_v4")
		fetched = js[int](t, bctx, historyFetches)
		click(t, bctx, "#approve")
		waitText(t, bctx, 10*time.Second, "#ticket-status", func(s string) bool { return s == status || s == "EXECUTED" })
		if w.count("eth_signTypedData_v4") != signed+1 {
			t.Fatalf("approval %d: no EIP-712 signature asked of the wallet", i+1)
		}
		if i == 0 {
			signOut(t, bctx)
		}
	}

	// The executor's purchases are mined and ingested: the plan arrives COMPLETED on the
	// rebalance channel (the page neither reloads nor reads the history again).
	var done plan
	testutil.CheckFor(t, 90*time.Second, func() error {
		if err := findPlan(e, id, &done); err != nil {
			return err
		}
		if done.Status != "COMPLETED" {
			var txs any
			e.get("/v1/executor/transactions", adminToken, &txs)
			return fmt.Errorf("plan %s is %s; executor %v", id, done.Status, txs)
		}
		return nil
	})
	waitText(t, bctx, 15*time.Second, `#rebalance tr[data-plan="`+id+`"]`, contains("COMPLETED"))
	waitText(t, bctx, 10*time.Second, "#rebalance-status", contains("within its band"))
	waitText(t, bctx, 10*time.Second, "#ticket-status", contains("EXECUTED"))
	if n := js[int](t, bctx, historyFetches); n != fetched {
		t.Errorf("the history was read %d times after the approval: the plan should arrive on the channel", n-fetched)
	}
	click(t, bctx, `#rebalance button[aria-label="Show plan `+id+`"]`)
	waitText(t, bctx, 5*time.Second, "#rebalance-plan-status", contains("COMPLETED"))
	if err := samePlan(t, bctx, done, "pre", "post", "realised"); err != nil {
		t.Fatal(err)
	}
	for _, a := range done.Actions {
		if a.Status != "DONE" {
			t.Errorf("action %d is %s", a.Index, a.Status)
		}
	}
	sh.takeOf(bctx, "rebalance", "#rebalance")
	accessible(t, bctx, "operations (approver, a plan completed)")
}

// findPlan reads plan id from the history.
func findPlan(e *env, id string, out *plan) error {
	var h struct{ Items []json.RawMessage }
	if err := e.get("/v1/rebalance/history?limit=20", viewerToken, &h); err != nil {
		return err
	}
	for _, raw := range h.Items {
		var p plan
		if err := json.Unmarshal(raw, &p); err != nil {
			return err
		}
		if p.PlanID == id {
			*out = p
			return nil
		}
	}
	return fmt.Errorf("plan %s is not in the history", id)
}
