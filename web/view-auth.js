// The logged-out page: log in and create an account.

import * as api from './api.js';
import { h, field, errorBox, showError, clearError, markField, busy, announce } from './ui.js';

function input(name, type, autocomplete, extra = {}) {
  return h('input', { name, type, autocomplete, required: true, autocapitalize: 'none', spellcheck: 'false', ...extra });
}

export function authView(ctx, message) {
  const notice = message ? h('p', { class: 'notice', role: 'status', id: 'auth-message' }, message) : null;

  const loginErr = errorBox();
  const loginForm = h('form', { class: 'stack', id: 'login-form', novalidate: true },
    field('Username', input('username', 'text', 'username', { id: 'login-username' })),
    field('Password', input('password', 'password', 'current-password', { id: 'login-password' })),
    loginErr,
    h('button', { type: 'submit' }, 'Log in'));

  loginForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(loginErr);
    const body = { username: loginForm.username.value.trim(), password: loginForm.password.value };
    if (!body.username || !body.password) {
      showError(loginErr, { code: 'invalid_input', field: !body.username ? 'username' : 'password', message: 'please fill it in.' });
      markField(loginForm, !body.username ? 'username' : 'password', loginErr);
      return;
    }
    try {
      const data = await busy(loginForm, () => api.post('/api/auth/login', body));
      ctx.loggedIn(data);
    } catch (err) {
      showError(loginErr, err);
      markField(loginForm, err.field, loginErr);
    }
  });

  const regErr = errorBox();
  const regForm = h('form', { class: 'stack', id: 'register-form', novalidate: true },
    field('Username', input('username', 'text', 'username', { id: 'reg-username', minLength: 3, maxLength: 64 }),
      '3 to 64 characters: letters a\u2013z, digits, _ . or -'),
    field('Password', input('password', 'password', 'new-password', { id: 'reg-password', minLength: 10, maxLength: 1024 }),
      'At least 10 characters.'),
    field('Repeat the password', input('password2', 'password', 'new-password', { id: 'reg-password2' })),
    regErr,
    h('button', { type: 'submit', class: 'secondary' }, 'Create account'));

  regForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(regErr);
    const body = { username: regForm.username.value.trim(), password: regForm.password.value };
    if (body.password !== regForm.password2.value) {
      showError(regErr, { code: 'invalid_input', field: 'password2', message: 'The two passwords differ.' });
      markField(regForm, 'password2', regErr);
      return;
    }
    try {
      await busy(regForm, async () => {
        await api.post('/api/auth/register', body);
        announce(`Account ${body.username} created.`);
        // Registration gives no session; logging in at once saves typing it all again.
        ctx.loggedIn(await api.post('/api/auth/login', body));
      });
    } catch (err) {
      showError(regErr, err);
      markField(regForm, err.field, regErr);
    }
  });

  return h('div', { class: 'auth' },
    h('h1', {}, 'Malaria risk prioritisation'),
    h('p', { class: 'lead' }, 'Rank wards by malaria risk, see them on a map and plan bed-net distribution. Your data is visible to you alone.'),
    notice,
    h('div', { class: 'auth-grid' },
      h('section', { class: 'card', 'aria-labelledby': 'login-h' }, h('h2', { id: 'login-h' }, 'Log in'), loginForm),
      h('section', { class: 'card', 'aria-labelledby': 'reg-h' }, h('h2', { id: 'reg-h' }, 'Create an account'), regForm)));
}
