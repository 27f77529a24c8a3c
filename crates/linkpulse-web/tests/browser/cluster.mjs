// The overview's cluster panel in Debian's chromium, against real cluster members that the Rust
// test (crates/linkpulse/tests/cluster_pg.rs) started on one PostgreSQL database:
//   1. the panel lists every member as live with its vantage, and their check counts add up
//      to the configuration's checks;
//   2. after the test kills one member (it waits for the file KILLED), the panel shows its
//      lease as lapsed without a reload.
// Env: CLUSTER_URL (a member's API), CLUSTER_MEMBERS (comma-separated names), CLUSTER_CHECKS,
// CLUSTER_SIGNAL_DIR (where READY is written and KILLED appears), SCREENSHOT_DIR.
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { launch, shot, eventually } from './lib.mjs';

const URL = process.env.CLUSTER_URL;
const MEMBERS = (process.env.CLUSTER_MEMBERS || '').split(',').filter(Boolean);
const CHECKS = Number(process.env.CLUSTER_CHECKS || '0');
const SIGNALS = process.env.CLUSTER_SIGNAL_DIR;
const SHOTS = resolve(process.env.SCREENSHOT_DIR || 'screenshots');
if (!URL || !MEMBERS.length || !SIGNALS) { console.error('CLUSTER_URL, CLUSTER_MEMBERS and CLUSTER_SIGNAL_DIR must be set'); process.exit(2); }

const browser = await launch();
let failed = false;
try {
  const page = await browser.context.newPage();
  await page.goto(`${URL}/`);
  const rows = async () => page.$$eval('#cluster-members tbody tr', (trs) => trs.map((tr) => ({
    name: tr.dataset.member, live: tr.dataset.live === 'true', checks: Number(tr.querySelector('.checks').textContent),
  })));
  const all = await eventually('every member live with all checks shared', async () => {
    const r = await rows();
    const live = r.filter((m) => m.live).map((m) => m.name).sort();
    const sum = r.reduce((a, m) => a + (m.live ? m.checks : 0), 0);
    // A member reports its share at its next renewal: wait until every one runs some.
    const shared = r.every((m) => !m.live || m.checks > 0);
    return JSON.stringify(live) === JSON.stringify([...MEMBERS].sort()) && sum === CHECKS && shared ? r : null;
  }, 60000);
  assert.ok(all.every((m) => m.checks > 0), `every member runs checks: ${JSON.stringify(all)}`);
  const summary = await page.textContent('#cluster-summary');
  assert.match(summary, /database reachable/);
  await shot(page, SHOTS, 'cluster-panel');
  writeFileSync(join(SIGNALS, 'READY'), '');
  await eventually('the test killed a member', () => existsSync(join(SIGNALS, 'KILLED')), 120000);
  const lapsed = await eventually('a lapsed member shown', async () => {
    const r = await rows();
    return r.find((m) => !m.live);
  }, 60000);
  assert.ok(MEMBERS.includes(lapsed.name));
  const badgeText = await page.textContent(`#cluster-members tr[data-member="${lapsed.name}"]`);
  assert.match(badgeText, /lease lapsed/);
  await shot(page, SHOTS, 'cluster-panel-lapsed');
  assert.deepEqual(browser.errors, [], 'no page errors');
  console.log('cluster panel: ok');
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
