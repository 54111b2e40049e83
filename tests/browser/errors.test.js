// Each API error reaches the person as a clear line next to what they did, without losing what they typed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE, screenshot, register, logout, uniqueName, PASSWORD } from './lib.js';

const file = (name, text) => ({ name, mimeType: 'application/octet-stream', buffer: Buffer.from(text) });

test('API errors are explained on the page', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const user = uniqueName('err_officer');

  await t.test('registration: short password names the field and keeps the input', async () => {
    await page.goto(`${BASE}/`);
    await page.locator('#reg-username').fill(user);
    await page.locator('#reg-password').fill('short');
    await page.locator('#reg-password2').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    const err = page.locator('#register-form .error');
    await err.waitFor();
    assert.match(await err.innerText(), /^Password: /);
    assert.equal(await page.locator('#reg-password').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('#reg-username').inputValue(), user);
    await screenshot(page, 'errors-01-invalid-input');
  });

  await t.test('registration: a taken username', async () => {
    await register(page, user);
    await logout(page);
    await page.locator('#reg-username').fill(user);
    await page.locator('#reg-password').fill(PASSWORD);
    await page.locator('#reg-password2').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#register-form .error', { hasText: 'This username is taken' }).waitFor();
  });

  await t.test('login: wrong password, then too many attempts with the wait time', async () => {
    await page.locator('#login-username').fill(user);
    await page.locator('#login-password').fill('wrong password 1');
    await page.getByRole('button', { name: 'Log in' }).click();
    const err = page.locator('#login-form .error');
    await err.filter({ hasText: 'Wrong username or password' }).waitFor();
    assert.equal(await page.locator('#login-username').inputValue(), user);
    let text = '';
    for (let i = 0; i < 6 && !/Too many/.test(text); i++) {
      // Listen before clicking: a fast server answers before a later listener exists.
      const answered = page.waitForResponse((r) => r.url().endsWith('/api/auth/login'));
      await page.getByRole('button', { name: 'Log in' }).click();
      await answered;
      await page.locator('#login-form button:not([disabled])').waitFor();
      text = await err.innerText();
    }
    assert.match(text, /Too many failed log-ins for this username\. Try again in \d+ (minutes?|seconds)/);
    await screenshot(page, 'errors-02-too-many-attempts');
  });

  await t.test('upload: unsupported format, missing ward column, unreadable line', async () => {
    const other = uniqueName('err_upload');
    await register(page, other);
    const up = async (f) => {
      await page.getByLabel('Ward table (.csv, .xlsx or .xls)').setInputFiles(f);
      await page.getByLabel('Name (optional)').fill('typed name stays');
      await page.getByRole('button', { name: 'Upload', exact: true }).click();
      const err = page.locator('#upload-form .error');
      await err.waitFor();
      const text = await err.innerText();
      assert.equal(await page.getByLabel('Name (optional)').inputValue(), 'typed name stays');
      return text;
    };
    assert.match(await up(file('wards.txt', 'WardName,x\nA,1\n')), /file type is not supported/);
    assert.match(await up(file('wards.csv', 'Name,x,y\nA,1,2\nB,3,4\n')), /no ward column/);
    await screenshot(page, 'errors-03-missing-ward-column');
    assert.match(await up(file('wards.csv', 'WardName,x,y\nA,1,2\nB,3\nC,5,6\n')), /could not be read.*line \d+/i);
    await screenshot(page, 'errors-04-invalid-file');
  });
});
