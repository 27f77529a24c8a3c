// End-to-end browser test of the nodes page against the real hub inside the real daemon.
//
// Writes a daemon config with a `hub:` section (agents on 127.0.0.1:0, a shared secret in a
// temp file), starts `linkpulse serve`, reads `listening on http=ADDR` and
// `linkpulse hub listening on agents=ADDR` from its stderr, opens `/nodes` in Debian's chromium
// (playwright-core), then starts two `linkpulse agent` processes with labels and asserts, all on
// the same open page (never reloaded):
//   1. before any agent: the empty state;
//   2. both agents appear `alive` with their labels, reported status `ok` and an RTT, and the
//      RTT is refreshed (it is not a watch event: the page re-reads the list);
//   3. an agent's health command starts failing: its reported status turns `degraded`;
//   4. SIGKILL one agent: its row turns `dead` with cause peer_closed or reset, then the
//      diagnosis `process_gone` arrives;
//   5. SIGTERM the other: its row turns `left` (goodbye);
//   6. the killed agent starts again: `alive`, a restarted process, and the page still shows the
//      cause of its last death;
// and saves screenshots (light, dark phone) into SCREENSHOT_DIR.
//
// Env: LINKPULSE_BIN (the binary), SCREENSHOT_DIR (default ./screenshots). Run from the Rust
// test crates/linkpulse/tests/dashboard_nodes_browser.rs, or by hand:
//   LINKPULSE_BIN=target/debug/linkpulse node crates/linkpulse-web/tests/browser/nodes.mjs
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { launch, shot, eventually, proc, stepper } from './lib.mjs';

const BIN = process.env.LINKPULSE_BIN;
const SHOTS = resolve(process.env.SCREENSHOT_DIR || 'screenshots');
if (!BIN) { console.error('LINKPULSE_BIN is not set'); process.exit(2); }

const work = mkdtempSync(join(tmpdir(), 'linkpulse-nodes-'));
const cleanups = [];
const { step, setupFailed, finish } = stepper();

const secret = join(work, 'hub.secret');
writeFileSync(secret, 'nodes-page-shared-secret\n', { mode: 0o600 });
const healthFile = join(work, 'w2.healthy');
writeFileSync(healthFile, 'ok\n');
const configFile = join(work, 'linkpulse.yaml');
writeFileSync(configFile, `listen: 127.0.0.1:0
database: ${join(work, 'linkpulse.db')}
hub:
  listen: 127.0.0.1:0
  interval: 100ms
  detector: fixed
  timeout: 500ms
  secret_file: ${secret}
checks: []
`);

/** Starts an agent; resolves once it printed `connected to hub ADDR`. */
async function agent(hub, name, extra = []) {
  const p = proc(BIN, ['agent', '--hub', hub, '--name', name, '--secret-file', secret, ...extra], { cwd: work });
  cleanups.push(() => p.stop());
  await p.wait(new RegExp(`^connected to hub ${hub.replace(/[.]/g, '\\.')}$`, 'm'), 20000);
  return p;
}

/** `value` if `ok`, else throws it (as JSON) so `eventually` keeps polling and reports it. */
function want(ok, value) {
  if (ok) return value;
  throw new Error(`got ${JSON.stringify(value)}`);
}

/** The row of node `name` as {state, rtt, status, labels, death, text}, or null. */
const row = (page, name) => page.evaluate((n) => {
  const r = document.querySelector(`#nodes tr[data-node="${n}"]`);
  if (!r) return null;
  const cell = (c) => r.querySelector(`td.${c}`)?.innerText.trim() ?? null;
  return { state: r.dataset.state, rtt: cell('rtt'), status: cell('status'), labels: cell('labels'), death: cell('death'), text: r.innerText };
}, name);

