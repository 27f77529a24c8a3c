// Small helpers shared by every page: DOM building, formatting, state names.

/** Creates an element: h('a', {href: '/x', class: 'y'}, child, 'text', ...). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Known check states; anything else shows as unknown. */
export const STATES = ['up', 'degraded', 'down', 'unknown'];

/** Normalises a state string. */
export function stateOf(s) {
  const v = String(s || 'unknown').toLowerCase();
  return STATES.includes(v) ? v : 'unknown';
}

/** A state badge: colour and the word (never colour alone). */
export function badge(state, word) {
  const s = String(state || 'unknown').toLowerCase();
  return h('span', { class: `badge s-${s}`, 'data-state': s }, word || s);
}

/** Latency in ms as text. */
export function ms(v) {
  if (v === null || v === undefined || !Number.isFinite(Number(v))) return '–';
  const n = Number(v);
  if (n >= 10000) return `${(n / 1000).toFixed(1)} s`;
  if (n >= 100) return `${Math.round(n)} ms`;
  if (n >= 10) return `${n.toFixed(1)} ms`;
  return `${n.toFixed(2)} ms`;
}

/** A ratio 0–1 as "99.95%" (the dashboard endpoints give ratios). */
export function pct(v) {
  if (v === null || v === undefined || !Number.isFinite(Number(v))) return '–';
  return pctP(Number(v) * 100);
}

/** A percentage 0–100 as "99.95%" (the daemon's availability figures are percentages). */
export function pctP(v) {
  if (v === null || v === undefined || !Number.isFinite(Number(v))) return '–';
  const n = Number(v);
  if (n >= 99.995 && n < 100) return '99.99%';
  return `${n.toFixed(n === 100 ? 0 : 2)}%`;
}

/** A duration in ms as "3h 12m". */
export function dur(msv) {
  if (msv === null || msv === undefined || !Number.isFinite(Number(msv))) return '–';
  let s = Math.max(0, Math.round(Number(msv) / 1000));
  const d = Math.floor(s / 86400); s %= 86400;
  const hh = Math.floor(s / 3600); s %= 3600;
  const mm = Math.floor(s / 60); s %= 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${mm}m`;
  if (mm) return `${mm}m ${s}s`;
  return `${s}s`;
}

/** A timestamp (ms, seconds, or RFC 3339) as a Date, or null. */
export function toDate(v) {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'number') return new Date(v < 1e11 ? v * 1000 : v);
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Local date and time, compact. */
export function when(v) {
  const d = toDate(v);
  if (!d) return '–';
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** "5 min ago". */
export function ago(v) {
  const d = toDate(v);
  if (!d) return '–';
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** The list inside an API answer that may be a bare array or wrapped ({items|checks|...: []}). */
export function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  if (data && typeof data === 'object') {
    for (const k of [...keys, 'items', 'data', 'results']) if (Array.isArray(data[k])) return data[k];
  }
  return [];
}

/** A single uptime percentage from the check's `uptime` field (number, or {"24h": …} object). */
export function uptimeFigure(u) {
  if (u === null || u === undefined) return null;
  if (typeof u === 'number') return u;
  if (typeof u === 'object') {
    for (const k of ['24h', 'day', 'uptime_24h', '30d', '7d', 'ratio', 'uptime', 'percent']) {
      const v = u[k];
      if (typeof v === 'number') return v;
      if (v && typeof v === 'object') {
        const inner = uptimeFigure(v);
        if (inner !== null) return inner;
      }
    }
  }
  return null;
}

/** The probe error message of a result JSON, if any. */
export function errorText(result) {
  if (!result || typeof result !== 'object') return '';
  const e = result.error;
  if (!e) return result.warning ? `warning: ${result.warning}` : '';
  if (typeof e === 'string') return e;
  return [e.kind, e.message].filter(Boolean).join(': ');
}

/** Debounces `fn` by `wait` ms. */
export function debounce(fn, wait) {
  let t = 0;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), wait); };
}

/** Shows the shared tooltip near `target`. */
export function showTip(target, text) {
  const tip = document.getElementById('tip');
  if (!tip) return;
  tip.textContent = text;
  tip.hidden = false;
  const r = target.getBoundingClientRect();
  const w = tip.offsetWidth, hh = tip.offsetHeight;
  let x = r.left + r.width / 2 - w / 2;
  x = Math.max(4, Math.min(x, window.innerWidth - w - 4));
  let y = r.top - hh - 6;
  if (y < 4) y = r.bottom + 6;
  tip.style.left = `${x}px`;
  tip.style.top = `${y}px`;
}

/** Hides the shared tooltip. */
export function hideTip() {
  const tip = document.getElementById('tip');
  if (tip) tip.hidden = true;
}

/** A diagnosis as one line: "process_down: host answers ping, port 5432 refused". */
export function diagText(verdict, detail) {
  const pick = (d) => {
    if (!d) return '';
    if (typeof d === 'string') return d;
    if (typeof d === 'object') return d.summary || d.explanation || d.message || d.reason || '';
    return '';
  };
  let v = verdict, s = pick(detail);
  if (verdict && typeof verdict === 'object') { v = verdict.verdict || verdict.kind || ''; s = s || pick(verdict); }
  v = v ? String(v) : '';
  if (v && s && !s.startsWith(v)) return `${v}: ${s}`;
  return s || v;
}
