// Check page: latency chart over a chosen range (zoomable), availability figures, uptime bar,
// incidents with cause and diagnosis, the last results, HTTP phases and certificate expiry; for a
// multi-vantage check (cluster mode) the latest result of each vantage.
import uPlot from './vendor/uplot/uPlot.esm.js';
import { getJSON } from './api.js';
import { uptimeBar, emptyBar } from './charts.js';
import { normalise } from './store.js';
import { maintenanceNote, silenceButton } from './maintenance.js';
import { h, badge, ms, pctP, dur, when, listOf, errorText, diagText, uptimeFigure } from './util.js';

const RANGES = [['1h', '1 h'], ['24h', '24 h'], ['7d', '7 d'], ['30d', '30 d']];
const MAX_RESULTS = 50;

function css(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** Renders the page of check `name` into `main`, following live events from `store`. */
export async function checkPage(main, store, name) {
  document.title = `${name} · linkpulse`;
  const asked = new URLSearchParams(location.search).get('range');
  let range = asked || '24h';
  if (!RANGES.some(([r]) => r === range)) range = '24h';
  let plot = null;
  let full = null; // the unzoomed x range
  let results = [];
  let incidents = [];

  const title = h('h1', {}, h('span', { text: name }));
  const silence = silenceButton(name, () => loadCheck().then((c) => c && header(c)));
  const sub = h('p', { class: 'muted', id: 'target' });
  const facts = h('div', { class: 'facts', id: 'figures' });
  const rangeBtns = RANGES.map(([r, label]) => {
    const b = h('button', { type: 'button', 'aria-pressed': String(r === range), text: label, 'data-range': r });
    b.addEventListener('click', () => { range = r; rangeBtns.forEach((x) => x.setAttribute('aria-pressed', String(x === b))); history.replaceState(null, '', `?range=${r}`); loadChart(); });
    return b;
  });
  const reset = h('button', { type: 'button', class: 'count', style: 'min-width:0;padding:.3em .7em', text: 'Reset zoom', hidden: true });
  const chartNote = h('span', { class: 'muted', id: 'chart-note' });
  const chart = h('div', { class: 'chart panel', id: 'chart', role: 'img', 'aria-label': 'Latency chart' });
  const bar = h('div', { id: 'uptime-bar' }, emptyBar(90));
  const detail = h('div', { class: 'cols', id: 'detail' });
  const incBody = h('tbody');
  const incTable = h('div', { class: 'table-wrap' }, h('table', { id: 'incidents' },
    h('thead', {}, h('tr', {}, ['Started', 'Ended', 'Duration', 'Cause', 'Diagnosis'].map((t) => h('th', { scope: 'col', text: t })))), incBody));
  const vanBody = h('tbody');
  const vanNote = h('p', { class: 'muted', id: 'vantage-note' });
  const vanSection = h('section', { id: 'vantage-section', hidden: true }, h('h2', { text: 'Vantages' }), vanNote,
    h('div', { class: 'table-wrap' }, h('table', { id: 'vantages' },
      h('thead', {}, h('tr', {}, ['Vantage', 'Member', 'Result', 'Latency', 'Error', 'Time'].map((t) => h('th', { scope: 'col', text: t })))), vanBody)));
  const resBody = h('tbody');
  const resTable = h('div', { class: 'table-wrap' }, h('table', { id: 'results' },
    h('thead', {}, h('tr', {}, ['Time', 'Result', 'Latency', 'Detail'].map((t) => h('th', { scope: 'col', text: t })))), resBody));

  main.replaceChildren(
    h('p', {}, h('a', { href: '/', text: '← All checks' })),
    title, sub, facts, vanSection,
    h('h2', { text: 'Latency' }),
    h('div', { class: 'chart-tools' }, h('div', { class: 'seg', role: 'group', 'aria-label': 'Chart range' }, rangeBtns), reset, chartNote),
    chart,
    h('h2', { text: 'Uptime, last 90 days' }), bar,
    detail,
    h('h2', { text: 'Incidents' }), incTable,
    h('h2', { text: 'Last results' }), resTable,
  );

  async function loadCheck() {
    const r = await getJSON(`/api/v1/checks/${encodeURIComponent(name)}`);
    if (r.status === 404) {
      main.replaceChildren(h('p', {}, h('a', { href: '/', text: '← All checks' })), h('h1', { text: name }), h('p', { class: 'empty', text: `There is no check named “${name}”.` }));
      return null;
    }
    const item = r.ok && r.data ? (r.data.check && typeof r.data.check === 'object' ? { ...r.data, ...r.data.check } : r.data) : store.checks.get(name)?.raw;
    return item ? normalise(item) : null;
  }

  function header(c) {
    title.replaceChildren(h('span', { text: name }), badge(c.state), ' ', maintenanceNote(c.raw), ' ', silence);
    const open = incidents.find((i) => !i.ended_ms);
    // A multi-vantage check that is up may still name an isolated vantage.
    const diag = c.state === 'down' || c.state === 'degraded' || c.diagnosis === 'vantage_isolated'
      ? (open && open.diagnosis ? diagText(open.diagnosis, open.diagnosis_detail) : diagText(c.diagnosis)) : '';
    const labels = Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(' · ');
    sub.replaceChildren(
      h('span', { class: 'mono', text: c.target || '' }), c.kind ? ` · ${c.kind}` : '',
      labels ? ` · ${labels}` : '',
      diag ? h('span', { class: 'err', id: 'current-diagnosis' }, h('br'), `Diagnosis: ${diag}`) : '',
    );
  }

  function figures(c) {
    const raw = c.raw || {};
    const av = raw.availability && typeof raw.availability === 'object' ? raw.availability : {};
    const u = raw.uptime;
    const items = [];
    const addPct = (label, v) => { if (v !== null && v !== undefined) items.push([label, pctP(v)]); };
    if (u && typeof u === 'object') {
      for (const k of ['24h', '7d', '30d']) addPct(`Uptime ${k}`, uptimeFigure(u[k]) ?? null);
    } else if (typeof u === 'number') addPct('Uptime', u);
    for (const k of ['24h', '7d', '30d']) {
      const v = av[k];
      if (v && typeof v === 'object' && !items.some(([l]) => l === `Uptime ${k}`)) addPct(`Uptime ${k}`, uptimeFigure(v));
    }
    const closed = incidents.filter((i) => i.ended_ms);
    const pick = (...keys) => {
      for (const src of [av, av['30d'] || {}, raw]) for (const k of keys) if (typeof src[k] === 'number') return { k, v: src[k] };
      return null;
    };
    const asMs = (p) => (p ? (/_s$|secs?$|seconds$/.test(p.k) ? p.v * 1000 : p.v) : null);
    const mttr = asMs(pick('mttr_ms', 'mttr_s', 'mttr_secs', 'mttr_seconds', 'mttr'));
    const mtbf = asMs(pick('mtbf_ms', 'mtbf_s', 'mtbf_secs', 'mtbf_seconds', 'mtbf'));
    const inc = pick('incidents', 'incident_count');
    const mttrCalc = closed.length ? closed.reduce((s, i) => s + (i.ended_ms - i.started_ms), 0) / closed.length : null;
    items.push(['MTTR', mttr !== null ? dur(mttr) : mttrCalc !== null ? dur(mttrCalc) : '–']);
    items.push(['MTBF', mtbf !== null ? dur(mtbf) : '–']);
    items.push(['Incidents', inc ? String(inc.v) : String(incidents.length)]);
    const last = c.last || {};
    items.push(['Latency now', last.up === false ? 'down' : ms(last.latency_ms)]);
    facts.replaceChildren(...items.map(([l, v]) => h('div', { class: 'fact' }, h('span', { text: l }), h('b', { text: v }))));
  }

  function details(c) {
    const last = c.last || {};
    const parts = [];
    const ph = last.http && last.http.phases;
    if (ph) {
      const total = ph.total_ms || 0;
      const seq = [['dns', ph.dns_ms], ['connect', ph.connect_ms], ['tls', ph.tls_ms], ['first_byte', ph.first_byte_ms]];
      const used = seq.reduce((s, [, v]) => s + (v || 0), 0);
      const rest = Math.max(0, total - used);
      const width = (v) => (total > 0 ? `${(100 * (v || 0)) / total}%` : '0');
      parts.push(h('section', { id: 'phases' }, h('h2', { text: 'HTTP phases (last request)' }),
        h('div', { class: 'phases', role: 'img', 'aria-label': seq.map(([k, v]) => `${k} ${ms(v)}`).join(', ') },
          seq.map(([k, v]) => h('span', { class: `ph-${k}`, style: `width:${width(v)}` })), h('span', { class: 'ph-rest', style: `width:${width(rest)}` })),
        h('div', { class: 'ph-key' }, seq.map(([k, v]) => h('span', {}, h('i', { class: `ph-${k}` }), `${k.replace('_', ' ')} ${ms(v)}`)),
          h('span', {}, `total ${ms(total)}`)),
        h('p', { class: 'muted' }, [last.http.version, last.http.status ? `status ${last.http.status}` : '', last.http.redirects ? `${last.http.redirects} redirects` : ''].filter(Boolean).join(' · '))));
    }
    const tls = last.tls;
    if (tls) {
      const days = tls.cert_days_left;
      const cls = days === null || days === undefined ? '' : days < 0 ? 's-down' : days < 14 ? 's-degraded' : 's-up';
      parts.push(h('section', { id: 'cert' }, h('h2', { text: 'Certificate' }),
        h('div', { class: 'facts' },
          h('div', { class: 'fact' }, h('span', { text: 'Expires in' }), h('b', { class: cls, text: days === null || days === undefined ? '–' : days < 0 ? `expired ${-days} d ago` : `${days} days` })),
          h('div', { class: 'fact' }, h('span', { text: 'Expiry date' }), h('b', { text: tls.earliest_expiry ? new Date(tls.earliest_expiry * 1000).toLocaleDateString() : '–' })),
          h('div', { class: 'fact' }, h('span', { text: 'Protocol' }), h('b', { text: [tls.version, tls.alpn].filter(Boolean).join(' · ') || '–' }))),
        tls.subject ? h('p', { class: 'muted mono', text: `subject ${tls.subject}${tls.issuer ? ` · issuer ${tls.issuer}` : ''}` }) : ''));
    }
    if (last.icmp) {
      const i = last.icmp;
      parts.push(h('section', {}, h('h2', { text: 'ICMP (last run)' }), h('div', { class: 'facts' },
        [['Sent/received', `${i.sent}/${i.received}`], ['Loss', `${Number(i.loss || 0).toFixed(1)}%`], ['RTT min/avg/max', `${ms(i.rtt_min_ms)} / ${ms(i.rtt_avg_ms)} / ${ms(i.rtt_max_ms)}`]]
          .map(([l, v]) => h('div', { class: 'fact' }, h('span', { text: l }), h('b', { text: v }))))));
    }
    const factList = (rows) => h('div', { class: 'facts' },
      rows.map(([l, v]) => h('div', { class: 'fact' }, h('span', { text: l }), h('b', { text: v }))));
    if (last.dns) {
      const d = last.dns;
      const answers = d.answers || [];
      parts.push(h('section', { id: 'dns' }, h('h2', { text: 'DNS (last query)' }),
        factList([['Response', d.rcode || '–'], ['Transport', d.truncated ? `${d.transport} (UDP truncated)` : d.transport || '–'],
          ['Answers', String(answers.length)], ['Query time', ms(d.request_ms)]]),
        answers.length ? h('p', { class: 'muted mono', text: answers.map((a) => a.split('\t').pop()).join(' · ') }) : ''));
    }
    if (last.grpc) {
      const g = last.grpc;
      parts.push(h('section', { id: 'grpc' }, h('h2', { text: 'gRPC health (last check)' }),
        factList([['Service', g.service || '(server)'], ['Status', g.status || '–'], ['gRPC code', g.grpc_code ?? '–'], ['Check time', ms(g.check_ms)]]
          .map(([l, v]) => [l, String(v)]))));
    }
    detail.replaceChildren(...parts);
  }

  // The latest result of each vantage (`vantages` in the check's JSON, cluster mode only).
  function drawVantages(raw) {
    const v = raw && raw.vantages;
    vanSection.hidden = !v;
    if (!v) return;
    const failing = v.failing || [], isolated = v.isolated || [];
    vanNote.textContent = [`down when ${v.quorum} vantage${v.quorum === 1 ? '' : 's'} say so`,
      failing.length ? `failing: ${failing.join(', ')}` : '',
      isolated.length ? `isolated (left out, their own network): ${isolated.join(', ')}` : ''].filter(Boolean).join(' · ');
    const rows = v.results || [];
    vanBody.replaceChildren(...(rows.length ? rows.map((r) => h('tr', { 'data-vantage': r.vantage, 'data-up': String(r.up), 'data-isolated': String(!!r.isolated) },
      h('td', {}, h('b', { text: r.vantage })),
      h('td', { class: 'mono', text: r.member }),
      h('td', {}, badge(r.up ? 'up' : 'down', r.up ? 'ok' : r.isolated ? 'isolated' : 'failed')),
      h('td', { class: 'num', text: r.up ? ms(r.latency_ms) : '–' }),
      h('td', { class: r.up ? '' : 'err', text: r.error_kind || '' }),
      h('td', { text: when(r.at_ms) })))
      : [h('tr', {}, h('td', { colspan: 6, class: 'muted', text: 'No vantage has reported recently.' }))]));
  }

  function resultRow(a) {
    const res = a.result && typeof a.result === 'object' ? a.result : a;
    const up = a.up ?? res.up;
    const err = errorText(res) || (a.error_kind ? a.error_kind : '');
    const extra = [res.http && res.http.status ? `HTTP ${res.http.status}` : '', err].filter(Boolean).join(' · ');
    return h('tr', {},
      h('td', { text: when(a.at_ms ?? a.at ?? a.time) }),
      h('td', {}, badge(up ? 'up' : 'down', up ? 'ok' : 'failed')),
      h('td', { class: 'num', text: up ? ms(a.latency_ms ?? res.latency_ms) : '–' }),
      h('td', { class: up ? '' : 'err', text: extra || '' }));
  }

  function drawResults() {
    resBody.replaceChildren(...(results.length ? results.slice(0, MAX_RESULTS).map(resultRow)
      : [h('tr', {}, h('td', { colspan: 4, class: 'muted', text: 'No results yet.' }))]));
  }

  function drawIncidents() {
    incBody.replaceChildren(...(incidents.length ? incidents.map((i) => h('tr', { 'data-ongoing': String(!i.ended_ms) },
      h('td', { text: when(i.started_ms) }),
      h('td', {}, i.ended_ms ? when(i.ended_ms) : badge('down', 'ongoing')),
      h('td', { class: 'num', text: dur((i.ended_ms || Date.now()) - i.started_ms) }),
      h('td', { class: 'err', text: i.cause || '–' }),
      h('td', { class: 'diag', text: diagText(i.diagnosis, i.diagnosis_detail) || '–' })))
      : [h('tr', {}, h('td', { colspan: 5, class: 'muted', text: 'No incidents in the kept history.' }))]));
  }

  async function loadIncidents() {
    const r = await getJSON(`/api/v1/incidents?check=${encodeURIComponent(name)}`);
    incidents = listOf(r.data, 'incidents')
      .filter((i) => (i.check ?? i.name) === name)
      .map((i) => ({ ...i, started_ms: i.started_ms ?? Date.parse(i.started), ended_ms: i.ended_ms ?? (i.ended ? Date.parse(i.ended) : null) }))
      .sort((a, b) => b.started_ms - a.started_ms);
    drawIncidents();
    if (c) header(c);
  }

  async function loadResults() {
    const r = await getJSON(`/api/v1/checks/${encodeURIComponent(name)}/history?limit=${MAX_RESULTS}`);
    results = listOf(r.data, 'history', 'attempts').slice().sort((a, b) => (b.at_ms ?? 0) - (a.at_ms ?? 0));
    drawResults();
  }

  async function loadBar() {
    const r = await getJSON(`/api/v1/dashboard/uptime?range=90d&checks=${encodeURIComponent(name)}`);
    if (r.ok && r.data && r.data.checks && r.data.checks[name]) {
      bar.replaceChildren(uptimeBar(r.data.checks[name], r.data.bucket_ms, { big: true, label: `${name} uptime` }),
        h('div', { class: 'bar-legend' }, h('span', { text: '90 days ago' }), h('span', { text: 'today' })));
    }
  }

  async function loadChart() {
    chartNote.textContent = 'loading…';
    const r = await getJSON(`/api/v1/dashboard/series?check=${encodeURIComponent(name)}&range=${range}&points=400`);
    let t = [], avg = [], lo = [], hi = [], fail = [];
    let since = null;
    let end = null;
    if (r.ok && r.data && Array.isArray(r.data.t)) {
      // A young check: start the axis at its first data instead of showing an empty range.
      const first = Math.max(0, r.data.count.findIndex((n) => n > 0));
      const cut = (xs) => xs.slice(first);
      if (first > 0) since = r.data.t[first];
      if (!asked && range === '24h' && since && r.data.to_ms - since < 3600000) {
        // Less than an hour of data: the 1 h view shows it in detail.
        range = '1h';
        rangeBtns.forEach((x) => x.setAttribute('aria-pressed', String(x.dataset.range === range)));
        return loadChart();
      }
      end = r.data.to_ms / 1000;
      t = cut(r.data.t).map((x) => x / 1000);
      avg = cut(r.data.avg); lo = cut(r.data.min); hi = cut(r.data.max);
      const top = Math.max(0, ...hi.filter((x) => x !== null));
      fail = cut(r.data.fail).map((n, i) => (n > 0 ? (hi[i] ?? top) : null));
    } else {
      // No compact series: fall back to the raw results we have.
      const pts = results.slice().reverse();
      t = pts.map((a) => (a.at_ms ?? 0) / 1000);
      avg = pts.map((a) => ((a.up ?? a.result?.up) ? (a.latency_ms ?? a.result?.latency_ms ?? null) : null));
      lo = avg; hi = avg;
      fail = pts.map((a) => ((a.up ?? a.result?.up) ? null : 0));
    }
    const failures = fail.filter((x) => x !== null).length;
    chartNote.textContent = `${t.length ? '' : 'no data · '}${since ? `data since ${when(since)} · ` : ''}drag to zoom, double-click to reset${failures ? ` · ${failures} interval${failures > 1 ? 's' : ''} with failures` : ''}`;
    chart.setAttribute('aria-label', `Latency of ${name} over ${range}`);
    const data = [t, avg, lo, hi, fail];
    const width = Math.max(280, chart.clientWidth - 32);
    if (plot) { plot.destroy(); plot = null; }
    const accent = css('--accent', '#0b63c5'), down = css('--down', '#c62828'), line = css('--line', '#ddd'), fg = css('--muted', '#666');
    const axis = { stroke: fg, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    plot = new uPlot({
      width,
      height: 260,
      cursor: { drag: { x: true, y: false, setScale: true } },
      scales: { x: { time: true } },
      series: [
        {},
        { label: 'mean', stroke: accent, width: 2, value: (u, v) => ms(v), spanGaps: false },
        { label: 'min', stroke: `${accent}66`, width: 1, value: (u, v) => ms(v) },
        { label: 'max', stroke: `${accent}66`, width: 1, value: (u, v) => ms(v) },
        { label: 'failures', stroke: down, fill: down, width: 0, paths: () => null, points: { show: true, size: 7, stroke: down, fill: down }, value: (u, v) => (v === null ? '–' : 'failed') },
      ],
      bands: [{ series: [3, 2], fill: `${accent}22` }],
      axes: [axis, { ...axis, values: (u, vals) => vals.map((v) => ms(v)), size: 70 }],
      hooks: { setScale: [(u, key) => { if (key === 'x' && full) reset.hidden = u.scales.x.min <= full.min && u.scales.x.max >= full.max; }] },
    }, data, chart);
    // Span the whole range up to now, also with a single point.
    full = t.length ? { min: t[0], max: Math.max(end ?? t[t.length - 1], t[0] + 60) } : null;
    if (full) plot.setScale('x', full);
    reset.hidden = true;
    chart.dataset.points = String(t.length);
  }
  reset.addEventListener('click', () => { if (plot && full) plot.setScale('x', full); reset.hidden = true; });
  chart.addEventListener('dblclick', () => { if (plot && full) setTimeout(() => { plot.setScale('x', full); reset.hidden = true; }); });
  window.addEventListener('resize', () => { if (plot) plot.setSize({ width: Math.max(280, chart.clientWidth - 32), height: 260 }); });

  let c = null;
  c = await loadCheck();
  if (!c) return;
  header(c);
  drawVantages(c.raw);
  if (c.raw && c.raw.vantages) {
    // The vantages report on their own schedules: follow them.
    setInterval(async () => { const again = await loadCheck(); if (again) drawVantages(again.raw); }, 3000);
  }
  await Promise.all([loadIncidents(), loadResults()]);
  figures(c);
  details(c);
  await Promise.all([loadChart(), loadBar()]);

  store.subscribe(async (names, kind) => {
    if (names && !names.includes(name)) return;
    const fresh = store.checks.get(name);
    if (!fresh) return;
    const stateChanged = fresh.state !== c.state;
    c = { ...c, state: fresh.state, last: fresh.last || c.last, diagnosis: fresh.diagnosis, v: fresh.v };
    if (kind === 'result' && fresh.last) {
      results.unshift({ at_ms: fresh.lastAt ?? Date.now(), up: fresh.last.up, latency_ms: fresh.last.latency_ms, result: fresh.last });
      results = results.slice(0, MAX_RESULTS);
      drawResults();
    }
    header(c);
    details(c);
    if (kind === 'diagnosis') await loadIncidents();
    if (stateChanged || !names) {
      await loadIncidents();
      // The diagnosis arrives a moment after the state change: look again shortly.
      setTimeout(async () => { const again = await loadCheck(); if (again) { c = again; header(c); figures(c); } await loadIncidents(); }, 1500);
    }
    figures(c);
  });
  setInterval(() => { loadChart(); loadBar(); }, 60000);
}
