// Entry point of the mrpt page: who is logged in, the hash router, the header, and logging out cleanly.

import * as api from './api.js';
import { h, announce, errorBox, showError, clearStaleStatus } from './ui.js';
import { describe } from './errors.js';
import { authView } from './view-auth.js';
import { datasetsView, datasetView } from './view-datasets.js';
import { analysisView } from './view-analysis.js';
import { sessionsView, accountView } from './view-account.js';

// Everything personal lives in this object and the DOM, nothing in storage,
// so ending it (logout) and clearing the DOM leaves nothing behind.
const app = { user: null, session: null, returnTo: null, loginMessage: null };

const main = document.getElementById('main');
const nav = document.getElementById('nav');

const routes = [
  [/^#\/datasets$/, datasetsView, 'Datasets'],
  [/^#\/datasets\/([\w-]+)$/, datasetView, 'Dataset'],
  [/^#\/analyses\/([\w-]+)(?:\/plans\/([\w-]+))?$/, analysisView, 'Analysis'],
  [/^#\/sessions$/, sessionsView, 'My sessions'],
  [/^#\/account$/, accountView, 'Account'],
];

export function go(hash) {
  if (location.hash === hash) render(); else location.hash = hash;
}

// The context every view receives: the logged-in user, navigation, logout.
const ctx = {
  get user() { return app.user; },
  get session() { return app.session; },
  go,
  logout: (msg) => logout(msg),
  endLocally: (msg) => endLocally(msg),
  loggedIn: (data) => loggedIn(data),
  replaceHash: (hash) => history.replaceState(null, '', hash),
};

function render() {
  if (!app.user) {
    // Scrub the address so history entries keep no ids once logged out.
    if (location.hash !== '#/login') history.replaceState(null, '', '#/login');
    setNav();
    show(authView(ctx, app.loginMessage), 'Log in');
    app.loginMessage = null;
    return;
  }
  const hash = location.hash || '#/datasets';
  for (const [re, view, title] of routes) {
    const m = hash.match(re);
    if (m) { setNav(hash); show(view(ctx, ...m.slice(1)), title); return; }
  }
  history.replaceState(null, '', '#/datasets');
  setNav('#/datasets');
  show(datasetsView(ctx), 'Datasets');
}

function show(viewEl, title) {
  clearStaleStatus();
  document.title = `${title} \u2014 mrpt`;
  main.replaceChildren(viewEl);
  // Move focus to the new page's heading so keyboard and screen-reader users start there.
  const h1 = main.querySelector('h1');
  if (h1) { h1.tabIndex = -1; h1.focus({ preventScroll: true }); }
  window.scrollTo(0, 0);
}

function setNav(hash) {
  if (!app.user) { nav.hidden = true; nav.replaceChildren(); return; }
  const link = (href, text) => h('a', { href, 'aria-current': hash && hash.startsWith(href) ? 'page' : null }, text);
  nav.replaceChildren(
    h('ul', {},
      h('li', {}, link('#/datasets', 'Datasets')),
      h('li', {}, link('#/sessions', 'My sessions')),
      h('li', {}, link('#/account', 'Account'))),
    h('span', { class: 'who' }, 'Logged in as ', h('strong', { id: 'who' }, app.user.username)),
    h('button', { type: 'button', class: 'secondary', id: 'logout', onclick: () => logout() }, 'Log out'));
  nav.hidden = false;
}

// Tabs of this browser share the cookie, so they tell each other about
// logins and logouts (a message, nothing stored): a logout in one tab
// clears the others at once, on a shared computer too.
const channel = 'BroadcastChannel' in window ? new BroadcastChannel('mrpt-session') : null;
const tell = (type, message) => channel && channel.postMessage({ type, message, user: app.user && app.user.id });

function setUser(data) {
  app.user = data ? data.user : null;
  app.session = data ? data.session : null;
  api.setCsrfToken(data ? data.csrf_token : null);
  api.setExpectedUser(app.user && app.user.id);
}

function loggedIn(data) {
  setUser(data);
  tell('login');
  const rt = app.returnTo;
  app.returnTo = null;
  // After an expiry only the same person is taken back to where they were.
  go(rt && (!rt.username || rt.username === data.user.username) ? rt.hash : '#/datasets');
}

async function logout(message) {
  try { await api.post('/api/auth/logout'); } catch { /* the local state ends regardless */ }
  endLocally(message || 'You are logged out.');
}

// Forget the user in this page: memory, DOM and the current history entry.
function endLocally(message, quiet) {
  if (!quiet) tell('logout', message);
  setUser(null);
  main.replaceChildren();
  app.returnTo = null;
  app.loginMessage = message;
  history.replaceState(null, '', '#/login');
  announce('');
  render();
}

if (channel) {
  channel.onmessage = ({ data }) => {
    if (data.type === 'logout' && app.user) {
      // An expiry or a revocation is the same news here; a plain logout is told as such.
      const said = data.message === 'You are logged out.' || !data.message ? describe({ code: 'other_tab_logout' }) : data.message;
      endLocally(said, true);
    }
    else if (data.type === 'login' && app.user && data.user !== app.user.id) endLocally(describe({ code: 'other_user' }), true);
    else if (data.type === 'login' && !app.user) boot();
  };
}

api.onSessionLost((err) => {
  if (!app.user) return;
  const back = { hash: location.hash, username: app.user.username };
  endLocally(describe(err), err.code === 'other_user');
  // Only an expiry sends the same person back where they were after logging in again.
  if (err.code === 'session_expired') app.returnTo = back;
});

window.addEventListener('hashchange', render);

// A page restored from the back-forward cache may show a session that has
// ended since: ask the server again before showing anything.
window.addEventListener('pageshow', (e) => { if (e.persisted) boot(); });

document.getElementById('skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

async function boot() {
  main.replaceChildren(h('p', { class: 'loading' }, 'Loading\u2026'));
  try {
    const { data, lost } = await api.probeSession();
    setUser(data);
    if (!data) {
      if (lost.code === 'session_expired') app.loginMessage = describe(lost);
      // A bookmarked page opens after logging in; kept in memory only.
      if (/^#\/(datasets|analyses|sessions|account)/.test(location.hash)) app.returnTo = { hash: location.hash };
    }
    render();
  } catch (err) {
    const box = errorBox();
    showError(box, err);
    main.replaceChildren(h('section', { class: 'card' }, h('h1', {}, 'The server is not answering'), box,
      h('button', { type: 'button', onclick: boot }, 'Try again')));
  }
}

boot();
