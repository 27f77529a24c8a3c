// End-to-end browser test of the dashboard against the real daemon binary.
//
// Starts loopback servers (HTTP and TCP, port 0), writes a daemon config (listen 127.0.0.1:0,
// a status_page listing some checks), starts `linkpulse serve`, reads the bound address from its
// `linkpulse listening on http=ADDR` line, and drives Debian's chromium through playwright-core:
//   1. the overview shows every check and its state;
//   2. stopping a server turns its check down on the open page, without a reload;
//   3. the check page has the latency chart and the incident with its diagnosis;
//   4. the status page shows only the listed checks, reads only its server-filtered endpoints
//      (no answer names an unlisted check), and follows a reload and a state change live;
//   5. after the daemon restarts, the open page reconnects and follows new changes;
// and saves screenshots of every page (light, dark, phone) into SCREENSHOT_DIR.
//
// Env: LINKPULSE_BIN (the binary), SCREENSHOT_DIR (default ./screenshots). Run from the Rust
// test crates/linkpulse/tests/dashboard_browser.rs, or by hand:
//   LINKPULSE_BIN=target/debug/linkpulse node crates/linkpulse-web/tests/browser/dashboard.mjs
import { createServer as httpServer } from 'node:http';
import { createServer as tcpServer } from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { launch, shot, eventually, proc, stepper } from './lib.mjs';

const BIN = process.env.LINKPULSE_BIN;
const SHOTS = resolve(process.env.SCREENSHOT_DIR || 'screenshots');
if (!BIN) { console.error('LINKPULSE_BIN is not set'); process.exit(2); }

const work = mkdtempSync(join(tmpdir(), 'linkpulse-dash-'));
const cleanups = [];
const { step, setupFailed, finish } = stepper();

/** A TCP server that accepts and holds connections; `stop()` closes it and every socket. */
function tcp() {
  const sockets = new Set();
  const srv = tcpServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}); });
  return new Promise((res) => srv.listen(0, '127.0.0.1', () => res({
    port: srv.address().port,
    stop: () => new Promise((r) => { for (const s of sockets) s.destroy(); srv.close(() => r()); }),
  })));
}

