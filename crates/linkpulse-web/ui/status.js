// Status page mode: the public, read-only page of the `status_page:` config — a title, grouped
// components, overall status and incident history. It reads only the endpoints that the server
// filters to the listed checks (`/api/v1/status`, `/api/v1/status/events`), never the
// dashboard's APIs, so an unlisted check never reaches a public visitor's browser.
import { getJSON, LiveStream, setLive } from './api.js';
import { uptimeBar, emptyBar } from './charts.js';
import { h, badge, when, dur, stateOf, pct } from './util.js';

const WORD = { up: 'Operational', degraded: 'Degraded performance', down: 'Outage', unknown: 'No data' };
const HERO = {
  up: 'All systems operational', down: 'Some systems are down',
  degraded: 'Some systems are degraded', unknown: 'Status unknown',
};
/** Plain words for the diagnosis verdicts a public visitor may see. */
const VERDICT = {
  dns_failure: 'name resolution failed', host_unreachable: 'host unreachable',
  process_down: 'service not running', port_filtered: 'port not answering',
  app_error: 'application error', tls_error: 'TLS error', process_gone: 'agent process gone',
};

/** Renders the status page into `main` and keeps it current. */
export async function statusPage(main) {
  document.body.classList.add('public');
  const hero = h('div', { class: 'status-hero', id: 'overall', role: 'status' });
  const groupEls = h('div', { id: 'groups' });
  const incBody = h('div', { id: 'history' });
  const title = h('h1', { text: 'Status' });
  const desc = h('p', { class: 'muted' });
  let shown = false;

  function showMissing() {
    document.title = 'Status · linkpulse';
    shown = false;
    main.replaceChildren(h('h1', { text: 'Status page' }), h('div', { class: 'empty panel' },
      h('p', { text: 'No status page is configured.' }),
      h('p', { class: 'muted', text: 'Add a status_page: section (title and groups of checks) to the configuration to publish one here.' })));
  }

  function draw(s) {
    if (!shown) {
      main.replaceChildren(title, desc, hero, groupEls, h('h2', { text: 'Incident history' }), incBody,
        h('p', { class: 'muted', style: 'margin-top:2em;font-size:.8em', text: 'Powered by linkpulse' }));
      shown = true;
    }
    document.title = s.title || 'Status';
    title.textContent = s.title || 'Status';
    desc.textContent = s.description || '';
    desc.hidden = !s.description;
    const overall = stateOf(s.overall);
    hero.className = `status-hero s-${overall}`;
    hero.textContent = HERO[overall];
    hero.dataset.state = overall;
    groupEls.replaceChildren(...(s.groups || []).map((g) => h('section', {},
      h('h2', { text: g.name }),
      h('div', { class: 'panel' }, (g.components || []).map((c) => {
        const st = stateOf(c.state);
        return h('div', { class: 'component', 'data-check': c.name, 'data-state': st },
          h('b', { text: c.name }), badge(st, WORD[st]),
          c.maintenance ? h('span', { class: 'badge s-unknown', 'data-maintenance': '', text: 'maintenance' }) : '',
          c.uptime === null || c.uptime === undefined ? '' : h('span', { class: 'muted', text: ` ${pct(c.uptime)} uptime` }),
          typeof c.uptime_excluding_maintenance === 'number' ? h('span', { class: 'muted', 'data-excluding-maintenance': '', text: ` (${pct(c.uptime_excluding_maintenance)} excluding maintenance)` }) : '',
          c.buckets && c.buckets.length ? uptimeBar(c.buckets, s.bucket_ms, { label: `${c.name} uptime` }) : emptyBar(90));
      })))));
    const list = s.incidents || [];
    incBody.replaceChildren(...(list.length ? list.map((i) => h('div', { class: 'panel incident', style: 'margin-bottom:.6em' },
      h('b', { text: i.check }), ' ', i.ended_ms ? badge('up', 'resolved') : badge('down', 'ongoing'),
      h('div', { class: 'muted', text: `${when(i.started_ms)} · ${i.ended_ms ? `lasted ${dur(i.ended_ms - i.started_ms)}` : `for ${dur(Date.now() - i.started_ms)}`}` }),
      i.diagnosis ? h('div', { class: 'diag', text: VERDICT[i.diagnosis] ? `${VERDICT[i.diagnosis]} (${i.diagnosis})` : i.diagnosis }) : ''))
      : [h('p', { class: 'muted', text: 'No incidents reported.' })]));
  }

  let loading = null;
  let again = false;
  /** Re-reads the summary; calls that arrive while one is running coalesce into one more. */
  async function load() {
    if (loading) { again = true; return loading; }
    loading = (async () => {
      do {
        again = false;
        const r = await getJSON('/api/v1/status');
        if (r.ok && r.data) draw(r.data);
        else if (r.status === 404) showMissing();
      } while (again);
    })();
    try { await loading; } finally { loading = null; }
    return undefined;
  }

  await load();
  new LiveStream('/api/v1/status/events', { state: () => load(), reload: () => load(), resync: () => load() },
    { onOpen: (re) => { if (re) load(); }, onStatus: setLive });
  // The configuration may change on reload and uptime bars move with time.
  setInterval(load, 30000);
}
