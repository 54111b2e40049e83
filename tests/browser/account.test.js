// Account page: changing the password ends the other sessions; deleting the account ends everything.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE, screenshot, register, login, uniqueName, visibleText, PASSWORD } from './lib.js';

test('change password and delete the account from the page', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const user = uniqueName('acct_officer');
  const NEW = 'a much newer passphrase';

  await t.test('changing the password keeps this session and ends the others', async () => {
    await register(page, user);
    const other = await browser.newContext();
    const otherPage = await other.newPage();
    await login(otherPage, user);
    await page.goto(`${BASE}/#/account`);
    await page.getByLabel('Current password').fill(PASSWORD);
    await page.getByLabel('New password', { exact: true }).fill(NEW);
    await page.getByLabel('Repeat the new password').fill(NEW);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.locator('#status', { hasText: 'Password changed' }).waitFor();
    await screenshot(page, 'account-01-password-changed');
    await page.goto(`${BASE}/#/sessions`);
    await page.locator('#sessions-table').waitFor();
    assert.equal(await page.locator('#sessions-table tbody tr').count(), 1);
    await otherPage.locator('a[href="#/sessions"]').click();
    await otherPage.locator('#login-form').waitFor();
    assert.ok(!(await visibleText(otherPage)).includes(user));
    await other.close();
  });

  await t.test('a wrong current password is named as such', async () => {
    await page.goto(`${BASE}/#/account`);
    await page.getByLabel('Current password').fill('not the password');
    await page.getByLabel('New password', { exact: true }).fill(NEW + '2');
    await page.getByLabel('Repeat the new password').fill(NEW + '2');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.locator('#password-form .error', { hasText: 'The current password is wrong' }).waitFor();
  });

  await t.test('deleting the account asks first, then ends everything', async () => {
    await page.locator('#delete-account-form input[name=password]').fill(NEW);
    await page.getByRole('button', { name: 'Delete my account and all my data' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await page.locator('#delete-account-form').count(), 1, 'cancel keeps the account');
    await page.getByRole('button', { name: 'Delete my account and all my data' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete everything' }).click();
    await page.locator('#auth-message', { hasText: 'account and all its data were deleted' }).waitFor();
    await screenshot(page, 'account-02-deleted');
    await page.locator('#login-username').fill(user);
    await page.locator('#login-password').fill(NEW);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#login-form .error', { hasText: 'Wrong username or password' }).waitFor();
  });
});
