// The daemon's JSON API and the live event streams.

/** GET a JSON document. Resolves to {ok, status, data}; never rejects. */
export async function getJSON(url, { signal } = {}) {
  try {
    const r = await fetch(url, { headers: { Accept: 'application/json' }, signal, cache: 'no-store' });
    let data = null;
    const text = await r.text();
    if (text) { try { data = JSON.parse(text); } catch { data = null; } }
    return { ok: r.ok, status: r.status, data };
  } catch (e) {
    return { ok: false, status: 0, data: null, error: String(e) };
  }
}

/**
 * A Server-Sent Events stream that reconnects by itself, also after the server answered with an
 * error (which makes a plain EventSource give up). Calls `onOpen(reconnected)` whenever the
 * stream is (re)established so the page can re-read state it may have missed.
 */
export class LiveStream {
  constructor(url, handlers, { onOpen, onStatus } = {}) {
    this.url = url;
    this.handlers = handlers;
    this.onOpen = onOpen || (() => {});
    this.onStatus = onStatus || (() => {});
    this.es = null;
    this.opened = false;
    this.retry = 1000;
    this.timer = 0;
    this.closed = false;
    this.connect();
  }

  connect() {
    if (this.closed) return;
    const es = new EventSource(this.url);
    this.es = es;
    es.onopen = () => {
      this.retry = 1000;
      this.onStatus('open');
      this.onOpen(this.opened);
      this.opened = true;
    };
    es.onerror = () => {
      this.onStatus('error');
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (HTTP error, wrong type): retry ourselves with backoff.
        es.close();
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.connect(), this.retry);
        this.retry = Math.min(this.retry * 2, 15000);
      }
    };
    for (const [name, fn] of Object.entries(this.handlers)) {
      es.addEventListener(name, (ev) => {
        let data = null;
        try { data = JSON.parse(ev.data); } catch { data = null; }
        fn(data, ev);
      });
    }
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.es) this.es.close();
  }
}

/** Sets the "live" indicator in the header. */
export function setLive(state) {
  const el = document.getElementById('live');
  if (!el) return;
  el.dataset.live = state;
  el.textContent = state === 'open' ? 'live' : state === 'error' ? 'reconnecting…' : state === 'off' ? 'not live (polling)' : 'connecting…';
}
