// Silences and maintenance windows: the overview's panel (active silences, windows), the
// "maintenance" note and the "Silence…" button of a check page. Changing things needs a token
// with the write role; the page asks for it and keeps it for the tab only (sessionStorage).

import { getJSON } from './api.js';
import { h } from './util.js';

const TOKEN_KEY = 'linkpulse.token';

function when(ms) {
  return typeof ms === 'number' ? new Date(ms).toLocaleString() : '–';
}

/** POST/DELETE with the write token; resolves to {ok, status, data}. */
async function send(method, url, token, body) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body) headers['Content-Type'] = 'application/json';
  try {
    const r = await fetch(url, { method, headers, body: body ? JSON.stringify(body) : undefined, cache: 'no-store' });
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    return { ok: r.ok, status: r.status, data };
  } catch (e) {
    return { ok: false, status: 0, data: { error: String(e) } };
  }
}

/** The note of a check whose alerts are held now (or '' when none). */
export function maintenanceNote(raw) {
  const m = raw && raw.maintenance;
  if (!m || typeof m !== 'object') return '';
  const what = m.kind === 'window' ? `window ${m.name}` : `silence ${m.name}`;
  return h('span', { class: 'badge s-unknown', id: 'maintenance', title: `Alerts held until ${when(m.ends_ms)}` },
    `maintenance (${what}, until ${when(m.ends_ms)})`);
}

/** The "Silence…" button of check `name` and its form; `done()` runs after a silence is made. */
export function silenceButton(name, done) {
  const token = h('input', { type: 'password', id: 'silence-token', autocomplete: 'off', value: sessionStorage.getItem(TOKEN_KEY) || '' });
  const duration = h('input', { type: 'text', id: 'silence-duration', value: '1h', size: 6 });
  const comment = h('input', { type: 'text', id: 'silence-comment', placeholder: 'why', size: 24 });
  const result = h('span', { id: 'silence-result', role: 'status', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', id: 'silence-submit', text: 'Silence' });
  const form = h('form', { id: 'silence-form', class: 'panel', hidden: true },
    h('label', {}, 'Token ', token), ' ',
    h('label', {}, 'For ', duration), ' ',
    h('label', {}, 'Comment ', comment), ' ', submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    result.textContent = '…';
    const r = await send('POST', '/api/v1/silences', token.value.trim(), {
      check: name, duration: duration.value.trim(), comment: comment.value.trim(), created_by: 'dashboard',
    });
    if (r.ok) {
      sessionStorage.setItem(TOKEN_KEY, token.value.trim());
      result.textContent = `Silenced until ${when(r.data && r.data.ends_ms)} (id ${r.data && r.data.id}).`;
      form.hidden = true;
      if (done) done(r.data);
    } else {
      result.textContent = `Not silenced: ${(r.data && r.data.error) || `HTTP ${r.status}`}`;
    }
  });
  const button = h('button', { type: 'button', id: 'silence-button', class: 'count', text: 'Silence…' });
  button.addEventListener('click', () => { form.hidden = !form.hidden; if (!form.hidden) (token.value ? comment : token).focus(); });
  return h('span', { class: 'silence', style: 'font-size:1rem;font-weight:normal' }, button, form, ' ', result);
}

/** The overview's panel: silences in force or to come (each can be expired) and the windows. */
export function maintenancePanel() {
  const body = h('div', { id: 'maintenance-panel' });
  const section = h('section', { 'aria-label': 'Silences and maintenance windows' },
    h('h2', { text: 'Silences and maintenance windows' }), body);
  async function load() {
    const [s, w] = await Promise.all([getJSON('/api/v1/silences'), getJSON('/api/v1/maintenance')]);
    const silences = s.ok && Array.isArray(s.data) ? s.data : [];
    const windows = w.ok && Array.isArray(w.data) ? w.data : [];
    if (!silences.length && !windows.length) {
      body.replaceChildren(h('p', { class: 'muted', text: 'No silences or maintenance windows.' }));
      return;
    }
    const matchText = (x) => [...(x.checks || []), ...Object.entries(x.labels || {}).map(([k, v]) => `${k}=${v}`)].join(', ');
    const rows = silences.map((x) => {
      const expire = h('button', { type: 'button', class: 'count', text: 'Expire', 'data-expire': x.id });
      expire.addEventListener('click', async () => {
        let token = sessionStorage.getItem(TOKEN_KEY);
        if (!token) token = window.prompt('API token (write role)') || '';
        const r = await send('DELETE', `/api/v1/silences/${encodeURIComponent(x.id)}`, token.trim());
        if (r.ok) { sessionStorage.setItem(TOKEN_KEY, token.trim()); load(); } else expire.textContent = `Failed: ${(r.data && r.data.error) || r.status}`;
      });
      return h('tr', { 'data-silence': x.id },
        h('td', { text: 'silence' }), h('td', { text: matchText(x) }), h('td', { text: x.active ? 'active' : 'pending' }),
        h('td', { text: when(x.starts_ms) }), h('td', { text: when(x.ends_ms) }),
        h('td', { text: `${x.comment || ''} — ${x.created_by || ''}` }), h('td', {}, expire));
    }).concat(windows.map((x) => h('tr', { 'data-window': x.name },
      h('td', { text: `window ${x.name}` }), h('td', { text: matchText(x) }), h('td', { text: x.active ? 'active' : 'next' }),
      h('td', { text: when(x.starts_ms) }), h('td', { text: when(x.ends_ms) }), h('td'), h('td'))));
    body.replaceChildren(h('div', { class: 'table-wrap' }, h('table', { id: 'maintenance-table' },
      h('thead', {}, h('tr', {}, ['What', 'Checks', 'State', 'Starts', 'Ends', 'Comment', ''].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, rows))));
  }
  load();
  return section;
}

/** The overview's panel of alert channels: each configured target with its outbox figures. */
export function channelsPanel() {
  const body = h('div', { id: 'channels-panel' });
  const section = h('section', { 'aria-label': 'Alert channels' }, h('h2', { text: 'Alert channels' }), body);
  getJSON('/api/v1/alerts/channels').then((r) => {
    const list = r.ok && Array.isArray(r.data) ? r.data : [];
    if (!list.length) { body.replaceChildren(h('p', { class: 'muted', text: 'No alert channels configured.' })); return; }
    body.replaceChildren(h('div', { class: 'table-wrap' }, h('table', { id: 'channels-table' },
      h('thead', {}, h('tr', {}, ['Channel', 'Kind', 'Delivered', 'Waiting', 'Last delivery', 'Last failure'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, list.map((c) => h('tr', { 'data-channel': c.name },
        h('td', { text: c.name }), h('td', { text: c.kind }), h('td', { text: String(c.delivered) }),
        h('td', { text: String(c.pending) }), h('td', { text: when(c.last_delivered_ms) }),
        h('td', { class: c.last_error ? 'err' : '', text: c.last_error || '–' })))))));
  });
  return section;
}
