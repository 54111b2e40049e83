// Errors that only the server's configuration causes: expired sessions, closed registration, too large uploads.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, screenshot, startServer, uniqueName, sample, PASSWORD } from './lib.js';

async function registerAt(page, url, user) {
  await page.goto(`${url}/`);
  await page.locator('#reg-username').fill(user);
  await page.locator('#reg-password').fill(PASSWORD);
  await page.locator('#reg-password2').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
}

test('errors caused by the server configuration', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());

  await t.test('an idle session expires: back to login with "your session expired", then back to the page', async () => {
    const server = await startServer(['--session-idle', '2']);
    t.after(() => server.stop());
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const user = uniqueName('idle_officer');
    await registerAt(page, server.url, user);
    await page.locator('#who').filter({ hasText: user }).waitFor({ state: 'attached' });
    await page.locator('a[href="#/sessions"]').click();
    await page.locator('#sessions-table').waitFor();
    // Idle for longer than the 2 s timeout; the next click meets the expiry.
    await page.waitForTimeout(3500);
    await page.locator('a[href="#/datasets"]').click();
    await page.locator('#auth-message', { hasText: 'Your session expired' }).waitFor();
    assert.ok(!(await page.evaluate(() => document.body.innerText)).includes(user));
    await screenshot(page, 'config-01-session-expired');
    await page.locator('#login-username').fill(user);
    await page.locator('#login-password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#who').filter({ hasText: user }).waitFor({ state: 'attached' });
    await ctx.close();
  });

  await t.test('closed registration is explained', async () => {
    const server = await startServer(['--registration', 'closed']);
    t.after(() => server.stop());
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await registerAt(page, server.url, uniqueName('late_officer'));
    await page.locator('#register-form .error', { hasText: 'Registration is closed' }).waitFor();
    await screenshot(page, 'config-02-registration-closed');
    await ctx.close();
  });

  await t.test('a file over the upload limit is refused with a clear line', async () => {
    const server = await startServer(['--max-upload', '16KiB']);
    t.after(() => server.stop());
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const user = uniqueName('big_officer');
    await registerAt(page, server.url, user);
    await page.locator('#upload-form').waitFor();
    await page.getByLabel('Ward table (.csv, .xlsx or .xls)').setInputFiles(sample('kano_like_wards.csv'));
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    const err = page.locator('#upload-form .error');
    await err.waitFor();
    assert.match(await err.innerText(), /larger than this server accepts|larger than the server accepts/);
    await screenshot(page, 'config-03-payload-too-large');
    await ctx.close();
  });
});
