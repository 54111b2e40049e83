// A dataset without boundaries: ranking without a map, mean imputation only; then deleting it, with confirmation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE, sample, screenshot, register, upload, uniqueName, visibleText } from './lib.js';

test('a table without boundaries, from upload to deletion', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await register(page, uniqueName('gombe_officer'));
  let analysisUrl;

  await t.test('upload: no boundaries, so only the column mean for missing values', async () => {
    await upload(page, sample('tiny_wards.csv'), null, 'Gombe tiny');
    await page.locator('#datasets-table tbody tr', { hasText: 'Gombe tiny' }).waitFor();
    assert.deepEqual((await page.locator('#datasets-table tbody tr td').allInnerTexts()).slice(3, 5), ['10', 'No']);
    await page.locator('#datasets-table a', { hasText: 'Gombe tiny' }).click();
    await page.locator('#analysis-form').waitFor();
    assert.ok(await page.locator('input[name=imputation][value=spatial]').isDisabled());
    assert.ok(await page.locator('input[name=imputation][value=mean]').isChecked());
    // Gombe is in the North East: its zone's five variables are ticked.
    const ticked = await page.locator('#variables-table input:checked').evaluateAll((els) => els.map((e) => e.value));
    assert.deepEqual(ticked, ['u5_tpr_rdt', 'distance_to_waterbodies', 'rainfall', 'soil_wetness', 'urban_percentage']);
  });

  await t.test('fewer than two variables is refused before anything is sent', async () => {
    for (const cb of await page.locator('#variables-table input[type=checkbox]').all()) await cb.uncheck();
    await page.locator('#variables-table input[value=rainfall]').check();
    await page.getByRole('button', { name: 'Run analysis' }).click();
    await page.locator('#analysis-form .error', { hasText: 'at least two variables' }).waitFor();
    await page.getByRole('button', { name: 'Reset to the default selection' }).click();
    assert.equal(await page.locator('#variables-table input:checked').count(), 5);
  });

  await t.test('the analysis ranks all ten wards and says there is no map', async () => {
    await page.getByLabel('Composite score only').check();
    await page.getByRole('button', { name: 'Run analysis' }).click();
    await page.locator('#ranking-table').waitFor({ timeout: 60000 });
    analysisUrl = page.url();
    assert.equal(await page.locator('#ranking-table tbody tr').count(), 10);
    await page.locator('#no-map', { hasText: 'no ward boundaries' }).waitFor();
    await page.locator('#chart svg').waitFor();
    assert.match(await page.locator('#pca-h + *').innerText(), /PCA was not part of this analysis/);
    const cats = await page.locator('#ranking-table tbody .cat').allInnerTexts();
    assert.deepEqual([cats.filter((c) => c === 'High').length, cats.filter((c) => c === 'Low').length], [3, 3]);
    assert.ok(!/^null$/m.test(await visibleText(page)), 'an absent part leaves no "null" on the page');
    await screenshot(page, 'dataset-01-no-boundaries', { fullPage: true });
  });

  await t.test('PCA alone, where it is not suitable: the page says why there is no ranking', async () => {
    await page.locator('.crumbs a').nth(1).click();
    await page.getByLabel('PCA only').check();
    await page.getByRole('button', { name: 'Run analysis' }).click();
    await page.locator('#pca-verdict').waitFor({ timeout: 60000 });
    assert.equal(await page.locator('#pca-verdict').innerText(), 'Not suitable.');
    assert.match(await page.locator('#pca-reason').innerText(), /KMO/);
    await page.locator('#no-ranking').waitFor();
    await page.locator('#no-map').waitFor();
    await page.locator('#no-chart').waitFor();
    assert.equal(await page.locator('#itn-form').count(), 0, 'no bed-net form without a composite ranking');
    await screenshot(page, 'dataset-02-pca-not-suitable', { fullPage: true });
  });

  await t.test('deleting asks first; once deleted, its analysis is gone too', async () => {
    await page.goto(`${BASE}/#/datasets`);
    await page.getByRole('button', { name: 'Delete Gombe tiny' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await page.locator('#datasets-table tbody tr').count(), 1);
    await page.getByRole('button', { name: 'Delete Gombe tiny' }).click();
    await screenshot(page, 'dataset-03-confirm-delete');
    await page.getByRole('dialog').getByRole('button', { name: 'Delete dataset' }).click();
    await page.locator('.empty', { hasText: 'No datasets yet' }).waitFor();
    await page.goto(analysisUrl);
    await page.locator('main .error', { hasText: 'does not exist' }).waitFor();
  });
});
