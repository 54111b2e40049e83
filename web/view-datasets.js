// The datasets list with the upload form, and one dataset's page: summary, preview, analysis form.

import * as api from './api.js';
import { h, fill, field, errorBox, showError, clearError, markField, busy, announce, confirmDialog,
  fmtBytes, fmtDate, fmtInt, fmtDuration, newId } from './ui.js';
import { defaultSelection, defaultDirection } from './variables.js';

const METHOD_LABEL = { both: 'Composite and PCA', composite: 'Composite score', pca: 'PCA score' };
export const methodLabel = (m) => METHOD_LABEL[m] || m;

// ---- list and upload ------------------------------------------------------

export function datasetsView(ctx) {
  const listBox = h('div', { 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Loading your datasets\u2026'));
  const listErr = errorBox();
  let highlight = null;

  async function load() {
    try {
      const { datasets } = await api.get('/api/datasets');
      clearError(listErr);
      listBox.replaceChildren(datasets.length ? datasetTable(datasets) :
        h('p', { class: 'empty' }, 'No datasets yet. Upload a ward table above to start.'));
      listBox.removeAttribute('aria-busy');
      const row = highlight && listBox.querySelector(`tr[data-id="${CSS.escape(highlight)}"]`);
      if (row) { row.classList.add('new'); row.querySelector('a').focus(); }
    } catch (err) {
      listBox.replaceChildren();
      showError(listErr, err);
    }
  }

  function datasetTable(datasets) {
    return h('div', { class: 'table-wrap' }, h('table', { class: 'stack-table', id: 'datasets-table' },
      h('caption', { class: 'sr-only' }, 'Your datasets, newest first'),
      h('thead', {}, h('tr', {}, ['Name', 'File', 'Size', 'Rows', 'Boundaries', 'Uploaded', 'Actions']
        .map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, datasets.map((d) => h('tr', { dataset: { id: d.id } },
        h('td', { 'data-label': 'Name' }, h('a', { href: `#/datasets/${d.id}` }, d.name)),
        h('td', { 'data-label': 'File' }, d.filename),
        h('td', { 'data-label': 'Size', class: 'num' }, fmtBytes(d.bytes)),
        h('td', { 'data-label': 'Rows', class: 'num' }, fmtInt(d.rows)),
        h('td', { 'data-label': 'Boundaries' }, d.has_boundaries ? 'Yes' : 'No'),
        h('td', { 'data-label': 'Uploaded' }, fmtDate(d.uploaded_at)),
        h('td', { 'data-label': 'Actions' }, h('span', { class: 'actions' },
          h('a', { href: `/api/datasets/${d.id}/file`, download: '' , 'aria-label': `Download the file of ${d.name}` }, 'Download'),
          h('button', { type: 'button', class: 'link danger', 'aria-label': `Delete ${d.name}`,
            onclick: () => deleteDataset(d, load, listErr) }, 'Delete'))))))));
  }

  const form = uploadForm(async (dataset) => {
    highlight = dataset.id;
    announce(`Uploaded \u201c${dataset.name}\u201d: ${fmtInt(dataset.rows)} wards.`);
    await load();
  });

  load();
  return h('div', {},
    h('h1', {}, 'Datasets'),
    h('section', { class: 'card', 'aria-labelledby': 'up-h' }, h('h2', { id: 'up-h' }, 'Upload a ward table'), form),
    h('section', { 'aria-labelledby': 'list-h' }, h('h2', { id: 'list-h' }, 'Your datasets'), listErr, listBox));
}

async function deleteDataset(d, after, box) {
  const ok = await confirmDialog({
    title: `Delete \u201c${d.name}\u201d?`,
    text: 'The uploaded file, its analyses and its bed-net plans will be deleted. This cannot be undone.',
    action: 'Delete dataset',
  });
  if (!ok) return false;
  try {
    await api.del(`/api/datasets/${d.id}`);
    announce(`Deleted \u201c${d.name}\u201d.`);
    await after();
    return true;
  } catch (err) {
    showError(box, err);
    return false;
  }
}

function uploadForm(onDone) {
  const file = h('input', { type: 'file', name: 'file', required: true, accept: '.csv,.xlsx,.xls' });
  const bounds = h('input', { type: 'file', name: 'boundaries', accept: '.geojson,.json,.zip' });
  const name = h('input', { type: 'text', name: 'name', maxLength: 200, autocomplete: 'off' });
  const err = errorBox();
  const bar = h('progress', { max: 1, value: 0, id: 'upload-bar' });
  const barText = h('p', { id: 'upload-text', class: 'progress-text' });
  const barLabel = h('label', { for: 'upload-bar', class: 'sr-only' }, 'Upload progress');
  const progress = h('div', { class: 'progress', hidden: true }, barLabel, bar, barText);
  const submit = h('button', { type: 'submit' }, 'Upload');
  const cancel = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Cancel upload');
  let current = null;
  cancel.addEventListener('click', () => current && current.abort());

  const form = h('form', { id: 'upload-form', class: 'grid-form', novalidate: true },
    field('Ward table (.csv, .xlsx or .xls)', file, 'One row per ward, with a WardName or Ward column.'),
    field('Ward boundaries (optional)', bounds, 'GeoJSON or a zipped shapefile; needed for the map and spatial imputation.'),
    field('Name (optional)', name, 'Defaults to the file name.'),
    h('div', { class: 'wide' }, progress, err, h('div', { class: 'buttons' }, submit, cancel)));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(err);
    if (!file.files.length) {
      showError(err, { code: 'invalid_input', field: 'file', message: 'choose a file to upload.' });
      markField(form, 'file', err);
      return;
    }
    const fd = new FormData();
    fd.append('file', file.files[0]);
    if (bounds.files.length) fd.append('boundaries', bounds.files[0]);
    if (name.value.trim()) fd.append('name', name.value.trim());

    const samples = [];
    let lastText = 0;
    bar.value = 0;
    barText.textContent = 'Starting the upload\u2026';
    progress.hidden = false;
    cancel.hidden = false;
    [file, bounds, name, submit].forEach((c) => { c.disabled = true; });
    current = api.upload('/api/datasets', fd, (loaded, total) => {
      const now = performance.now();
      samples.push([now, loaded]);
      // The rate over the last few seconds follows a link that speeds up or slows down.
      while (samples.length > 2 && now - samples[0][0] > 5000) samples.shift();
      if (total) { bar.max = total; bar.value = loaded; }
      if (now - lastText < 250 && loaded < total) return;
      lastText = now;
      if (total && loaded >= total) {
        barText.textContent = `${fmtBytes(total)} sent. The server is checking the file\u2026`;
        return;
      }
      const [t0, b0] = samples[0];
      const rate = (loaded - b0) / ((now - t0) / 1000);
      const left = total && rate > 0 ? `, about ${fmtDuration((total - loaded) / rate)} left` : '';
      const pct = total ? ` (${Math.floor((100 * loaded) / total)} %)` : '';
      barText.textContent = `${fmtBytes(loaded)}${total ? ` of ${fmtBytes(total)}` : ''} sent${pct}${left}`;
    });
    const finish = () => {
      current = null;
      cancel.hidden = true;
      progress.hidden = true;
      [file, bounds, name, submit].forEach((c) => { c.disabled = false; });
    };
    let dataset;
    try {
      dataset = await current.promise;
    } catch (e2) {
      finish();
      // A server refusing a large body may close the connection before the
      // browser has sent it all; the browser then sees no answer at all.
      if (e2.code === 'network') e2.code = 'upload_dropped';
      showError(err, e2);
      markField(form, e2.field, err);
      if (!e2.field) submit.focus();
      return;
    }
    finish();
    form.reset();
    await onDone(dataset);
  });
  return form;
}

// ---- one dataset ------------------------------------------------------------

export function datasetView(ctx, id) {
  const root = h('div', { 'aria-busy': 'true' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/datasets' }, 'Datasets')),
    h('h1', {}, 'Dataset'),
    h('p', { class: 'loading' }, 'Loading the dataset\u2026'));
  const err = errorBox();
  root.append(err);

  api.get(`/api/datasets/${id}`).then((d) => {
    root.removeAttribute('aria-busy');
    fill(root,
      h('p', { class: 'crumbs' }, h('a', { href: '#/datasets' }, 'Datasets'), ' \u203a ', d.name),
      h('h1', {}, d.name),
      summary(d, ctx),
      previewSection(d),
      analysisForm(d, ctx),
      pastAnalyses(d));
  }, (e) => {
    root.removeAttribute('aria-busy');
    root.querySelector('.loading')?.remove();
    showError(err, e, { not_found: 'This dataset does not exist, or it was deleted.' });
  });
  return root;
}

function summary(d, ctx) {
  const items = [
    ['File', `${d.filename} (${String(d.format || '').toUpperCase()}, ${fmtBytes(d.bytes)})`],
    ['Wards (rows)', fmtInt(d.rows)],
    ['Columns', `${d.columns.length} (${d.columns.filter((c) => c.kind === 'numeric').length} numeric)`],
    ['Ward column', d.ward_column],
    ['Boundaries', d.has_boundaries ? 'Yes: map and spatial imputation available' : 'No: no map; missing values take the column mean'],
    ['Uploaded', fmtDate(d.uploaded_at)],
  ];
  const err = errorBox();
  return h('section', { class: 'card', 'aria-label': 'Summary' },
    h('dl', { class: 'facts' }, items.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    err,
    h('div', { class: 'buttons' },
      h('a', { class: 'button secondary', href: `/api/datasets/${d.id}/file`, download: '' }, 'Download the original file'),
      h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (await deleteDataset(d, async () => {}, err)) ctx.go('#/datasets');
      } }, 'Delete dataset')));
}

