// One analysis: map, top-20 chart, sortable ranking, diagnostics, and the bed-net (ITN) plan.

import * as api from './api.js';
import { h, fill, field, errorBox, showError, clearError, markField, busy, announce, confirmDialog,
  fmtDate, fmtInt, fmtNum, fmtPct, inlineSvg, categoryBadge, newId } from './ui.js';
import { methodLabel } from './view-datasets.js';
import { describe } from './errors.js';

export function analysisView(ctx, id, planId) {
  const err = errorBox();
  const root = h('div', { 'aria-busy': 'true' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/datasets' }, 'Datasets')),
    h('h1', {}, 'Risk analysis'), err, h('p', { class: 'loading' }, 'Loading the analysis\u2026'));

  api.get(`/api/analyses/${id}`).then(async (a) => {
    // The dataset gives the page its name and the columns the bed-net form offers.
    const d = await api.get(`/api/datasets/${a.dataset_id}`).catch(() => null);
    root.removeAttribute('aria-busy');
    const name = d ? d.name : 'Dataset';
    fill(root,
      h('p', { class: 'crumbs' }, h('a', { href: '#/datasets' }, 'Datasets'), ' \u203a ',
        h('a', { href: `#/datasets/${a.dataset_id}` }, name), ' \u203a Analysis'),
      h('h1', {}, `Risk ranking: ${name}`),
      h('p', { class: 'meta' }, `${methodLabel(a.method)}, run ${fmtDate(a.created_at)}, ${fmtInt(wardCount(a))} wards, `,
        `${a.variables.length} variables.`),
      notices(a),
      actions(a, ctx),
      h('div', { class: 'figures' }, figure(a, 'map', d), figure(a, 'chart', d)),
      ranking(a),
      h('div', { class: 'two' }, variablesSection(a), pcaSection(a)),
      itnSection(a, d, ctx, planId));
  }, (e) => {
    root.removeAttribute('aria-busy');
    root.querySelector('.loading')?.remove();
    showError(err, e, { not_found: 'This analysis does not exist, or it was deleted.' });
  });
  return root;
}

const wardCount = (a) => (a.composite?.wards || a.pca?.wards || []).length;

function notices(a) {
  const items = [];
  for (const w of a.warnings || []) items.push(h('li', {}, w));
  if (a.dropped?.length) items.push(h('li', {}, `Left out because they have the same value in every ward: ${a.dropped.join(', ')}.`));
  if (a.unmatched_wards?.length) {
    items.push(h('li', {}, `${a.unmatched_wards.length} ward(s) have no boundary and are not on the map: `,
      a.unmatched_wards.slice(0, 20).join(', '), a.unmatched_wards.length > 20 ? ', \u2026' : '', '.'));
  }
  return items.length ? h('div', { class: 'notice warn', id: 'warnings' }, h('h2', {}, 'Please note'), h('ul', {}, items)) : null;
}

function actions(a, ctx) {
  const err = errorBox();
  return h('div', { class: 'buttons toolbar' },
    h('a', { class: 'button', href: `/api/analyses/${a.id}/export.csv`, download: '', id: 'export-ranking' }, 'Export ranking (CSV)'),
    h('button', { type: 'button', class: 'secondary danger', onclick: async () => {
      const ok = await confirmDialog({ title: 'Delete this analysis?', text: 'The ranking and its bed-net plans will be deleted. The dataset stays.', action: 'Delete analysis' });
      if (!ok) return;
      try {
        await api.del(`/api/analyses/${a.id}`);
        announce('Analysis deleted.');
        ctx.go(`#/datasets/${a.dataset_id}`);
      } catch (e) { showError(err, e); }
    } }, 'Delete analysis'),
    err);
}

const FIGURES = {
  map: { path: 'map.svg', title: 'Risk map', label: 'Map of the wards coloured by composite risk category',
    caption: 'Wards coloured by composite risk category. Point at a ward to see its name; the table below lists every ward.' },
  chart: { path: 'chart.svg', title: (n) => (n ? `The ${Math.min(20, n)} highest-risk wards` : 'Highest-risk wards'), label: 'Bar chart of the 20 wards with the highest composite score',
    caption: (a) => `${a.composite ? 'Composite' : 'PCA'} score of the highest-ranked wards.` },
};

function figure(a, kind, d) {
  const f = FIGURES[kind];
  const box = h('div', { class: 'svgbox', id: kind, 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Loading\u2026'));
  const err = errorBox();
  const noMap = () => {
    box.removeAttribute('aria-busy');
    box.replaceChildren(h('p', { class: 'notice', id: 'no-map' }, describe({ code: 'no_boundaries' })));
  };
  let caption = h('p', { class: 'hint' }, typeof f.caption === 'function' ? f.caption(a) : f.caption);
  const say = (text) => {
    box.removeAttribute('aria-busy');
    box.replaceChildren(h('p', { class: 'notice', id: `no-${kind}` }, text));
  };
  // What cannot be drawn is said without a round trip on a slow link.
  if (kind === 'map' && d && !d.has_boundaries) {
    noMap();
  } else if (kind === 'map' && !a.composite) {
    say('The map colours wards by their composite risk category, which this analysis does not have.');
  } else if (!wardCount(a)) {
    say('This analysis has no ranking, so there is nothing to chart.');
  } else {
    api.getText(`/api/analyses/${a.id}/${f.path}`).then((text) => {
      box.replaceChildren(inlineSvg(text, f.label));
      box.removeAttribute('aria-busy');
    }, (e) => {
      if (e.code === 'no_boundaries') { noMap(); return; }
      box.replaceChildren();
      box.removeAttribute('aria-busy');
      showError(err, e instanceof api.ApiError ? e : { code: 'unreadable', message: e.message },
        { not_found: `The ${kind} is not available for this analysis.` });
    });
  }
  // The caption explains a picture; with a notice instead it only confuses.
  if (box.querySelector('.notice')) caption = null;
  return h('section', { class: 'card figure', 'aria-labelledby': `${kind}-h` },
    h('h2', { id: `${kind}-h` }, typeof f.title === 'function' ? f.title(wardCount(a)) : f.title), box, err, caption);
}

// ---- ranking table ----------------------------------------------------------

const CAT_ORDER = { High: 0, Medium: 1, Low: 2 };

function ranking(a) {
  const hasC = !!a.composite, hasP = !!(a.pca && a.pca.suitable && a.pca.wards);
  const rows = new Map();
  const key = (w) => `${w.ward}\u0000${w.ward_code ?? ''}`;
  for (const w of a.composite?.wards || []) rows.set(key(w), { ward: w.ward, code: w.ward_code, c: w });
  if (hasP) {
    for (const w of a.pca.wards) {
      const r = rows.get(key(w)) || { ward: w.ward, code: w.ward_code };
      r.p = w;
      rows.set(key(w), r);
    }
  }
  const all = [...rows.values()];
  const cols = [
    hasC && ['crank', 'Rank', (r) => r.c?.rank, 'num'],
    ['ward', 'Ward', (r) => r.ward],
    ['code', 'Ward code', (r) => r.code || ''],
    hasC && ['cscore', 'Composite score', (r) => r.c?.score, 'num', (v) => fmtNum(v)],
    hasC && ['ccat', 'Category', (r) => r.c?.category, 'cat'],
    hasP && ['prank', 'PCA rank', (r) => r.p?.rank, 'num'],
    hasP && ['pscore', 'PCA score', (r) => r.p?.score, 'num', (v) => fmtNum(v)],
    hasP && ['pcat', 'PCA category', (r) => r.p?.category, 'cat'],
  ].filter(Boolean);
  const catOf = (r) => (hasC ? r.c?.category : r.p?.category);
  let sort = { key: hasC ? 'crank' : hasP ? 'prank' : 'ward', dir: 1 };
  if (!all.length) {
    return h('section', { class: 'card', 'aria-labelledby': 'rank-h' }, h('h2', { id: 'rank-h' }, 'Ranking'),
      h('p', { class: 'notice', id: 'no-ranking' }, 'This analysis has no ranking: the PCA was not suitable (see the diagnostics below) and the composite score was not asked for. Run the analysis again with the composite score.'));
  }

  const text = h('input', { type: 'search', id: 'rank-filter', autocomplete: 'off', spellcheck: 'false' });
  const cat = h('select', { id: 'rank-category' }, ['All', 'High', 'Medium', 'Low'].map((c) => h('option', { value: c === 'All' ? '' : c }, c)));
  const count = h('p', { class: 'count', 'aria-live': 'polite', id: 'rank-count' });
  const tbody = h('tbody');
  const headRow = h('tr');

  function header() {
    headRow.replaceChildren(...cols.map(([key, label, , kind]) => {
      const active = sort.key === key;
      return h('th', { scope: 'col', class: kind === 'num' ? 'num' : null,
        'aria-sort': active ? (sort.dir > 0 ? 'ascending' : 'descending') : null },
      h('button', { type: 'button', class: 'sort', onclick: () => {
        sort = { key, dir: active ? -sort.dir : 1 };
        draw();
        headRow.querySelector(`[data-key="${key}"]`).focus();
      }, dataset: { key } }, label, h('span', { 'aria-hidden': 'true', class: 'arrow' }, active ? (sort.dir > 0 ? ' \u25b2' : ' \u25bc') : '')));
    }));
  }

  function value(r, col) {
    const v = col[2](r);
    return col[3] === 'cat' ? (v in CAT_ORDER ? CAT_ORDER[v] : 9) : v;
  }

  function draw() {
    header();
    const q = text.value.trim().toLowerCase();
    const c = cat.value;
    const col = cols.find((x) => x[0] === sort.key);
    const shown = all.filter((r) => (!q || r.ward.toLowerCase().includes(q) || (r.code || '').toLowerCase().includes(q)) &&
      (!c || catOf(r) === c));
    shown.sort((x, y) => {
      const vx = value(x, col), vy = value(y, col);
      if (vx == null) return 1;
      if (vy == null) return -1;
      return (typeof vx === 'string' ? vx.localeCompare(vy) : vx - vy) * sort.dir;
    });
    tbody.replaceChildren(...shown.map((r) => h('tr', {}, cols.map((cl) => {
      const v = cl[2](r);
      if (cl[0] === 'ward') return h('th', { scope: 'row' }, v);
      if (cl[3] === 'cat') return h('td', {}, categoryBadge(v));
      return h('td', { class: cl[3] === 'num' ? 'num' : null }, cl[4] ? cl[4](v) : v ?? '\u2014');
    }))));
    count.textContent = shown.length === all.length ? `${fmtInt(all.length)} wards` : `Showing ${fmtInt(shown.length)} of ${fmtInt(all.length)} wards`;
  }
  text.addEventListener('input', draw);
  cat.addEventListener('change', draw);
  draw();

  return h('section', { class: 'card', 'aria-labelledby': 'rank-h' },
    h('h2', { id: 'rank-h' }, 'Ranking'),
    h('p', { class: 'hint' }, 'Rank 1 is the highest risk. The top third of wards is High, the bottom third Low. Choose a column heading to sort.'),
    h('div', { class: 'filters' },
      field('Ward name or code contains', text),
      field(hasC ? 'Category (composite)' : 'Category', cat),
      count),
    h('div', { class: 'table-wrap scroll tall', tabindex: '0', role: 'region', 'aria-label': 'Ranking table' },
      h('table', { class: 'data', id: 'ranking-table' }, h('thead', {}, headRow), tbody)));
}

// ---- variables and diagnostics -----------------------------------------------

function variablesSection(a) {
  const models = a.composite?.models || [];
  return h('section', { class: 'card', 'aria-labelledby': 'vars-h' },
    h('h2', { id: 'vars-h' }, 'Variables used'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data', id: 'used-variables' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Variable'), h('th', { scope: 'col' }, 'Direction'),
        h('th', { scope: 'col', class: 'num' }, 'Imputed cells'))),
      h('tbody', {}, a.variables.map((v) => h('tr', {},
        h('th', { scope: 'row' }, v.name),
        h('td', {}, v.direction === 'inverse' ? 'inverse (lower = riskier)' : 'direct (higher = riskier)'),
        h('td', { class: 'num' }, fmtInt(v.imputed))))))),
    a.composite ? h('p', { class: 'hint' },
      `The composite score of a ward is the median of its scores in ${models.length} models, each the mean of the normalised values of 2 or more of these variables.`) : null);
}

