// browser-e2e.mjs — browser uploads in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; no browser is downloaded). The server is configured only through the AWS
// APIs with the root keys (bucket + CORS for the test page's origin, user pool + web client,
// identity pool with guest and signed-in roles), then:
//   - a page on a different origin runs the seeds' frontend code (bundled with esbuild):
//     v3 fromCognitoIdentityPool + S3Client PutObject, lib-storage multipart Upload with
//     progress events, presigned PUT via fetch — each object read back with the root keys;
//   - a page on an origin the bucket's CORS rules do not name is blocked by the browser;
//   - the web console (/_cubby/console/): the browser's GET / redirect, guest upload, sign-up
//     → confirm → sign-in (SRP in the page) → upload (small image + multipart) → the files and
//     a thumbnail appear in "My files"; the operator view with the root keys. A screenshot is
//     saved and its path printed.
//
// env:
//   ENDPOINT                             cubby, e.g. http://127.0.0.1:9000 (required)
//   ADMIN_ACCESS_KEY / ADMIN_SECRET_KEY  root keys (required)
//   REGION                               default us-east-1
//   SERVER_LOG                           optional: the server's log; the sign-up is confirmed in
//                                        the console with the logged code (else AdminConfirmSignUp)
//   CHROMIUM                             default /usr/bin/chromium
//   SEED_BUNDLE                          the esbuild bundle of seed-snippet.js (run.sh builds it)
//   SCREENSHOT_DIR                       where screenshots go (default: a temp dir)
//   CHECK_TIMEOUT_MS                     per-check timeout (default 60000)
//
// Prints one PASS/FAIL/SKIP line per check and a final "N passed, N failed" line; exits 1 if
// any check failed.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, mkdtempSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import {
  S3Client, CreateBucketCommand, PutBucketCorsCommand, GetBucketCorsCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand,
} from '@aws-sdk/client-s3';
import { CognitoIdentityClient, CreateIdentityPoolCommand, SetIdentityPoolRolesCommand } from '@aws-sdk/client-cognito-identity';
import {
  CognitoIdentityProviderClient, CreateUserPoolCommand, CreateUserPoolClientCommand, AdminConfirmSignUpCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { IAMClient, CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';

const ENDPOINT = must('ENDPOINT').replace(/\/+$/, '');
const region = process.env.REGION || 'us-east-1';
const rootCredentials = { accessKeyId: must('ADMIN_ACCESS_KEY'), secretAccessKey: must('ADMIN_SECRET_KEY') };
const SERVER_LOG = process.env.SERVER_LOG || '';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SEED_BUNDLE = must('SEED_BUNDLE');
const TIMEOUT = Number(process.env.CHECK_TIMEOUT_MS || 60000);
const MiB = 1024 * 1024;

function must(name) {
  const v = process.env[name];
  if (!v) { console.error(`missing env ${name}`); process.exit(2); }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------
let passed = 0, failed = 0, skipped = 0;

async function check(name, fn) {
  let timer;
  try {
    const info = await Promise.race([
      fn(),
      new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timeout after ${TIMEOUT} ms`)), TIMEOUT); }),
    ]);
    passed++;
    console.log(`PASS ${name}${info ? ' — ' + info : ''}`);
    return true;
  } catch (e) {
    failed++;
    console.log(`FAIL ${name} — ${e?.name && e.name !== 'Error' ? e.name + ': ' : ''}${String(e?.message || e).slice(0, 400)}`);
    return false;
  } finally { clearTimeout(timer); }
}

function skip(name, why) { skipped++; console.log(`SKIP ${name} (${why})`); }
function assert(cond, msg) { if (!cond) throw new Error(msg); }
function need(v, what) {
  if (v === undefined || v === null) throw new Error(`prerequisite missing: ${what} (an earlier check failed)`);
  return v;
}
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// ---------------------------------------------------------------------------------------------
// Test pages on other origins: a tiny static server per origin
// ---------------------------------------------------------------------------------------------
const seedBundle = readFileSync(SEED_BUNDLE);
const PAGE = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>seed test page</title>' +
  '<script src="/seed.js"></script></head><body><h1>seed frontend</h1></body></html>';

function startPageServer() {
  return new Promise((resolve) => {
    const srv = createServer((req, res) => {
      if (req.url === '/seed.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end(seedBundle);
      } else {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(PAGE);
      }
    });
    srv.listen(0, '127.0.0.1', () => resolve({ srv, origin: `http://127.0.0.1:${srv.address().port}` }));
  });
}

// ---------------------------------------------------------------------------------------------
// Set-up through the AWS APIs with the root keys
// ---------------------------------------------------------------------------------------------
const admin = { region, endpoint: ENDPOINT, credentials: rootCredentials };
const s3Admin = new S3Client({ ...admin, forcePathStyle: true });
const idpAdmin = new CognitoIdentityProviderClient(admin);
const ciAdmin = new CognitoIdentityClient(admin);
const iam = new IAMClient(admin);

const suffix = randomBytes(4).toString('hex');
const bucket = `browser-${suffix}`;
const ctx = {};

const allowed = await startPageServer();
const blocked = await startPageServer();

async function readBack(key) {
  const r = await s3Admin.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body.transformToByteArray());
}

async function exists(key) {
  try {
    await s3Admin.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (e) {
    if (e?.$metadata?.httpStatusCode === 404) return false;
    throw e;
  }
}

await check('setup: bucket + CORS for the page origin, user pool + client, identity pool, roles (root keys)', async () => {
  await s3Admin.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3Admin.send(new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: { CORSRules: [{
    AllowedOrigins: [allowed.origin], AllowedMethods: ['GET', 'PUT', 'POST', 'HEAD', 'DELETE'], AllowedHeaders: ['*'],
    ExposeHeaders: ['ETag', 'x-amz-version-id', 'x-amz-request-id'], MaxAgeSeconds: 3000 }] } }));
  const { UserPool } = await idpAdmin.send(new CreateUserPoolCommand({ PoolName: `browser-${suffix}`, AutoVerifiedAttributes: ['email'] }));
  const client = await idpAdmin.send(new CreateUserPoolClientCommand({ UserPoolId: UserPool.Id, ClientName: 'web',
    ExplicitAuthFlows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'] }));
  const disc = await (await fetch(`${ENDPOINT}/${UserPool.Id}/.well-known/openid-configuration`)).json();
  const provider = disc.issuer.replace(/^\w+:\/\//, '');
  const pool = await ciAdmin.send(new CreateIdentityPoolCommand({ IdentityPoolName: `browser_${suffix}`,
    AllowUnauthenticatedIdentities: true,
    CognitoIdentityProviders: [{ ProviderName: provider, ClientId: client.UserPoolClient.ClientId }] }));
  const poolId = pool.IdentityPoolId;
  const trust = (amr) => JSON.stringify({ Version: '2012-10-17', Statement: [{
    Effect: 'Allow', Principal: { Federated: 'cognito-identity.amazonaws.com' }, Action: 'sts:AssumeRoleWithWebIdentity',
    Condition: { StringEquals: { 'cognito-identity.amazonaws.com:aud': poolId },
      'ForAnyValue:StringLike': { 'cognito-identity.amazonaws.com:amr': amr } } }] });
  const unauth = await iam.send(new CreateRoleCommand({ RoleName: `BrowserUnauth${suffix}`, AssumeRolePolicyDocument: trust('unauthenticated') }));
  const auth = await iam.send(new CreateRoleCommand({ RoleName: `BrowserAuth${suffix}`, AssumeRolePolicyDocument: trust('authenticated') }));
  // The seeds' policies: guests upload-only; signed-in users their own folder.
  await iam.send(new PutRolePolicyCommand({ RoleName: unauth.Role.RoleName, PolicyName: 'upload-only', PolicyDocument: JSON.stringify({
    Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      Resource: [`arn:aws:s3:::${bucket}/*`] }] }) }));
  await iam.send(new PutRolePolicyCommand({ RoleName: auth.Role.RoleName, PolicyName: 'own-folder', PolicyDocument: JSON.stringify({
    Version: '2012-10-17', Statement: [
      { Effect: 'Allow', Action: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        Resource: [`arn:aws:s3:::${bucket}/private/\${cognito-identity.amazonaws.com:sub}/*`] },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: `arn:aws:s3:::${bucket}`,
        Condition: { StringLike: { 's3:prefix': ['private/${cognito-identity.amazonaws.com:sub}/*'] } } }] }) }));
  await ciAdmin.send(new SetIdentityPoolRolesCommand({ IdentityPoolId: poolId, Roles: { unauthenticated: unauth.Role.Arn, authenticated: auth.Role.Arn } }));
  Object.assign(ctx, { identityPoolId: poolId, userPoolId: UserPool.Id, clientId: client.UserPoolClient.ClientId });
  return `bucket ${bucket}, identity pool ${poolId}, user pool ${UserPool.Id}, page origin ${allowed.origin}`;
});

// ---------------------------------------------------------------------------------------------
// Chromium
// ---------------------------------------------------------------------------------------------
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});
const shotDir = process.env.SCREENSHOT_DIR || mkdtempSync(join(tmpdir(), 'cubby-browser-'));
mkdirSync(shotDir, { recursive: true });
const consoleErrors = [];

async function newPage(url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => consoleErrors.push(`${url}: ${e.message}`));
  await page.goto(url);
  return page;
}