let browser;
try {
  const daemon = proc(BIN, ['serve', '--config', configFile], { cwd: work, env: { RUST_LOG: process.env.RUST_LOG || 'info' } });
  cleanups.push(() => daemon.stop());
  const http = (await daemon.wait(/listening on http=(\S+)\s/))[1];
  const hub = (await daemon.wait(/linkpulse hub listening on agents=(\S+)\s/))[1];
  const base = `http://${http}`;
  console.log(`daemon at ${base}, hub at ${hub}`);

  browser = await launch();
  const page = await browser.context.newPage();
  let w1, w2;

  await step('before any agent the page says so', async () => {
    await page.goto(`${base}/nodes`);
    await page.waitForSelector('#nodes-empty:not([hidden])');
    assert.match(await page.locator('#nodes-empty').innerText(), /No agent has connected yet/);
    await eventually('live', async () => (await page.locator('#live').getAttribute('data-live')) === 'open');
    await page.evaluate(() => { window.__noReload = 'still here'; });
  });

  await step('two agents appear alive with labels, status and an RTT', async () => {
    w1 = await agent(hub, 'w1', ['--label', 'zone=a', '--label', 'role=worker']);
    w2 = await agent(hub, 'w2', ['--label', 'zone=b', '--label', 'role=db', '--health-cmd', `test -e '${healthFile}'`]);
    for (const [name, labels] of [['w1', /role=worker\s*zone=a/], ['w2', /role=db\s*zone=b/]]) {
      const r = await eventually(`${name} alive with an RTT`, async () => {
        const r = await row(page, name);
        return want(r && r.state === 'alive' && /^\d+(\.\d+)? ms$/.test(r.rtt) && /\bok\b/.test(r.status), r);
      }, 20000);
      assert.match(r.labels, labels);
      assert.match(r.text, /\balive\b/, 'the state is written as a word, not colour only');
      assert.equal(r.death, '–');
    }
    assert.match(await page.locator('#node-counts').innerText(), /2 alive/);
    // RTTs are not watch events: the page re-reads the list and shows each new measurement.
    const first = (await row(page, 'w1')).rtt;
    await eventually('w1 RTT refreshed', async () => want((await row(page, 'w1')).rtt !== first, { first, now: (await row(page, 'w1')).rtt }), 20000);
    assert.equal(await page.evaluate(() => window.__noReload), 'still here', 'the page was not reloaded');
    await shot(page, SHOTS, 'nodes-alive');
  });

  await step('a failing health command shows as reported status degraded', async () => {
    rmSync(healthFile);
    await eventually('w2 degraded', async () => /degraded/.test((await row(page, 'w2'))?.status ?? ''), 20000);
    assert.equal((await row(page, 'w2')).state, 'alive');
    assert.match((await row(page, 'w1')).status, /\bok\b/);
  });

  await step('SIGKILL: the row turns dead with the cause, then the diagnosis', async () => {
    w1.signal('SIGKILL');
    const r = await eventually('w1 dead', async () => {
      const r = await row(page, 'w1');
      return want(r && r.state === 'dead', r);
    }, 10000);
    assert.match(r.death, /peer_closed|reset/);
    assert.match(r.text, /\bdead\b/);
    assert.equal(r.rtt, '–');
    await eventually('w1 diagnosis', async () => /process_gone/.test((await row(page, 'w1'))?.death ?? ''), 15000);
    assert.equal((await row(page, 'w2')).state, 'alive', 'the other agent is undisturbed');
    assert.match(await page.locator('#node-counts').innerText(), /1 dead/);
    assert.equal(await page.evaluate(() => window.__noReload), 'still here', 'the page was not reloaded');
    await shot(page, SHOTS, 'nodes-dead');
  });

  await step('SIGTERM: the row turns left (goodbye)', async () => {
    w2.signal('SIGTERM');
    const r = await eventually('w2 left', async () => {
      const r = await row(page, 'w2');
      return want(r && r.state === 'left', r);
    }, 10000);
    assert.match(r.death, /goodbye/);
    assert.match(r.text, /\bleft\b/);
    await w2.exited;
    assert.equal(await page.evaluate(() => window.__noReload), 'still here', 'the page was not reloaded');
    await shot(page, SHOTS, 'nodes-left');
  });

  await step('the killed agent comes back: alive, restarted, last death still shown', async () => {
    w1 = await agent(hub, 'w1', ['--label', 'zone=a', '--label', 'role=worker']);
    const r = await eventually('w1 alive again', async () => {
      const r = await row(page, 'w1');
      return want(r && r.state === 'alive' && /\d ms$/.test(r.rtt), r);
    }, 20000);
    assert.match(r.text, /process restarted/);
    assert.match(r.death, /peer_closed|reset/, 'the cause of the last death stays visible');
    await shot(page, SHOTS, 'nodes-rejoined');
  });

  await step('dark theme and phone layout', async () => {
    const dark = await browser.context.newPage();
    await dark.emulateMedia({ colorScheme: 'dark' });
    await dark.setViewportSize({ width: 390, height: 844 });
    await dark.goto(`${base}/nodes`);
    await dark.waitForSelector('#nodes tr[data-node="w2"]');
    const overflow = await dark.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `no horizontal page scrolling on a phone (overflow ${overflow}px)`);
    await shot(dark, SHOTS, 'nodes-phone-dark', { fullPage: true });
    await dark.close();
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
