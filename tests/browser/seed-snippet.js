// The seeds' frontend code (JS SDK v3), unchanged except for the endpoint override. Bundled at
// test time with esbuild into an IIFE (global `seed`) and loaded by the test page; the bundle
// lives in the npm cache dir, never in the repository.
import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
import { CognitoIdentityClient } from '@aws-sdk/client-cognito-identity';
import { fromCognitoIdentityPool } from '@aws-sdk/credential-provider-cognito-identity';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';

/** The seed's client set-up: guest credentials from the identity pool, an S3 client on them. */
export function clients({ endpoint, region, identityPoolId, checksumWhenRequired = false }) {
  const credentials = fromCognitoIdentityPool({
    client: new CognitoIdentityClient({ region, endpoint }),
    identityPoolId,
  });
  const s3 = new S3Client({
    region, endpoint, forcePathStyle: true, credentials,
    // See docs/browser-uploads.md: presigned PUT URLs need this with SDK >= 3.729.
    ...(checksumWhenRequired ? { requestChecksumCalculation: 'WHEN_REQUIRED' } : {}),
  });
  return { credentials, s3 };
}

/** Seed: PutObject from the browser. */
export async function putObject(cfg, key, text) {
  const { credentials, s3 } = clients(cfg);
  const { identityId } = await credentials();
  const fullKey = key.replaceAll('{identityId}', identityId);
  const r = await s3.send(new PutObjectCommand({ Bucket: cfg.bucket, Key: fullKey, Body: text, ContentType: 'text/plain' }));
  return { key: fullKey, etag: r.ETag, identityId };
}

/** Seed: lib-storage multipart Upload with progress events. */
export async function multipart(cfg, key, size) {
  const { credentials, s3 } = clients(cfg);
  const { identityId } = await credentials();
  const fullKey = key.replaceAll('{identityId}', identityId);
  const body = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(body.subarray(i, Math.min(size, i + 65536)));
  const digest = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', body)), (b) => b.toString(16).padStart(2, '0')).join('');
  const upload = new Upload({ client: s3, params: { Bucket: cfg.bucket, Key: fullKey, Body: body, ContentType: 'application/octet-stream' },
    partSize: 5 * 1024 * 1024, queueSize: 2 });
  const progress = [];
  upload.on('httpUploadProgress', (p) => progress.push({ loaded: p.loaded, total: p.total, part: p.part }));
  const r = await upload.done();
  return { key: fullKey, etag: r.ETag, progress, sha256: digest };
}

/** Seed: a presigned PUT URL, uploaded to with fetch. */
export async function presignedPut(cfg, key, text) {
  const { credentials, s3 } = clients({ ...cfg, checksumWhenRequired: true });
  const { identityId } = await credentials();
  const fullKey = key.replaceAll('{identityId}', identityId);
  const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: cfg.bucket, Key: fullKey }), { expiresIn: 300 });
  const res = await fetch(url, { method: 'PUT', body: text });
  return { key: fullKey, status: res.status, etag: res.headers.get('etag'), body: await res.text() };
}

/**
 * Seed-style POST-form upload: createPresignedPost with the page's credentials, then a
 * multipart/form-data POST (a CORS-simple request) with the file field last.
 */
export async function postForm(cfg, key, text, { maxSize = 1024 * 1024 } = {}) {
  const { credentials, s3 } = clients(cfg);
  const { identityId } = await credentials();
  const fullKey = key.replaceAll('{identityId}', identityId);
  const { url, fields } = await createPresignedPost(s3, {
    Bucket: cfg.bucket, Key: fullKey, Expires: 300,
    Conditions: [['content-length-range', 1, maxSize], ['starts-with', '$Content-Type', 'text/']],
    Fields: { 'Content-Type': 'text/plain' },
  });
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([text], { type: 'text/plain' }), 'note.txt');
  const res = await fetch(url, { method: 'POST', body: form });
  return { key: fullKey, status: res.status, body: await res.text() };
}

/**
 * The upload-URL flow (cubby's built-in replacement for the seed's getUploadUrl Lambda): the
 * page signs `POST /_cubby/upload-url` with its own identity-pool credentials (SigV4, as for an
 * IAM-authorized API), then PUTs the file to the answered URL with the bound Content-Type.
 * `claimIdentityId` puts an identity id into the body, as the seed's frontend did; the server
 * must ignore it.
 */
export async function uploadUrl(cfg, { collectionId, filename, contentType, text, claimIdentityId }) {
  const { credentials } = clients(cfg);
  const creds = await credentials();
  const body = JSON.stringify({ collectionId, filename, contentType, ...(claimIdentityId ? { identityId: claimIdentityId } : {}) });
  const u = new URL(cfg.endpoint + '/_cubby/upload-url');
  const signer = new SignatureV4({ credentials: creds, region: cfg.region, service: 'execute-api', sha256: Sha256 });
  const signed = await signer.sign({
    method: 'POST', protocol: u.protocol, hostname: u.hostname, port: u.port ? Number(u.port) : undefined,
    path: u.pathname, query: {}, headers: { host: u.host, 'content-type': 'application/json' }, body,
  });
  const headers = { ...signed.headers };
  delete headers.host; // the browser sends it (and may not be told to)
  const res = await fetch(u, { method: 'POST', headers, body });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) return { status: res.status, answer, identityId: creds.identityId };
  const put = await fetch(answer.url, { method: 'PUT', headers: { 'content-type': contentType }, body: text });
  const wrongType = await fetch(answer.url, { method: 'PUT', headers: { 'content-type': 'text/html' }, body: text });
  return { status: res.status, answer, identityId: creds.identityId, putStatus: put.status, putBody: await put.text(),
    wrongTypeStatus: wrongType.status };
}
