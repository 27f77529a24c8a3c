// The check page of a multi-vantage check in Debian's chromium, against real cluster members
// that the Rust test (crates/linkpulse/tests/cluster_vantage.rs) started on one PostgreSQL
// database: the Vantages table lists the latest result of every vantage, the failing ones
// marked down with their error, and the page says the check's state and diagnosis.
// Env: VANTAGE_URL (a member's API), VANTAGE_CHECK, VANTAGE_FAILING and VANTAGE_ALL
// (comma-separated vantage labels), SCREENSHOT_DIR.
import { resolve } from 'node:path';
import assert from 'node:assert/strict';
import { launch, shot, eventually } from './lib.mjs';

const URL = process.env.VANTAGE_URL;
const CHECK = process.env.VANTAGE_CHECK;
const list = (v) => (v || '').split(',').filter(Boolean).sort();
const FAILING = list(process.env.VANTAGE_FAILING);
const ALL = list(process.env.VANTAGE_ALL);
const SHOTS = resolve(process.env.SCREENSHOT_DIR || 'screenshots');
if (!URL || !CHECK || !ALL.length) { console.error('VANTAGE_URL, VANTAGE_CHECK and VANTAGE_ALL must be set'); process.exit(2); }

const browser = await launch();
let failed = false;
try {
  const page = await browser.context.newPage();
  await page.goto(`${URL}/checks/${encodeURIComponent(CHECK)}`);
  const rows = async () => page.$$eval('#vantages tbody tr[data-vantage]', (trs) => trs.map((tr) => ({
    vantage: tr.dataset.vantage, up: tr.dataset.up === 'true', text: tr.textContent,
  })));
  const seen = await eventually('a row per vantage, the failing ones down', async () => {
    const r = await rows();
    const names = r.map((x) => x.vantage).sort();
    const down = r.filter((x) => !x.up).map((x) => x.vantage).sort();
    return JSON.stringify(names) === JSON.stringify(ALL) && JSON.stringify(down) === JSON.stringify(FAILING) ? r : null;
  }, 60000);
  for (const r of seen.filter((x) => !x.up)) assert.match(r.text, /refused/, `the error of ${r.vantage}`);
  assert.match(await page.textContent('#vantage-note'), new RegExp(`failing: ${FAILING.join(', ')}`));
  assert.match(await page.textContent('h1'), /degraded/);
  assert.match(await page.textContent('#current-diagnosis'), /partial_outage/);
  await shot(page, SHOTS, 'check-vantages');
  assert.deepEqual(browser.errors, [], 'no page errors');
  console.log('check page vantages: ok');
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
