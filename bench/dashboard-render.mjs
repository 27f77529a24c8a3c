// bench/dashboard-render: time to first render of the dashboard with 5,000 checks, in Debian's
// chromium, against the real daemon.
//
//   cargo build --release -p linkpulse
//   scripts/install-test-deps          # chromium, node, npm ci of the browser-test folder
//   LINKPULSE_BIN=target/release/linkpulse node bench/dashboard-render.mjs [CHECKS] [RUNS]
//
// Starts one loopback TCP listener, a daemon with CHECKS (default 5000) TCP checks against it
// (interval 30s), waits until every check has a state, then loads `/` RUNS times (default 7),
// each in a fresh page with an empty cache, and reports: the JSON payload of /api/v1/checks,
// first contentful paint, and the time until the first rows of real data are on screen (the
// `linkpulse:first-rows` performance mark), plus how long a search keystroke takes to
// re-filter all checks. Prints a Markdown table for bench/dashboard-render.md.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { launch } from '../crates/linkpulse-web/tests/browser/lib.mjs';

const BIN = resolve(process.env.LINKPULSE_BIN || 'target/release/linkpulse');
const N = Number(process.argv[2] || 5000);
const RUNS = Number(process.argv[3] || 7);
const work = mkdtempSync(join(tmpdir(), 'linkpulse-bench-'));

const sockets = new Set();
const srv = createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}); s.end(); });
await new Promise((r) => srv.listen(0, '127.0.0.1', r));
const port = srv.address().port;

let yaml = `listen: 127.0.0.1:0\ndatabase: ${join(work, 'bench.db')}\ndefaults: { interval: 30s, timeout: 2s, rise: 1, fall: 1 }\nchecks:\n`;
const teams = ['payments', 'search', 'core', 'edge'];
for (let i = 0; i < N; i += 1) {
  yaml += `  - name: ${teams[i % 4]}-tcp-${String(i).padStart(5, '0')}\n    tcp: { address: "127.0.0.1:${port}" }\n    labels: { team: ${teams[i % 4]} }\n`;
}
writeFileSync(join(work, 'bench.yaml'), yaml);

const child = spawn(BIN, ['serve', '--config', join(work, 'bench.yaml')], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
let log = '';
const base = await new Promise((res, rej) => {
  const on = (d) => { log += d; const m = /listening on http=(\S+)/.exec(log); if (m) res(`http://${m[1]}`); };
  child.stdout.on('data', on); child.stderr.on('data', on);
  child.on('exit', (c) => rej(new Error(`daemon exited ${c}:\n${log}`)));
  setTimeout(() => rej(new Error(`no address after 60 s:\n${log}`)), 60000).unref();
});

async function checks() {
  const t0 = performance.now();
  const r = await fetch(`${base}/api/v1/checks`);
  const text = await r.text();
  return { ms: performance.now() - t0, bytes: text.length, list: JSON.parse(text) };
}
// Every check has run once within one interval (first runs are spread over it).
const deadline = Date.now() + 90000;
let c;
for (;;) {
  c = await checks();
  const known = c.list.filter((x) => x.state !== 'unknown').length;
  if (known === N || Date.now() > deadline) { console.error(`${known}/${N} checks have a state`); break; }
  await new Promise((r) => setTimeout(r, 1000));
}

const median = (xs) => { const s = xs.slice().sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const b = await launch();
const fcp = [], rows = [], search = [], api = [], render = [];
for (let i = 0; i < RUNS; i += 1) {
  const page = await b.context.newPage();
  const cdp = await b.context.newCDPSession(page);
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  await page.goto(`${base}/`);
  await page.waitForFunction(() => performance.getEntriesByName('linkpulse:first-rows').length > 0, null, { timeout: 60000 });
  const m = await page.evaluate(() => ({
    rows: performance.getEntriesByName('linkpulse:first-rows')[0].startTime,
    fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
    api: performance.getEntriesByType('resource').find((e) => e.name.endsWith('/api/v1/checks'))?.duration ?? NaN,
    apiEnd: performance.getEntriesByType('resource').find((e) => e.name.endsWith('/api/v1/checks'))?.responseEnd ?? NaN,
    n: Number(document.querySelector('.count[data-count="all"] b').textContent),
  }));
  if (m.n !== N) throw new Error(`page shows ${m.n} checks, expected ${N}`);
  // One keystroke in the search box: time until the filtered rows are drawn.
  const s = await page.evaluate(() => new Promise((res) => {
    const input = document.getElementById('search');
    const t0 = performance.now();
    input.value = '-tcp-0001';
    input.dispatchEvent(new Event('input'));
    const wait = () => {
      const shown = document.getElementById('shown').textContent;
      if (/ of /.test(shown)) requestAnimationFrame(() => res(performance.now() - t0)); else requestAnimationFrame(wait);
    };
    wait();
  }));
  fcp.push(m.fcp); rows.push(m.rows); api.push(m.api); render.push(m.rows - m.apiEnd); search.push(s);
  await page.close();
}
await b.close();
child.kill('SIGTERM');
await new Promise((r) => child.on('exit', r));
for (const s of sockets) s.destroy();
srv.close();
rmSync(work, { recursive: true, force: true });

const f = (x) => `${x.toFixed(0)} ms`;
console.log(`| checks | runs | /api/v1/checks size | first contentful paint | GET /api/v1/checks | parse + first rows after the data arrived | **first rows of data** (median / max) | search keystroke → redraw (incl. 80 ms debounce) |`);
console.log(`|---|---|---|---|---|---|---|---|`);
console.log(`| ${N} | ${RUNS} | ${(c.bytes / 1024).toFixed(0)} KiB | ${f(median(fcp))} | ${f(median(api))} | ${f(median(render))} | **${f(median(rows))}** / ${f(Math.max(...rows))} | ${f(median(search))} |`);
console.log('\n(medians over the runs; times from navigation start)');
console.log(`\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, chromium headless, daemon ${BIN}`);
