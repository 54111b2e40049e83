// After logout, the back button and the browser cache show nothing of the previous user.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE, sample, screenshot, register, login, upload, logout, uniqueName, visibleText, PASSWORD } from './lib.js';

test('after logout, going back shows no personal data', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const user = uniqueName('back_officer');
  const dsName = uniqueName('Secret wards');

  await register(page, user);
  await upload(page, sample('tiny_wards.csv'), null, dsName);
  await page.locator('#datasets-table a', { hasText: dsName }).click();
  await page.locator('#preview-table').waitFor();
  await page.goto(`${BASE}/#/sessions`);
  await page.locator('#sessions-table').waitFor();
  await page.goto(`${BASE}/#/datasets`);
  await page.locator('#datasets-table').waitFor();
  assert.ok((await visibleText(page)).includes(dsName));

  await logout(page);
  await screenshot(page, 'back-01-logged-out');

  const leaks = async (where) => {
    await page.locator('#login-form').waitFor();
    const text = await visibleText(page);
    const html = await page.content();
    for (const secret of [user, dsName, 'Dutsen Taraba', 'GMHAR']) {
      assert.ok(!text.includes(secret) && !html.includes(secret), `${where}: "${secret}" is on the page`);
    }
    assert.ok(!/#\/(datasets|sessions|analyses)\//.test(page.url()), `${where}: address keeps an id: ${page.url()}`);
  };

  await t.test('Back through every earlier page shows the login form only', async () => {
    for (let i = 1; i <= 5; i++) {
      await page.goBack({ waitUntil: 'commit' }).catch(() => null);
      await page.waitForTimeout(150);
      await leaks(`after ${i} x Back`);
      await screenshot(page, `back-02-after-back-${i}`);
    }
  });

  await t.test('leaving the page and coming back shows the login form only', async () => {
    await page.goto(`${BASE}/healthz`);
    await page.goBack();
    await leaks('back from another page');
    await page.goForward();
    await page.goBack();
    await leaks('back again');
  });

  await t.test('a reload asks the server and shows the login form only', async () => {
    await page.reload();
    await leaks('reload');
    assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0);
  });
});

test('logging out in one tab clears the other tabs of the browser at once', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const ctx = await browser.newContext();
  const first = await ctx.newPage();
  const user = uniqueName('tabs_officer');
  await register(first, user);
  await upload(first, sample('tiny_wards.csv'), null, 'Two tabs');
  await first.locator('#datasets-table tbody tr').waitFor();
  const second = await ctx.newPage();
  await second.goto(`${BASE}/#/datasets`);
  await second.locator('#datasets-table tbody tr', { hasText: 'Two tabs' }).waitFor();

  await logout(first);
  // No click in the second tab: it must clear itself.
  await second.locator('#auth-message', { hasText: 'You logged out in another tab' }).waitFor();
  const text = await visibleText(second);
  assert.ok(!text.includes(user) && !text.includes('Two tabs'));
  await screenshot(second, 'back-03-other-tab-cleared');

  await t.test('a tab that missed the news does not act as the next user', async () => {
    await login(first, user);
    await second.locator('#who', { hasText: user }).waitFor({ state: 'attached' });
    await second.goto(`${BASE}/#/datasets`);
    await second.locator('#datasets-table tbody tr', { hasText: 'Two tabs' }).waitFor();
    // Someone else logs in in this browser without the page knowing (a
    // frozen tab, a script): the cookie now names another user.
    const other = uniqueName('tabs_other');
    await first.evaluate(async ([u, p]) => {
      await fetch('/api/auth/register', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: u, password: p }) });
      await fetch('/api/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: u, password: p }) });
    }, [other, PASSWORD]);
    // The stale tab tries to delete its dataset: the server refuses the old
    // token, and the page must stop rather than retry as the new user.
    await second.getByRole('button', { name: 'Delete Two tabs' }).click();
    await second.getByRole('dialog').getByRole('button', { name: 'Delete dataset' }).click();
    await second.locator('#auth-message', { hasText: 'Another account was logged in' }).waitFor();
    assert.ok(!(await visibleText(second)).includes(user));
  });
});