function previewSection(d) {
  const p = d.preview;
  if (!p || !p.columns) return null;
  return h('details', { class: 'card', open: true },
    h('summary', {}, h('h2', {}, `Preview: first ${p.rows.length} of ${fmtInt(d.rows)} rows`)),
    h('div', { class: 'table-wrap scroll tall', tabindex: '0', role: 'region', 'aria-label': 'Preview table, scrolls sideways' },
      h('table', { class: 'data', id: 'preview-table' },
        h('thead', {}, h('tr', {}, p.columns.map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, p.rows.map((r) => h('tr', {}, r.map((v) =>
          h('td', { class: typeof v === 'number' ? 'num' : v == null ? 'missing' : null }, v == null ? 'missing' : String(v)))))))));
}

function radios(name, legend, options, checked, hint) {
  return h('fieldset', { class: 'radios' }, h('legend', {}, legend),
    options.map(([value, label, disabled]) => {
      const id = newId(name);
      return h('div', { class: 'radio' },
        h('input', { type: 'radio', name, value, id, checked: value === checked, disabled: !!disabled }),
        h('label', { for: id }, label));
    }),
    hint ? h('small', { class: 'hint' }, hint) : null);
}

function analysisForm(d, ctx) {
  const def = defaultSelection(d);
  // The order of the variables is part of the analysis (the composite models
  // are combinations in list order, and past five variables only the first
  // five count), so the defaults come first in their standard order.
  const rank = (c) => { const i = def.variables.indexOf(c.name); return i < 0 ? def.variables.length : i; };
  const numeric = d.columns.filter((c) => c.kind === 'numeric')
    .map((c, i) => [c, i]).sort(([a, i], [b, j]) => rank(a) - rank(b) || i - j).map(([c]) => c);
  const rows = numeric.map((c) => {
    const cb = h('input', { type: 'checkbox', name: 'var', value: c.name, id: newId('var') });
    const dir = h('select', { name: `dir:${c.name}`, 'aria-label': `Direction of ${c.name}` },
      h('option', { value: 'direct' }, 'direct (higher = riskier)'),
      h('option', { value: 'inverse' }, 'inverse (lower = riskier)'));
    return { c, cb, dir, tr: h('tr', {},
      h('td', {}, cb),
      h('th', { scope: 'row' }, h('label', { for: cb.id }, c.name)),
      h('td', { class: 'num' }, c.missing ? fmtInt(c.missing) : '0'),
      h('td', {}, dir)) };
  });
  const reset = () => rows.forEach(({ c, cb, dir }) => {
    cb.checked = def.variables.includes(c.name);
    dir.value = defaultDirection(c.name);
  });
  reset();

  const err = errorBox();
  const imp = d.has_boundaries ? 'spatial' : 'mean';
  const form = h('form', { id: 'analysis-form', novalidate: true },
    h('fieldset', { class: 'vars' }, h('legend', {}, 'Variables'),
      h('p', { class: 'hint' }, `Pre-selected: ${def.rule} Directions follow the variable names (distance, elevation, housing, urban\u2026 are inverse); change any of them. Variables are used in the order listed; with more than five, the composite score uses the first five ticked.`),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data vars-table', id: 'variables-table' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Use'), h('th', { scope: 'col' }, 'Variable'),
          h('th', { scope: 'col', class: 'num' }, 'Missing cells'), h('th', { scope: 'col' }, 'Direction'))),
        h('tbody', {}, rows.map((r) => r.tr)))),
      h('button', { type: 'button', class: 'link', onclick: reset }, 'Reset to the default selection')),
    h('div', { class: 'options' },
      radios('method', 'Method', [['both', 'Composite score and PCA'], ['composite', 'Composite score only'], ['pca', 'PCA only']], 'both'),
      radios('imputation', 'Missing values', [
        ['spatial', 'Mean of neighbouring wards', !d.has_boundaries], ['mean', 'Mean of the column']], imp,
        d.has_boundaries ? null : 'Neighbours need ward boundaries, which this dataset lacks.'),
      radios('inversion', 'Inverse variables', [
        ['reciprocal', 'Reciprocal 1/x (as the reference tool)'], ['complement', 'Complement 1 \u2212 x (safe with zeros)']], 'reciprocal')),
    err,
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Run analysis')));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(err);
    const chosen = rows.filter((r) => r.cb.checked);
    if (chosen.length < 2) {
      showError(err, { code: 'invalid_variables', message: 'choose at least two variables.' });
      (chosen.length ? rows.find((r) => !r.cb.checked) : rows[0])?.cb.focus();
      return;
    }
    // Send exactly what the form shows, so the result matches what was seen.
    const body = {
      method: form.elements.method.value,
      variables: chosen.map((r) => r.c.name),
      directions: Object.fromEntries(chosen.map((r) => [r.c.name, r.dir.value])),
      inversion: form.elements.inversion.value,
      imputation: form.elements.imputation.value,
    };
    announce('Running the analysis\u2026');
    try {
      const a = await busy(form, () => api.post(`/api/datasets/${d.id}/analyses`, body));
      announce('Analysis finished.');
      ctx.go(`#/analyses/${a.id}`);
    } catch (e2) {
      announce('');
      showError(err, e2);
      if (e2.variable) rows.find((r) => r.c.name === e2.variable)?.cb.focus();
      else markField(form, e2.field, err);
    }
  });

  return h('section', { class: 'card', 'aria-labelledby': 'run-h' }, h('h2', { id: 'run-h' }, 'Run a risk analysis'), form);
}

function pastAnalyses(d) {
  const box = h('div', {}, h('p', { class: 'loading' }, 'Loading\u2026'));
  const err = errorBox();
  api.get('/api/analyses').then(({ analyses }) => {
    const mine = analyses.filter((a) => a.dataset_id === d.id);
    box.replaceChildren(mine.length
      ? h('ul', { class: 'plain', id: 'analyses-list' }, mine.map((a) => h('li', {},
        h('a', { href: `#/analyses/${a.id}` }, `${fmtDate(a.created_at)}: ${methodLabel(a.method)}`))))
      : h('p', { class: 'empty' }, 'No analysis of this dataset yet.'));
  }, (e) => { box.replaceChildren(); showError(err, e); });
  return h('section', { 'aria-labelledby': 'past-h' }, h('h2', { id: 'past-h' }, 'Analyses of this dataset'), err, box);
}
