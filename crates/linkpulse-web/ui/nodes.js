// Nodes page: the hub's agents with state, RTT, reported status, labels and the cause of the
// last death; rows update live from `GET /api/v1/nodes/watch`.
//
// The hub's watch stream carries state changes only: heartbeat round-trip times are not events
// (they change with every heartbeat), so the page also re-reads `GET /api/v1/nodes` every few
// seconds. A listing at least as new as the last event seen (by registry revision) replaces the
// table; an older one only refreshes the RTT of the same session.
import { getJSON, LiveStream, setLive } from './api.js';
import { h, badge, ms, ago, when, listOf, diagText } from './util.js';

const ORDER = { dead: 0, suspect: 1, alive: 2, left: 3 };
const REFRESH_MS = 2000;

/** "peer_closed · process_gone" for a node that ended, else ''. */
function deathText(n) {
  if (!n || !n.cause) return '';
  return [n.cause, n.cause_detail, n.diagnosis ? diagText(n.diagnosis) : ''].filter(Boolean).join(' · ');
}

/** Renders the nodes page into `main`. */
export async function nodesPage(main) {
  document.title = 'Nodes · linkpulse';
  const nodes = new Map();
  // The last death this page saw per node, kept after the node joins again (the hub clears
  // `cause` on join).
  const lastDeath = new Map();
  let revision = -1;
  const body = h('tbody');
  const counts = h('p', { class: 'muted', id: 'node-counts', 'aria-live': 'polite' });
  const table = h('div', { class: 'table-wrap' }, h('table', { id: 'nodes' },
    h('caption', { class: 'sr-only', text: 'Agents connected to the hub' }),
    h('thead', {}, h('tr', {}, ['State', 'Node', 'RTT', 'Reported status', 'Labels', 'Since', 'Last death'].map((t) => h('th', { scope: 'col', text: t })))), body));
  const empty = h('div', { class: 'empty panel', hidden: true, id: 'nodes-empty' });
  main.replaceChildren(h('h1', { text: 'Nodes' }), counts, table, empty);

  function remember(n) {
    if (n.state === 'dead' || n.state === 'left') lastDeath.set(n.name, { ...n });
  }

  function row(n) {
    const st = n.status && typeof n.status === 'object' ? n.status : null;
    const health = st ? String(st.health || '') : '';
    const ended = n.state === 'dead' || n.state === 'left';
    const prev = ended ? null : lastDeath.get(n.name);
    const death = ended ? deathText(n) : '';
    const gauges = st && st.gauges && typeof st.gauges === 'object' ? Object.entries(st.gauges) : [];
    const labels = Object.entries(n.labels || {});
    return h('tr', { 'data-node': n.name, 'data-state': n.state },
      h('td', { class: 'state', 'data-label': 'State' }, badge(n.state)),
      h('th', { scope: 'row', class: 'node', 'data-label': 'Node' }, h('b', { text: n.name }),
        n.address ? h('div', { class: 'muted mono', text: n.address }) : '',
        n.restart && n.restart !== 'same' ? h('div', { class: 'muted', text: n.restart.replace(/_/g, ' ') }) : ''),
      h('td', { class: 'num rtt', 'data-label': 'RTT', text: n.state === 'alive' || n.state === 'suspect' ? ms(n.rtt_ms) : '–' }),
      // A node that ended reports nothing any more: its last report is shown as such, greyed.
      h('td', { class: `status${ended ? ' stale' : ''}`, 'data-label': 'Reported status', title: ended && health ? 'last report before the session ended' : null },
        health ? (ended ? h('span', { class: 'muted', text: `last: ${health}` })
          : badge(health === 'ok' ? 'ok' : health === 'draining' ? 'left' : 'degraded', health)) : h('span', { class: 'muted', text: '–' }),
        st && st.detail ? h('div', { class: 'muted detail', text: st.detail.replace(/:\s*$/, '') }) : '',
        gauges.length ? h('div', { class: 'muted mono', text: gauges.map(([k, v]) => `${k}=${v}`).join(' ') }) : ''),
      h('td', { class: 'labels', 'data-label': 'Labels' }, labels.length
        ? h('div', { class: 'chips' }, labels.map(([k, v]) => h('span', { class: 'label mono', text: `${k}=${v}` })))
        : h('span', { class: 'muted', text: '–' })),
      h('td', { class: 'since', 'data-label': 'Since', title: n.since ? when(n.since) : null, text: n.since ? ago(n.since) : '–' }),
      ended
        ? h('td', { class: `death ${n.state === 'dead' ? 'err' : 'muted'}`, 'data-label': 'Last death', text: death || '–' })
        : h('td', { class: 'death muted', 'data-label': 'Last death', title: prev && prev.since ? when(prev.since) : null },
          prev ? `${deathText(prev) || prev.state}${prev.since ? ` (${ago(prev.since)})` : ''}` : '–'));
  }

  function draw() {
    const list = Array.from(nodes.values()).sort((a, b) => ((ORDER[a.state] ?? 9) - (ORDER[b.state] ?? 9)) || a.name.localeCompare(b.name));
    const by = {};
    for (const n of list) by[n.state] = (by[n.state] || 0) + 1;
    counts.textContent = list.length ? Object.entries(by).map(([k, v]) => `${v} ${k}`).join(' · ') : '';
    // Keep focus on the same row across redraws (keyboard users).
    const focused = document.activeElement && body.contains(document.activeElement)
      ? document.activeElement.closest('tr')?.dataset.node : null;
    body.replaceChildren(...list.map(row));
    if (focused) body.querySelector(`tr[data-node="${CSS.escape(focused)}"]`)?.focus();
    table.hidden = !list.length;
    empty.hidden = !!list.length;
  }

  function setAll(data) {
    nodes.clear();
    for (const n of listOf(data, 'nodes')) if (n && n.name) { nodes.set(n.name, n); remember(n); }
    if (data && Number.isFinite(data.revision)) revision = data.revision;
    draw();
  }

  /** A listing from the poll: replaces the table if current, else refreshes RTTs only. */
  function merge(data) {
    if (data && Number.isFinite(data.revision) && data.revision >= revision) { setAll(data); return; }
    let changed = false;
    for (const n of listOf(data, 'nodes')) {
      const cur = n && nodes.get(n.name);
      if (cur && cur.session === n.session && cur.rtt_ms !== n.rtt_ms) { cur.rtt_ms = n.rtt_ms; changed = true; }
    }
    if (changed) draw();
  }

  const r = await getJSON('/api/v1/nodes');
  if (r.status === 404 || (!r.ok && r.status !== 0)) {
    empty.replaceChildren(h('p', { text: 'No hub on this daemon.' }),
      h('p', { class: 'muted', text: 'Agents appear here once the hub is enabled in the configuration (hub: in the YAML) and an agent connects.' }));
    draw();
    setLive('off');
    return;
  }
  if (r.ok) setAll(r.data);
  empty.replaceChildren(h('p', { text: 'No agent has connected yet.' }),
    h('p', { class: 'muted' }, 'Start ', h('code', { text: 'linkpulse agent --hub ADDR --name NAME' }), ' pointing at this hub; it shows up here at once.'));
  draw();
  const change = (e) => {
    if (!e || !e.node || !e.node.name) return;
    if (Number.isFinite(e.revision)) {
      if (e.revision <= revision) return; // already in a newer listing
      revision = e.revision;
    }
    nodes.set(e.node.name, e.node);
    remember(e.node);
    draw();
  };
  const handlers = { snapshot: setAll };
  for (const k of ['join', 'status', 'suspect', 'alive_again', 'dead', 'left', 'diagnosis']) handlers[k] = change;
  new LiveStream('/api/v1/nodes/watch', handlers, { onStatus: setLive });
  const poll = async () => {
    if (!document.hidden) {
      const p = await getJSON('/api/v1/nodes');
      if (p.ok) merge(p.data);
      else draw(); // keeps "since" fresh
    }
    setTimeout(poll, REFRESH_MS);
  };
  setTimeout(poll, REFRESH_MS);
}
