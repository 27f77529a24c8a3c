// The checks as the daemon reports them, kept current from the live event stream (or by polling
// when the stream is unavailable).
import { getJSON, LiveStream, setLive } from './api.js';
import { listOf, stateOf } from './util.js';

/** Normalises one item of `GET /api/v1/checks`. */
export function normalise(c) {
  const last = c.last && typeof c.last === 'object' ? c.last : null;
  const labels = c.labels && typeof c.labels === 'object' ? c.labels : {};
  return {
    raw: c,
    name: String(c.name ?? ''),
    kind: String(c.kind ?? last?.kind ?? ''),
    state: stateOf(c.state),
    last,
    uptime: c.uptime ?? null,
    diagnosis: c.diagnosis ?? null,
    labels,
    target: c.target ?? last?.target ?? '',
    since: c.since ?? c.since_ms ?? null,
    v: 0,
  };
}

/** Every check by name, with change notifications. */
export class CheckStore {
  constructor() {
    this.checks = new Map();
    this.listeners = new Set();
    this.live = null;
    this.pollTimer = 0;
    this.loaded = false;
    this.error = null;
  }

  /** Calls `fn(changedNames | null, 'result' | 'state' | null)` after changes (null names: everything may have changed). */
  subscribe(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  emit(names, kind = null) { for (const fn of this.listeners) fn(names, kind); }

  /** Reads the full list. */
  async load() {
    const r = await getJSON('/api/v1/checks');
    if (!r.ok) {
      this.error = r.status ? `GET /api/v1/checks answered ${r.status}` : 'the daemon is not reachable';
      this.emit(null);
      return false;
    }
    this.error = null;
    const next = new Map();
    for (const item of listOf(r.data, 'checks')) {
      const c = normalise(item);
      if (!c.name) continue;
      const old = this.checks.get(c.name);
      c.v = old ? old.v + 1 : 0;
      next.set(c.name, c);
    }
    this.checks = next;
    this.loaded = true;
    this.emit(null);
    return true;
  }

  /** Follows `/api/v1/events`; falls back to polling every 5 s while the stream is down. */
  follow() {
    const poll = () => {
      clearTimeout(this.pollTimer);
      this.pollTimer = setTimeout(async () => { await this.load(); poll(); }, 5000);
    };
    this.live = new LiveStream('/api/v1/events', {
      result: (e) => this.onResult(e),
      state: (e) => this.onState(e),
      diagnosis: (e) => this.onDiagnosis(e),
      resync: () => this.load(),
      reload: () => this.load(),
    }, {
      onOpen: (reconnected) => {
        clearTimeout(this.pollTimer);
        // Anything may have changed while we were away (daemon restart, network).
        if (reconnected || this.loaded) this.load();
      },
      onStatus: (s) => {
        setLive(s);
        if (s === 'error') poll();
      },
    });
  }

  onResult(e) {
    if (!e || !e.check) return;
    const c = this.checks.get(e.check);
    if (!c) { this.load(); return; }
    if (e.result && typeof e.result === 'object') c.last = e.result;
    else c.last = { ...(c.last || {}), up: e.up, latency_ms: e.latency_ms };
    if (e.state) c.state = stateOf(e.state);
    c.lastAt = e.at_ms ?? Date.now();
    c.v += 1;
    this.emit([e.check], 'result');
  }

  onDiagnosis(e) {
    if (!e || !e.check) return;
    const c = this.checks.get(e.check);
    if (!c) return;
    c.diagnosis = e.verdict ?? null;
    c.v += 1;
    this.emit([e.check], 'diagnosis');
  }

  onState(e) {
    if (!e || !e.check) return;
    const c = this.checks.get(e.check);
    if (!c) { this.load(); return; }
    c.state = stateOf(e.to);
    c.since = e.at_ms ?? c.since;
    if (c.state === 'down' || c.state === 'degraded') {
      if (e.diagnosis) c.diagnosis = e.diagnosis;
    } else {
      c.diagnosis = null;
    }
    c.v += 1;
    this.emit([e.check], 'state');
  }
}
