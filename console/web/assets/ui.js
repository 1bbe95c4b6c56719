// Small shared pieces of the pages.
import { html } from 'preact';

// Section is a card; wide ones take the page's whole width (long tables).
export function Section({ title, id, children, actions, wide = false }) {
  return html`<section class=${wide ? 'card wide' : 'card'} aria-labelledby=${id + '-h'} id=${id}>
    <div class="card-head"><h2 id=${id + '-h'}>${title}</h2>${actions}</div>
    ${children}
  </section>`;
}

// Figure is one labelled figure; data-k names the API field it shows (the browser tests
// compare it with the API).
export function Figure({ k, label, value, tone = '' }) {
  return html`<div class=${'figure ' + tone}><div class="label">${label}</div><div class="value" data-k=${k}>${value}</div></div>`;
}

// Table renders rows [{key, cells, attrs?, onClick?}]; num are the right-aligned columns.
export function Table({ caption, cols, rows, num = [], empty = 'Nothing to show.' }) {
  if (!rows.length) return html`<p class="muted">${empty}</p>`;
  // The wrapper scrolls sideways on a narrow screen: focusable, so a keyboard can scroll it too.
  return html`<div class="table-wrap" tabindex="0" role="region" aria-label=${caption}><table>
    <caption class="sr-only">${caption}</caption>
    <thead><tr>${cols.map((c, i) => html`<th scope="col" class=${num.includes(i) ? 'num' : ''}>${c}</th>`)}</tr></thead>
    <tbody>${rows.map((r) => html`<tr key=${r.key} ...${r.attrs || {}} class=${r.selected ? 'selected' : ''}>
      ${r.cells.map((c, i) => html`<td class=${num.includes(i) ? 'num' : ''}>${c}</td>`)}</tr>`)}</tbody>
  </table></div>`;
}

export function ErrorNote({ error }) {
  const unavailable = error?.status === 404;
  return html`<p class="note bad" role="alert">${unavailable ? 'Not available on this node.' : error.message || String(error)}</p>`;
}

export function Pill({ s }) {
  const tone = s === 'disabled' ? 'off' : /CRITICAL|FAILED|REJECTED|EXPIRED|BREACH|down|HIGH/.test(s) ? 'bad'
    : /WARN|ELEVATED|PENDING|PARTIAL|degraded|SENT|SIGNED/.test(s) ? 'warn' : 'ok';
  return html`<span class=${'pill ' + tone}>${s}</span>`;
}
