// The Fund page: the overview, tiers against their bands, the NAV chart, flows, assets and
// prices, kept current by the fund:overview, fund:nav and prices channels.
import { html, useState, useEffect, useRef } from 'preact';
import { api, amount, price, bps, time, short } from 'c/api.js';
import { useLive } from 'c/live.js';
import { LineChart, Band } from 'c/chart.js';
import { Figure, Section, Table, ErrorNote } from 'c/ui.js';

const RANGES = { '7d': 7, '30d': 30, '90d': 90, '1y': 365 };

export function FundPage() {
  const [ov, setOv] = useState(null);
  const [flows, setFlows] = useState(null);
  const [assets, setAssets] = useState(null);
  const [prices, setPrices] = useState(null);
  const [err, setErr] = useState(null);

  const load = () => {
    api('/v1/fund/overview').then(setOv, setErr);
    api('/v1/fund/flows').then(setFlows, setErr);
    api('/v1/fund/assets').then((r) => setAssets(r.items), setErr);
    api('/v1/prices').then((r) => setPrices(r.items), setErr);
  };
  useEffect(load, []);

  // The overview arrives whole on each batch; flows and asset values follow it and the prices,
  // fetched again when an event says they changed (at most once a second), never polled.
  const pending = useRef({});
  const refetch = (what, fn) => {
    if (pending.current[what]) return;
    pending.current[what] = setTimeout(() => { pending.current[what] = null; fn(); }, 1000);
  };
  useEffect(() => () => Object.values(pending.current).forEach((t) => t && clearTimeout(t)), []);
  useLive('fund:overview', (d) => {
    setOv(d);
    refetch('flows', () => api('/v1/fund/flows').then(setFlows, setErr));
  }, load);
  useLive('prices', (d) => {
    setPrices((ps) => {
      const list = (ps || []).filter((p) => p.asset !== d.asset);
      list.push({ asset: d.asset, price: d.price, source: d.source, time: d.time });
      return list.sort((a, b) => a.asset.localeCompare(b.asset));
    });
    refetch('assets', () => api('/v1/fund/assets').then((r) => setAssets(r.items), setErr));
  }, load);

  const names = {};
  for (const a of assets || []) names[a.token] = a.symbol || a.name || short(a.token);

  return html`<div class="page">
    <h1>Fund${ov ? html` <span class="sub">${ov.name} (${ov.symbol})</span>` : ''}</h1>
    ${err && html`<${ErrorNote} error=${err} />`}
    ${ov && html`<${Overview} ov=${ov} />`}
    ${ov && html`<${Tiers} tiers=${ov.tiers} />`}
    <${NavChart} />
    ${flows && html`<${Flows} f=${flows} />`}
    ${assets && html`<${Section} title="Assets" id="assets">
      <${Table} caption="Assets of the fund: each one's share of its tier against its target" cols=${['Asset', 'Tier', 'Active', 'Allocation', 'Target', 'Holding', 'Price', 'Value']}
        rows=${assets.map((a) => ({ key: a.token, attrs: { 'data-token': a.token }, cells: [
          html`<span title=${a.token}>${names[a.token]}</span>`, a.tier, a.active ? 'yes' : 'no', bps(a.allocation), bps(a.targetAllocation),
          amount(a.holding), price(a.price), amount(a.value)] }))} num=${[3, 4, 5, 6, 7]} />
    <//>`}
    ${prices && html`<${Section} title="Prices" id="prices">
      <${Table} caption="Current price of each asset" cols=${['Asset', 'Price', 'Source', 'Time']}
        rows=${prices.map((p) => ({ key: p.asset, attrs: { 'data-asset': p.asset }, cells: [
          html`<span title=${p.asset}>${names[p.asset] || short(p.asset)}</span>`, price(p.price), p.source, time(p.time)] }))} num=${[1]} />
    <//>`}
  </div>`;
}

function Overview({ ov }) {
  const drift = ov.navDriftBps;
  return html`<${Section} title="Overview" id="overview">
    <div class="figures">
      <${Figure} k="nav" label="Share price" value=${ov.nav} />
      <${Figure} k="navDriftBps" label="NAV drift" value=${drift === null ? '—' : drift + ' bps'}
        tone=${drift !== null && Math.abs(drift) > 50 ? 'warn' : ''} />
      <${Figure} k="totalAssets" label="Total assets" value=${amount(ov.totalAssets)} />
      <${Figure} k="grossAssets" label="Gross assets" value=${amount(ov.grossAssets)} />
      <${Figure} k="cash" label="Cash" value=${amount(ov.cash)} />
      <${Figure} k="totalSupply" label="Shares outstanding" value=${amount(ov.totalSupply)} />
      <${Figure} k="totalRedemptionLiability" label="Redemption liability" value=${amount(ov.totalRedemptionLiability)} />
      <${Figure} k="holderCount" label="Holders" value=${String(ov.holderCount)} />
      <${Figure} k="emergencyMode" label="Emergency mode" value=${ov.emergencyMode ? 'ON' : 'off'} tone=${ov.emergencyMode ? 'bad' : ''} />
      <${Figure} k="lastBlock" label="Last block" value=${String(ov.lastBlock ?? '—')} />
    </div>
  <//>`;
}

