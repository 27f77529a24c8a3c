// Shared helpers for the browser tests: launch Debian's chromium (never a downloaded browser)
// with a fresh profile, collect page errors, save screenshots.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Launches chromium with a fresh user-data-dir; returns {context, close}. */
export async function launch({ colorScheme = 'light', viewport = { width: 1366, height: 900 } } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'linkpulse-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    colorScheme,
    viewport,
    timeout: 60000,
  });
  const errors = [];
  context.on('page', (p) => watch(p, errors));
  for (const p of context.pages()) watch(p, errors);
  return {
    context,
    errors,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

function watch(page, errors) {
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
}

/** Saves a full-page screenshot as DIR/NAME.png. */
export async function shot(page, dir, name, { fullPage = false } = {}) {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}

/** Polls `fn` until it returns truthy; throws `what` with the last value after `ms`. */
export async function eventually(what, fn, ms = 30000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Spawns `bin args`, collecting stdout and stderr. `wait(re, ms)` resolves to the first match of
 * `re` in the output so far or later (rejects on exit or after `ms`); `signal(sig)` sends a
 * signal; `stop()` sends SIGTERM (SIGKILL after 10 s) and waits for the exit.
 */
export function proc(bin, args, { cwd, env } = {}) {
  const child = spawn(bin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } });
  let out = '';
  const waiters = new Set();
  const check = () => { for (const w of waiters) { const m = w.re.exec(out); if (m) { waiters.delete(w); w.res(m); } } };
  const onData = (d) => { out += d.toString(); check(); };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((r) => child.on('exit', (code, sig) => {
    r({ code, sig });
    for (const w of waiters) w.rej(new Error(`${bin} ${args.join(' ')} exited (${code ?? sig}) before printing ${w.re}:\n${out}`));
    waiters.clear();
  }));
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    exited,
    log: () => out,
    wait(re, ms = 60000) {
      return new Promise((res, rej) => {
        const w = { re, res, rej };
        if (!running()) { rej(new Error(`${bin} already exited:\n${out}`)); return; }
        waiters.add(w);
        check();
        setTimeout(() => { if (waiters.delete(w)) rej(new Error(`no ${re} within ${ms} ms:\n${out}`)); }, ms).unref();
      });
    },
    signal(sig) { if (running()) child.kill(sig); },
    async stop() {
      if (running()) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * A runner of named steps: `step(name, fn)` runs `fn`, logs `ok`/`FAIL` with its time and
 * rethrows a failure; `setupFailed(e)` counts an error outside any step; `finish()` prints the
 * summary and exits 1 if anything failed.
 */
export function stepper() {
  let passed = 0, failed = 0;
  return {
    async step(name, fn) {
      const t0 = Date.now();
      try {
        await fn();
        passed += 1;
        console.log(`ok   ${name} (${Date.now() - t0} ms)`);
      } catch (e) {
        failed += 1;
        console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
        throw e;
      }
    },
    setupFailed(e) {
      if (!failed) { failed += 1; console.log(`FAIL setup: ${e && e.stack ? e.stack : e}`); }
    },
    finish() {
      console.log(`${passed} passed, ${failed} failed`);
      process.exit(failed ? 1 : 0);
    },
  };
}
