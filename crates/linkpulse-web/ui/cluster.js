// Cluster panel on the overview (cluster mode only): the members sharing the checks through
// PostgreSQL, live or lapsed, with how many checks each runs. Hidden when the daemon is not
// in cluster mode (`GET /api/v1/cluster` answers 404).
import { getJSON } from './api.js';
import { h, badge, when } from './util.js';

const REFRESH_MS = 5000;

/** Adds the panel under the page title of `main` and keeps it current. */
export async function clusterPanel(main) {
  const first = await getJSON('/api/v1/cluster');
  if (first.status === 404) return;
  const summary = h('p', { class: 'muted', id: 'cluster-summary', 'aria-live': 'polite' });
  const body = h('tbody');
  const panel = h('section', { class: 'panel', id: 'cluster', 'aria-label': 'Cluster members' },
    h('h2', { text: 'Cluster' }), summary,
    h('div', { class: 'table-wrap' }, h('table', { id: 'cluster-members' },
      h('caption', { class: 'sr-only', text: 'Members sharing the checks' }),
      h('thead', {}, h('tr', {}, ['Member', 'Vantage', 'State', 'Checks', 'Address', 'Lease expires', 'Last renewal']
        .map((t) => h('th', { scope: 'col', text: t })))), body)));
  const title = main.querySelector('h1');
  if (title) title.after(panel); else main.prepend(panel);

  function render(r) {
    if (!r.ok || !r.data) {
      summary.textContent = r.status === 503 ? 'This member has not reached the database yet.' : 'Cluster status unavailable.';
      return;
    }
    const s = r.data;
    const members = Array.isArray(s.members) ? s.members : [];
    const live = members.filter((m) => m.live);
    summary.textContent = `Seen from ${s.node} (${s.vantage}): ${live.length} live of ${members.length} members, database ${s.database}, this member runs ${s.checks_owned} checks.`;
    panel.dataset.database = s.database;
    body.replaceChildren(...members.map((m) => h('tr', { 'data-member': m.name, 'data-live': String(!!m.live) },
      h('th', { scope: 'row', 'data-label': 'Member' }, h('b', { text: m.name }), m.name === s.node ? h('span', { class: 'muted', text: ' (this one)' }) : ''),
      h('td', { 'data-label': 'Vantage', text: m.vantage }),
      h('td', { 'data-label': 'State' }, badge(m.live ? 'up' : 'down', m.live ? 'live' : 'lease lapsed')),
      h('td', { class: 'num checks', 'data-label': 'Checks', text: String(m.checks_owned) }),
      h('td', { class: 'mono', 'data-label': 'Address', text: m.address || '–' }),
      h('td', { 'data-label': 'Lease expires', text: when(m.lease_expires_ms) }),
      h('td', { 'data-label': 'Last renewal', text: when(m.last_renewal_ms) }))));
  }

  render(first);
  setInterval(async () => render(await getJSON('/api/v1/cluster')), REFRESH_MS);
}
