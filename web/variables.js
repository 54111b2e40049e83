// The default variable choice and directions of ANALYSIS.md section 3, so the form shows what will be run.

const STATE_CODES = {
  AB: 'Abia', AD: 'Adamawa', AK: 'Akwa Ibom', AN: 'Anambra', BC: 'Bauchi', BN: 'Benue', BO: 'Borno',
  BY: 'Bayelsa', CR: 'Cross River', DT: 'Delta', EB: 'Ebonyi', ED: 'Edo', EK: 'Ekiti', EN: 'Enugu',
  FCT: 'FCT', GM: 'Gombe', IM: 'Imo', JG: 'Jigawa', KB: 'Kebbi', KD: 'Kaduna', KG: 'Kogi', KN: 'Kano',
  KT: 'Katsina', KW: 'Kwara', LG: 'Lagos', NG: 'Niger', NS: 'Nasarawa', OG: 'Ogun', ON: 'Ondo',
  OS: 'Osun', OY: 'Oyo', PL: 'Plateau', RV: 'Rivers', SK: 'Sokoto', TR: 'Taraba', YB: 'Yobe', ZF: 'Zamfara',
};

const ZONES = [
  ['North_Central', 'Benue Kogi Kwara Nasarawa Niger Plateau FCT',
    'u5_tpr_rdt nighttime_lights housing_quality soil_wetness distance_to_waterbodies ndmi urban_percentage'],
  ['North_East', 'Adamawa Bauchi Borno Gombe Taraba Yobe',
    'u5_tpr_rdt distance_to_waterbodies rainfall soil_wetness urban_percentage'],
  ['North_West', 'Jigawa Kaduna Kano Katsina Kebbi Sokoto Zamfara',
    'u5_tpr_rdt rainfall ndwi housing_quality elevation urban_percentage'],
  ['South_East', 'Abia Anambra Ebonyi Enugu Imo', 'u5_tpr_rdt ndwi housing_quality elevation urban_percentage'],
  ['South_South', 'Akwa_Ibom Bayelsa Cross_River Delta Edo Rivers', 'u5_tpr_rdt ndwi housing_quality elevation urban_percentage'],
  ['South_West', 'Ekiti Lagos Ogun Ondo Osun Oyo', 'u5_tpr_rdt ndwi housing_quality elevation urban_percentage'],
].map(([zone, states, vars]) => ({
  zone,
  states: states.split(' ').map((s) => s.replace('_', ' ').toLowerCase()),
  vars: vars.split(' '),
}));

const MISSING = new Set(['', 'na', 'n/a', '#n/a', '#n/a n/a', '#na', '<na>', 'nan', '-nan', 'null', 'none',
  '1.#ind', '-1.#ind', '1.#qnan', '-1.#qnan']);
const isMissing = (v) => v == null || MISSING.has(String(v).trim().toLowerCase());

const INVERSE_WORDS = ['distance', 'elevation', 'altitude', 'slope', 'housing', 'quality', 'income',
  'education', 'access', 'urban', 'facility'];
const ID_WORDS = new Set(['code', 'id', 'fid', 'objectid', 'index', 'x', 'y', 'lat', 'latitude', 'lon',
  'lng', 'longitude']);
const ID_PARTS = ['population', 'name', 'ward', 'lga', 'state'];

export function defaultDirection(name) {
  const n = name.toLowerCase();
  return INVERSE_WORDS.some((w) => n.includes(w)) ? 'inverse' : 'direct';
}

export function isIdentifier(name) {
  const words = name.replace(/([a-z])([A-Z])/g, '$1 $2').split(/[_\-\s]+/).map((w) => w.toLowerCase());
  const n = name.toLowerCase();
  return words.some((w) => ID_WORDS.has(w)) || ID_PARTS.some((p) => n.includes(p));
}

// The state comes from the first StateCode found in the code table, else the
// first non-missing State. Only the preview rows are known to the page; the
// sample tables name their state on every row, so that is enough in practice.
export function detectState(preview) {
  if (!preview) return null;
  const col = (want) => preview.columns.findIndex((c) => c.toLowerCase() === want);
  const ci = col('statecode');
  if (ci >= 0) {
    for (const row of preview.rows) {
      const code = isMissing(row[ci]) ? '' : String(row[ci]).trim().toUpperCase();
      if (STATE_CODES[code]) return STATE_CODES[code];
    }
  }
  const si = col('state');
  if (si >= 0) {
    for (const row of preview.rows) {
      if (isMissing(row[si])) continue;
      let s = String(row[si]).trim().replace(/\s+state$/i, '');
      if (s.toLowerCase() === 'abuja') s = 'FCT';
      return s;
    }
  }
  return null;
}

export function zoneOf(state) {
  if (!state) return null;
  const s = state.toLowerCase();
  return ZONES.find((z) => z.states.includes(s)) || null;
}

// Returns {state, zone, variables: [column names], rule: sentence}.
export function defaultSelection(dataset) {
  const numeric = dataset.columns.filter((c) => c.kind === 'numeric');
  const usable = numeric.filter((c) => c.missing < dataset.rows);
  const state = detectState(dataset.preview);
  const zone = zoneOf(state);
  if (zone) {
    const picked = [];
    for (const v of zone.vars) {
      const c = usable.find((x) => x.name === v) || usable.find((x) => x.name.toLowerCase() === v.toLowerCase());
      if (c && !picked.includes(c.name)) picked.push(c.name);
    }
    if (picked.length >= 2) {
      return { state, zone: zone.zone, variables: picked,
        rule: `State ${state}, zone ${zone.zone.replace('_', ' ')}: the zone\u2019s standard variables.` };
    }
  }
  const picked = usable.filter((c) => !isIdentifier(c.name)).map((c) => c.name);
  return { state, zone: zone && zone.zone, variables: picked,
    rule: state ? `State ${state}: too few of its zone\u2019s variables in the table, so every numeric variable that is not an identifier.`
      : 'No known state in the table, so every numeric variable that is not an identifier.' };
}
