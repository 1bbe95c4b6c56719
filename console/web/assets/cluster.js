// The Cluster page: nodes, leader, Raft indexes, ingest, PostgreSQL sync, executor
// transactions, WebSocket connections and each component's health, from /v1/cluster/status,
// /v1/system/health, /v1/ingest/status, /v1/executor/transactions and /metrics. None of these
// is pushed (the WebSocket has no cluster or system channel: docs/API.md), so the page reads
// them again every 5 seconds while it is open and visible: a hidden tab reads nothing
// (visibilitychange) and reads at once when shown again.
import { html, useState, useEffect } from 'preact';
import { api, time, can, getSession, short } from 'c/api.js';
import { Section, Table, ErrorNote, Pill, Figure } from 'c/ui.js';

// metric sums the samples of a Prometheus text exposition whose name is name.
export function metric(text, name) {
  let sum = 0, found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/);
    if (m && m[1] === name) { sum += Number(m[3]); found = true; }
  }
  return found ? sum : null;
}

// poll.every is the period of the reads (ms; the browser test shortens it), taken at each
// (re)start.
export const poll = { every: 5000 };
window.paimonCluster = poll;

export function ClusterPage() {
  const [health, setHealth] = useState(null);
  const [st, setSt] = useState(null);
  const [ingest, setIngest] = useState(null);
  const [txs, setTxs] = useState(null);
  const [m, setM] = useState(null);
  const [err, setErr] = useState(null);
  const [at, setAt] = useState(null);
  const load = () => {
    const opt = (p) => p.catch((e) => (e.status === 401 || e.status === 403 ? null : Promise.reject(e)));
    Promise.all([
      api('/v1/system/health'),
      getSession() ? opt(api('/v1/cluster/status')) : null,
      getSession() ? opt(api('/v1/ingest/status')) : null,
      can('operator') ? opt(api('/v1/executor/transactions?limit=20')) : null,
      api('/metrics', { raw: true }).then((r) => r.text()),
    ]).then(([h, s, i, x, text]) => {
      setHealth(h); setSt(s); setIngest(i); setTxs(x?.items || null);
      setM({ wsOpen: diff(metric(text, 'paimon_push_connections_opened_total'), metric(text, 'paimon_push_connections_closed_total')),
        pgLag: metric(text, 'paimon_pgsync_lag_seconds'), ingestLag: metric(text, 'paimon_ingest_lag_blocks') });
      setAt(new Date().toISOString()); setErr(null);
    }, setErr);
  };
  useEffect(() => {
    let t = null;
    const stop = () => { clearInterval(t); t = null; };
    const on = () => {
      if (document.hidden) { stop(); return; }
      if (t === null) { load(); t = setInterval(load, poll.every); }
    };
    on();
    document.addEventListener('visibilitychange', on);
    return () => { stop(); document.removeEventListener('visibilitychange', on); };
  }, []);
  return html`<div class="page">
    <h1>Cluster</h1>
    ${err && html`<${ErrorNote} error=${err} />`}
    ${health && html`<${Section} title=${'This node: ' + health.nodeId} id="health" actions=${html`<span class="muted">read ${time(at)}</span>`}>
      <div class="figures">
        <${Figure} k="status" label="Status" value=${health.status} tone=${health.status === 'ok' ? '' : 'warn'} />
        <${Figure} k="release" label="Release" value=${health.release} />
        <${Figure} k="uptimeSeconds" label="Up" value=${Math.floor(health.uptimeSeconds / 60) + ' min'} />
        ${m && html`<${Figure} k="wsConnections" label="WebSocket connections" value=${String(m.wsOpen ?? '—')} />`}
      </div>
      <${Table} caption="Components" cols=${['Component', 'Status', 'Version', 'Reason']}
        rows=${Object.entries(health.components).map(([k, c]) => ({ key: k, attrs: { 'data-component': k }, cells: [k, html`<${Pill} s=${c.status} />`, c.version || '', c.reason || ''] }))} />
    <//>`}
    ${st && html`<${Section} title="Raft" id="raft">
      <div class="figures">
        <${Figure} k="leader" label="Leader" value=${st.leader || 'none'} tone=${st.leader ? '' : 'bad'} />
        <${Figure} k="term" label="Term" value=${String(st.term)} />
        <${Figure} k="appliedIndex" label="Applied index" value=${String(st.appliedIndex)} />
        <${Figure} k="commitIndex" label="Commit index" value=${String(st.commitIndex)} />
        <${Figure} k="clusterVersion" label="Cluster version" value=${st.clusterVersion} />
      </div>
      <${Table} caption="Members" cols=${['Node', 'Raft', 'HTTP', 'Suffrage', 'Reachable', 'Version']}
        rows=${st.nodes.map((n) => ({ key: n.id, attrs: { 'data-node': n.id }, cells: [n.id + (n.id === st.leader ? ' (leader)' : ''), n.raftAddr, n.httpAddr, n.suffrage,
          html`<${Pill} s=${n.reachable ? 'yes' : 'down'} />`, n.version ?? '—'] }))} />
    <//>`}
    ${st && html`<${Section} title="Ingest and PostgreSQL" id="sync">
      <div class="figures">
        ${ingest && html`<${Figure} k="lagBlocks" label="Ingest lag (blocks)" value=${String(ingest.lagBlocks ?? '—')} />
          <${Figure} k="lagSeconds" label="Ingest lag (s)" value=${String(ingest.lagSeconds ?? '—')} />
          <${Figure} k="head" label="Chain head" value=${String(ingest.head ?? '—')} />`}
        <${Figure} k="pgsync" label="PostgreSQL sync" value=${st.pgsync.enabled ? 'on' : 'off'} />
        ${st.pgsync.enabled && html`<${Figure} k="pgLagIndex" label="PG lag (entries)" value=${String(st.pgsync.lagIndex)} />
          <${Figure} k="pgLagSeconds" label="PG lag (s)" value=${String(st.pgsync.lagSeconds)} />`}
      </div>
      ${ingest?.rpc && html`<${Table} caption="RPC endpoints" cols=${['Endpoint', 'Healthy', 'Last error']}
        rows=${ingest.rpc.map((r) => ({ key: r.url, cells: [r.url, html`<${Pill} s=${r.healthy ? 'ok' : 'down'} />`, r.lastError || ''] }))} />`}
    <//>`}
    ${txs && html`<${Section} title="Executor transactions" id="executor">
      <${Table} caption="The executor's transactions, newest first" cols=${['Id', 'Purpose', 'Reference', 'Nonce', 'State', 'Hash', 'Updated']}
        empty="No executor transaction."
        rows=${txs.map((x) => ({ key: x.id, cells: [x.id, x.purpose, x.reference, x.nonce, html`<${Pill} s=${x.state} />`,
          html`<code title=${x.hash}>${short(x.hash)}</code>`, time(x.updatedAt)] }))} />
    <//>`}
    ${!getSession() && html`<p class="note bad wide" role="alert">Sign in to see the members, ingest and sync.</p>`}
  </div>`;
}

function diff(a, b) { return a === null ? null : a - (b || 0); }
