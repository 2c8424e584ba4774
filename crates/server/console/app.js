// The console's views: guest and signed-in upload, account (sign-up / confirm / sign-in),
// my files, operator (root keys), settings. State lives in this module; the DOM is built with
// textContent only (object keys and names are never parsed as HTML).
import { AwsError, S3, adminGet, child, identityCredentials, iamCall, jsonCall, userPoolCall } from './aws.js';
import { newEphemeral, passwordVerifier } from './srp.js';

const MiB = 1024 * 1024;
/** Files larger than this go up as multipart uploads. */
const MULTIPART_THRESHOLD = 16 * MiB;
const PART_SIZE = 8 * MiB;
/** Refresh identity-pool credentials this long before they expire (as the SDKs do). */
const REFRESH_MARGIN_MS = 5 * 60 * 1000;
const SETTINGS_KEYS = ['endpoint', 'region', 'bucket', 'identityPoolId', 'userPoolId', 'clientId'];

const $ = (id) => document.getElementById(id);

/** Create an element; string children become text nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

function status(msg, isError = false) {
  const s = $('status');
  s.textContent = msg;
  s.classList.toggle('error', isError);
}

const describe = (e) => (e instanceof AwsError ? `${e.name}: ${e.message}` : String(e?.message || e));
const fmtSize = (n) => (n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

// ------------------------------------------------------------------------------------------
// Settings: server defaults (config.json) < saved (localStorage) < query parameters
// ------------------------------------------------------------------------------------------
let serverDefaults = {};
const settings = {};

function loadSaved() {
  try { return JSON.parse(localStorage.getItem('cubby.console.settings') || '{}'); } catch { return {}; }
}

async function loadSettings() {
  try {
    const res = await fetch('config.json', { cache: 'no-store' });
    serverDefaults = res.ok ? await res.json() : {};
  } catch { serverDefaults = {}; }
  const saved = loadSaved();
  const query = new URLSearchParams(location.search);
  const fromQuery = {};
  for (const k of SETTINGS_KEYS) if (query.has(k)) fromQuery[k] = query.get(k);
  if (Object.keys(fromQuery).length) localStorage.setItem('cubby.console.settings', JSON.stringify({ ...saved, ...fromQuery }));
  for (const k of SETTINGS_KEYS) settings[k] = fromQuery[k] ?? saved[k] ?? serverDefaults[k] ?? '';
  if (!settings.endpoint) settings.endpoint = location.origin;
  if (!settings.region) settings.region = 'us-east-1';
  for (const k of SETTINGS_KEYS) $(`set-${k}`).value = settings[k];
  const missing = ['bucket', 'identityPoolId'].filter((k) => !settings[k]);
  const warn = $('config-warning');
  warn.hidden = missing.length === 0;
  warn.textContent = missing.length
    ? `Not configured yet: ${missing.join(', ')}. Set them under Settings (or ask the operator).` : '';
}

$('settings-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const saved = {};
  for (const k of SETTINGS_KEYS) {
    const v = $(`set-${k}`).value.trim();
    if (v && v !== (serverDefaults[k] ?? '')) saved[k] = v;
  }
  localStorage.setItem('cubby.console.settings', JSON.stringify(saved));
  history.replaceState(null, '', location.pathname + location.hash);
  guest = null;
  await loadSettings();
  status('Settings saved.');
});
$('settings-reset').addEventListener('click', async () => {
  localStorage.removeItem('cubby.console.settings');
  history.replaceState(null, '', location.pathname + location.hash);
  await loadSettings();
  status('Settings reset to the server defaults.');
});

const api = () => ({ endpoint: settings.endpoint, region: settings.region });

// ------------------------------------------------------------------------------------------
// Credentials: guest (unauthenticated identity) or signed in (user-pool ID token in Logins)
// ------------------------------------------------------------------------------------------
let guest = null; // identity-pool credentials of the guest identity
let user = null; // { username, tokens, provider, credentials }

const guestIdKey = () => `cubby.console.guest-identity:${settings.identityPoolId}`;

async function guestCredentials() {
  if (guest && guest.expiration - Date.now() > REFRESH_MARGIN_MS) return guest;
  if (!settings.identityPoolId) throw new Error('No identity pool configured (Settings).');
  // Like fromCognitoIdentityPool: keep the guest identity id across visits.
  const cached = localStorage.getItem(guestIdKey());
  try {
    guest = await identityCredentials({ ...api(), identityPoolId: settings.identityPoolId, identityId: cached || undefined });
  } catch (e) {
    if (!cached) throw e;
    localStorage.removeItem(guestIdKey());
    guest = await identityCredentials({ ...api(), identityPoolId: settings.identityPoolId });
  }
  localStorage.setItem(guestIdKey(), guest.identityId);
  return guest;
}

const jwtClaims = (jwt) => JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));

async function userCredentials() {
  if (!user) throw new Error('Not signed in.');
  if (user.credentials && user.credentials.expiration - Date.now() > REFRESH_MARGIN_MS) return user.credentials;
  if (jwtClaims(user.tokens.IdToken).exp * 1000 - Date.now() < 60_000) await refreshTokens();
  const logins = { [user.provider]: user.tokens.IdToken };
  user.credentials = await identityCredentials({ ...api(), identityPoolId: settings.identityPoolId, logins,
    identityId: user.credentials?.identityId });
  saveUser();
  return user.credentials;
}

async function refreshTokens() {
  const r = await userPoolCall(api(), 'InitiateAuth', { ClientId: settings.clientId, AuthFlow: 'REFRESH_TOKEN_AUTH',
    AuthParameters: { REFRESH_TOKEN: user.tokens.RefreshToken } });
  user.tokens = { ...user.tokens, ...r.AuthenticationResult };
}

function saveUser() {
  if (user) sessionStorage.setItem('cubby.console.user', JSON.stringify({ username: user.username, tokens: user.tokens, provider: user.provider, identityId: user.credentials?.identityId }));
  else sessionStorage.removeItem('cubby.console.user');
}

function restoreUser() {
  try {
    const u = JSON.parse(sessionStorage.getItem('cubby.console.user') || 'null');
    if (u?.tokens?.RefreshToken) user = { ...u, credentials: u.identityId ? { identityId: u.identityId, expiration: 0 } : null };
  } catch { user = null; }
}

function showWho() {
  const who = $('who');
  $('signed-in').hidden = !user;
  $('signed-out').hidden = !!user;
  if (user) {
    who.textContent = `Signed in as ${user.username}`;
    $('signed-in-name').textContent = user.username;
    $('signed-in-identity').textContent = user.credentials?.identityId || '…';
    $('upload-as').textContent = `Files go to your own folder private/${user.credentials?.identityId || '<your identity>'}/.`;
  } else {
    who.textContent = 'Not signed in — uploads go in as a guest.';
    $('upload-as').textContent = 'You upload as a guest (write-only). Sign in to see your files afterwards.';
  }
}

// ------------------------------------------------------------------------------------------
// Account: sign-up, confirm, sign-in (USER_SRP_AUTH), sign-out
// ------------------------------------------------------------------------------------------
function needUserPool() {
  if (!settings.userPoolId || !settings.clientId) throw new Error('No user pool / app client configured (Settings).');
}

/** Run a form's action with its button disabled and the outcome announced. */
function onSubmit(form, fn) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      status(await fn(new FormData(form)));
    } catch (e) {
      status(describe(e), true);
    } finally {
      button.disabled = false;
    }
  });
}