/** An HTTP server answering 200 "ok". */
function http() {
  const srv = httpServer((req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok'); });
  srv.keepAliveTimeout = 100;
  return new Promise((res) => srv.listen(0, '127.0.0.1', () => res({
    port: srv.address().port,
    stop: () => new Promise((r) => { srv.closeAllConnections(); srv.close(() => r()); }),
  })));
}

/** Starts the daemon on `config`; resolves to {base, addr, stop, log} once it printed its address. */
async function daemon(config) {
  const p = proc(BIN, ['serve', '--config', config], { cwd: work, env: { RUST_LOG: process.env.RUST_LOG || 'info' } });
  cleanups.push(() => p.stop());
  const [, addr] = await p.wait(/listening on http=(\S+)/);
  return { base: `http://${addr}`, addr, stop: () => p.stop(), log: p.log, signal: (sig) => p.signal(sig) };
}

function config(listen, ports, dataChecks = ['db']) {
  const file = join(work, 'linkpulse.yaml');
  writeFileSync(file, `listen: ${listen}
database: ${join(work, 'linkpulse.db')}
defaults: { interval: 1s, timeout: 500ms, rise: 1, fall: 2 }
checks:
  - name: web
    http: { url: "http://127.0.0.1:${ports.web}/health", expect_status: [200] }
    labels: { team: frontend }
  - name: db
    tcp: { address: "127.0.0.1:${ports.db}" }
    labels: { team: data }
  - name: cache
    tcp: { address: "127.0.0.1:${ports.cache}" }
    labels: { team: data }
status_page:
  title: Acme status
  description: Public status of the Acme services.
  groups:
    - name: Website
      checks: [web]
    - name: Data
      checks: [${dataChecks.join(', ')}]
`);
  return file;
}

const rowState = (page, name) => page.evaluate((n) => document.querySelector(`.row[data-name="${n}"]`)?.dataset.state ?? null, name);

let browser;
try {
  const web = await http();
  const db = await tcp();
  const cache = await tcp();
  cleanups.push(web.stop, db.stop, cache.stop);
  const ports = { web: web.port, db: db.port, cache: cache.port };
  let d = await daemon(config('127.0.0.1:0', ports));
  console.log(`daemon at ${d.base}`);

  browser = await launch();
  const page = await browser.context.newPage();

  await step('overview shows every check with its state', async () => {
    await page.goto(`${d.base}/`);
    await eventually('three checks up', async () => {
      const s = await Promise.all(['web', 'db', 'cache'].map((n) => rowState(page, n)));
      // Falsy until all three are up (a non-empty string would end the wait at once).
      return s.every((x) => x === 'up') && s;
    });
    const text = await page.locator('.row[data-name="db"]').innerText();
    assert.match(text, /\bup\b/, 'state is written as a word, not colour only');
    await eventually('the up counter to say 3', async () =>
      /^3\s/.test(await page.locator('.count[data-count="up"]').innerText()));
    await shot(page, SHOTS, 'overview-light');
  });

  await step('a stopped server turns its check down without a reload', async () => {
    await page.evaluate(() => { window.__noReload = 'still here'; });
    await db.stop();
    await eventually('db down on the open page', async () => (await rowState(page, 'db')) === 'down');
    assert.equal(await page.evaluate(() => window.__noReload), 'still here', 'the page was not reloaded');
    assert.equal(await rowState(page, 'web'), 'up');
    assert.match(await page.locator('.count[data-count="down"]').innerText(), /^1\s/);
    // Filter by state: only the down check is listed.
    await page.locator('.count[data-count="down"]').click();
    await eventually('only db listed', async () => (await page.locator('.row').count()) === 1);
    await shot(page, SHOTS, 'overview-down-filtered');
    await page.locator('.count[data-count="down"]').click();
    // Search by name.
    await page.fill('#search', 'cach');
    await eventually('search finds cache', async () => {
      const names = await page.locator('.row').evaluateAll((els) => els.map((e) => e.dataset.name));
      return names.length === 1 && names[0] === 'cache';
    });
    await page.fill('#search', '');
  });

  await step('check page shows the chart and the incident with its diagnosis', async () => {
    await eventually('incident with diagnosis', async () => {
      await page.goto(`${d.base}/checks/db`);
      await page.waitForSelector('#incidents tbody tr', { timeout: 15000 });
      const diag = await page.locator('#incidents tbody tr').first().locator('td.diag').innerText();
      return diag && diag !== '–' ? diag : false;
    }, 45000);
    const row = page.locator('#incidents tbody tr').first();
    assert.match(await row.innerText(), /ongoing/);
    assert.match(await row.locator('td.diag').innerText(), /process_down|refused/);
    await page.waitForSelector('#chart canvas', { timeout: 15000 });
    assert.ok(Number(await page.locator('#chart').getAttribute('data-points')) > 0, 'the chart has points');
    assert.match(await page.locator('h1').innerText(), /db\s+down/);
    assert.match(await page.locator('#results').innerText(), /refused|failed/);
    // Today's segment of the 90-day bar (computed from the stored state changes) shows the outage.
    await page.waitForSelector('#uptime-bar .bar.big i');
    const today = page.locator('#uptime-bar .bar.big i').last();
    assert.match(await today.getAttribute('class'), /u-(down|warn)/);
    assert.match(await today.getAttribute('data-tip'), /1 incident/);
    await today.hover();
    await eventually('hover details', async () => {
      const tip = page.locator('#tip');
      return (await tip.isVisible()) && /% up, 1 incident/.test(await tip.innerText());
    }, 5000);
    await shot(page, SHOTS, 'check-down', { fullPage: true });
    await page.goto(`${d.base}/checks/web`);
    await page.waitForSelector('#chart canvas', { timeout: 15000 });
    await page.waitForSelector('#phases', { timeout: 15000 });
    await shot(page, SHOTS, 'check-http', { fullPage: true });
    // Zoom: drag across the chart, then reset.
    const over = await page.locator('#chart .u-over').boundingBox();
    const resetBtn = page.getByRole('button', { name: 'Reset zoom' });
    assert.equal(await resetBtn.isVisible(), false);
    await page.mouse.move(over.x + over.width * 0.3, over.y + over.height / 2);
    await page.mouse.down();
    await page.mouse.move(over.x + over.width * 0.6, over.y + over.height / 2, { steps: 5 });
    await page.mouse.up();
    await eventually('zoomed in', () => resetBtn.isVisible(), 5000);
    await resetBtn.click();
    await eventually('zoom reset', async () => !(await resetBtn.isVisible()), 5000);
  });

  await step('status page shows only the listed checks, and nothing else reaches the browser', async () => {
    // A fresh page that records every API request and every JSON answer it gets.
    const pub = await browser.context.newPage();
    const apiUrls = [];
    const bodies = [];
    pub.on('request', (r) => { const u = new URL(r.url()); if (u.pathname.startsWith('/api/')) apiUrls.push(u.pathname); });
    pub.on('response', async (r) => {
      if (!new URL(r.url()).pathname.startsWith('/api/')) return;
      if ((r.headers()['content-type'] || '').includes('event-stream')) return;
      try { bodies.push(await r.text()); } catch { /* navigated away */ }
    });
    await pub.goto(`${d.base}/status`);
    await pub.waitForSelector('.component[data-check="db"]');
    const listed = await pub.locator('.component').evaluateAll((els) => els.map((e) => e.dataset.check));
    assert.deepEqual(listed.sort(), ['db', 'web']);
    assert.equal(await pub.locator('text=cache').count(), 0, 'the unlisted check is nowhere on the page');
    assert.match(await pub.locator('h1').innerText(), /Acme status/);
    assert.equal(await pub.locator('#overall').getAttribute('data-state'), 'down');
    assert.match(await pub.locator('.component[data-check="db"]').innerText(), /Outage/);
    await eventually('the db incident with its diagnosis in the history', async () =>
      /db[\s\S]*ongoing[\s\S]*process_down/.test(await pub.locator('#history').innerText()), 15000);
    await shot(pub, SHOTS, 'status', { fullPage: true });
    const used = [...new Set(apiUrls)].sort();
    assert.deepEqual(used, ['/api/v1/status', '/api/v1/status/events'],
      `the public page reads only its filtered endpoints, not ${used}`);
    assert.ok(bodies.length > 0, 'answers were recorded');
    for (const b of bodies) assert.ok(!b.includes('cache'), `an answer names the unlisted check: ${b.slice(0, 300)}`);

    // Reload (SIGHUP) with cache listed: the open page shows it without a reload, and follows it down.
    await pub.evaluate(() => { window.__noReload = 'status'; });
    config('127.0.0.1:0', ports, ['db', 'cache']);
    d.signal('SIGHUP');
    await eventually('cache listed after the reload', async () =>
      (await pub.locator('.component[data-check="cache"]').count()) === 1, 15000);
    assert.match(await pub.locator('.component[data-check="cache"]').innerText(), /Operational/);
    await cache.stop();
    await eventually('cache down on the open status page', async () =>
      (await pub.locator('.component[data-check="cache"]').getAttribute('data-state')) === 'down', 20000);
    assert.equal(await pub.evaluate(() => window.__noReload), 'status', 'the page was not reloaded');
    await shot(pub, SHOTS, 'status-after-reload', { fullPage: true });
    await pub.close();
  });

  await step('nodes page renders (list or empty state)', async () => {
    await page.goto(`${d.base}/nodes`);
    await eventually('nodes table or empty state', async () => page.evaluate(() => {
      const t = document.querySelector('#nodes');
      const e = document.querySelector('#nodes-empty');
      return (t && !t.closest('[hidden]') && t.offsetParent) || (e && !e.hidden);
    }));
    await shot(page, SHOTS, 'nodes');
  });

  await step('dark theme and phone layout', async () => {
    const dark = await browser.context.newPage();
    await dark.emulateMedia({ colorScheme: 'dark' });
    await dark.goto(`${d.base}/`);
    await dark.waitForSelector('.row[data-name="db"]');
    const bg = await dark.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(bg, 'rgb(246, 247, 249)', 'dark background');
    await shot(dark, SHOTS, 'overview-dark');
    await dark.setViewportSize({ width: 390, height: 844 });
    await dark.goto(`${d.base}/`);
    await dark.waitForSelector('.row[data-name="db"]');
    const overflow = await dark.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `no horizontal scrolling on a phone (overflow ${overflow}px)`);
    await shot(dark, SHOTS, 'overview-phone-dark');
    await dark.goto(`${d.base}/checks/db`);
    await dark.waitForSelector('#chart canvas');
    await shot(dark, SHOTS, 'check-phone-dark', { fullPage: true });
    await dark.close();
  });

  await step('keyboard: rows are reachable and arrow keys move between them', async () => {
    await page.goto(`${d.base}/`);
    await page.waitForSelector('.row[data-name="db"]');
    await page.locator('.row').first().focus();
    const first = await page.evaluate(() => document.activeElement.dataset.name);
    await page.keyboard.press('ArrowDown');
    const second = await page.evaluate(() => document.activeElement.dataset.name);
    assert.ok(first && second && first !== second, `focus moved from ${first} to ${second}`);
    await page.keyboard.press('Enter');
    await page.waitForURL(`**/checks/${second}`);
  });

  await step('the open page reconnects after the daemon restarts', async () => {
    await page.goto(`${d.base}/`);
    await eventually('live', async () => (await page.locator('#live').getAttribute('data-live')) === 'open');
    await page.evaluate(() => { window.__noReload = 'before restart'; });
    const addr = d.addr;
    await d.stop();
    await eventually('page notices', async () => (await page.locator('#live').getAttribute('data-live')) !== 'open', 15000);
    // Same address again (it was ours a moment ago) so the page can find the daemon.
    d = await daemon(config(addr, ports));
    await eventually('live again', async () => (await page.locator('#live').getAttribute('data-live')) === 'open', 30000);
    await web.stop();
    await eventually('web down after the restart, on the same page', async () => (await rowState(page, 'web')) === 'down', 30000);
    assert.equal(await page.evaluate(() => window.__noReload), 'before restart');
    await shot(page, SHOTS, 'overview-after-restart');
  });

  assert.deepEqual(browser.errors.filter((e) => e.startsWith('pageerror')), [], 'no script errors');
} catch (e) {
  setupFailed(e);
} finally {
  if (browser) {
    if (browser.errors.length) console.log(`browser messages:\n  ${browser.errors.join('\n  ')}`);
    await browser.close();
  }
  for (const c of cleanups.reverse()) await c().catch(() => {});
  rmSync(work, { recursive: true, force: true });
  console.log(`screenshots in ${SHOTS}`);
  finish();
}
