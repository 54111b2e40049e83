// "My sessions" (list, revoke, log out everywhere) and the account page (password, deletion).

import * as api from './api.js';
import { h, field, errorBox, showError, clearError, markField, busy, announce, confirmDialog, fmtDate } from './ui.js';

export function sessionsView(ctx) {
  const err = errorBox();
  const box = h('div', { 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Loading your sessions\u2026'));

  async function load() {
    try {
      const { sessions } = await api.get('/api/sessions');
      box.removeAttribute('aria-busy');
      // The current session first, then the most recently used.
      sessions.sort((a, b) => (b.current - a.current) || String(b.last_seen_at).localeCompare(String(a.last_seen_at)));
      box.replaceChildren(h('div', { class: 'table-wrap' }, h('table', { class: 'stack-table', id: 'sessions-table' },
        h('caption', { class: 'sr-only' }, 'Your live sessions'),
        h('thead', {}, h('tr', {}, ['Session', 'Started', 'Last active', 'Ends if unused at', 'Ends at the latest', 'Action']
          .map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, sessions.map((s) => h('tr', { class: s.current ? 'current' : null, dataset: { id: s.id } },
          h('td', { 'data-label': 'Session' }, s.current ? h('strong', { class: 'badge' }, 'This session') : 'Other session'),
          h('td', { 'data-label': 'Started' }, fmtDate(s.created_at)),
          h('td', { 'data-label': 'Last active' }, fmtDate(s.last_seen_at)),
          h('td', { 'data-label': 'Ends if unused at' }, fmtDate(s.idle_expires_at)),
          h('td', { 'data-label': 'Ends at the latest' }, fmtDate(s.expires_at)),
          h('td', { 'data-label': 'Action' }, s.current
            ? h('button', { type: 'button', class: 'secondary', onclick: () => ctx.logout() }, 'Log out')
            : h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke the session started ${fmtDate(s.created_at)}`,
              onclick: () => revoke(s) }, 'Revoke'))))))));
    } catch (e) {
      box.replaceChildren();
      showError(err, e);
    }
  }

  async function revoke(s) {
    clearError(err);
    try {
      await api.del(`/api/sessions/${s.id}`);
      announce(`Session started ${fmtDate(s.created_at)} revoked.`);
    } catch (e) {
      showError(err, e, { not_found: 'That session had already ended.' });
    }
    await load();
  }

  async function everywhere() {
    const ok = await confirmDialog({ title: 'Log out everywhere?', text: 'Every session of your account ends, this one too, on every device.', action: 'Log out everywhere' });
    if (!ok) return;
    try {
      await api.del('/api/sessions');
      ctx.endLocally('You are logged out on every device.');
    } catch (e) { showError(err, e); }
  }

  load();
  return h('div', {},
    h('h1', {}, 'My sessions'),
    h('p', { class: 'lead' }, 'Every place where your account is logged in. Revoke any you do not recognise.'),
    err, box,
    h('div', { class: 'buttons' }, h('button', { type: 'button', class: 'danger', id: 'logout-everywhere', onclick: everywhere }, 'Log out everywhere')));
}

export function accountView(ctx) {
  const pwErr = errorBox();
  const pw = (name, auto, label, hint) => field(label, h('input', { name, type: 'password', autocomplete: auto, required: true }), hint);
  const pwForm = h('form', { id: 'password-form', class: 'stack', novalidate: true },
    pw('current_password', 'current-password', 'Current password'),
    pw('new_password', 'new-password', 'New password', 'At least 10 characters.'),
    pw('new_password2', 'new-password', 'Repeat the new password'),
    pwErr,
    h('button', { type: 'submit' }, 'Change password'));
  pwForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(pwErr);
    const f = pwForm.elements;
    if (f.new_password.value !== f.new_password2.value) {
      showError(pwErr, { code: 'invalid_input', field: 'new_password2', message: 'the two new passwords differ.' });
      markField(pwForm, 'new_password2', pwErr);
      return;
    }
    try {
      await busy(pwForm, () => api.post('/api/auth/password', { current_password: f.current_password.value, new_password: f.new_password.value }));
      pwForm.reset();
      announce('Password changed. Your other sessions have ended.');
    } catch (e2) {
      showError(pwErr, e2, { invalid_credentials: 'The current password is wrong.' });
      markField(pwForm, e2.code === 'invalid_credentials' ? 'current_password' : e2.field, pwErr);
    }
  });

  const delErr = errorBox();
  const delForm = h('form', { id: 'delete-account-form', class: 'stack', novalidate: true },
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    delErr,
    h('button', { type: 'submit', class: 'danger' }, 'Delete my account and all my data'));
  delForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(delErr);
    const ok = await confirmDialog({ title: 'Delete your account?', text: 'Your account, every dataset, analysis and plan, and every session end now. This cannot be undone.', action: 'Delete everything' });
    if (!ok) return;
    try {
      await busy(delForm, () => api.del('/api/account', { password: delForm.elements.password.value }));
      ctx.endLocally('Your account and all its data were deleted.');
    } catch (e2) {
      showError(delErr, e2, { invalid_credentials: 'The password is wrong.' });
      markField(delForm, e2.code === 'invalid_credentials' ? 'password' : e2.field, delErr);
    }
  });

  return h('div', {},
    h('h1', {}, 'Account'),
    h('p', { class: 'lead' }, 'Logged in as ', h('strong', {}, ctx.user.username), `. Account created ${fmtDate(ctx.user.created_at)}.`),
    h('div', { class: 'two' },
      h('section', { class: 'card', 'aria-labelledby': 'pw-h' }, h('h2', { id: 'pw-h' }, 'Change password'), pwForm),
      h('section', { class: 'card danger-zone', 'aria-labelledby': 'del-h' }, h('h2', { id: 'del-h' }, 'Delete account'),
        h('p', {}, 'Deletes your account and everything you uploaded or computed.'), delForm)));
}
