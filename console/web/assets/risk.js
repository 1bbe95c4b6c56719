// The Risk page: the level and score, each indicator against its thresholds, the risk events
// (resolve, for operators) and the alerts with their deliveries; live through the risk channel.
import { html, useState, useEffect } from 'preact';
import { api, time, can, getSession } from 'c/api.js';
import { useLive } from 'c/live.js';
import { Section, Table, ErrorNote, Pill, Figure } from 'c/ui.js';

// Units of the indicators (docs/API.md, GET /v1/risk/status).
const UNIT = { l1Ratio: 'bps', l1l2Ratio: 'bps', redemptionCoverage: 'bps', maxAssetConcentration: 'bps',
  dailyRedemptionRate: 'bps', navDriftBps: 'bps', oracleStalenessSeconds: 's', pendingApprovals: '', overdueRedemptions: '' };
const LOWER_IS_WORSE = new Set(['l1Ratio', 'l1l2Ratio', 'redemptionCoverage']);

function fmt(v, name) { return v === null || v === undefined ? '—' : v + (UNIT[name] ? ' ' + UNIT[name] : ''); }

export function RiskPage() {
  const [st, setSt] = useState(null);
  const [err, setErr] = useState(null);
  const load = () => api('/v1/risk/status').then(setSt, setErr);
  useEffect(() => { load(); }, []);
  useLive('fund:overview', load, load); // the evaluation follows each batch that changed the fund
  return html`<div class="page">
    <h1>Risk</h1>
    ${err && html`<${ErrorNote} error=${err} />`}
    ${st && html`<${Section} title="Level and indicators" id="risk-status">
      <div class="figures">
        <${Figure} k="level" label="Level" value=${st.level} tone=${st.level === 'NORMAL' ? '' : st.level === 'ELEVATED' ? 'warn' : 'bad'} />
        <${Figure} k="score" label="Score (0–100)" value=${String(st.score)} />
        <${Figure} k="updatedAt" label="Evaluated" value=${time(st.updatedAt)} />
      </div>
      <${Table} caption="Indicators against their thresholds" cols=${['Indicator', 'Value', 'Warn', 'Critical', 'Status']} num=${[1, 2, 3]}
        rows=${st.indicators.map((i) => ({ key: i.name, attrs: { 'data-indicator': i.name }, cells: [
          i.name + (LOWER_IS_WORSE.has(i.name) ? ' (≥)' : ' (≤)'), fmt(i.value, i.name), fmt(i.warn, i.name), fmt(i.critical, i.name),
          html`<${Pill} s=${i.status} />`] }))} />
      <p class="muted">(≥): should stay above its thresholds; (≤): below.</p>
    <//>`}
    ${getSession() ? html`<${Events} /><${Alerts} />`
      : html`<p class="note bad wide" role="alert">Sign in to see risk events and alerts.</p>`}
  </div>`;
}

function Events() {
  const [items, setItems] = useState(null);
  const [err, setErr] = useState(null);
  const [msg, setMsg] = useState(null);
  const load = () => api('/v1/risk/events?limit=50').then((r) => setItems(r.items), setErr);
  useEffect(() => { load(); }, []);
  useLive('risk', (ev) => setItems((l) => l && [ev, ...l.filter((x) => x.id !== ev.id)]), load);
  const resolve = async (id) => {
    setErr(null);
    try {
      const ev = await api(`/v1/risk/events/${encodeURIComponent(id)}/resolve`, { method: 'POST', body: { note: 'resolved in the console' } });
      setItems((l) => l.map((x) => (x.id === id ? ev : x)));
      setMsg('Resolved ' + id);
    } catch (e) { setErr(e); }
  };
  return html`<${Section} title="Risk events" id="risk-events" wide>
    ${err && html`<${ErrorNote} error=${err} />`}
    ${msg && html`<p class="note ok" role="status">${msg}</p>`}
    ${items && html`<${Table} caption="Risk events, newest first" cols=${['Time', 'Source', 'Severity', 'Type', 'Message', 'Resolved']}
      empty="No risk events."
      rows=${items.map((e) => ({ key: e.id, attrs: { 'data-event': e.id }, cells: [time(e.time), e.source, html`<${Pill} s=${e.severity} />`, e.type, e.message,
        e.resolved ? html`by ${e.resolvedBy}` : can('operator')
          ? html`<button type="button" onClick=${() => resolve(e.id)} aria-label=${'Resolve event ' + e.id}>Resolve</button>` : 'no'] }))} />`}
  <//>`;
}

function Alerts() {
  const [items, setItems] = useState(null);
  const [err, setErr] = useState(null);
  const load = () => api('/v1/alerts?limit=50').then((r) => setItems(r.items), setErr);
  useEffect(() => { load(); }, []);
  useLive('risk', () => setTimeout(load, 500), load); // each risk event has its alert
  return html`<${Section} title="Alerts and their delivery" id="alerts" wide>
    ${err && html`<${ErrorNote} error=${err} />`}
    ${items && html`<${Table} caption="Alerts, newest first" cols=${['Time', 'Severity', 'Type', 'Message', 'Deliveries']} empty="No alerts."
      rows=${items.map((a) => ({ key: a.id, cells: [time(a.time), html`<${Pill} s=${a.severity} />`, a.type, a.message,
        a.deliveries.length ? a.deliveries.map((d) => html`<span class="deliv">${d.webhook}: <${Pill} s=${d.state} />${d.attempts ? ' ×' + d.attempts : ''} </span>`)
          : html`<span class="muted">no webhook</span>`] }))} />`}
  <//>`;
}
