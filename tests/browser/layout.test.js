// Phone-size layout and keyboard-only use.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE, sample, screenshot, register, upload, logout, uniqueName, PASSWORD } from './lib.js';

test('readable on a 390-px phone and usable with the keyboard alone', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  const user = uniqueName('phone_officer');

  const noSideScroll = async (where) => {
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(w <= 390, `${where}: the page is ${w} px wide on a 390 px screen`);
  };

  await t.test('log-in page', async () => {
    await page.goto(`${BASE}/`);
    await page.locator('#login-form').waitFor();
    await noSideScroll('login');
    await screenshot(page, 'phone-01-login');
  });

  await t.test('datasets, dataset and sessions pages', async () => {
    await register(page, user);
    await upload(page, sample('kano_like_wards.csv'), sample('kano_like_wards.geojson'), 'Kano on a phone');
    await page.locator('#datasets-table tbody tr').waitFor({ timeout: 60000 });
    await noSideScroll('datasets');
    await screenshot(page, 'phone-02-datasets', { fullPage: true });
    await page.locator('#datasets-table a', { hasText: 'Kano on a phone' }).click();
    await page.locator('#analysis-form').waitFor();
    await noSideScroll('dataset');
    await screenshot(page, 'phone-03-dataset', { fullPage: true });
    await page.goto(`${BASE}/#/sessions`);
    await page.locator('#sessions-table').waitFor();
    await noSideScroll('sessions');
    await screenshot(page, 'phone-04-sessions');
  });

  await t.test('analysis page', async () => {
    await page.goto(`${BASE}/#/datasets`);
    await page.locator('#datasets-table a', { hasText: 'Kano on a phone' }).click();
    await page.getByRole('button', { name: 'Run analysis' }).click();
    await page.locator('#ranking-table').waitFor({ timeout: 60000 });
    await page.locator('#map svg').waitFor({ timeout: 30000 });
    await noSideScroll('analysis');
    await screenshot(page, 'phone-05-analysis');
    await screenshot(page, 'phone-06-analysis-full', { fullPage: true });
  });

  await t.test('keyboard only: log in and reach the datasets', async () => {
    await logout(page);
    const kctx = await browser.newContext();
    const kp = await kctx.newPage();
    await kp.goto(`${BASE}/`);
    await kp.locator('#login-form').waitFor();
    // Tab from the top of the page must reach the username field, in order.
    const order = [];
    for (let i = 0; i < 6; i++) {
      await kp.keyboard.press('Tab');
      order.push(await kp.evaluate(() => document.activeElement.id || document.activeElement.textContent.trim()));
    }
    const u = order.indexOf('login-username');
    assert.ok(u >= 0, `Tab order: ${order.join(', ')}`);
    assert.equal(order[u + 1], 'login-password');
    await kp.locator('#login-username').focus();
    await kp.keyboard.type(user);
    await kp.keyboard.press('Tab');
    await kp.keyboard.type(PASSWORD);
    await kp.keyboard.press('Enter');
    await kp.locator('#datasets-table').waitFor();
    // Focus went to the page heading, and a visible focus ring is drawn on links.
    assert.equal(await kp.evaluate(() => document.activeElement.tagName), 'H1');
    await kp.keyboard.press('Tab');
    const outline = await kp.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none');
    await screenshot(kp, 'keyboard-01-logged-in');
    await kctx.close();
  });
});
