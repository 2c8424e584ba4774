// AWS Signature Version 4 for the browser: header signing (fetch / XHR) and presigned URLs.
import { sha256, hmac, toHex, utf8 } from './crypto.js';

/** RFC 3986 encoding as SigV4 wants it (`/` kept when `keepSlash`). */
export function uriEncode(s, keepSlash = false) {
  let out = '';
  for (const b of utf8(String(s))) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** `YYYYMMDDTHHMMSSZ` */
export function amzDate(d = new Date()) {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function canonicalQuery(params) {
  return [...params]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

async function signingKey(secret, date, region, service) {
  const kDate = await hmac('AWS4' + secret, date);
  const kRegion = await hmac(kDate, region);
  const kService = await hmac(kRegion, service);
  return hmac(kService, 'aws4_request');
}

/**
 * The canonical path of a URL. S3 signs the path as sent (already encoded once); the other
 * services encode it once more, as the SDKs do.
 */
function canonicalPath(url, service) {
  const p = url.pathname || '/';
  return service === 's3' ? p : uriEncode(decodeURIComponent(p), true);
}

/**
 * Sign a request with an `Authorization` header.
 * @param {object} r { method, url (URL), headers (object, lower-case names), body (string|Uint8Array|null),
 *                     payloadHash (optional, e.g. 'UNSIGNED-PAYLOAD'), region, service, credentials }
 * @returns {Promise<object>} headers to send (without `host`, which the browser sets).
 */
export async function signHeaders(r) {
  const { url, region, service, credentials } = r;
  const now = amzDate(r.date);
  const date = now.slice(0, 8);
  const payloadHash = r.payloadHash ?? toHex(await sha256(r.body ?? ''));
  const headers = { ...r.headers, 'x-amz-date': now };
  if (service === 's3') headers['x-amz-content-sha256'] = payloadHash;
  if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
  const all = { ...headers, host: url.host };
  const names = Object.keys(all).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), v]));
  const canonicalHeaders = names.map((n) => `${n}:${String(lower[n]).trim().replace(/\s+/g, ' ')}\n`).join('');
  const signed = names.join(';');
  const creq = [r.method, canonicalPath(url, service), canonicalQuery(url.searchParams), canonicalHeaders, signed, payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', now, scope, toHex(await sha256(creq))].join('\n');
  const sig = toHex(await hmac(await signingKey(credentials.secretAccessKey, date, region, service), sts));
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${sig}`;
  return headers;
}

/** A presigned URL (query-string auth, `UNSIGNED-PAYLOAD`, only `host` signed). */
export async function presign({ method, url, region, service = 's3', credentials, expiresIn = 300, date }) {
  const u = new URL(url);
  const now = amzDate(date);
  const scope = `${now.slice(0, 8)}/${region}/${service}/aws4_request`;
  const q = u.searchParams;
  q.set('X-Amz-Algorithm', 'AWS4-HMAC-SHA256');
  q.set('X-Amz-Credential', `${credentials.accessKeyId}/${scope}`);
  q.set('X-Amz-Date', now);
  q.set('X-Amz-Expires', String(expiresIn));
  q.set('X-Amz-SignedHeaders', 'host');
  if (credentials.sessionToken) q.set('X-Amz-Security-Token', credentials.sessionToken);
  const creq = [method, canonicalPath(u, service), canonicalQuery(q), `host:${u.host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const sts = ['AWS4-HMAC-SHA256', now, scope, toHex(await sha256(creq))].join('\n');
  q.set('X-Amz-Signature', toHex(await hmac(await signingKey(credentials.secretAccessKey, now.slice(0, 8), region, service), sts)));
  return u.toString();
}
