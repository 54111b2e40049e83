// Shared helpers of the browser tests: Chromium launch, the server's address, screenshots, page actions.

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BASE = process.env.MRPT_URL || 'http://127.0.0.1:8080';
export const ARTIFACTS = path.join(process.env.MRPT_ARTIFACTS || '/var/tmp/mrpt-artifacts', 'browser');
const here = path.dirname(fileURLToPath(import.meta.url));
// The sample data sits in shared/ beside the repository checkout.
export const DATA = process.env.MRPT_SAMPLE_DATA || path.resolve(here, '../../../shared/data');
export const sample = (name) => path.join(DATA, name);

mkdirSync(ARTIFACTS, { recursive: true });

// Without these flags Chromium keeps calling home, which on an offline
// machine floods the log with refused connections.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launch() {
  // launch() gives every run a fresh temporary profile (user-data dir) that
  // Playwright deletes on close; each context is a separate cookie jar.
  const browser = await chromium.launch({
    executablePath: process.env.MRPT_CHROMIUM || '/usr/bin/chromium',
    args: ARGS,
    headless: true,
  });
  return {
    async newContext(opts = {}) {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true, ...opts });
      await guard(ctx);
      return ctx;
    },
    close: () => browser.close(),
  };
}

// The tests talk to the servers under test on this machine only.
async function guard(ctx) {
  await ctx.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.protocol === 'data:' || u.hostname === '127.0.0.1') return route.continue();
    return route.abort();
  });
}

export async function screenshot(page, name, opts = {}) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: opts.fullPage ?? false });
  return file;
}

export function uniqueName(prefix) {
  return `${prefix}_${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export const PASSWORD = 'correct horse battery';

export async function register(page, username, password = PASSWORD) {
  await page.goto(`${BASE}/`);
  await page.locator('#reg-username').fill(username);
  await page.locator('#reg-password').fill(password);
  await page.locator('#reg-password2').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('#who').filter({ hasText: username }).waitFor({ state: 'attached' });
}

export async function login(page, username, password = PASSWORD) {
  if (!page.url().startsWith(BASE)) await page.goto(`${BASE}/`);
  await page.locator('#login-username').fill(username);
  await page.locator('#login-password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#who').filter({ hasText: username }).waitFor({ state: 'attached' });
}

export async function logout(page) {
  await page.locator('#logout').click();
  await page.locator('#login-form').waitFor();
}

export async function upload(page, csv, geojson, name) {
  await page.goto(`${BASE}/#/datasets`);
  await page.locator('#upload-form').waitFor();
  await page.getByLabel('Ward table (.csv, .xlsx or .xls)').setInputFiles(csv);
  if (geojson) await page.getByLabel('Ward boundaries (optional)').setInputFiles(geojson);
  if (name) await page.getByLabel('Name (optional)').fill(name);
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
}

// An API call made with the page's own cookie, for checks the page does not show.
export async function apiFromPage(page, method, url, body) {
  return page.evaluate(async ([m, u, b]) => {
    const s = await fetch('/api/session', { credentials: 'same-origin' }).then((r) => r.json());
    const r = await fetch(u, { method: m, credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf_token },
      body: b === undefined ? undefined : JSON.stringify(b) });
    return { status: r.status, body: await r.text() };
  }, [method, url, body]);
}

// Runs the steps of one story in order. After a failing step the later ones
// are reported as skipped with the name of the step that broke the story, so
// the report shows where it stopped; the failure itself fails the run.
export function story(t, page, prefix) {
  let broken = null;
  let n = 0;
  return (name, fn) => {
    n += 1;
    const label = `${prefix}-${String(n).padStart(2, '0')}-${name}`;
    return t.test(name, async (st) => {
      if (broken) { st.skip(`not run: step "${broken}" failed`); return; }
      try {
        await fn(st);
        await screenshot(page, label, { fullPage: true });
      } catch (err) {
        broken = name;
        await screenshot(page, `${label}-FAILED`, { fullPage: true }).catch(() => {});
        throw err;
      }
    });
  };
}

// The text a person would see, for "is this name on the screen?" checks.
export const visibleText = (page) => page.evaluate(() => document.body.innerText);

// A second server with its own flags (short idle timeout, small upload
// limit, closed registration) for the errors that only configuration causes.
export async function startServer(args) {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, rmSync, openSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const net = await import('node:net');
  const bin = process.env.MRPT_BIN;
  if (!bin) throw new Error('MRPT_BIN is not set: run the tests through run.sh');
  const port = await new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'mrpt-browser-extra-'));
  const log = openSync(path.join(ARTIFACTS, `server-${port}.log`), 'w');
  const child = spawn(bin, ['serve', '--bind', `127.0.0.1:${port}`, '--data-dir', dir, ...args], { stdio: ['ignore', log, log] });
  const url = `http://127.0.0.1:${port}`;
  let exited = null;
  child.on('exit', (code) => { exited = code; });
  for (let i = 0; i < 150; i++) {
    if (exited !== null) throw new Error(`the server with ${args.join(' ')} exited with ${exited}; see ${ARTIFACTS}/server-${port}.log`);
    try { if ((await fetch(`${url}/healthz`)).ok) break; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    async stop() {
      if (exited === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
