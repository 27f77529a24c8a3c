// Nodes page: the hub's agents with state, RTT, reported status, labels and the cause of the
// last death; rows update live from `GET /api/v1/nodes/watch`.
import { getJSON, LiveStream, setLive } from './api.js';
import { h, badge, ms, ago, listOf, diagText } from './util.js';

const ORDER = { dead: 0, suspect: 1, alive: 2, left: 3 };

/** Renders the nodes page into `main`. */
export async function nodesPage(main) {
  document.title = 'Nodes · linkpulse';
  const nodes = new Map();
  const body = h('tbody');
  const counts = h('p', { class: 'muted', id: 'node-counts', 'aria-live': 'polite' });
  const table = h('div', { class: 'table-wrap' }, h('table', { id: 'nodes' },
    h('thead', {}, h('tr', {}, ['State', 'Node', 'RTT', 'Reported status', 'Labels', 'Since', 'Last death'].map((t) => h('th', { scope: 'col', text: t })))), body));
  const empty = h('div', { class: 'empty panel', hidden: true, id: 'nodes-empty' });
  main.replaceChildren(h('h1', { text: 'Nodes' }), counts, table, empty);

  function row(n) {
    const st = n.status && typeof n.status === 'object' ? n.status : null;
    const health = st ? st.health : null;
    const death = n.state === 'dead' || n.state === 'left' || n.cause
      ? [n.cause, n.cause_detail, n.diagnosis ? diagText(n.diagnosis) : ''].filter(Boolean).join(' · ')
      : '';
    return h('tr', { 'data-node': n.name, 'data-state': n.state },
      h('td', {}, badge(n.state)),
      h('td', {}, h('b', { text: n.name }), n.address ? h('div', { class: 'muted mono', text: n.address }) : '',
        n.restart && n.restart !== 'same' ? h('div', { class: 'muted', text: n.restart.replace('_', ' ') }) : ''),
      h('td', { class: 'num', text: n.state === 'alive' || n.state === 'suspect' ? ms(n.rtt_ms) : '–' }),
      h('td', {}, health ? badge(health === 'ok' ? 'ok' : health === 'draining' ? 'left' : 'degraded', health) : h('span', { class: 'muted', text: '–' }),
        st && st.detail ? h('div', { class: 'muted', text: st.detail }) : '',
        st && st.gauges ? h('div', { class: 'muted mono', text: Object.entries(st.gauges).map(([k, v]) => `${k}=${v}`).join(' ') }) : ''),
      h('td', { class: 'mono', text: Object.entries(n.labels || {}).map(([k, v]) => `${k}=${v}`).join(' ') || '–' }),
      h('td', { text: n.since ? ago(n.since) : '–' }),
      h('td', { class: death && n.state !== 'left' ? 'err' : 'muted', text: death || '–' }));
  }

  function draw() {
    const list = Array.from(nodes.values()).sort((a, b) => ((ORDER[a.state] ?? 9) - (ORDER[b.state] ?? 9)) || a.name.localeCompare(b.name));
    const by = {};
    for (const n of list) by[n.state] = (by[n.state] || 0) + 1;
    counts.textContent = list.length ? Object.entries(by).map(([k, v]) => `${v} ${k}`).join(' · ') : '';
    body.replaceChildren(...list.map(row));
    table.hidden = !list.length;
    empty.hidden = !!list.length;
  }

  function setAll(data) {
    nodes.clear();
    for (const n of listOf(data, 'nodes')) if (n && n.name) nodes.set(n.name, n);
    draw();
  }

  const r = await getJSON('/api/v1/nodes');
  if (r.status === 404 || (!r.ok && r.status !== 0)) {
    empty.replaceChildren(h('p', { text: 'No hub on this daemon.' }),
      h('p', { class: 'muted', text: 'Agents appear here once the hub is enabled in the configuration and an agent connects.' }));
    draw();
    setLive('off');
    return;
  }
  if (r.ok) setAll(r.data);
  empty.replaceChildren(h('p', { text: 'No agent has connected yet.' }),
    h('p', { class: 'muted', text: 'Start `linkpulse agent` pointing at this hub; it shows up here at once.' }));
  draw();
  const change = (e) => { if (e && e.node && e.node.name) { nodes.set(e.node.name, e.node); draw(); } };
  const handlers = { snapshot: setAll };
  for (const k of ['join', 'status', 'suspect', 'alive_again', 'dead', 'left', 'diagnosis']) handlers[k] = change;
  new LiveStream('/api/v1/nodes/watch', handlers, { onStatus: setLive });
  setInterval(draw, 30000); // "since" stays fresh
}
