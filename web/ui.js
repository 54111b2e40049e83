// Small DOM helpers shared by the views: element building, formatting, status line, errors, dialogs, SVG.

import { describe, reference } from './errors.js';

// h('p', {class: 'x'}, 'text', child): text children become text nodes, so
// user data (ward names, file names) is never parsed as HTML.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string' && k !== 'list') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// replaceChildren() would print a null child as the text "null".
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
export const newId = (p) => `${p}-${++uid}`;

const nf = new Intl.NumberFormat('en-GB');
export const fmtInt = (n) => (n == null ? '\u2014' : nf.format(n));
export function fmtNum(n, digits = 3) {
  if (n == null || Number.isNaN(n)) return '\u2014';
  return Number(n).toLocaleString('en-GB', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
export function fmtPct(ratio, digits = 1) { return ratio == null ? '\u2014' : `${fmtNum(ratio * 100, digits)} %`; }
export function fmtBytes(b) {
  if (b == null) return '\u2014';
  if (b < 1024) return `${b} B`;
  const u = ['KB', 'MB', 'GB'];
  let v = b / 1024, i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${u[i]}`;
}
export function fmtDate(s) {
  if (!s) return '\u2014';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
}
export function fmtDuration(sec) {
  if (!Number.isFinite(sec)) return '';
  sec = Math.max(1, Math.round(sec));
  if (sec < 60) return `${sec} s`;
  const m = Math.floor(sec / 60), s = sec % 60;
  if (m < 60) return s ? `${m} min ${s} s` : `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// The one polite live region: short confirmations ("Uploaded ...").
let announcedAt = 0;
export function announce(text) {
  const el = document.getElementById('status');
  announcedAt = Date.now();
  el.textContent = '';
  // A fresh text node after clearing makes screen readers repeat identical messages.
  if (text) setTimeout(() => { el.textContent = text; }, 30);
}

// A page change clears the status line unless the message was just set (it
// is the result of the action that caused the page change).
export function clearStaleStatus() {
  if (Date.now() - announcedAt > 1500) document.getElementById('status').textContent = '';
}

// An error line that screen readers read at once (role=alert).
export function errorBox() {
  return h('div', { class: 'error', role: 'alert', hidden: true });
}
export function showError(box, err, context) {
  box.replaceChildren(h('span', {}, describe(err, context)));
  const ref = reference(err);
  if (ref) box.append(' ', h('small', { class: 'ref' }, ref));
  box.hidden = false;
}
export function clearError(box) { box.hidden = true; box.replaceChildren(); }

// Marks the input the server named (invalid_input's "field") so the message
// and the field are tied together for keyboard and screen-reader users.
export function markField(form, field, box) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  if (!field) return;
  let el = form.elements.namedItem(field);
  if (el && !(el instanceof Element)) el = el[0];
  if (!el) return;
  el.setAttribute('aria-invalid', 'true');
  if (!box.id) box.id = newId('err');
  el.setAttribute('aria-describedby', [el.getAttribute('aria-describedby'), box.id].filter(Boolean).join(' '));
  el.focus();
}

// A modal confirmation: returns true only when the person chose the action.
export function confirmDialog({ title, text, action = 'Delete', danger = true }) {
  return new Promise((resolve) => {
    const titleId = newId('dlg');
    const cancel = h('button', { type: 'submit', value: 'cancel', class: 'secondary' }, 'Cancel');
    const ok = h('button', { type: 'submit', value: 'ok', class: danger ? 'danger' : '' }, action);
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
      h('form', { method: 'dialog' },
        h('h2', { id: titleId }, title),
        h('p', {}, text),
        h('div', { class: 'actions' }, cancel, ok)));
    const back = document.activeElement;
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'ok');
      dlg.remove();
      if (back && back.isConnected) back.focus();
    });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

// Server SVG is inserted inline so that the wards' <title> tooltips work.
// It is re-parsed as XML and stripped of anything active first: ward names
// come from uploaded files, and the page must not trust them as markup.
export function inlineSvg(text, label) {
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  const svg = doc.documentElement;
  if (!svg || svg.nodeName.toLowerCase() !== 'svg' || doc.querySelector('parsererror')) {
    throw new Error('The server sent an image that could not be read.');
  }
  for (const bad of svg.querySelectorAll('script, foreignObject, iframe, object, embed')) bad.remove();
  for (const el of [svg, ...svg.querySelectorAll('*')]) {
    for (const a of [...el.attributes]) {
      const n = a.name.toLowerCase();
      if (n.startsWith('on') || ((n === 'href' || n === 'xlink:href') && !a.value.startsWith('#'))) el.removeAttribute(a.name);
    }
  }
  if (!svg.getAttribute('viewBox')) {
    const w = parseFloat(svg.getAttribute('width')), hgt = parseFloat(svg.getAttribute('height'));
    if (w && hgt) svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
  }
  svg.removeAttribute('width');
  svg.removeAttribute('height');
  svg.setAttribute('role', 'img');
  if (label && !svg.getAttribute('aria-label')) svg.setAttribute('aria-label', label);
  return document.importNode(svg, true);
}

export function categoryBadge(cat) {
  return cat ? h('span', { class: `cat cat-${String(cat).toLowerCase()}` }, cat) : '\u2014';
}

// A labelled form control: label, input, optional hint tied by aria-describedby.
export function field(labelText, input, hint) {
  if (!input.id) input.id = newId('f');
  const parts = [h('label', { for: input.id }, labelText), input];
  if (hint) {
    const hid = newId('hint');
    input.setAttribute('aria-describedby', hid);
    parts.push(h('small', { id: hid, class: 'hint' }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

// Disables a form's controls while a call is in flight, without touching what was typed.
export async function busy(form, fn) {
  const controls = [...form.querySelectorAll('button, input, select, textarea')].filter((c) => !c.disabled);
  const active = document.activeElement;
  controls.forEach((c) => { c.disabled = true; });
  form.setAttribute('aria-busy', 'true');
  try { return await fn(); } finally {
    controls.forEach((c) => { c.disabled = false; });
    form.removeAttribute('aria-busy');
    // Disabling the focused button drops focus to <body>; give it back.
    if (active && active.isConnected && document.activeElement === document.body) active.focus();
  }
}
