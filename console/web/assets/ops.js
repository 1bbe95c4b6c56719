// The Operations page: the approval queue with SLA countdowns, a ticket's detail and audit
// trail with approve / reject (signed by the wallet: EIP-712), redemptions with their
// timelines, reports, and rebalancing (rebalance.js) when the node has it.
import { html, useState, useEffect, useRef } from 'preact';
import { api, amount, time, short, can, getSession, decisionTypedData } from 'c/api.js';
import { useLive } from 'c/live.js';
import { Section, Table, ErrorNote, Pill } from 'c/ui.js';
import { Rebalance, showPlan } from 'c/rebalance.js';

// useNow ticks every second for the countdowns (a clock, not a poll: nothing is fetched).
function useNow() {
  const [now, set] = useState(Date.now());
  useEffect(() => { const t = setInterval(() => set(Date.now()), 1000); return () => clearInterval(t); }, []);
  return now;
}

function countdown(deadline, now) {
  if (!deadline) return '—';
  const s = Math.floor((Date.parse(deadline) - now) / 1000);
  if (s <= 0) return 'overdue';
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), x = s % 60;
  const p = (v) => String(v).padStart(2, '0');
  return (d ? d + 'd ' : '') + p(h) + ':' + p(m) + ':' + p(x);
}

export function OperationsPage() {
  const [ticket, setTicket] = useState(null);
  if (!getSession()) {
    return html`<div class="page"><h1>Operations</h1>
      <p class="note bad wide" role="alert">Sign in (wallet or API token) to see operations.</p></div>`;
  }
  return html`<div class="page">
    <h1>Operations</h1>
    ${can('approver') ? html`<${Queue} selected=${ticket} onSelect=${setTicket} />`
      : html`<${Section} title="Approval queue" id="queue"><p class="muted">The approval queue is for approvers; your role is ${getSession().role}.</p><//>`}
    ${ticket && can('approver') && html`<${Ticket} id=${ticket} />`}
    <${Redemptions} />
    <${Reports} />
    <${Rebalance} />
  </div>`;
}

function Queue({ selected, onSelect }) {
  const [q, setQ] = useState(null);
  const [plans, setPlans] = useState(null);
  const [err, setErr] = useState(null);
  const now = useNow();
  // The redemptions' queue, and the REBALANCE tickets still open (one plan is active at a time:
  // the newest few tickets hold the open one).
  const load = () => {
    api('/v1/redemptions/pending-approvals').then(setQ, setErr);
    api('/v1/approvals?type=REBALANCE&limit=10').then((r) => setPlans(r.items.filter((t) => t.status === 'PENDING' || t.status === 'PARTIALLY_APPROVED')),
      (e) => (e.status === 404 || e.status === 400 ? setPlans([]) : setErr(e)));
  };
  useEffect(() => { load(); }, []);
  useLive('approvals', load, load);
  useLive('redemptions', load, load);
  return html`<${Section} title="Approval queue" id="queue" wide
      actions=${q && html`<span class="muted">${q.summary.count} waiting, ${amount(q.summary.totalAmount)} in all, ${q.summary.urgentCount} urgent</span>`}>
    ${err && html`<${ErrorNote} error=${err} />`}
    ${q && html`<${Table} caption="Redemptions waiting for approval, most urgent first" empty="No redemption waits for approval."
      cols=${['Request', 'Owner', 'Amount', 'Channel', 'Ticket', 'Approvals', 'SLA left', '']} num=${[2, 5, 6]}
      rows=${q.items.map((i) => ({ key: i.requestId, selected: i.ticketId === selected, attrs: { 'data-ticket': i.ticketId },
        cells: [i.requestId, html`<span title=${i.owner}>${short(i.owner)}</span>`, amount(i.lockedAmount), i.channel,
          i.ticketStatus ? html`<${Pill} s=${i.ticketStatus} />` : '—', `${i.approvals} / ${i.requiredApprovals}`,
          html`<span class=${i.urgent ? 'pill bad' : ''} data-sla=${i.slaDeadline}>${countdown(i.slaDeadline, now)}</span>`,
          i.ticketId && html`<button type="button" onClick=${() => onSelect(i.ticketId)} aria-label=${'Open ticket ' + i.ticketId}>Open</button>`] }))} />`}
    ${plans && html`<h3>Rebalancing plans</h3><${Table} caption="Rebalancing plans waiting for approval" empty="No rebalancing plan waits for approval."
      cols=${['Ticket', 'Status', 'Plan', 'Amount', 'Requested by', 'Approvals', 'SLA left', '']} num=${[3]}
      rows=${plans.map((t) => ({ key: t.id, selected: t.id === selected, attrs: { 'data-ticket': t.id },
        cells: [t.id, html`<${Pill} s=${t.status} />`, t.referenceId, amount(t.amount), t.requester, `${t.approvals.length} / ${t.requiredApprovals}`,
          html`<span data-sla=${t.slaDeadline}>${countdown(t.slaDeadline, now)}</span>`,
          html`<button type="button" onClick=${() => onSelect(t.id)} aria-label=${'Open ticket ' + t.id}>Open</button>`] }))} />`}
  <//>`;
}

