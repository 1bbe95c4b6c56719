// Rebalancing, a section of the Operations page: the tiers against their bands
// (GET /v1/rebalance/status), a preview form with optional target ratios, the plan's actions
// and its states (before, target, estimated after, realised), execute or cancel (operators; a
// plan above [rebalance] approval_amount opens a REBALANCE ticket that the approval queue
// shows), and the history of plans. Live: every change of a plan arrives on the `rebalance`
// channel (the plan shown, the history and the status follow it); the status is read again
// when the overview changes (prices and flows move the tiers). A node without rebalancing
// answers 404: the section says so.
import { html, useState, useEffect, useRef } from 'preact';
import { api, amount, time, short, can, bps } from 'c/api.js';
import { useLive } from 'c/live.js';
import { Section, Table, ErrorNote, Pill } from 'c/ui.js';

const TIERS = ['L1', 'L2', 'L3'];

// targetsBody turns the form's percentages into the preview's body: {} when all three are
// empty (the bands' targets), else targetRatios in basis points.
export function targetsBody(form) {
  const given = TIERS.filter((k) => String(form[k] ?? '').trim() !== '');
  if (given.length === 0) return {};
  if (given.length !== 3) throw new Error('Give all three target ratios, or none for the bands\' targets.');
  const t = {};
  for (const k of TIERS) {
    const v = Number(form[k]);
    if (!Number.isFinite(v) || v < 0 || v > 100) throw new Error(`The ${k} target must be a percentage from 0 to 100.`);
    t[k] = Math.round(v * 100);
  }
  if (t.L1 + t.L2 + t.L3 !== 10000) throw new Error(`The targets sum to ${bps(t.L1 + t.L2 + t.L3)}, not 100 %.`);
  return { targetRatios: t };
}

// showPlan asks the section to show plan id (a REBALANCE ticket's button) and scrolls to it.
export function showPlan(id) { dispatchEvent(new CustomEvent('paimon:plan', { detail: String(id) })); }