function pValue(p) {
  if (p == null) return '\u2014';
  return p !== 0 && p < 1e-4 ? p.toExponential(2) : p.toFixed(4);
}

// Set through the CSSOM, which a strict style-src policy still allows.
function bar(ratio) {
  const el = h('span', { class: 'bar', 'aria-hidden': 'true' });
  el.style.setProperty('--w', `${Math.max(0, Math.min(1, ratio)) * 100}%`);
  return el;
}

function pcaSection(a) {
  const p = a.pca;
  const body = [];
  if (!p) {
    body.push(h('p', {}, 'PCA was not part of this analysis.'));
  } else {
    body.push(h('p', { class: p.suitable ? 'ok' : 'bad', id: 'pca-verdict' },
      p.suitable ? 'Suitable: the PCA ranking can be used.' : `Not suitable${a.composite ? ': use the composite ranking.' : '.'}`),
    p.reason ? h('p', { id: 'pca-reason' }, p.reason) : null);
    body.push(h('dl', { class: 'facts' },
      h('dt', {}, 'KMO'), h('dd', { id: 'pca-kmo' }, p.kmo == null ? '\u2014' : fmtNum(p.kmo),
        h('small', { class: 'hint' }, ' needs 0.5 or more: do the variables share enough common variation?')),
      h('dt', {}, 'Bartlett p'), h('dd', { id: 'pca-bartlett' }, pValue(p.bartlett_p),
        h('small', { class: 'hint' }, ' needs to be below 0.05: are the variables correlated at all?'))));
    const ratios = p.explained_variance_ratio || [];
    if (ratios.length) {
      body.push(h('h3', {}, 'Variance explained by each component'),
        h('ul', { class: 'bars', id: 'pca-variance' }, ratios.map((r, i) => h('li', {},
          h('span', { class: 'bar-label' }, `PC${i + 1}`),
          bar(r),
          h('span', { class: 'num' }, fmtPct(r))))));
    }
  }
  return h('section', { class: 'card', 'aria-labelledby': 'pca-h' }, h('h2', { id: 'pca-h' }, 'PCA diagnostics'), body);
}

