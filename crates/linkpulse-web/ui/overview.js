// Overview: every check with state, latency, 24 h sparkline and uptime bar; counts, filters,
// search; a virtualised list so thousands of checks render as fast as thirty.
import { getJSON } from './api.js';
import { maintenancePanel, channelsPanel } from './maintenance.js';
import { sparkline, uptimeBar, emptyBar } from './charts.js';
import { h, badge, ms, pct, pctP, uptimeFigure, errorText, debounce, hideTip } from './util.js';

const ORDER = { down: 0, degraded: 1, unknown: 2, up: 3 };
const OVERSCAN = 8;
const REFRESH_MS = 60000;

/** Renders the overview into `main`, fed by `store`. */
export function overview(main, store) {
  const params = new URLSearchParams(location.search);
  const f = {
    q: params.get('q') || '',
    state: params.get('state') || '',
    kind: params.get('kind') || '',
    label: params.get('label') || '',
    range: params.get('range') === '24h' ? '24h' : '90d',
  };
  let rows = [];           // filtered, sorted checks
  const rendered = new Map(); // name -> row element
  const uptimeCache = { '90d': new Map(), '24h': new Map() };
  const sparkCache = new Map();
  let hasHistory = true;
  const seen = new Map(); // name -> state when last filtered
  let rowH = 52;
  let marked = false;

  const countBtns = {};
  const counts = h('div', { class: 'counts', role: 'group', 'aria-label': 'Filter by state' });
  for (const s of ['', 'up', 'degraded', 'down', 'unknown']) {
    const btn = h('button', { class: 'count', type: 'button', 'aria-pressed': String(f.state === s), 'data-count': s || 'all' },
      h('b', { text: '0' }), h('span', { class: s ? `s-${s}` : '', text: s || 'all checks' }));
    btn.addEventListener('click', () => { f.state = f.state === s ? '' : s; sync(); });
    countBtns[s] = btn;
    counts.append(btn);
  }
  const search = h('input', { type: 'search', placeholder: 'Search checks by name or target…', 'aria-label': 'Search checks', value: f.q, id: 'search' });
  search.addEventListener('input', debounce(() => { f.q = search.value; sync(); }, 80));
  const kindSel = h('select', { 'aria-label': 'Kind', id: 'kind' });
  const labelSel = h('select', { 'aria-label': 'Label', id: 'label' });
  kindSel.addEventListener('change', () => { f.kind = kindSel.value; sync(); });
  labelSel.addEventListener('change', () => { f.label = labelSel.value; sync(); });
  const rangeBtns = ['90d', '24h'].map((r) => {
    const b = h('button', { type: 'button', 'aria-pressed': String(f.range === r), text: r === '90d' ? '90 days' : '24 hours' });
    b.addEventListener('click', () => { f.range = r; sync(); });
    return b;
  });
  const seg = h('div', { class: 'seg', role: 'group', 'aria-label': 'Uptime bar range' }, rangeBtns);
  const shown = h('span', { class: 'muted', 'aria-live': 'polite', id: 'shown' });
  const filters = h('div', { class: 'filters' }, search, kindSel, labelSel, seg, shown);
  const head = h('div', { class: 'list-head', 'aria-hidden': 'true' },
    h('span', { text: 'State' }), h('span', { text: 'Check' }), h('span', { text: 'Kind' }),
    h('span', { class: 'num', text: 'Latency' }), h('span', { text: '24 h latency' }),
    h('span', { class: 'bar-title', text: 'Uptime (90 days)' }), h('span', { class: 'num', text: 'Uptime' }));
  const list = h('div', { class: 'list', id: 'checks', role: 'list', 'aria-label': 'Checks' });
  const empty = h('div', { class: 'empty', hidden: true });
  main.replaceChildren(h('h1', { text: 'Checks' }), counts, filters, head, list, empty, maintenancePanel(), channelsPanel());

  function measure() {
    const v = getComputedStyle(document.documentElement).getPropertyValue('--row-h');
    rowH = parseFloat(v) || 52;
  }

  function options(sel, values, current, allText) {
    const want = [''].concat(values);
    const have = Array.from(sel.options).map((o) => o.value);
    if (want.join('\u0000') !== have.join('\u0000')) {
      sel.replaceChildren(...want.map((v) => h('option', { value: v, text: v || allText })));
    }
    sel.value = want.includes(current) ? current : '';
  }

  function matches(c) {
    if (f.state && c.state !== f.state) return false;
    if (f.kind && c.kind !== f.kind) return false;
    if (f.label) {
      const i = f.label.indexOf('=');
      const k = f.label.slice(0, i), v = f.label.slice(i + 1);
      if (c.labels[k] !== v) return false;
    }
    if (f.q) {
      const q = f.q.toLowerCase();
      if (!c.name.toLowerCase().includes(q) && !String(c.target).toLowerCase().includes(q)) return false;
    }
    return true;
  }

  function refilter() {
    const all = Array.from(store.checks.values());
    const n = { '': all.length, up: 0, degraded: 0, down: 0, unknown: 0 };
    const kinds = new Set(), labels = new Set();
    for (const c of all) {
      n[c.state] += 1;
      if (c.kind) kinds.add(c.kind);
      for (const [k, v] of Object.entries(c.labels)) labels.add(`${k}=${v}`);
    }
    for (const [s, btn] of Object.entries(countBtns)) {
      btn.firstChild.textContent = String(n[s]);
      btn.setAttribute('aria-pressed', String(f.state === s));
      btn.setAttribute('aria-label', `${n[s]} ${s || 'checks in total'}${s ? '' : ''}`);
    }
    options(kindSel, Array.from(kinds).sort(), f.kind, 'all kinds');
    options(labelSel, Array.from(labels).sort(), f.label, 'all labels');
    rows = all.filter(matches).sort((a, b) => (ORDER[a.state] - ORDER[b.state]) || a.name.localeCompare(b.name));
    shown.textContent = rows.length === all.length ? `${all.length} checks` : `${rows.length} of ${all.length} checks`;
    rangeBtns.forEach((b, i) => b.setAttribute('aria-pressed', String(f.range === ['90d', '24h'][i])));
    head.querySelector('.bar-title').textContent = f.range === '90d' ? 'Uptime (90 days)' : 'Uptime (24 hours)';
    list.style.height = `${rows.length * rowH}px`;
    empty.hidden = rows.length > 0;
    if (!rows.length) {
      empty.textContent = store.error ? `Cannot load checks: ${store.error}.`
        : !store.loaded ? 'Loading checks…'
          : all.length ? 'No check matches these filters.' : 'No checks configured yet.';
    }
    seen.clear();
    for (const c of all) seen.set(c.name, c.state);
  }

  function cell(c) {
    const last = c.last || {};
    const err = errorText(last);
    const lat = last.up === false ? null : last.latency_ms;
    const up = uptimeCache[f.range].get(c.name);
    const sp = sparkCache.get(c.name);
    const fig = uptimeFigure(c.uptime);
    const avg = up && up.buckets.length ? bucketAverage(up.buckets) : null;
    return [
      h('span', { class: 'state' }, badge(c.state)),
      h('span', { class: 'name' }, c.name, h('small', { text: c.diagnosis ? `${c.diagnosis}${err ? ` · ${err}` : ''}` : (err || c.target) })),
      h('span', { class: 'kind muted', text: c.kind }),
      h('span', { class: 'num latency', text: ms(lat) }),
      h('span', { class: 'spark-cell' }, sp ? sparkline(sp, c.name) : ''),
      h('span', { class: 'bar-cell' }, up ? uptimeBar(up.buckets, up.bucketMs, { label: `${c.name} uptime` }) : emptyBar(f.range === '90d' ? 90 : 24)),
      h('span', { class: 'num uptime-pct', text: avg !== null ? pct(avg) : fig !== null ? pctP(fig) : '–' }),
    ];
  }

  function bucketAverage(bs) {
    let s = 0, n = 0;
    for (const b of bs) if (b.uptime !== null && b.uptime !== undefined) { s += b.uptime; n += 1; }
    return n ? s / n : null;
  }

  function rowFor(c, i) {
    let el = rendered.get(c.name);
    if (!el) {
      el = h('a', { class: 'row', href: `/checks/${encodeURIComponent(c.name)}`, role: 'listitem', 'data-name': c.name, 'data-state': c.state });
      el.addEventListener('keydown', onKey);
      rendered.set(c.name, el);
      list.append(el);
      el.dataset.v = '';
    }
    el.style.top = `${i * rowH}px`;
    el.dataset.index = String(i);
    const key = `${c.v}|${f.range}|${uptimeCache[f.range].has(c.name)}|${sparkCache.has(c.name)}`;
    if (el.dataset.v !== key) {
      el.dataset.v = key;
      el.dataset.state = c.state;
      el.setAttribute('aria-label', `${c.name}: ${c.state}`);
      el.replaceChildren(...cell(c));
    }
    return el;
  }

  function visibleRange() {
    const top = list.getBoundingClientRect().top;
    const first = Math.max(0, Math.floor(-top / rowH) - OVERSCAN);
    const count = Math.ceil(window.innerHeight / rowH) + 2 * OVERSCAN;
    return [first, Math.min(rows.length, first + count)];
  }

  function draw() {
    const [a, b] = visibleRange();
    const keep = new Set();
    for (let i = a; i < b; i += 1) keep.add(rowFor(rows[i], i));
    for (const [name, el] of rendered) {
      if (!keep.has(el) && el !== document.activeElement) { el.remove(); rendered.delete(name); }
    }
    want(rows.slice(a, b).map((c) => c.name));
    if (!marked && b > a) {
      marked = true;
      // For bench/dashboard-render: when the first rows of real data are on screen.
      performance.mark('linkpulse:first-rows', { detail: { checks: store.checks.size } });
    }
  }

  function onKey(e) {
    const i = Number(e.currentTarget.dataset.index);
    let j = null;
    if (e.key === 'ArrowDown' || e.key === 'j') j = i + 1;
    else if (e.key === 'ArrowUp' || e.key === 'k') j = i - 1;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = rows.length - 1;
    else if (e.key === 'PageDown') j = i + Math.floor(window.innerHeight / rowH);
    else if (e.key === 'PageUp') j = i - Math.floor(window.innerHeight / rowH);
    if (j === null) return;
    e.preventDefault();
    j = Math.max(0, Math.min(rows.length - 1, j));
    const top = list.getBoundingClientRect().top + window.scrollY + j * rowH;
    const header = document.getElementById('top')?.offsetHeight || 0;
    if (top < window.scrollY + header) window.scrollTo(0, top - header - 8);
    else if (top + rowH > window.scrollY + window.innerHeight) window.scrollTo(0, top + rowH - window.innerHeight + 8);
    draw();
    rowFor(rows[j], j).focus();
  }

  // Lazy chart data for the rows on screen, batched.
  let pending = new Set();
  const fetchSoon = debounce(async () => {
    if (!hasHistory) return;
    const names = Array.from(pending).slice(0, 200);
    pending = new Set();
    if (!names.length) return;
    const range = f.range;
    const q = encodeURIComponent(names.join(','));
    const [u, s] = await Promise.all([
      getJSON(`/api/v1/dashboard/uptime?range=${range}&checks=${q}`),
      getJSON(`/api/v1/dashboard/sparklines?range=24h&points=48&checks=${q}`),
    ]);
    if (u.status === 404 && s.status === 404) { hasHistory = false; return; }
    const now = Date.now();
    for (const n of names) {
      const b = u.ok && u.data && u.data.checks ? u.data.checks[n] : null;
      uptimeCache[range].set(n, { buckets: b || [], bucketMs: u.data?.bucket_ms || 86400000, at: now });
      const sp = s.ok && s.data && s.data.checks ? s.data.checks[n] : null;
      sparkCache.set(n, sp || []);
      sparkCache.get(n).at = now;
    }
    schedule();
  }, 60);

  function want(names) {
    const now = Date.now();
    for (const n of names) {
      const u = uptimeCache[f.range].get(n);
      const s = sparkCache.get(n);
      if (!u || !s || now - u.at > REFRESH_MS || now - (s.at || 0) > REFRESH_MS) pending.add(n);
    }
    if (pending.size) fetchSoon();
  }

  let frame = 0, needFilter = true;
  function schedule(refilterToo) {
    if (refilterToo) needFilter = true;
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      if (needFilter) { needFilter = false; refilter(); }
      draw();
    });
  }

  function sync() {
    const p = new URLSearchParams();
    for (const k of ['q', 'state', 'kind', 'label']) if (f[k]) p.set(k, f[k]);
    if (f.range !== '90d') p.set('range', f.range);
    const qs = p.toString();
    history.replaceState(null, '', qs ? `/?${qs}` : '/');
    hideTip();
    schedule(true);
  }

  measure();
  store.subscribe((names) => {
    // A state change can move a row (sort order, state filter): refilter on any change of state.
    if (!names) { schedule(true); return; }
    let moved = false;
    for (const n of names) {
      const c = store.checks.get(n);
      if (!c || seen.get(n) !== c.state) {
        moved = true;
        // Its uptime bar and figure changed: fetch them again when on screen.
        uptimeCache['90d'].delete(n);
        uptimeCache['24h'].delete(n);
      }
    }
    schedule(moved);
  });
  window.addEventListener('scroll', () => schedule(false), { passive: true });
  window.addEventListener('resize', () => { measure(); schedule(true); });
  setInterval(() => schedule(false), REFRESH_MS / 2);
  schedule(true);
}
