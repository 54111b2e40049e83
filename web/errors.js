// What each API error code means to the person at the keyboard, in one sentence they can act on.

const FIELD_LABELS = {
  username: 'Username', password: 'Password', current_password: 'Current password',
  new_password: 'New password', password2: 'Repeat the password', new_password2: 'Repeat the new password', name: 'Name', file: 'Ward table', boundaries: 'Boundaries',
  method: 'Method', variables: 'Variables', directions: 'Directions', inversion: 'Inverse rule',
  imputation: 'Missing values', total_nets: 'Total nets', avg_household_size: 'Household size',
  urban_threshold: 'Urban threshold', population_column: 'Population column', urban_column: 'Urban column',
};

export function fieldLabel(f) { return FIELD_LABELS[f] || f; }

function minutes(sec) {
  if (sec == null) return 'a few minutes';
  if (sec < 60) return `${sec} seconds`;
  const m = Math.ceil(sec / 60);
  return m === 1 ? '1 minute' : `${m} minutes`;
}

function clock(sec) {
  const t = new Date(Date.now() + sec * 1000);
  return t.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
}

// `context` lets a caller say what an ambiguous code means where it happened
// (invalid_credentials is "wrong password" at login, "wrong current password" elsewhere).
export function describe(err, context = {}) {
  const m = err.message;
  switch (err.code) {
    case 'invalid_input':
      return err.field ? `${fieldLabel(err.field)}: ${m}` : m;
    case 'invalid_credentials':
      return context.invalid_credentials || 'Wrong username or password.';
    case 'too_many_attempts': {
      const s = err.retryAfter;
      return `Too many failed log-ins for this username. Try again in ${minutes(s)}` +
        (s != null ? ` (after ${clock(s)}).` : '.');
    }
    case 'session_expired':
      return 'Your session expired. Please log in again.';
    case 'unauthenticated':
      return 'You are logged out: this session was ended. Please log in again.';
    case 'other_user':
      return 'Another account was logged in in this browser, so this page was closed. Please log in again.';
    case 'other_tab_logout':
      return 'You logged out in another tab.';
    case 'csrf_failed':
      return 'The server refused the page\u2019s security token. Reload the page and try again.';
    case 'store_unavailable':
      return 'The server\u2019s data store is not answering, so nothing was changed. Try again in a minute.';
    case 'payload_too_large':
      return `The file is larger than this server accepts. ${m}`;
    case 'unsupported_format':
      return `This file type is not supported: the ward table must be .csv, .xlsx or .xls, the boundaries GeoJSON or a zipped shapefile. ${m}`;
    case 'invalid_file':
      // The server's sentence often names the line already.
      return `The file could not be read${err.line != null && !/\bline\s+\d/i.test(m) ? ` (line ${err.line})` : ''}: ${m}`;
    case 'missing_ward_column':
      return `The table has no ward column: name one column WardName, Ward, ward_name or ward. ${m}`;
    case 'invalid_variables':
      return err.variable ? `Variable \u201c${err.variable}\u201d cannot be used: ${m}` : `These variables cannot be used: ${m}`;
    case 'username_taken':
      return 'This username is taken. Choose another one.';
    case 'registration_closed':
      return 'Registration is closed on this server. Ask your administrator for an account.';
    case 'not_found':
      return context.not_found || 'Not found: it does not exist, or it was deleted.';
    case 'no_boundaries':
      return 'This dataset has no ward boundaries, so there is no map. Upload the table again with a GeoJSON or zipped shapefile to get one.';
    case 'method_not_allowed':
      return 'The server does not allow this action.';
    case 'network':
      return 'The server could not be reached. Check the connection and try again; nothing you typed is lost.';
    case 'upload_dropped':
      return 'The upload stopped before the server answered: the connection dropped, or the file is larger than the server accepts. Nothing was saved.';
    case 'aborted':
      return 'Upload cancelled. Nothing was saved.';
    default:
      return err.status ? `${m} (HTTP ${err.status})` : m;
  }
}

// The request id lets an administrator find the matching log line.
export function reference(err) {
  return err.requestId ? `Reference: ${err.requestId}` : '';
}
