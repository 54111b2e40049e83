// Two officers in two browser contexts at the same time: each sees only their own data and sessions.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE, sample, screenshot, register, upload, uniqueName, visibleText } from './lib.js';

test('two users at once see only their own datasets, analyses and sessions', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const people = await Promise.all([
    { user: uniqueName('kano_officer'), csv: 'kano_like_wards.csv', geo: 'kano_like_wards.geojson', name: 'Kano survey', rows: 480 },
    { user: uniqueName('adamawa_officer'), csv: 'adamawa_like_wards.csv', geo: 'adamawa_like_wards.geojson', name: 'Adamawa survey', rows: 226 },
  ].map(async (p) => {
    const ctx = await browser.newContext();
    return { ...p, ctx, page: await ctx.newPage() };
  }));
  const [a, b] = people;
  const both = (fn) => Promise.all(people.map(fn));

  await t.test('register and upload at the same time', async () => {
    await both(async (p) => {
      await register(p.page, p.user);
      await upload(p.page, sample(p.csv), sample(p.geo), p.name);
      await p.page.locator('#datasets-table tbody tr', { hasText: p.name }).waitFor({ timeout: 60000 });
    });
    await both(async (p) => {
      await p.page.reload();
      await p.page.locator('#datasets-table').waitFor();
      const names = await p.page.locator('#datasets-table tbody td:first-child').allInnerTexts();
      assert.deepEqual(names, [p.name], `${p.user} sees only their dataset`);
      p.datasetId = await p.page.locator('#datasets-table tbody tr').getAttribute('data-id');
      await screenshot(p.page, `isolation-01-datasets-${p === a ? 'a' : 'b'}`);
    });
    assert.notEqual(a.datasetId, b.datasetId);
  });

  await t.test("another user's dataset id shows 'not found' and nothing of it", async () => {
    await both(async (p) => {
      const other = p === a ? b : a;
      await p.page.goto(`${BASE}/#/datasets/${other.datasetId}`);
      await p.page.locator('main .error', { hasText: 'does not exist' }).waitFor();
      const text = await visibleText(p.page);
      assert.ok(!text.includes(other.name), 'no name of the other dataset');
      assert.equal(await p.page.locator('#preview-table').count(), 0);
      await screenshot(p.page, `isolation-02-foreign-dataset-${p === a ? 'a' : 'b'}`);
      // Nor through the download link's route.
      const status = await p.page.evaluate((id) => fetch(`/api/datasets/${id}/file`).then((r) => r.status), other.datasetId);
      assert.equal(status, 404);
    });
  });

  await t.test('each sees only their own sessions', async () => {
    await both(async (p) => {
      await p.page.goto(`${BASE}/#/sessions`);
      await p.page.locator('#sessions-table').waitFor();
      assert.equal(await p.page.locator('#sessions-table tbody tr').count(), 1);
      assert.equal(await p.page.locator('#sessions-table tbody tr.current').count(), 1);
      p.sessionId = await p.page.locator('#sessions-table tbody tr').getAttribute('data-id');
    });
    assert.notEqual(a.sessionId, b.sessionId);
    // Revoking someone else's session by id is refused exactly like a made-up id.
    const r = await a.page.evaluate(async (id) => {
      const s = await fetch('/api/session').then((x) => x.json());
      return fetch(`/api/sessions/${id}`, { method: 'DELETE', headers: { 'X-CSRF-Token': s.csrf_token } }).then((x) => x.status);
    }, b.sessionId);
    assert.equal(r, 404);
    await b.page.reload();
    await b.page.locator('#sessions-table tbody tr.current').waitFor();
  });

  await t.test('analyses run at the same time stay with their owner', async () => {
    await both(async (p) => {
      await p.page.goto(`${BASE}/#/datasets/${p.datasetId}`);
      await p.page.getByRole('button', { name: 'Run analysis' }).click();
      await p.page.locator('#ranking-table').waitFor({ timeout: 60000 });
      assert.equal(await p.page.locator('#ranking-table tbody tr').count(), p.rows);
      p.analysisUrl = p.page.url();
      await screenshot(p.page, `isolation-03-analysis-${p === a ? 'a' : 'b'}`);
    });
    await both(async (p) => {
      const other = p === a ? b : a;
      await p.page.goto(`${BASE}/#/datasets/${p.datasetId}`);
      await p.page.locator('#analyses-list li').first().waitFor();
      assert.equal(await p.page.locator('#analyses-list li').count(), 1);
      const mine = await p.page.evaluate(() => fetch('/api/analyses').then((r) => r.json()));
      assert.deepEqual(mine.analyses.map((x) => x.dataset_id), [p.datasetId]);
      await p.page.goto(other.analysisUrl);
      await p.page.locator('main .error', { hasText: 'does not exist' }).waitFor();
      assert.equal(await p.page.locator('#ranking-table').count(), 0);
    });
  });

  await both((p) => p.ctx.close());
});