const seedCfg = () => ({ endpoint: ENDPOINT, region, bucket, identityPoolId: need(ctx.identityPoolId, 'identity pool') });

// ---------------------------------------------------------------------------------------------
// The seeds' frontend code on an allowed origin
// ---------------------------------------------------------------------------------------------
const seedPage = await newPage(allowed.origin + '/');

await check('seed v3: fromCognitoIdentityPool + S3Client PutObject from another origin', async () => {
  const text = `hello from Chromium ${suffix}\n`;
  const r = await seedPage.evaluate(([cfg, t]) => seed.putObject(cfg, 'browser/{identityId}/small.txt', t), [seedCfg(), text]);
  assert(r.etag, 'no ETag visible to the page (CORS ExposeHeaders)');
  const back = await readBack(r.key);
  assert(back.toString() === text, 'content read back differs');
  return `${r.key} ETag ${r.etag}`;
});

await check('seed v3: lib-storage Upload 12 MiB (multipart) with httpUploadProgress events', async () => {
  const size = 12 * MiB;
  const r = await seedPage.evaluate(([cfg, n]) => seed.multipart(cfg, 'browser/{identityId}/big.bin', n), [seedCfg(), size]);
  assert(/-3"?$/.test(r.etag || ''), `ETag ${r.etag} is not a 3-part multipart ETag`);
  assert(r.progress.length >= 3, `only ${r.progress.length} progress events`);
  const last = r.progress[r.progress.length - 1];
  assert(r.progress.every((p) => p.total === size), 'progress total is not the file size');
  assert(Math.max(...r.progress.map((p) => p.loaded)) === size, `progress never reached ${size} (last ${JSON.stringify(last)})`);
  const back = await readBack(r.key);
  assert(back.length === size && sha256(back) === r.sha256, 'content read back differs');
  return `${r.progress.length} progress events, ETag ${r.etag}`;
});

await check('seed v3: presigned PUT (getSignedUrl) uploaded with fetch', async () => {
  const text = `presigned from Chromium ${suffix}\n`;
  const r = await seedPage.evaluate(([cfg, t]) => seed.presignedPut(cfg, 'browser/{identityId}/presigned.txt', t), [seedCfg(), text]);
  assert(r.status === 200, `HTTP ${r.status}: ${r.body.slice(0, 200)}`);
  assert(r.etag, 'no ETag visible to the page');
  assert((await readBack(r.key)).toString() === text, 'content read back differs');
  return `${r.key} HTTP 200`;
});

// POST-form upload (issue 7 item 2) is built on another branch: these checks run only with
// BROWSER_POST_FORM=1 (to be set in scripts/test when POST Object is merged). Until then: SKIP.
if (process.env.BROWSER_POST_FORM === '1') {
  await check('seed: POST-form upload (createPresignedPost + FormData) from another origin', async () => {
    const text = `posted from Chromium ${suffix}\n`;
    const r = await seedPage.evaluate(([cfg, t]) => seed.postForm(cfg, 'browser/{identityId}/posted.txt', t), [seedCfg(), text]);
    assert(r.status === 204, `HTTP ${r.status}: ${r.body.slice(0, 300)}`);
    assert((await readBack(r.key)).toString() === text, 'content read back differs');
    return `${r.key} HTTP 204`;
  });
  await check('seed: POST-form upload over content-length-range is refused (400 EntityTooLarge)', async () => {
    const r = await seedPage.evaluate(([cfg, t]) => seed.postForm(cfg, 'browser/{identityId}/too-big.txt', t, { maxSize: 10 }),
      [seedCfg(), 'x'.repeat(100)]);
    assert(r.status === 400 && r.body.includes('EntityTooLarge'), `HTTP ${r.status}: ${r.body.slice(0, 300)}`);
    return 'HTTP 400 EntityTooLarge';
  });
} else {
  skip('POST-form upload (createPresignedPost + FormData) from another origin', 'POST Object is on another branch; BROWSER_POST_FORM=1 enables it');
}

// Upload-URL flow (issue 7 item 3): the endpoint serves the server's configured bucket and
// identity pool — with no flags, the applied start-up setup's, which config.json reports.
// The check lets the page origin through that bucket's CORS rules (keeping the rules it has),
// gets guest credentials from that pool, and runs the flow from the page. (The Bearer-token
// path is covered by tests/tests/upload_url.rs.)
{
  const conf = await (await fetch(`${ENDPOINT}/_cubby/console/config.json`)).json();
  const setupBucket = conf.bucket, setupPool = conf.identityPoolId;
  if (!setupBucket || !setupPool) {
    skip('upload-URL flow (POST /_cubby/upload-url, then PUT)', 'the server has no start-up setup (no bucket / identity pool in config.json)');
  } else {
    await check('upload URL: SigV4-signed POST /_cubby/upload-url from another origin, then PUT; a claimed identity is ignored', async () => {
      let rules = [];
      try {
        rules = (await s3Admin.send(new GetBucketCorsCommand({ Bucket: setupBucket }))).CORSRules || [];
      } catch (e) {
        if (e?.name !== 'NoSuchCORSConfiguration') throw e;
      }
      await s3Admin.send(new PutBucketCorsCommand({ Bucket: setupBucket, CORSConfiguration: { CORSRules: [...rules, {
        AllowedOrigins: [allowed.origin], AllowedMethods: ['PUT'], AllowedHeaders: ['*'], ExposeHeaders: ['ETag'] }] } }));
      const text = `via upload URL ${suffix}\n`;
      const cfg = { endpoint: ENDPOINT, region, bucket: setupBucket, identityPoolId: setupPool };
      const r = await seedPage.evaluate(([c, t]) => seed.uploadUrl(c, { collectionId: 'album1', filename: '../holiday photo.txt',
        contentType: 'text/plain', text: t, claimIdentityId: 'us-east-1:00000000-0000-0000-0000-000000000000' }), [cfg, text]);
      assert(r.status === 200, `upload-url HTTP ${r.status}: ${JSON.stringify(r.answer)}`);
      assert(r.answer.expiresIn === 300, `expiresIn ${r.answer.expiresIn}`);
      assert(r.answer.key.startsWith(`${r.identityId}/album1/`), `key ${r.answer.key} is not under the caller's own identity ${r.identityId}`);
      assert(!r.answer.key.slice(r.identityId.length + 1).includes('..') && r.answer.key.split('/').length === 3, `file name not sanitized: ${r.answer.key}`);
      assert(r.putStatus === 200, `PUT HTTP ${r.putStatus}: ${r.putBody.slice(0, 300)}`);
      assert(r.wrongTypeStatus === 403, `a PUT with another Content-Type got HTTP ${r.wrongTypeStatus}, not 403`);
      const got = await s3Admin.send(new GetObjectCommand({ Bucket: setupBucket, Key: r.answer.key }));
      assert(Buffer.from(await got.Body.transformToByteArray()).toString() === text, 'content read back differs');
      return `${r.answer.key} HTTP 200`;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// An origin the bucket's CORS rules do not name
// ---------------------------------------------------------------------------------------------
await check('an origin not in the bucket\'s CORS rules is blocked by the browser', async () => {
  const page = await newPage(blocked.origin + '/');
  const key = `browser/blocked-${suffix}.txt`;
  const r = await page.evaluate(async ([cfg, k]) => {
    try {
      return { ok: true, out: await seed.putObject(cfg, k, 'must not arrive') };
    } catch (e) { return { ok: false, name: e.name, message: String(e.message) }; }
  }, [seedCfg(), key]);
  await page.context().close();
  assert(!r.ok, `PutObject from ${blocked.origin} succeeded: ${JSON.stringify(r.out)}`);
  // The preflight was refused, so the PUT itself never reached the server.
  assert(!(await exists(key)), `${key} was written although the preflight failed`);
  return `${r.name}: ${r.message.slice(0, 80)}; nothing written`;
});

// ---------------------------------------------------------------------------------------------
// The web console
// ---------------------------------------------------------------------------------------------
/** The `nth` (1-based) sign-up code the server logged for `username` (its default delivery). */
async function loggedCode(username, nth = 1) {
  for (let i = 0; i < 60; i++) {
    // eslint-disable-next-line no-control-regex
    const log = readFileSync(SERVER_LOG, 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
    const codes = log.split('\n').filter((l) => l.includes('user-pool code')
      && l.includes(`username=${username} `) && l.includes('kind=SignUp'))
      .map((l) => l.match(/\bcode=(\S+)/)?.[1]).filter(Boolean);
    if (codes.length >= nth) return codes[nth - 1];
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no sign-up code #${nth} for ${username} in ${SERVER_LOG}`);
}

/** A real PNG drawn by the browser (so the thumbnail shows something). */
async function pngFrom(page, label) {
  const b64 = await page.evaluate((text) => {
    const c = document.createElement('canvas');
    c.width = 160; c.height = 120;
    const g = c.getContext('2d');
    g.fillStyle = '#1d4ed8'; g.fillRect(0, 0, 160, 120);
    g.fillStyle = '#fde047'; g.beginPath(); g.arc(80, 60, 40, 0, Math.PI * 2); g.fill();
    g.fillStyle = '#111827'; g.font = 'bold 16px sans-serif'; g.fillText(text, 10, 112);
    return c.toDataURL('image/png').split(',')[1];
  }, label);
  return Buffer.from(b64, 'base64');
}

/** Status line text after an action. */
async function statusAfter(page, action, pattern) {
  await page.evaluate(() => { document.getElementById('status').textContent = ''; });
  await action();
  await page.waitForFunction((re) => new RegExp(re).test(document.getElementById('status').textContent),
    pattern.source, { timeout: 30000 }).catch(() => {});
  return page.locator('#status').textContent();
}

const username = `carol-${suffix}`;
const password = `Passw0rd!${suffix}`;
let consolePage = null;
const consoleQuery = () => new URLSearchParams({ bucket, identityPoolId: need(ctx.identityPoolId, 'identity pool'),
  userPoolId: need(ctx.userPoolId, 'user pool'), clientId: ctx.clientId }).toString();

await check('console: a browser opening / is redirected to /_cubby/console/, assets under a strict CSP', async () => {
  const page = await newPage(ENDPOINT + '/');
  assert(new URL(page.url()).pathname === '/_cubby/console/', `landed on ${page.url()}`);
  const res = await page.request.get(ENDPOINT + '/_cubby/console/app.js');
  assert(res.headers()['content-type']?.startsWith('text/javascript'), `app.js content-type ${res.headers()['content-type']}`);
  const csp = (await page.request.get(ENDPOINT + '/_cubby/console/')).headers()['content-security-policy'] || '';
  assert(csp.includes("script-src 'self'") && csp.includes("frame-ancestors 'none'"), `CSP ${csp}`);
  await page.context().close();
  return 'redirect + CSP ok';
});

await check('console: the JS SHA-256 / HMAC used on non-secure origins (no WebCrypto) agree with WebCrypto', async () => {
  const page = await newPage(`${ENDPOINT}/_cubby/console/`);
  const bad = await page.evaluate(async () => {
    const c = await import('/_cubby/console/crypto.js');
    const rnd = (n) => {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
      return b;
    };
    const out = [];
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 300001]) {
      const d = rnd(n);
      const want = c.toHex(await crypto.subtle.digest('SHA-256', d));
      if (c.toHex(c.sha256js(d)) !== want) out.push(`sha256 len ${n}`);
    }
    for (const n of [0, 16, 32, 64, 65, 200]) {
      const k = rnd(n), d = rnd(77);
      const ck = await crypto.subtle.importKey('raw', k.length ? k : new Uint8Array(0), { name: 'HMAC', hash: 'SHA-256', length: Math.max(8, n * 8) }, false, ['sign']).catch(() => null);
      if (!ck) continue;
      const want = c.toHex(await crypto.subtle.sign('HMAC', ck, d));
      if (c.toHex(c.hmacjs(k, d)) !== want) out.push(`hmac key len ${n}`);
    }
    return out;
  });
  await page.context().close();
  assert(bad.length === 0, `mismatch: ${bad.join(', ')}`);
  return '11 digests, HMAC keys of 0-200 bytes';
});

await check('console: guest upload (identity-pool guest credentials, progress bar, file picker and drag and drop)', async () => {
  consolePage = await newPage(`${ENDPOINT}/_cubby/console/?${consoleQuery()}#upload`);
  await consolePage.waitForSelector('body[data-ready="true"]');
  const png = await pngFrom(consolePage, 'guest');
  await consolePage.setInputFiles('#file-input', { name: 'guest-photo.png', mimeType: 'image/png', buffer: png });
  const state = consolePage.locator('#uploads li .state').first();
  await consolePage.waitForSelector('#uploads li .state.ok, #uploads li .state.error', { timeout: 30000 });
  const text = await state.textContent();
  assert(await state.evaluate((el) => el.classList.contains('ok')), text);
  const key = await state.getAttribute('data-key');
  assert(/^guest\/us-east-1:[0-9a-f-]{36}\/guest-photo\.png$/.test(key), `key ${key}`);
  const back = await readBack(key);
  assert(back.equals(png), 'object differs from the file');
  const value = await consolePage.locator('#uploads li progress').first().evaluate((p) => [p.value, p.max]);
  assert(value[0] === value[1] && value[1] === png.length, `progress ${value}`);
  // Drag and drop: a file dropped on the drop zone goes up the same way.
  const dataTransfer = await consolePage.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped in the drop zone\n'], 'dropped.txt', { type: 'text/plain' }));
    return dt;
  });
  await consolePage.dispatchEvent('#drop', 'dragenter', { dataTransfer });
  await consolePage.dispatchEvent('#drop', 'drop', { dataTransfer });
  await consolePage.waitForFunction(() => document.querySelectorAll('#uploads li .state.ok, #uploads li .state.error').length === 2, null, { timeout: 30000 });
  const dropped = consolePage.locator('#uploads li .state').first();
  const droppedKey = await dropped.getAttribute('data-key');
  assert(droppedKey?.endsWith('/dropped.txt'), `drop: ${await dropped.textContent()}`);
  assert((await readBack(droppedKey)).toString() === 'dropped in the drop zone\n', 'dropped file differs');
  return `${key}, ${droppedKey}`;
});

await check('console: sign-up → sign-in refused until confirmed → new code → confirm (code from the server log, or AdminConfirmSignUp) → sign-in (SRP in the page)', async () => {
  const page = need(consolePage, 'console page');
  await page.goto(`${ENDPOINT}/_cubby/console/#account`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.locator('#sign-up-username').fill(username);
  await page.getByLabel('Email').fill(`${username}@example.com`);
  await page.locator('#sign-up-password').fill(password);
  let s = await statusAfter(page, () => page.getByRole('button', { name: 'Sign up' }).click(), /Account created|Exception|Error/);
  assert(/Account created/.test(s), `sign-up: ${s}`);
  // Signing in before confirming points at the confirmation form.
  await page.locator('#sign-in-username').fill(username);
  await page.locator('#sign-in-password').fill(password);
  s = await statusAfter(page, () => page.getByRole('button', { name: 'Sign in' }).click(), /Exception|Error|Signed in/);
  assert(/UserNotConfirmedException/.test(s), `sign-in before confirmation: ${s}`);
  assert(await page.evaluate(() => document.activeElement?.id) === 'confirm-code', 'focus not on the code field');
  if (SERVER_LOG) {
    // A fresh code (ResendConfirmationCode) replaces the first one.
    s = await statusAfter(page, () => page.getByRole('button', { name: 'Send a new code' }).click(), /new code|Exception|Error/);
    assert(/A new code was sent/.test(s), `resend: ${s}`);
    const code = await loggedCode(username, 2);
    assert(await page.locator('#confirm-username').inputValue() === username, 'confirm form not pre-filled');
    await page.getByLabel('Code').fill(code);
    s = await statusAfter(page, () => page.getByRole('button', { name: 'Confirm' }).click(), /confirmed|Exception|Error/);
    assert(/Account confirmed/.test(s), `confirm: ${s}`);
  } else {
    await idpAdmin.send(new AdminConfirmSignUpCommand({ UserPoolId: ctx.userPoolId, Username: username }));
  }
  await page.locator('#sign-in-username').fill(username);
  await page.locator('#sign-in-password').fill(password);
  s = await statusAfter(page, () => page.getByRole('button', { name: 'Sign in' }).click(), /Signed in|Exception|Error/);
  assert(/Signed in as/.test(s), `sign-in: ${s}`);
  ctx.identityId = await page.locator('#signed-in-identity').textContent();
  assert(/^us-east-1:[0-9a-f-]{36}$/.test(ctx.identityId), `identity ${ctx.identityId}`);
  return `${username} → identity ${ctx.identityId}`;
});

await check('console: signed-in upload (image + 20 MiB multipart) into private/<identityId>/', async () => {
  const page = need(consolePage, 'console page');
  const identityId = need(ctx.identityId, 'signed-in identity');
  await page.goto(`${ENDPOINT}/_cubby/console/#upload`);
  await page.waitForSelector('body[data-ready="true"]');
  const png = await pngFrom(page, username);
  const big = randomBytes(20 * MiB);
  await page.setInputFiles('#file-input', [
    { name: 'photo.png', mimeType: 'image/png', buffer: png },
    { name: 'big.bin', mimeType: 'application/octet-stream', buffer: big },
  ]);
  await page.waitForFunction(() => document.querySelectorAll('#uploads li .state.ok, #uploads li .state.error').length === 2, null, { timeout: 60000 });
  const states = await page.locator('#uploads li .state').allTextContents();
  const errors = states.filter((t) => t.startsWith('Failed'));
  assert(errors.length === 0, errors.join('; '));
  assert((await readBack(`private/${identityId}/photo.png`)).equals(png), 'photo.png differs');
  const bigBack = await readBack(`private/${identityId}/big.bin`);
  assert(sha256(bigBack) === sha256(big), 'big.bin differs');
  const etag = (await s3Admin.send(new HeadObjectCommand({ Bucket: bucket, Key: `private/${identityId}/big.bin` }))).ETag;
  assert(/-3"$/.test(etag), `big.bin ETag ${etag} is not a 3-part multipart ETag`);
  return `photo.png + big.bin (ETag ${etag})`;
});

await check('console: the progress bar moves during a throttled multipart upload, and Cancel aborts it', async () => {
  const page = need(consolePage, 'console page');
  const identityId = need(ctx.identityId, 'signed-in identity');
  await page.goto(`${ENDPOINT}/_cubby/console/#upload`);
  await page.waitForSelector('body[data-ready="true"]');
  // Chromium's own network throttling: 4 MiB/s up, so the upload takes seconds.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 4 * MiB });
  try {
    await page.setInputFiles('#file-input', { name: 'cancelled.bin', mimeType: 'application/octet-stream', buffer: randomBytes(40 * MiB) });
    const row = page.locator('#uploads li').first();
    // Some progress, not yet all of it.
    await page.waitForFunction(() => {
      const p = document.querySelector('#uploads li progress');
      return p && p.value > 0 && p.value < p.max;
    }, null, { timeout: 30000 });
    const mid = await row.locator('progress').evaluate((p) => [p.value, p.max]);
    await row.getByRole('button', { name: /Cancel/ }).click();
    await page.waitForSelector('#uploads li .state.error', { timeout: 30000 });
    const text = await row.locator('.state').textContent();
    assert(/Aborted/.test(text), text);
    const key = `private/${identityId}/cancelled.bin`;
    assert(!(await exists(key)), `${key} exists after Cancel`);
    // The multipart upload was aborted, not left behind.
    let left = 1;
    for (let i = 0; i < 50 && left; i++) {
      const ups = await s3Admin.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
      left = (ups.Uploads || []).length;
      if (left) await new Promise((r) => setTimeout(r, 100));
    }
    assert(left === 0, `${left} multipart upload(s) left for ${key}`);
    return `cancelled at ${Math.round((100 * mid[0]) / mid[1])}%, upload aborted`;
  } finally {
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
  }
});

await check('console: "My files" lists the uploads with a thumbnail fetched with the user\'s credentials', async () => {
  const page = need(consolePage, 'console page');
  const identityId = need(ctx.identityId, 'signed-in identity');
  await page.goto(`${ENDPOINT}/_cubby/console/#files`);
  const img = page.locator(`img.thumb[data-key="private/${identityId}/photo.png"]`);
  await img.waitFor({ timeout: 30000 });
  await page.waitForFunction((k) => {
    const el = document.querySelector(`img.thumb[data-key="${k}"]`);
    return el && el.complete && el.naturalWidth > 0;
  }, `private/${identityId}/photo.png`, { timeout: 30000 });
  const size = await img.evaluate((el) => [el.naturalWidth, el.naturalHeight]);
  assert(size[0] === 160 && size[1] === 120, `thumbnail is ${size}`);
  const items = await page.locator('#files li').evaluateAll((els) => els.map((e) => e.dataset.key));
  assert(items.includes(`private/${identityId}/big.bin`), `listed: ${items}`);
  assert(!items.some((k) => k.startsWith('guest/')), 'guest uploads must not be listed');
  const shot = join(shotDir, 'console-my-files.png');
  await page.screenshot({ path: shot, fullPage: true });
  ctx.screenshot = shot;
  return `${items.length} files, thumbnail ${size[0]}x${size[1]}`;
});

await check('console: operator view with the root keys lists buckets, pools and roles', async () => {
  const page = need(consolePage, 'console page');
  await page.goto(`${ENDPOINT}/_cubby/console/#operator`);
  await page.waitForSelector('body[data-ready="true"]');
  await page.getByLabel('Access key id').fill(rootCredentials.accessKeyId);
  await page.getByLabel('Secret access key').fill(rootCredentials.secretAccessKey);
  await page.getByRole('button', { name: 'Load' }).click();
  await page.waitForSelector('#operator-data table', { timeout: 30000 });
  const text = await page.locator('#operator-data').textContent();
  for (const want of [bucket, ctx.identityPoolId, ctx.userPoolId, `BrowserAuth${suffix}`, `private/${ctx.identityId}/photo.png`]) {
    assert(text.includes(want), `operator view lacks ${want}`);
  }
  const stored = await page.evaluate(() => [sessionStorage.getItem('cubby.console.root') !== null, localStorage.getItem('cubby.console.root')]);
  assert(stored[0] && stored[1] === null, 'root keys must be in sessionStorage only');
  await page.screenshot({ path: join(shotDir, 'console-operator.png'), fullPage: true });
  return 'buckets, identity pools, user pools, roles, recent uploads';
});

await check('console: settings from query parameters persist; the settings form saves to localStorage', async () => {
  const page = need(consolePage, 'console page');
  await page.goto(`${ENDPOINT}/_cubby/console/#settings`);
  await page.waitForSelector('body[data-ready="true"]');
  assert(await page.getByLabel('Bucket').inputValue() === bucket, 'bucket from the earlier query parameters not kept');
  assert(await page.getByLabel('Identity pool id').inputValue() === ctx.identityPoolId, 'identity pool not kept');
  await page.getByLabel('Bucket').fill('another-bucket');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  assert(await page.getByLabel('Bucket').inputValue() === 'another-bucket', 'saved bucket not restored after reload');
  await page.getByLabel('Bucket').fill(bucket);
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForFunction(() => /Settings saved/.test(document.getElementById('status').textContent));
  const saved = await page.evaluate(() => JSON.parse(localStorage.getItem('cubby.console.settings')));
  assert(saved.bucket === bucket, `localStorage has ${JSON.stringify(saved)}`);
  return 'query → localStorage → form → reload';
});

await check('console: every control is labelled, images have alt text, views switch from the keyboard', async () => {
  const page = need(consolePage, 'console page');
  await page.goto(`${ENDPOINT}/_cubby/console/#upload`);
  await page.waitForSelector('body[data-ready="true"]');
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, button, progress')]
    .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || el.textContent.trim()))
    .map((el) => el.id || el.outerHTML.slice(0, 60)));
  assert(unlabelled.length === 0, `unlabelled: ${unlabelled.join(', ')}`);
  assert(await page.locator('img:not([alt])').count() === 0, 'an image without alt');
  // Keyboard: focus the "Account" link and press Enter.
  await page.locator('a[data-nav="account"]').focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => !document.getElementById('view-account').hidden);
  assert(await page.locator('#view-upload').isHidden(), 'upload view still shown');
  assert(await page.locator('a[data-nav="account"]').getAttribute('aria-current') === 'page', 'aria-current not set');
  return 'labels, alt, keyboard navigation';
});

await check('no uncaught errors in the pages', async () => {
  assert(consoleErrors.length === 0, consoleErrors.join('; '));
});

await browser.close();
allowed.srv.close();
blocked.srv.close();
if (ctx.screenshot) console.log(`INFO screenshots: ${shotDir} (console-my-files.png, console-operator.png)`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
