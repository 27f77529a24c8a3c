// Status page mode: the public, read-only page of the `status_page:` config — a title, grouped
// components, overall status and incident history. Only the listed checks are shown.
import { getJSON } from './api.js';
import { uptimeBar, emptyBar } from './charts.js';
import { h, badge, when, dur, listOf, stateOf, diagText } from './util.js';

const WORD = { up: 'Operational', degraded: 'Degraded performance', down: 'Outage', unknown: 'No data' };

/** Renders the status page into `main`, following live events from `store`. */
export async function statusPage(main, store) {
  document.body.classList.add('public');
  const cfg = await getJSON('/api/v1/dashboard/status-page');
  if (!cfg.ok || !cfg.data) {
    document.title = 'Status · linkpulse';
    main.replaceChildren(h('h1', { text: 'Status page' }), h('div', { class: 'empty panel' },
      h('p', { text: 'No status page is configured.' }),
      h('p', { class: 'muted', text: 'Add a status_page: section (title and groups of checks) to the configuration to publish one here.' })));
    return;
  }
  const page = cfg.data;
  const groups = Array.isArray(page.groups) ? page.groups : [];
  const listed = new Set(groups.flatMap((g) => g.checks || []));
  document.title = page.title || 'Status';
  const hero = h('div', { class: 'status-hero', id: 'overall', role: 'status' });
  const groupEls = h('div', { id: 'groups' });
  const incBody = h('div', { id: 'history' });
  const bars = new Map();
  main.replaceChildren(
    h('h1', { text: page.title || 'Status' }),
    page.description ? h('p', { class: 'muted', text: page.description }) : '',
    hero, groupEls, h('h2', { text: 'Incident history' }), incBody,
    h('p', { class: 'muted', style: 'margin-top:2em;font-size:.8em', text: 'Powered by linkpulse' }));

  function draw() {
    let worst = 'up';
    let any = false;
    const parts = groups.map((g) => {
      const comps = (g.checks || []).map((n) => {
        const c = store.checks.get(n);
        const s = c ? stateOf(c.state) : 'unknown';
        if (c) any = true;
        if (s === 'down') worst = 'down';
        else if (s === 'degraded' && worst !== 'down') worst = 'degraded';
        else if (s === 'unknown' && worst === 'up') worst = 'unknown';
        const b = bars.get(n);
        return h('div', { class: 'component', 'data-check': n, 'data-state': s },
          h('b', { text: n }), badge(s, WORD[s]),
          b ? uptimeBar(b.buckets, b.bucketMs, { label: `${n} uptime` }) : emptyBar(90));
      });
      return h('section', {}, h('h2', { text: g.name }), h('div', { class: 'panel' }, comps));
    });
    if (!any) worst = 'unknown';
    hero.className = `status-hero s-${worst}`;
    hero.textContent = worst === 'up' ? 'All systems operational'
      : worst === 'down' ? 'Some systems are down'
        : worst === 'degraded' ? 'Some systems are degraded' : 'Status unknown';
    hero.dataset.state = worst;
    groupEls.replaceChildren(...parts);
  }

  async function loadHistory() {
    const names = Array.from(listed);
    if (names.length) {
      const u = await getJSON(`/api/v1/dashboard/uptime?range=90d&checks=${encodeURIComponent(names.join(','))}`);
      if (u.ok && u.data && u.data.checks) {
        for (const n of names) if (u.data.checks[n]) bars.set(n, { buckets: u.data.checks[n], bucketMs: u.data.bucket_ms });
      }
    }
    const r = await getJSON('/api/v1/incidents');
    const list = listOf(r.data, 'incidents').filter((i) => listed.has(i.check ?? i.name))
      .sort((a, b) => (b.started_ms ?? 0) - (a.started_ms ?? 0)).slice(0, 50);
    incBody.replaceChildren(...(list.length ? list.map((i) => h('div', { class: 'panel', style: 'margin-bottom:.6em' },
      h('b', { text: i.check ?? i.name }), ' ', i.ended_ms ? badge('up', 'resolved') : badge('down', 'ongoing'),
      h('div', { class: 'muted', text: `${when(i.started_ms)} · ${i.ended_ms ? `lasted ${dur(i.ended_ms - i.started_ms)}` : `for ${dur(Date.now() - i.started_ms)}`}` }),
      i.diagnosis || i.cause ? h('div', { class: 'diag', text: diagText(i.diagnosis, i.diagnosis_detail) || i.cause }) : ''))
      : [h('p', { class: 'muted', text: 'No incidents reported.' })]));
    draw();
  }

  store.subscribe((names, kind) => {
    if (names && !names.some((n) => listed.has(n))) return;
    draw();
    if (kind === 'state') loadHistory();
  });
  draw();
  await loadHistory();
  setInterval(loadHistory, 60000);
}