function Ticket({ id }) {
  const [t, setT] = useState(null);
  const [err, setErr] = useState(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(null);
  const chain = useRef(null);
  const now = useNow();
  const load = () => api('/v1/approvals/' + encodeURIComponent(id)).then(setT, setErr);
  useEffect(() => { setT(null); setDone(null); load(); }, [id]);
  useLive('approvals', (d) => { if (d.id === id) load(); }, load);

  const decide = async (decision) => {
    setBusy(true); setErr(null); setDone(null);
    try {
      const body = { reason };
      const s = getSession();
      if (s.kind === 'wallet' && window.ethereum) {
        if (!chain.current) chain.current = (await api('/v1/fund/overview')).chainId;
        const typed = decisionTypedData(id, decision, reason, chain.current);
        body.signature = await window.ethereum.request({ method: 'eth_signTypedData_v4', params: [s.address, JSON.stringify(typed)] });
      }
      const r = await api(`/v1/approvals/${encodeURIComponent(id)}/${decision === 'APPROVE' ? 'approve' : 'reject'}`, { method: 'POST', body });
      setT((old) => ({ ...old, ...r }));
      setDone(`${decision === 'APPROVE' ? 'Approved' : 'Rejected'}${body.signature ? ' (signed)' : ''}: the ticket is ${r.status}.`);
      setReason('');
      load();
    } catch (e) { setErr(e); }
    setBusy(false);
  };

  const open = t && (t.status === 'PENDING' || t.status === 'PARTIALLY_APPROVED');
  return html`<${Section} title=${'Ticket ' + id} id="ticket" wide>
    ${err && html`<${ErrorNote} error=${err} />`}
    ${done && html`<p class="note ok" role="status">${done}</p>`}
    ${t && html`<div>
      <p>Status <span id="ticket-status"><${Pill} s=${t.status} /></span> · ${t.type} ${t.referenceId} · ${amount(t.amount)} · ${t.channel
        } · requested by <span title=${t.requester}>${/^0x/.test(t.requester) ? short(t.requester) : t.requester}</span>
        ${t.type === 'REBALANCE' && html` <button type="button" id="ticket-plan" onClick=${() => showPlan(t.referenceId)}>Show plan ${t.referenceId}</button>`}</p>
      <p>Approvals ${t.approvals.length} of ${t.requiredApprovals} · SLA: warn ${time(t.slaWarnAt)}, deadline ${time(t.slaDeadline)} (${
        countdown(t.slaDeadline, now)} left)</p>
      ${t.execution && html`<p id="ticket-execution">Execution: <${Pill} s=${t.execution.status} />
        ${t.execution.txHash && html` tx <code title=${t.execution.txHash}>${short(t.execution.txHash)}</code>`}
        ${t.execution.outcome ? ' → ' + t.execution.outcome : ''}${t.execution.reason ? ' (' + t.execution.reason + ')' : ''}</p>`}
      <h3>Audit trail</h3>
      <ol class="trail">${(t.trail || []).map((s) => html`<li key=${s.seq}>${time(s.time)} · <strong>${s.decision}</strong>
        ${s.actor ? ' by ' + s.actor + ' (' + s.role + ')' : ' (system)'}${s.reason ? ': “' + s.reason + '”' : ''} → ${s.status}</li>`)}</ol>
      ${open && can('approver') && html`<div class="actions">
        <label>Reason (required to reject)
          <input id="decision-reason" value=${reason} maxlength="1024" onInput=${(e) => setReason(e.target.value)} /></label>
        <button type="button" class="primary" id="approve" disabled=${busy} onClick=${() => decide('APPROVE')}>Approve</button>
        <button type="button" class="danger" id="reject" disabled=${busy || !reason.trim()} onClick=${() => decide('REJECT')}>Reject</button>
      </div>`}
    </div>`}
  <//>`;
}

function Redemptions() {
  const [list, setList] = useState(null);
  const [sel, setSel] = useState(null);
  const [detail, setDetail] = useState(null);
  const [err, setErr] = useState(null);
  const load = () => api('/v1/redemptions?limit=25').then((r) => setList(r.items), setErr);
  useEffect(() => { load(); }, []);
  useEffect(() => { if (sel) api('/v1/redemptions/' + sel).then(setDetail, setErr); }, [sel]);
  useLive(can('viewer') ? 'redemptions' : null, (d) => {
    setList((l) => l && (l.some((x) => x.requestId === d.requestId) ? l.map((x) => (x.requestId === d.requestId ? d : x)) : [d, ...l]));
    if (d.requestId === sel) api('/v1/redemptions/' + sel).then(setDetail, setErr);
  }, load);
  return html`<${Section} title="Redemptions" id="redemptions" wide>
    ${err && html`<${ErrorNote} error=${err} />`}
    ${list && html`<${Table} caption="The latest redemption requests" cols=${['Request', 'Owner', 'Locked', 'Channel', 'Status', 'Settles', '']} num=${[2]}
      rows=${list.map((r) => ({ key: r.requestId, selected: r.requestId === sel, cells: [r.requestId, html`<span title=${r.owner}>${short(r.owner)}</span>`,
        amount(r.lockedAmount), r.channel, html`<${Pill} s=${r.status} />`, time(r.settlementTime),
        html`<button type="button" onClick=${() => setSel(r.requestId)} aria-label=${'Timeline of request ' + r.requestId}>Timeline</button>`] }))} />`}
    ${detail && html`<div id="timeline"><h3>Request ${detail.requestId}: timeline</h3>
      <ol class="trail">${detail.timeline.map((s, i) => html`<li key=${i}>${time(s.time)} · <strong>${s.status}</strong>
        ${s.blockNumber ? ' · block ' + s.blockNumber : ''}${s.txHash ? html` · <code title=${s.txHash}>${short(s.txHash)}</code>` : ''}</li>`)}</ol></div>`}
  <//>`;
}

function Reports() {
  const [kind, setKind] = useState('daily');
  const [date, setDate] = useState(new Date().toISOString().slice(0, 10));
  const [msg, setMsg] = useState(null);
  const [err, setErr] = useState(null);
  const download = async (format) => {
    setErr(null); setMsg(null);
    try {
      const r = await api(`/v1/reports/${kind}?date=${date}&format=${format}`, { raw: true });
      const blob = await r.blob();
      const cd = r.headers.get('Content-Disposition') || '';
      const name = (cd.match(/filename="([^"]+)"/) || [])[1] || `paimon-${kind}-${date}.${format}`;
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      setMsg(`Downloaded ${name} (${blob.size} bytes)`);
    } catch (e) { setErr(e); }
  };
  return html`<${Section} title="Reports" id="reports">
    <div class="actions">
      <label>Period <select id="report-kind" value=${kind} onChange=${(e) => setKind(e.target.value)}>
        <option value="daily">day</option><option value="weekly">week</option><option value="monthly">month</option></select></label>
      <label>Containing <input id="report-date" type="date" value=${date} onInput=${(e) => setDate(e.target.value)} /></label>
      <button type="button" id="report-csv" onClick=${() => download('csv')}>Download CSV</button>
      <button type="button" id="report-pdf" onClick=${() => download('pdf')}>Download PDF</button>
    </div>
    ${msg && html`<p class="note ok" role="status" id="report-msg">${msg}</p>`}
    ${err && html`<${ErrorNote} error=${err} />`}
  <//>`;
}
