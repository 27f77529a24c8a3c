// Small charts drawn without a library: sparklines and uptime bars. The big latency chart uses
// uPlot (check.js).
import { h, pct, dur, showTip, hideTip } from './util.js';

const SVG = 'http://www.w3.org/2000/svg';

/** An inline SVG sparkline of `values` (nulls are gaps). */
export function sparkline(values, label) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 100 26');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  const nums = (values || []).filter((v) => v !== null && Number.isFinite(v));
  if (!nums.length) {
    svg.setAttribute('aria-label', `${label}: no latency data`);
    return svg;
  }
  const max = Math.max(...nums), min = Math.min(...nums);
  const span = max - min || 1;
  const n = values.length;
  let seg = [];
  const flush = () => {
    if (seg.length) {
      const pl = document.createElementNS(SVG, 'polyline');
      pl.setAttribute('points', seg.length === 1 ? `${seg[0]} ${seg[0].replace(/^[^,]+/, (x) => String(Number(x) + 0.8))}` : seg.join(' '));
      svg.append(pl);
    }
    seg = [];
  };
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) { flush(); return; }
    const x = n === 1 ? 50 : (i / (n - 1)) * 100;
    const y = 24 - ((v - min) / span) * 22;
    seg.push(`${x.toFixed(2)},${y.toFixed(2)}`);
  });
  flush();
  svg.setAttribute('aria-label', `${label}: latency ${Math.round(min)}–${Math.round(max)} ms over 24 h`);
  return svg;
}

function bucketClass(b) {
  if (b.uptime === null || b.uptime === undefined) return '';
  if (b.uptime >= 0.9995 && !b.incidents) return 'u-up';
  if (b.uptime >= 0.95) return 'u-warn';
  return 'u-down';
}

function bucketLabel(b, bucketMs) {
  const d = new Date(b.start_ms);
  const when = bucketMs >= 86400000
    ? d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' })
    : `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })}`;
  if (b.uptime === null || b.uptime === undefined) return `${when}: no data`;
  const inc = b.incidents ? `, ${b.incidents} incident${b.incidents > 1 ? 's' : ''}` : ', no incidents';
  const down = b.down_ms ? `, down ${dur(b.down_ms)}` : '';
  return `${when}: ${pct(b.uptime)} up${inc}${down}`;
}

/** An uptime bar: one segment per bucket; hovering or focusing a segment shows its details. */
export function uptimeBar(buckets, bucketMs, { big = false, label = 'uptime' } = {}) {
  const bar = h('div', { class: big ? 'bar big' : 'bar', role: 'img' });
  let up = 0, known = 0;
  for (const b of buckets || []) {
    const seg = h('i', { class: bucketClass(b) });
    seg.dataset.tip = bucketLabel(b, bucketMs);
    bar.append(seg);
    if (b.uptime !== null && b.uptime !== undefined) { up += b.uptime; known += 1; }
  }
  const span = bucketMs >= 86400000 ? `${(buckets || []).length} days` : `${(buckets || []).length} hours`;
  bar.setAttribute('aria-label', known ? `${label} over ${span}: ${pct(up / known)} on average` : `${label}: no data yet`);
  bar.addEventListener('mouseover', (e) => {
    const t = e.target;
    if (t instanceof HTMLElement && t.dataset.tip) showTip(t, t.dataset.tip);
  });
  bar.addEventListener('mouseleave', hideTip);
  return bar;
}

/** An empty bar of `n` grey segments (while data loads or when there is none). */
export function emptyBar(n) {
  const bar = h('div', { class: 'bar', 'aria-hidden': 'true' });
  for (let i = 0; i < n; i += 1) bar.append(h('i'));
  return bar;
}
