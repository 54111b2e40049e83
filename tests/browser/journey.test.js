// The whole journey of one health officer in the browser, with a screenshot of every step.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launch, BASE, ARTIFACTS as ART, sample, story, register, login, logout, upload, uniqueName, visibleText } from './lib.js';

const NW_DEFAULTS = ['u5_tpr_rdt', 'rainfall', 'ndwi', 'housing_quality', 'elevation', 'urban_percentage'];
const INVERSE = ['housing_quality', 'elevation', 'urban_percentage'];
const RANKING_HEADER = 'ward,ward_code,composite_score,composite_rank,composite_category,pca_score,pca_rank,pca_category';

async function download(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.locator(selector).click()]);
  const file = await dl.path();
  return readFileSync(file, 'utf8');
}

test('journey: register, log in, upload, analyse, map, plan, export, revoke, log out', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const calls = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/api/')) calls.push({ method: r.method(), path: new URL(r.url()).pathname, csrf: r.headers()['x-csrf-token'] });
  });

  const user = uniqueName('officer');
  const step = story(t, page, 'journey');

  await step('login-page', async () => {
    await page.goto(`${BASE}/`);
    await page.locator('#login-form').waitFor();
    await page.locator('#register-form').waitFor();
  });

  await step('register', async () => {
    await register(page, user);
    await page.getByRole('heading', { level: 1, name: 'Datasets' }).waitFor();
    await page.locator('.empty', { hasText: 'No datasets yet' }).waitFor();
  });

  await step('log-out-and-in', async () => {
    await logout(page);
    assert.match(await page.locator('#auth-message').innerText(), /logged out/i);
    await login(page, user);
    await page.getByRole('heading', { level: 1, name: 'Datasets' }).waitFor();
  });

  let datasetUrl;
  await step('upload-with-progress', async () => {
    // A slow link, so that the progress bar has something to show.
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 40, downloadThroughput: -1, uploadThroughput: 40 * 1024 });
    await upload(page, sample('kano_like_wards.csv'), sample('kano_like_wards.geojson'), 'Kano wards');
    const text = page.locator('#upload-text');
    await text.filter({ hasText: /of .* sent \(\d+ %\), about .* left/ }).waitFor({ timeout: 20000 });
    await page.screenshot({ path: `${ART}/journey-04a-upload-progress.png` });
    const bar = await page.locator('#upload-bar').evaluate((b) => [b.value, b.max]);
    assert.ok(bar[1] > 180000, `progress max is the request size, got ${bar[1]}`);
    await page.locator('#datasets-table tr', { hasText: 'Kano wards' }).waitFor({ timeout: 60000 });
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    const row = page.locator('#datasets-table tbody tr', { hasText: 'Kano wards' });
    const cells = await row.locator('td').allInnerTexts();
    assert.equal(cells[1], 'kano_like_wards.csv');
    assert.equal(cells[3], '480');
    assert.equal(cells[4], 'Yes');
    assert.match(cells[2], /^5\d KB$/);
    assert.match(await page.locator('#status').innerText(), /Uploaded .Kano wards.: 480 wards/);
  });

  await step('dataset-preview-and-defaults', async () => {
    await page.locator('#datasets-table a', { hasText: 'Kano wards' }).click();
    await page.getByRole('heading', { level: 1, name: 'Kano wards' }).waitFor();
    datasetUrl = page.url();
    assert.equal(await page.locator('#preview-table tbody tr').count(), 20);
    const header = await page.locator('#preview-table thead th').allInnerTexts();
    assert.deepEqual(header.slice(0, 3), ['WardName', 'WardCode', 'LGA']);
    const checked = await page.locator('#variables-table input[type=checkbox]:checked').evaluateAll((els) => els.map((e) => e.value));
    assert.deepEqual(checked.sort(), [...NW_DEFAULTS].sort());
    for (const v of NW_DEFAULTS) {
      const dir = await page.getByLabel(`Direction of ${v}`).inputValue();
      assert.equal(dir, INVERSE.includes(v) ? 'inverse' : 'direct', `direction of ${v}`);
    }
    assert.ok(await page.locator('#analysis-form input[name=imputation][value=spatial]').isChecked());
  });

  await step('run-analysis', async () => {
    await page.getByRole('button', { name: 'Run analysis' }).click();
    await page.locator('#ranking-table').waitFor({ timeout: 60000 });
    assert.match(page.url(), /#\/analyses\//);
    assert.equal(await page.locator('#ranking-table tbody tr').count(), 480);
    assert.match(await page.locator('#rank-count').innerText(), /480 wards/);
    const used = await page.locator('#used-variables tbody th').allInnerTexts();
    assert.deepEqual(used, NW_DEFAULTS);
    const imputed = await page.locator('#used-variables tbody td.num').allInnerTexts();
    assert.ok(imputed.every((x) => /^\d[\d,]*$/.test(x)), `imputed counts: ${imputed}`);
    assert.match(await page.locator('#pca-verdict').innerText(), /^(Suitable|Not suitable)/);
    await page.locator('#pca-kmo').waitFor();
  });

  await step('map-and-chart', async () => {
    await page.locator('#map svg').waitFor({ timeout: 30000 });
    const titles = await page.locator('#map svg title').count();
    assert.ok(titles >= 470, `map wards with a tooltip: ${titles}`);
    await page.locator('#chart svg').waitFor({ timeout: 30000 });
    await page.locator('#map').screenshot({ path: `${ART}/journey-07a-map.png` });
    const bottom = await page.evaluate(() => document.querySelector('.figures').getBoundingClientRect().bottom + window.scrollY);
    await page.screenshot({ path: `${ART}/journey-07b-analysis-top.png`, fullPage: true,
      clip: { x: 0, y: 0, width: 1280, height: Math.ceil(bottom) } });
  });

  await step('filter-and-sort', async () => {
    await page.getByLabel('Ward name or code contains').fill('mama');
    await page.locator('#rank-count', { hasText: 'Showing' }).waitFor();
    const names = await page.locator('#ranking-table tbody th').allInnerTexts();
    assert.ok(names.length >= 2 && names.every((n) => /mama/i.test(n)), `filtered: ${names}`);
    await page.getByLabel('Ward name or code contains').fill('');
    await page.getByLabel(/^Category/).selectOption('High');
    const cats = await page.locator('#ranking-table tbody tr td .cat').evaluateAll((els) => [...new Set(els.map((e) => e.closest('td').cellIndex === 4 ? e.textContent : 'High'))]);
    assert.deepEqual(cats, ['High']);
    assert.equal(await page.locator('#ranking-table tbody tr').count(), 160);
    await page.getByLabel(/^Category/).selectOption('');
    await page.getByRole('button', { name: /^Ward$/ }).click();
    const sorted = await page.locator('#ranking-table tbody th').allInnerTexts();
    assert.deepEqual(sorted.slice(0, 20), [...sorted].sort((a, b) => a.localeCompare(b)).slice(0, 20));
    assert.equal(await page.locator('#ranking-table th[aria-sort=ascending]').innerText(), 'Ward \u25b2');
    await page.getByRole('button', { name: /^Rank/ }).click();
    assert.equal(await page.locator('#ranking-table tbody tr:first-child td').first().innerText(), '1');
  });

  await step('plan-bed-nets', async () => {
    await page.getByLabel('Total nets available').fill('100000');
    await page.getByLabel('In proportion to need').check();
    await page.getByRole('button', { name: 'Plan distribution' }).click();
    await page.locator('#plan-table').waitFor({ timeout: 60000 });
    assert.equal(await page.locator('#plan-table tbody tr').count(), 480);
    const totals = await page.locator('#plan-totals dd').allInnerTexts();
    const allocated = Number(totals[0].replace(/,/g, ''));
    const left = Number(totals[1].replace(/,/g, ''));
    assert.equal(allocated + left, 100000);
    const foot = await page.locator('#plan-table tfoot td.num').allInnerTexts();
    assert.equal(Number(foot[2].replace(/,/g, '')), allocated, 'table total matches the plan total');
    assert.match(page.url(), /\/plans\//);
    await page.locator('section:has(#itn-h)').screenshot({ path: `${ART}/journey-09a-plan.png` });
  });

  await step('export', async () => {
    const ranking = await download(page, '#export-ranking');
    const lines = ranking.trim().split(/\r?\n/);
    assert.equal(lines[0], RANKING_HEADER);
    assert.equal(lines.length, 481);
    const plan = await download(page, '#export-plan');
    assert.ok(plan.trim().split(/\r?\n/).length >= 481, `plan CSV has a row per ward: ${plan.slice(0, 200)}`);
    const original = await page.goto(datasetUrl).then(() => download(page, 'a:has-text("Download the original file")'));
    assert.equal(original, readFileSync(sample('kano_like_wards.csv'), 'utf8'));
  });

  await step('sessions-revoke', async () => {
    // A second device of the same officer.
    const other = await browser.newContext();
    const otherPage = await other.newPage();
    await login(otherPage, user);
    await page.goto(`${BASE}/#/sessions`);
    await page.locator('#sessions-table').waitFor();
    assert.equal(await page.locator('#sessions-table tbody tr').count(), 2);
    assert.equal(await page.locator('#sessions-table tbody tr.current').count(), 1);
    assert.match(await page.locator('#sessions-table tr.current').innerText(), /This session/);
    await page.screenshot({ path: `${ART}/journey-12a-two-sessions.png`, fullPage: true });
    await page.getByRole('button', { name: /^Revoke/ }).click();
    await page.locator('#status', { hasText: 'revoked' }).waitFor();
    await page.locator('#sessions-table tbody tr').nth(1).waitFor({ state: 'detached' });
    assert.equal(await page.locator('#sessions-table tbody tr').count(), 1);
    // The revoked device finds itself logged out at its next step.
    await otherPage.goto(`${BASE}/#/sessions`);
    await otherPage.reload();
    await otherPage.locator('#login-form').waitFor();
    assert.ok(!(await visibleText(otherPage)).includes(user));
    await other.close();
  });

  await step('log-out', async () => {
    await logout(page);
    const text = await visibleText(page);
    assert.ok(!text.includes(user), 'the username is gone from the page');
    assert.ok(!text.includes('Kano wards'), 'the dataset name is gone from the page');
    const stored = await page.evaluate(() => localStorage.length + sessionStorage.length);
    assert.equal(stored, 0, 'nothing in localStorage or sessionStorage');
    const session = await page.evaluate(() => fetch('/api/session').then((r) => r.status));
    assert.equal(session, 401);
  });

  await step('csrf-on-every-mutating-call', () => {
    const exempt = new Set(['/api/auth/register', '/api/auth/login']);
    const missing = calls.filter((c) => !['GET', 'HEAD'].includes(c.method) && !exempt.has(c.path) && !c.csrf);
    assert.ok(calls.some((c) => c.method === 'POST' && c.path === '/api/auth/logout'), 'logout was called');
    assert.deepEqual(missing, []);
  });

  await step('no-script-error', () => assert.deepEqual(pageErrors, []));
});