// ---- bed-net plan -------------------------------------------------------------

function itnSection(a, d, ctx, planId) {
  if (!a.composite) {
    return h('section', { class: 'card', 'aria-labelledby': 'itn-h' }, h('h2', { id: 'itn-h' }, 'Plan bed-net (ITN) distribution'),
      h('p', { class: 'notice' }, 'Bed-net plans follow the composite ranking, which this analysis does not have. Run the analysis again with the composite score to plan distribution.'));
  }
  const numeric = d ? d.columns.filter((c) => c.kind === 'numeric').map((c) => c.name) : [];
  const columnSelect = (name, wanted) => {
    const names = numeric.length ? numeric : [wanted];
    const pick = names.find((n) => n === wanted) || names.find((n) => n.toLowerCase() === wanted.toLowerCase()) || names[0];
    return h('select', { name }, names.map((n) => h('option', { value: n, selected: n === pick }, n)));
  };
  const err = errorBox();
  const result = h('div', { id: 'plan', 'aria-live': 'polite' });
  const radio = (value, label, hint, checked) => {
    const id = newId('m');
    return h('div', { class: 'radio' }, h('input', { type: 'radio', name: 'method', value, id, checked }),
      h('label', { for: id }, label, h('small', { class: 'hint block' }, hint)));
  };
  const form = h('form', { id: 'itn-form', class: 'grid-form', novalidate: true },
    field('Total nets available', h('input', { name: 'total_nets', type: 'number', min: '1', step: '1', required: true, inputMode: 'numeric' })),
    field('People per household', h('input', { name: 'avg_household_size', type: 'number', min: '1', step: '0.1', value: '5' })),
    field('Urban threshold (%)', h('input', { name: 'urban_threshold', type: 'number', min: '0', max: '100', step: '1', value: '30' }),
      'Wards with a smaller urban share are rural and are served first.'),
    field('Population column', columnSelect('population_column', 'Population')),
    field('Urban share column', columnSelect('urban_column', 'urban_percentage')),
    h('fieldset', { class: 'radios wide' }, h('legend', {}, 'How to share the nets'),
      radio('greedy', 'Highest risk first', 'Each ward in order gets its full need until the nets run out (as the reference tool).', true),
      radio('proportional', 'In proportion to need', 'When nets fall short, every ward gets a share of its need.', false)),
    h('div', { class: 'wide' }, err, h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Plan distribution'))));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(err);
    const num = (n) => (form.elements[n].value === '' ? undefined : Number(form.elements[n].value));
    const body = {
      total_nets: num('total_nets'),
      avg_household_size: num('avg_household_size'),
      urban_threshold: num('urban_threshold'),
      population_column: form.elements.population_column.value,
      urban_column: form.elements.urban_column.value,
      method: form.elements.method.value,
    };
    if (!Number.isInteger(body.total_nets) || body.total_nets < 1) {
      showError(err, { code: 'invalid_input', field: 'total_nets', message: 'enter a whole number of nets, 1 or more.' });
      markField(form, 'total_nets', err);
      return;
    }
    try {
      const plan = await busy(form, () => api.post(`/api/analyses/${a.id}/itn`, body));
      ctx.replaceHash(`#/analyses/${a.id}/plans/${plan.id}`);
      showPlan(plan);
      announce(`Plan ready: ${fmtInt(plan.totals.nets_allocated)} nets allocated.`);
    } catch (e2) {
      showError(err, e2);
      markField(form, e2.field, err);
    }
  });

  function showPlan(plan) {
    const w = plan.wards;
    const sum = (k) => w.reduce((s, x) => s + (x[k] || 0), 0);
    const pop = sum('population');
    const t = plan.totals;
    result.replaceChildren(
      h('h3', {}, `Plan: ${plan.method === 'proportional' ? 'in proportion to need' : 'highest risk first'}`),
      h('dl', { class: 'facts totals', id: 'plan-totals' },
        h('dt', {}, 'Nets allocated'), h('dd', {}, fmtInt(t.nets_allocated)),
        h('dt', {}, 'Nets left'), h('dd', {}, fmtInt(t.nets_left)),
        h('dt', {}, 'People covered'), h('dd', {}, `${fmtInt(Math.round(t.population_covered))} of ${fmtInt(Math.round(pop))}` +
          (pop ? ` (${fmtNum((100 * t.population_covered) / pop, 1)} %)` : '')),
        h('dt', {}, 'Wards served'), h('dd', {}, `${fmtInt(w.filter((x) => x.nets_allocated > 0).length)} of ${fmtInt(w.length)}`)),
      h('div', { class: 'buttons' }, h('a', { class: 'button', href: `/api/itn/${plan.id}/export.csv`, download: '', id: 'export-plan' }, 'Export plan (CSV)')),
      h('p', { class: 'hint' }, 'Wards in the order nets are handed out; greyed wards get none.'),
      h('div', { class: 'table-wrap scroll tall', tabindex: '0', role: 'region', 'aria-label': 'Bed-net plan table' },
        h('table', { class: 'data', id: 'plan-table' },
          h('thead', {}, h('tr', {}, ['Priority', 'Ward', 'Area', 'Population', 'Nets needed', 'Nets allocated', 'Coverage']
            .map((x, i) => h('th', { scope: 'col', class: i > 2 || i === 0 ? 'num' : null }, x)))),
          h('tbody', {}, w.map((x, i) => h('tr', { class: x.nets_allocated ? null : 'dim' },
            h('td', { class: 'num' }, i + 1),
            h('th', { scope: 'row' }, x.ward),
            h('td', {}, x.tier),
            h('td', { class: 'num' }, fmtInt(Math.round(x.population))),
            h('td', { class: 'num' }, fmtInt(x.nets_needed)),
            h('td', { class: 'num' }, fmtInt(x.nets_allocated)),
            h('td', { class: 'num' }, `${fmtNum(x.coverage_pct, 1)} %`)))),
          h('tfoot', {}, h('tr', {},
            h('td', {}), h('th', { scope: 'row' }, 'Total'), h('td', {}),
            h('td', { class: 'num' }, fmtInt(Math.round(pop))),
            h('td', { class: 'num' }, fmtInt(sum('nets_needed'))),
            h('td', { class: 'num' }, fmtInt(sum('nets_allocated'))),
            h('td', { class: 'num' }, pop ? `${fmtNum((100 * t.population_covered) / pop, 1)} %` : '\u2014'))))));
  }

  if (planId) {
    api.get(`/api/itn/${planId}`).then(showPlan, (e) => showError(err, e, { not_found: 'This bed-net plan does not exist, or it was deleted.' }));
  }

  return h('section', { class: 'card', 'aria-labelledby': 'itn-h' },
    h('h2', { id: 'itn-h' }, 'Plan bed-net (ITN) distribution'),
    h('p', { class: 'hint' }, 'Rural wards come first, then urban wards, each in order of composite risk. A ward needs one net per 1.8 people, and at least one per household.'),
    form, result);
}
