// A line chart drawn as inline SVG: no chart library for one series.
import { html } from 'preact';

// LineChart draws points [{t: ms, v: number}] with a few labelled ticks on each axis.
export function LineChart({ points, label, format = (v) => v.toFixed(4), height = 220 }) {
  const W = 720, H = height, L = 64, R = 12, T = 12, B = 28;
  if (!points.length) return html`<p class="muted">No points in this range.</p>`;
  let vmin = Math.min(...points.map((p) => p.v)), vmax = Math.max(...points.map((p) => p.v));
  if (vmax === vmin) { vmax += 1e-6; vmin -= 1e-6; }
  const t0 = points[0].t, t1 = points[points.length - 1].t || t0 + 1;
  const x = (t) => L + (t1 === t0 ? 0 : (t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - (v - vmin) / (vmax - vmin)) * (H - T - B);
  const d = points.map((p, i) => (i ? 'L' : 'M') + x(p.t).toFixed(1) + ' ' + y(p.v).toFixed(1)).join(' ');
  const yt = [vmin, (vmin + vmax) / 2, vmax];
  const xt = [t0, (t0 + t1) / 2, t1];
  const day = (t) => new Date(t).toISOString().slice(0, 10);
  const last = points[points.length - 1];
  return html`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" preserveAspectRatio="none"
      aria-label=${`${label}: ${points.length} points from ${day(t0)} to ${day(t1)}, from ${format(points[0].v)} to ${format(last.v)}, low ${format(vmin)}, high ${format(vmax)}`}>
    ${yt.map((v) => html`<line class="grid" x1=${L} x2=${W - R} y1=${y(v)} y2=${y(v)} />
      <text class="tick" x=${L - 6} y=${y(v) + 4} text-anchor="end">${format(v)}</text>`)}
    ${xt.map((t, i) => html`<text class="tick" x=${x(t)} y=${H - 8} text-anchor=${['start', 'middle', 'end'][i]}>${day(t)}</text>`)}
    <path class="line" d=${d} />
    <circle class="dot" cx=${x(last.t)} cy=${y(last.v)} r="3" />
  </svg>`;
}

// Band draws a ratio against its band: the allowed range shaded, the target marked.
export function Band({ ratio, min, target, max }) {
  const pct = (b) => Math.max(0, Math.min(100, b / 100));
  const out = ratio < min || ratio > max;
  return html`<svg class="band" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">
    <rect x="0" y="2" width="100" height="6" class="track" />
    <rect x=${pct(min)} y="2" width=${pct(max) - pct(min)} height="6" class="allowed" />
    <rect x="0" y="3.5" width=${pct(ratio)} height="3" class=${out ? 'value out' : 'value'} />
    <rect x=${pct(target) - 0.3} y="0" width="0.6" height="10" class="target" />
  </svg>`;
}
