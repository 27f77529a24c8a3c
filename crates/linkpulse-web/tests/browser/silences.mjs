// Browser test of silences on the dashboard against the real daemon binary.
//
// Starts a loopback TCP server and `linkpulse serve` with an api_token, then in chromium:
//   1. a check page has a "Silence…" button; a wrong token is refused with the API's words;
//   2. with the right token the check is silenced: the daemon lists the silence (through its
//      API) and the page shows "maintenance";
//   3. the overview's panel lists the silence, and its "Expire" button ends it.
// Env: LINKPULSE_BIN, SCREENSHOT_DIR. Run from crates/linkpulse/tests/dashboard_browser.rs.
import { createServer as tcpServer } from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { launch, shot, eventually, proc, stepper } from './lib.mjs';

const BIN = process.env.LINKPULSE_BIN;
const SHOTS = resolve(process.env.SCREENSHOT_DIR || 'screenshots');
if (!BIN) { console.error('LINKPULSE_BIN is not set'); process.exit(2); }
const TOKEN = 'dashboard-writer-token';

const work = mkdtempSync(join(tmpdir(), 'linkpulse-silence-'));
const cleanups = [];
const { step, setupFailed, finish } = stepper();
let browser;

try {
  const srv = tcpServer((s) => s.on('error', () => {}));
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => srv.close(() => r())));
  const file = join(work, 'linkpulse.yaml');
  writeFileSync(file, `listen: 127.0.0.1:0
database: ${join(work, 'linkpulse.db')}
api_token: ${TOKEN}
defaults: { interval: 1s, timeout: 500ms }
checks:
  - name: db
    tcp: { address: "127.0.0.1:${srv.address().port}" }
alerts:
  - name: pager
    webhook: { url: "http://127.0.0.1:1/hook?token=s3cret" }
maintenance:
  - name: nightly
    checks: [db]
    cron: "0 3 * * *"
    duration: 30m
`);
  const p = proc(BIN, ['serve', '--config', file], { cwd: work, env: { RUST_LOG: 'info' } });
  cleanups.push(() => p.stop());
  const [, addr] = await p.wait(/listening on http=(\S+)/);
  const base = `http://${addr}`;
  const silences = async () => (await (await fetch(`${base}/api/v1/silences`)).json());

  browser = await launch();
  const page = await browser.context.newPage();

  await step('a wrong token is refused with the words of the API', async () => {
    await page.goto(`${base}/checks/db`);
    await page.click('#silence-button');
    await page.fill('#silence-token', 'wrong');
    await page.fill('#silence-comment', 'db patching');
    await page.click('#silence-submit');
    await eventually('refused', async () => /Not silenced/.test(await page.textContent('#silence-result')));
    assert.deepEqual(await silences(), []);
  });

  await step('the silence button silences the check', async () => {
    await page.fill('#silence-token', TOKEN);
    await page.fill('#silence-duration', '2h');
    await page.click('#silence-submit');
    await eventually('silenced', async () => /Silenced until/.test(await page.textContent('#silence-result')));
    const list = await silences();
    assert.equal(list.length, 1);
    assert.deepEqual([list[0].checks, list[0].comment, list[0].created_by], [['db'], 'db patching', 'dashboard']);
    await eventually('maintenance shown', async () => {
      await page.goto(`${base}/checks/db`);
      return (await page.locator('#maintenance').count()) === 1;
    });
    assert.match(await page.textContent('#maintenance'), /maintenance \(silence /);
    await shot(page, SHOTS, 'check-silenced');
  });

  await step('the overview lists the silence and the window; Expire ends the silence', async () => {
    await page.goto(`${base}/`);
    await page.waitForSelector('#maintenance-table tr[data-window="nightly"]');
    await page.waitForSelector('#maintenance-table tr[data-silence]');
    await shot(page, SHOTS, 'overview-maintenance', { fullPage: true });
    await page.click('#maintenance-table [data-expire]');
    await eventually('expired', async () => (await silences()).length === 0);
    await page.waitForSelector('#maintenance-table tr[data-silence]', { state: 'detached' });
  });

  await step('the overview lists the alert channels without their URLs', async () => {
    await page.goto(`${base}/`);
    await page.waitForSelector('#channels-table tr[data-channel="pager"]');
    const row = await page.textContent('#channels-table tr[data-channel="pager"]');
    assert.match(row, /pager\s*webhook/);
    assert.ok(!/s3cret|127\.0\.0\.1:1/.test(await page.content()), 'no channel URL on the page');
  });

  assert.deepEqual(browser.errors.filter((e) => e.startsWith('pageerror')), [], 'no script errors');
} catch (e) {
  setupFailed(e);
} finally {
  if (browser) await browser.close();
  for (const c of cleanups.reverse()) await c().catch(() => {});
  rmSync(work, { recursive: true, force: true });
  finish();
}