export function Rebalance() {
  const [st, setSt] = useState(null);
  const [hist, setHist] = useState(null);
  const [plan, setPlan] = useState(null);
  const [err, setErr] = useState(null);
  const [na, setNa] = useState(false);
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState(null);
  const [form, setForm] = useState({ L1: '', L2: '', L3: '' });
  const [reason, setReason] = useState(''); // of a cancellation
  const [approval, setApproval] = useState(null); // [rebalance] approval_amount (a PROPOSED plan has none yet)
  const timer = useRef(null);
  const loadStatus = () => api('/v1/rebalance/status').then(setSt, (e) => (e.status === 404 ? setNa(true) : setErr(e)));
  const loadHistory = () => api('/v1/rebalance/history?limit=10').then((r) => setHist(r.items), () => {});
  const load = () => { loadStatus(); loadHistory(); };
  useEffect(() => {
    load();
    api('/v1/system/config').then((c) => setApproval(c.rebalance?.approvalAmount ?? null), () => {});
    return () => clearTimeout(timer.current);
  }, []);
  useEffect(() => {
    const on = (e) => api('/v1/rebalance/history?limit=50').then((r) => {
      const p = r.items.find((x) => x.planId === e.detail);
      if (!p) { setErr(new Error(`Plan ${e.detail} is not among the latest 50.`)); return; }
      setPlan(p);
      requestAnimationFrame(() => document.getElementById('rebalance-plan')?.scrollIntoView({ block: 'start' }));
    }, setErr);
    addEventListener('paimon:plan', on);
    return () => removeEventListener('paimon:plan', on);
  }, []);
  useLive(na ? null : 'rebalance', (p) => {
    setPlan((cur) => (cur && cur.planId === p.planId ? p : cur));
    setHist((h) => h && (h.some((x) => x.planId === p.planId) ? h.map((x) => (x.planId === p.planId ? p : x)) : [p, ...h].slice(0, 10)));
    loadStatus();
  }, load);
  // The tiers move with prices and flows: read the status again (at most once a second).
  useLive(na ? null : 'fund:overview', () => {
    if (!timer.current) timer.current = setTimeout(() => { timer.current = null; loadStatus(); }, 1000);
  }, loadStatus);

  const act = (f) => async (e) => {
    e?.preventDefault();
    setBusy(true); setErr(null); setNote(null);
    try { await f(); } catch (x) { setErr(x); }
    setBusy(false);
  };
  const preview = act(async () => {
    const p = await api('/v1/rebalance/preview', { method: 'POST', body: targetsBody(form) });
    setPlan(p);
    setNote(`Plan ${p.planId} proposed: ${p.actions.length} action${p.actions.length === 1 ? '' : 's'}, ${amount(p.totalAmount)} in all.`);
  });
  const execute = act(async () => {
    const p = await api('/v1/rebalance/execute', { method: 'POST', body: { planId: plan.planId } });
    setPlan(p);
    setNote(p.status === 'PENDING_APPROVAL'
      ? `Plan ${p.planId} waits for approval: ticket ${p.ticketId} is in the approval queue.`
      : `Plan ${p.planId} is ${p.status}.`);
    loadStatus();
  });
  const cancel = act(async () => {
    const p = await api(`/v1/rebalance/${encodeURIComponent(plan.planId)}/cancel`, { method: 'POST', body: reason.trim() ? { reason: reason.trim() } : {} });
    setPlan(p);
    setReason('');
    setNote(`Plan ${p.planId} is ${p.status}.`);
  });

  const pending = st?.pendingPlan;
  return html`<${Section} title="Rebalancing" id="rebalance" wide>
    ${na && html`<p class="muted" id="rebalance-na">Rebalancing is not available on this node.</p>`}
    ${err && html`<${ErrorNote} error=${err} />`}
    ${err?.details?.reason && html`<p class="muted" id="rebalance-reason">Reason: ${err.details.reason}</p>`}
    ${note && html`<p class="note ok" role="status" id="rebalance-note">${note}</p>`}
    ${st && html`<div id="rebalance-status">
      <p>${st.needsRebalance ? html`<${Pill} s="OUTSIDE BAND" /> a tier is outside its band` : html`<${Pill} s="in band" /> every tier is within its band`}${' · '
        }gross assets ${amount(st.grossAssets)} · block ${st.lastBlock ?? '—'}</p>
      <${Table} caption="Tiers against their targets and bands" cols=${['Tier', 'Value', 'Ratio', 'Target', 'Band', 'Deviation', 'In band']} num=${[1, 2, 3, 5]}
        rows=${TIERS.filter((k) => st.tiers?.[k]).map((k) => { const x = st.tiers[k]; return { key: k, attrs: { 'data-tier': k }, cells: [k, amount(x.value), bps(x.ratio),
          bps(x.targetRatio), x.maxRatio > 0 ? bps(x.minRatio) + ' – ' + bps(x.maxRatio) : 'none', bps(x.deviation), html`<${Pill} s=${x.inBand ? 'yes' : 'OUTSIDE'} />`] }; })} />
      ${pending && html`<p id="rebalance-pending">Plan ${pending.planId} is <${Pill} s=${pending.status} />${pending.ticketId ? ' (ticket ' + pending.ticketId + ')' : ''}</p>`}
    </div>`}
    ${st && can('operator') && html`<form id="rebalance-form" onSubmit=${preview}>
      <p class="muted" id="rebalance-targets-h">Target ratios in % (optional: empty uses the bands' targets)</p>
      <div class="actions" role="group" aria-labelledby="rebalance-targets-h">
        ${TIERS.map((k) => html`<label key=${k}>${k} target %
          <input id=${'target-' + k} type="number" inputmode="decimal" min="0" max="100" step="0.01"
            placeholder=${st.tiers?.[k] ? String(st.tiers[k].targetRatio / 100) : ''} value=${form[k]}
            onInput=${(e) => setForm({ ...form, [k]: e.target.value })} /></label>`)}
        <button type="submit" id="rebalance-preview" disabled=${busy}>Preview a plan</button>
      </div>
    </form>`}
    ${plan && html`<${PlanView} plan=${plan} approval=${plan.approvalAmount ?? approval} busy=${busy} onExecute=${execute}
      reason=${reason} onReason=${setReason} onCancel=${cancel} />`}
    ${hist && hist.length > 0 && html`<h3>Recent plans</h3><${Table} caption="Recent plans, newest first" cols=${['Plan', 'Status', 'Amount', 'Actions', 'Created', 'Finished', '']} num=${[2, 3]}
      rows=${hist.map((p) => ({ key: p.planId, selected: plan?.planId === p.planId, attrs: { 'data-plan': p.planId },
        cells: [p.planId, html`<${Pill} s=${p.status} />`, amount(p.totalAmount), (p.actions || []).length, time(p.createdAt), time(p.finishedAt),
          html`<button type="button" onClick=${() => setPlan(p)} aria-label=${'Show plan ' + p.planId}>Show</button>`] }))} />`}
  <//>`;
}

// stateCell is a state's tier (or cash, gross) as "value · ratio".
function stateCell(s, k) {
  if (!s) return '—';
  if (k === 'cash') return amount(s.cash);
  if (k === 'gross') return amount(s.grossAssets);
  const t = s.tiers?.[k];
  return t ? `${amount(t.value)} · ${bps(t.ratio)}` : '—';
}

// PlanView is one plan: its states (before, target, the estimate after, realised once done)
// and its actions; an operator executes a PROPOSED plan.
function PlanView({ plan, approval, busy, onExecute, reason, onReason, onCancel }) {
  const cmp = plan.comparison || {};
  // A PROPOSED plan as the history and the channel give it says requiresApproval only as
  // recorded (false until executed; the preview's answer compares with the node's threshold):
  // compare with the threshold here too.
  const needs = plan.status === 'PROPOSED' && approval ? BigInt(plan.totalAmount) > BigInt(approval) : plan.requiresApproval;
  const realised = !!plan.realisedState;
  const cols = ['Books', 'Before', 'Target', 'Estimated after'].concat(realised ? ['Realised', 'Realised − estimate'] : []);
  const rows = [...TIERS, 'cash', 'gross'].map((k) => ({ key: k, attrs: { 'data-state': k },
    cells: [k === 'gross' ? 'gross assets' : k, html`<span data-col="pre">${stateCell(plan.preState, k)}</span>`,
      html`<span data-col="target">${stateCell(plan.targetState, k)}</span>`, html`<span data-col="post">${stateCell(plan.postState, k)}</span>`]
      .concat(realised ? [html`<span data-col="realised">${stateCell(plan.realisedState, k)}</span>`,
        cmp[k] ? `${cmp[k].differenceBps} bps` : ''] : []) }));
  return html`<div id="rebalance-plan" data-plan=${plan.planId} data-status=${plan.status}>
    <h3>Plan ${plan.planId}: <span id="rebalance-plan-status"><${Pill} s=${plan.status} /></span> · ${amount(plan.totalAmount)} to trade
      ${needs ? ' · needs approval' : ''}${plan.ticketId ? ' (ticket ' + plan.ticketId + ')' : ''}</h3>
    <p class="muted">Targets ${TIERS.map((k) => k + ' ' + bps(plan.targetRatios?.[k])).join(', ')} · cash reserved for redemptions ${amount(plan.reservedCash)
      } · proposed by ${plan.createdBy} ${time(plan.createdAt)}${plan.executedBy ? ' · executed by ' + plan.executedBy + ' ' + time(plan.executedAt) : ''
      }${plan.finishedAt ? ' · finished ' + time(plan.finishedAt) : ''}</p>
    ${plan.reason && html`<p class="note bad" role="alert">${plan.reason}</p>`}
    <${Table} caption=${'Plan ' + plan.planId + ': the books before, the target, the estimate after' + (realised ? ' and the realised books' : '')}
      cols=${cols} num=${[1, 2, 3, 4, 5]} rows=${rows} />
    <${Table} caption=${'Plan ' + plan.planId + ': its actions, in order'} empty="No action."
      cols=${['#', 'Type', 'Tier', 'Asset', 'Amount', 'Expected tokens', 'At least', 'Status', 'Transaction']} num=${[4, 5, 6]}
      rows=${(plan.actions || []).map((a) => ({ key: a.index, attrs: { 'data-action': a.index }, cells: [a.index, a.type, a.tier,
        html`<span title=${a.asset}>${short(a.asset)}</span>`, amount(a.amount), amount(a.expectedTokens), amount(a.minReceived), html`<${Pill} s=${a.status} />`,
        a.txHash ? html`<code title=${a.txHash}>${short(a.txHash)}</code>${a.blockNumber ? ' · block ' + a.blockNumber : ''}` : '—'] }))} />
    ${plan.status === 'PROPOSED' && can('operator') && html`<div class="actions">
      <button type="button" class="primary" id="rebalance-execute" disabled=${busy} onClick=${onExecute}>Execute plan ${plan.planId}</button>
      <label>Reason to cancel (optional)
        <input id="rebalance-cancel-reason" maxlength="256" value=${reason} onInput=${(e) => onReason(e.target.value)} /></label>
      <button type="button" class="danger" id="rebalance-cancel" disabled=${busy} onClick=${onCancel}>Cancel plan ${plan.planId}</button>
      ${needs && html`<span class="muted">Above the approval amount${approval ? ' (' + amount(approval) + ')' : ''}: executing opens a ticket for approvers.</span>`}
    </div>`}
  </div>`;
}