onSubmit($('sign-up-form'), async (f) => {
  needUserPool();
  const username = f.get('username').trim();
  const r = await userPoolCall(api(), 'SignUp', { ClientId: settings.clientId, Username: username, Password: f.get('password'),
    UserAttributes: [{ Name: 'email', Value: f.get('email').trim() }] });
  $('confirm-username').value = username;
  $('sign-in-username').value = username;
  if (r.UserConfirmed) return 'Account created. You can sign in now.';
  $('confirm-code').focus();
  const d = r.CodeDeliveryDetails;
  return `Account created. Enter the confirmation code${d?.Destination ? ` sent to ${d.Destination}` : ''}.`;
});

onSubmit($('confirm-form'), async (f) => {
  needUserPool();
  const username = f.get('username').trim();
  await userPoolCall(api(), 'ConfirmSignUp', { ClientId: settings.clientId, Username: username, ConfirmationCode: f.get('code').trim() });
  $('sign-in-username').value = username;
  $('sign-in-password').focus();
  return 'Account confirmed. Sign in now.';
});

$('resend-code').addEventListener('click', async () => {
  try {
    needUserPool();
    const username = $('confirm-username').value.trim();
    if (!username) throw new Error('Enter the username first.');
    const r = await userPoolCall(api(), 'ResendConfirmationCode', { ClientId: settings.clientId, Username: username });
    const d = r.CodeDeliveryDetails;
    status(`A new code was sent${d?.Destination ? ` to ${d.Destination}` : ''}.`);
  } catch (e) { status(describe(e), true); }
});