function Tiers({ tiers }) {
  return html`<${Section} title="Tiers against their bands" id="tiers">
    <ul class="tiers">
      ${['L1', 'L2', 'L3'].map((k) => {
        const t = tiers[k];
        if (!t) return null;
        const out = t.ratio < t.minRatio || t.ratio > t.maxRatio;
        return html`<li key=${k} data-tier=${k}>
          <div class="tier-head"><strong>${k}</strong> <span class="ratio">${bps(t.ratio)}</span>
            <span class=${out ? 'pill bad' : 'pill ok'}>${out ? 'outside band' : 'in band'}</span></div>
          <${Band} ratio=${t.ratio} min=${t.minRatio} target=${t.targetRatio} max=${t.maxRatio} />
          <div class="muted">band ${bps(t.minRatio)} – ${bps(t.maxRatio)}, target ${bps(t.targetRatio)}; value ${amount(t.value)}</div>
        </li>`;
      })}
    </ul>
  <//>`;
}

function NavChart() {
  const [interval, setInterval_] = useState('1d');
  const [range, setRange] = useState('30d');
  const [hist, setHist] = useState(null);
  const [err, setErr] = useState(null);
  const latest = useRef(null);
  useEffect(() => {
    let q = `/v1/fund/nav/history?interval=${interval}&limit=1000`;
    // Ranges end at the latest point (the node's default is the 30 days before it).
    if (latest.current && range !== '30d') {
      q += '&from=' + new Date(latest.current - RANGES[range] * 86400e3).toISOString().replace(/\.\d+Z$/, 'Z');
    }
    api(q).then((h) => {
      if (h.items.length) latest.current = Math.max(latest.current || 0, Date.parse(h.items[h.items.length - 1].time));
      setHist(h);
    }, setErr);
  }, [interval, range]);
  useLive('fund:nav', (p) => {
    const t = Date.parse(p.time);
    latest.current = Math.max(latest.current || 0, t);
    setHist((h) => {
      if (!h) return h;
      const items = h.items.slice();
      const width = { raw: 0, '1h': 3600e3, '1d': 86400e3, '1w': 7 * 86400e3 }[interval];
      const last = items[items.length - 1];
      if (last && width && Math.floor(Date.parse(last.time) / width) === Math.floor(t / width)) items[items.length - 1] = p;
      else items.push(p);
      return { ...h, items };
    });
  });
  const points = (hist?.items || []).map((i) => ({ t: Date.parse(i.time), v: Number(i.nav) }));
  return html`<${Section} title="Share price history" id="nav">
    <div class="controls">
      <label>Interval <select value=${interval} onChange=${(e) => setInterval_(e.target.value)}>
        <option value="1h">hourly</option><option value="1d">daily</option><option value="1w">weekly</option>
      </select></label>
      <label>Range <select value=${range} onChange=${(e) => setRange(e.target.value)}>
        ${Object.keys(RANGES).map((r) => html`<option value=${r}>${r}</option>`)}
      </select></label>
      ${hist && html`<span class="changes">24 h ${pct(hist.change24h)} · 7 d ${pct(hist.change7d)} · 30 d ${pct(hist.change30d)}</span>`}
    </div>
    ${err && html`<${ErrorNote} error=${err} />`}
    ${hist && html`<${LineChart} points=${points} label="Share price" />`}
    ${hist && html`<p class="muted" data-points=${points.length}>${points.length} points, ${interval}</p>`}
  <//>`;
}

function pct(s) { return s === null || s === undefined ? '—' : s + ' %'; }

function Flows({ f }) {
  return html`<${Section} title="Flows" id="flows">
    <${Table} caption="Subscriptions and redemptions" cols=${['Window', 'Subscriptions', 'Redemptions', 'Net']} num=${[1, 2, 3]}
      rows=${[{ key: '24h', cells: ['24 h', amount(f.subscriptions24h), amount(f.redemptions24h), amount(f.net24h)] },
        { key: '7d', cells: ['7 d', amount(f.subscriptions7d), amount(f.redemptions7d), amount(f.net7d)] }]} />
    <p>Pending redemptions: <strong data-k="pendingRedemptions">${amount(f.pendingRedemptions)}</strong></p>
  <//>`;
}