onSubmit($('sign-in-form'), async (f) => {
  needUserPool();
  const username = f.get('username').trim();
  const ephemeral = newEphemeral();
  let init, r;
  try {
    init = await userPoolCall(api(), 'InitiateAuth', { ClientId: settings.clientId, AuthFlow: 'USER_SRP_AUTH',
      AuthParameters: { USERNAME: username, SRP_A: ephemeral.srpA } });
    if (init.ChallengeName !== 'PASSWORD_VERIFIER') throw new Error(`Unsupported challenge ${init.ChallengeName}`);
    const responses = await passwordVerifier({ userPoolId: settings.userPoolId, password: f.get('password'), ephemeral, challenge: init.ChallengeParameters });
    r = await userPoolCall(api(), 'RespondToAuthChallenge', { ClientId: settings.clientId, ChallengeName: 'PASSWORD_VERIFIER',
      ChallengeResponses: responses, ...(init.Session ? { Session: init.Session } : {}) });
  } catch (e) {
    if (e.name !== 'UserNotConfirmedException') throw e;
    // Point the user at the confirmation form.
    $('confirm-username').value = username;
    $('confirm-code').focus();
    throw new AwsError(e.name, `${e.message} Enter the confirmation code (or send a new one).`, e.status);
  }
  if (!r.AuthenticationResult) throw new Error(`Sign-in needs a further step (${r.ChallengeName}), which the console does not support.`);
  // The identity pool knows the user pool by its issuer without the scheme.
  const provider = jwtClaims(r.AuthenticationResult.IdToken).iss.replace(/^\w+:\/\//, '');
  user = { username: init.ChallengeParameters.USERNAME || username, tokens: r.AuthenticationResult, provider, credentials: null };
  $('sign-in-password').value = '';
  await userCredentials();
  showWho();
  location.hash = '#files';
  return `Signed in as ${user.username}.`;
});

$('sign-out').addEventListener('click', async () => {
  const token = user?.tokens?.AccessToken;
  user = null;
  saveUser();
  showWho();
  if (token) await userPoolCall(api(), 'GlobalSignOut', { AccessToken: token }).catch(() => {});
  status('Signed out.');
});

// ------------------------------------------------------------------------------------------
// Upload: drag and drop or file picker, progress per file, multipart for large files
// ------------------------------------------------------------------------------------------
/** A safe object-key segment from a file name (no path, no control characters). */
export function safeName(name) {
  const base = name.split(/[\\/]/).pop().replace(/[\u0000-\u001f\u007f]/g, '').trim();
  const clean = base.replace(/^\.+/, '').slice(0, 200);
  return clean || 'file';
}

async function uploadFile(file) {
  const progress = h('progress', { max: String(file.size || 1), value: '0', 'aria-label': `Upload progress of ${file.name}` });
  const state = h('span', { class: 'state', text: 'Starting…' });
  const abort = new AbortController();
  const cancel = h('button', { type: 'button', class: 'cancel', 'aria-label': `Cancel the upload of ${file.name}`,
    onclick: () => abort.abort() }, 'Cancel');
  const row = h('li', {}, h('span', { text: `${file.name} (${fmtSize(file.size)})` }), progress, state, cancel);
  $('uploads').prepend(row);
  try {
    if (!settings.bucket) throw new Error('No bucket configured (Settings).');
    const signedIn = !!user;
    const getCredentials = signedIn ? userCredentials : guestCredentials;
    const { identityId } = await getCredentials();
    const folder = signedIn ? 'private' : 'guest';
    const key = `${folder}/${identityId}/${safeName(file.name)}`;
    // Credentials are asked for per request: a long upload outlives one set of session keys.
    const s3 = new S3({ ...api(), credentials: getCredentials });
    const onProgress = (n) => {
      progress.value = n;
      state.textContent = `${fmtSize(n)} of ${fmtSize(file.size)}`;
    };
    let etag;
    if (file.size > MULTIPART_THRESHOLD) {
      state.textContent = `Multipart upload in ${Math.ceil(file.size / PART_SIZE)} parts…`;
      etag = await s3.multipartUpload(settings.bucket, key, file, { partSize: PART_SIZE, onProgress, signal: abort.signal });
    } else {
      etag = await s3.putObject(settings.bucket, key, file, { onProgress, signal: abort.signal });
    }
    progress.value = file.size || 1;
    state.textContent = `Uploaded to ${key}${etag ? ` (ETag ${etag})` : ''}`;
    state.classList.add('ok');
    state.dataset.key = key;
    return key;
  } catch (e) {
    state.textContent = `Failed: ${describe(e)}`;
    state.classList.add('error');
    throw e;
  } finally {
    cancel.remove();
  }
}

async function uploadAll(files) {
  let ok = 0;
  for (const f of files) {
    try { await uploadFile(f); ok++; } catch { /* shown in its row */ }
  }
  status(`${ok} of ${files.length} file(s) uploaded.`, ok !== files.length);
}

const drop = $('drop');
$('file-input').addEventListener('change', (ev) => {
  const files = [...ev.target.files];
  ev.target.value = '';
  if (files.length) uploadAll(files);
});
for (const t of ['dragenter', 'dragover']) drop.addEventListener(t, (ev) => { ev.preventDefault(); drop.classList.add('over'); });
for (const t of ['dragleave', 'drop']) drop.addEventListener(t, () => drop.classList.remove('over'));
drop.addEventListener('drop', (ev) => {
  ev.preventDefault();
  const files = [...(ev.dataTransfer?.files || [])];
  if (files.length) uploadAll(files);
});
// Dropping a file elsewhere on the page must not navigate away from it.
window.addEventListener('dragover', (ev) => ev.preventDefault());
window.addEventListener('drop', (ev) => ev.preventDefault());

// ------------------------------------------------------------------------------------------
// My files: ListObjectsV2 of private/<identityId>/, thumbnails fetched with the user's keys
// ------------------------------------------------------------------------------------------
const IMAGE = /\.(png|jpe?g|gif|webp|avif|bmp|svg)$/i;
let thumbUrls = [];

async function showFiles() {
  const list = $('files');
  const st = $('files-status');
  for (const u of thumbUrls) URL.revokeObjectURL(u);
  thumbUrls = [];
  list.replaceChildren();
  if (!user) { st.textContent = 'Sign in to see your files.'; return; }
  st.textContent = 'Loading…';
  try {
    const credentials = await userCredentials();
    const s3 = new S3({ ...api(), credentials });
    const prefix = `private/${credentials.identityId}/`;
    const objects = await s3.list(settings.bucket, prefix);
    objects.sort((a, b) => b.lastModified - a.lastModified);
    st.textContent = objects.length ? `${objects.length} file(s) in ${prefix}` : `No files yet in ${prefix}.`;
    const thumbs = [];
    for (const o of objects) {
      const name = o.key.slice(prefix.length);
      const slot = h('div', { class: 'thumb nothumb', text: IMAGE.test(name) ? '…' : (name.split('.').pop() || 'file').toUpperCase() });
      const item = h('li', { 'data-key': o.key }, slot,
        h('div', { text: name }),
        h('div', { class: 'hint', text: `${fmtSize(o.size)} · ${o.lastModified.toLocaleString()}` }),
        h('div', { class: 'actions' },
          h('button', { type: 'button', 'aria-label': `Download ${name}`, onclick: () => download(s3, o.key, name) }, 'Download'),
          h('button', { type: 'button', 'aria-label': `Delete ${name}`, onclick: () => remove(s3, o.key, name) }, 'Delete')));
      list.append(item);
      if (IMAGE.test(name) && thumbs.length < 60) thumbs.push([o.key, name, slot]);
    }
    // A few thumbnails at a time, each a signed GetObject with the user's own credentials.
    const worker = async () => {
      for (let t = thumbs.shift(); t; t = thumbs.shift()) {
        const [key, name, slot] = t;
        try {
          const url = URL.createObjectURL(await s3.get(settings.bucket, key));
          thumbUrls.push(url);
          slot.replaceWith(h('img', { class: 'thumb', src: url, alt: name, 'data-key': key }));
        } catch (e) { slot.textContent = describe(e); }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  } catch (e) {
    st.textContent = `Could not list files: ${describe(e)}`;
  }
}

async function download(s3, key, name) {
  try {
    const url = URL.createObjectURL(await s3.get(settings.bucket, key));
    const a = h('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (e) { status(describe(e), true); }
}

async function remove(s3, key, name) {
  if (!confirm(`Delete ${name}?`)) return;
  try {
    await s3.request('DELETE', s3.url(settings.bucket, key));
    status(`Deleted ${name}.`);
    showFiles();
  } catch (e) { status(describe(e), true); }
}

$('refresh-files').addEventListener('click', showFiles);

// ------------------------------------------------------------------------------------------
// Operator: root keys (sessionStorage only) → buckets, pools, roles, recent uploads
// ------------------------------------------------------------------------------------------
function rootKeys() {
  try { return JSON.parse(sessionStorage.getItem('cubby.console.root') || 'null'); } catch { return null; }
}

function table(caption, headers, rows) {
  return h('table', {},
    h('caption', { text: caption }),
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, rows.length ? rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))
      : h('tr', {}, h('td', { colspan: String(headers.length), text: 'none' }))));
}

function useButton(label, apply) {
  return h('button', { type: 'button', onclick: async () => { apply(); await saveSettingsFromState(); } }, label);
}

async function saveSettingsFromState() {
  const saved = loadSaved();
  for (const k of SETTINGS_KEYS) if (settings[k] && settings[k] !== (serverDefaults[k] ?? '')) saved[k] = settings[k];
  localStorage.setItem('cubby.console.settings', JSON.stringify(saved));
  guest = null;
  await loadSettings();
  status('Console settings updated.');
}

async function showOperator() {
  const out = $('operator-data');
  const credentials = rootKeys();
  if (!credentials) { out.replaceChildren(h('p', { class: 'hint', text: 'Enter the root keys to see the server\'s resources.' })); return; }
  $('root-akid').value = credentials.accessKeyId;
  out.replaceChildren(h('p', { text: 'Loading…' }));
  const s3 = new S3({ ...api(), credentials });
  const signed = (target, service, body) => jsonCall({ ...api(), target, service, body, credentials });
  const settle = (p) => p.then((v) => ({ v }), (e) => ({ e }));
  const [buckets, idPools, userPools, roles] = await Promise.all([
    settle(s3.listBuckets()),
    settle(signed('AWSCognitoIdentityService.ListIdentityPools', 'cognito-identity', { MaxResults: 60 })),
    settle(signed('AWSCognitoIdentityProviderService.ListUserPools', 'cognito-idp', { MaxResults: 60 })),
    settle(iamCall({ ...api(), credentials }, 'ListRoles', { MaxItems: '200' })),
  ]);
  const failed = (what, r) => h('p', { class: 'error', text: `${what}: ${describe(r.e)}` });
  const parts = [];
  parts.push(buckets.e ? failed('Buckets', buckets) : table('Buckets', ['Name', 'Created', ''],
    buckets.v.map((b) => [b.name, b.created, useButton(`Use ${b.name} in the console`, () => { settings.bucket = b.name; })])));
  parts.push(idPools.e ? failed('Identity pools', idPools) : table('Identity pools', ['Id', 'Name', ''],
    (idPools.v.IdentityPools || []).map((p) => [h('code', { text: p.IdentityPoolId }), p.IdentityPoolName,
      useButton(`Use ${p.IdentityPoolName} in the console`, () => { settings.identityPoolId = p.IdentityPoolId; })])));
  if (userPools.e) parts.push(failed('User pools', userPools));
  else {
    const rows = [];
    for (const p of userPools.v.UserPools || []) {
      let clients = [];
      try {
        clients = (await signed('AWSCognitoIdentityProviderService.ListUserPoolClients', 'cognito-idp', { UserPoolId: p.Id, MaxResults: 60 })).UserPoolClients || [];
      } catch { /* shown as no clients */ }
      rows.push([h('code', { text: p.Id }), p.Name, clients.map((c) => `${c.ClientName} (${c.ClientId})`).join(', ') || '—',
        clients.length ? useButton(`Use ${p.Name} in the console`, () => { settings.userPoolId = p.Id; settings.clientId = clients[0].ClientId; }) : '']);
    }
    parts.push(table('User pools', ['Id', 'Name', 'App clients', ''], rows));
  }
  parts.push(roles.e ? failed('Roles', roles) : table('Roles', ['Name', 'ARN', 'Created'],
    [...roles.v.getElementsByTagName('member')].filter((m) => m.getElementsByTagName('RoleName').length)
      .map((m) => [child(m, 'RoleName'), h('code', { text: child(m, 'Arn') }), child(m, 'CreateDate')])));
  if (!buckets.e) {
    // Upload rules and the largest users of each bucket (cubby's admin API).
    const ruleRows = [];
    const usageRows = [];
    for (const b of buckets.v.slice(0, 20)) {
      try {
        const { rules } = await adminGet({ ...api(), credentials }, `/_cubby/admin/upload-rules/${encodeURIComponent(b.name)}`);
        for (const r of rules) {
          const limits = [r.max_size && `max ${fmtSize(r.max_size)}`, r.content_types?.length && r.content_types.join(' '),
            r.key_pattern && `keys ${r.key_pattern}`, r.max_objects && `${r.max_objects} objects`, r.max_bytes && fmtSize(r.max_bytes),
            r.uploads_per_minute && `${r.uploads_per_minute}/min`, r.uploads_per_minute_per_ip && `${r.uploads_per_minute_per_ip}/min/IP`]
            .filter(Boolean).join(', ');
          ruleRows.push([b.name, r.id, r.prefix || '(all)', (r.applies_to || ['everyone']).join(', '), limits]);
        }
        if (rules.some((r) => r.max_objects || r.max_bytes)) {
          const u = await adminGet({ ...api(), credentials }, `/_cubby/admin/usage/${encodeURIComponent(b.name)}?limit=10`);
          for (const o of u.owners) usageRows.push([b.name, h('code', { text: o.owner }), String(o.objects), fmtSize(o.bytes)]);
        }
      } catch { /* an older server or no access: skip */ }
    }
    parts.push(table('Upload rules', ['Bucket', 'Rule', 'Prefix', 'Applies to', 'Limits'], ruleRows));
    parts.push(table('Quota usage (largest users)', ['Bucket', 'Owner', 'Objects', 'Bytes'], usageRows));
    const recent = [];
    for (const b of buckets.v.slice(0, 20)) {
      try { for (const o of await s3.list(b.name, '', 1000)) recent.push({ ...o, bucket: b.name }); } catch { /* skip */ }
    }
    recent.sort((a, b) => b.lastModified - a.lastModified);
    parts.push(table('Recent uploads', ['Bucket', 'Key', 'Size', 'Modified'],
      recent.slice(0, 25).map((o) => [o.bucket, h('code', { text: o.key }), fmtSize(o.size), o.lastModified.toLocaleString()])));
  }
  out.replaceChildren(...parts);
}

onSubmit($('root-form'), async (f) => {
  sessionStorage.setItem('cubby.console.root', JSON.stringify({ accessKeyId: f.get('accessKeyId').trim(), secretAccessKey: f.get('secretAccessKey') }));
  $('root-secret').value = '';
  await showOperator();
  return 'Operator data loaded.';
});
$('root-forget').addEventListener('click', () => {
  sessionStorage.removeItem('cubby.console.root');
  $('root-akid').value = '';
  showOperator();
  status('Root keys forgotten.');
});

// ------------------------------------------------------------------------------------------
// Views (hash routing)
// ------------------------------------------------------------------------------------------
const VIEWS = ['upload', 'account', 'files', 'operator', 'settings'];

function route() {
  const view = VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'upload';
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (view === 'files') showFiles();
  if (view === 'operator') showOperator();
}

window.addEventListener('hashchange', () => { route(); $('main').focus(); });

await loadSettings();
restoreUser();
showWho();
route();
document.body.dataset.ready = 'true';
