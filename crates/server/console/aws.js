// The AWS wire protocols the console speaks, with fetch/XHR: Cognito Identity and user-pool
// JSON 1.1, IAM query, and S3 REST (SigV4 header auth, multipart).
import { signHeaders, uriEncode } from './sigv4.js';

/** An AWS error with its code (`name`) and HTTP status. */
export class AwsError extends Error {
  constructor(code, message, status) {
    super(message || code);
    this.name = code;
    this.status = status;
  }
}

const trimSlash = (s) => s.replace(/\/+$/, '');

/** A JSON 1.1 call (`X-Amz-Target`); signed when `credentials` are given. */
export async function jsonCall({ endpoint, region, target, service, body, credentials }) {
  const url = new URL(trimSlash(endpoint) + '/');
  const text = JSON.stringify(body ?? {});
  let headers = { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target };
  if (credentials) headers = await signHeaders({ method: 'POST', url, headers, body: text, region, service, credentials });
  const res = await fetch(url, { method: 'POST', headers, body: text });
  const out = await res.text();
  const json = out ? JSON.parse(out) : {};
  if (!res.ok) {
    const raw = res.headers.get('x-amzn-errortype') || json.__type || json.code || 'Error';
    const code = raw.split(':')[0].split('#').pop();
    throw new AwsError(code, json.message || json.Message, res.status);
  }
  return json;
}

/** GET one of cubby's own root-only admin routes (`/_cubby/admin/…`), SigV4-signed. */
export async function adminGet({ endpoint, region, credentials }, path) {
  const url = new URL(trimSlash(endpoint) + path);
  const headers = await signHeaders({ method: 'GET', url, headers: {}, body: '', region, service: 's3', credentials });
  const res = await fetch(url, { headers });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new AwsError(json.__type || 'Error', json.message, res.status);
  return json;
}

/** Cognito Identity: the calls `fromCognitoIdentityPool` makes (GetId, then GetCredentialsForIdentity). */
export async function identityCredentials({ endpoint, region, identityPoolId, logins, identityId }) {
  const call = (op, body) => jsonCall({ endpoint, region, target: `AWSCognitoIdentityService.${op}`, body });
  const loginsBody = logins && Object.keys(logins).length ? { Logins: logins } : {};
  const id = identityId || (await call('GetId', { IdentityPoolId: identityPoolId, ...loginsBody })).IdentityId;
  const r = await call('GetCredentialsForIdentity', { IdentityId: id, ...loginsBody });
  return {
    identityId: id,
    accessKeyId: r.Credentials.AccessKeyId,
    secretAccessKey: r.Credentials.SecretKey,
    sessionToken: r.Credentials.SessionToken,
    // Cognito sends epoch seconds.
    expiration: new Date(r.Credentials.Expiration * 1000),
  };
}

/** A user-pool operation (unsigned end-user calls). */
export function userPoolCall({ endpoint, region }, op, body) {
  return jsonCall({ endpoint, region, target: `AWSCognitoIdentityProviderService.${op}`, body });
}

/** An IAM query-protocol call signed with long-term keys; returns the parsed XML document. */
export async function iamCall({ endpoint, region, credentials }, action, params = {}) {
  const url = new URL(trimSlash(endpoint) + '/');
  const body = new URLSearchParams({ Action: action, Version: '2010-05-08', ...params }).toString();
  const headers = await signHeaders({ method: 'POST', url, body, region, service: 'iam', credentials,
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' } });
  const res = await fetch(url, { method: 'POST', headers, body });
  const doc = parseXml(await res.text());
  if (!res.ok) throw xmlError(doc, res.status);
  return doc;
}

function parseXml(text) {
  return new DOMParser().parseFromString(text || '<empty/>', 'application/xml');
}

function xmlError(doc, status) {
  const code = doc.querySelector('Code')?.textContent || `HTTP ${status}`;
  return new AwsError(code, doc.querySelector('Message')?.textContent || code, status);
}

/** Text of the direct child `name` of `el`. */
export const child = (el, name) => [...el.children].find((c) => c.localName === name)?.textContent ?? '';

/**
 * A small S3 client: path-style URLs under `endpoint`, SigV4 with `credentials` — an object, or
 * an async function returning one (asked before every request, so a long multipart upload
 * picks up refreshed session credentials).
 */
export class S3 {
  constructor({ endpoint, region, credentials }) {
    this.endpoint = trimSlash(endpoint);
    this.region = region;
    this.credentials = credentials;
  }

  url(bucket, key = '', query = {}) {
    const u = new URL(`${this.endpoint}/${uriEncode(bucket)}${key ? '/' + uriEncode(key, true) : ''}`);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u;
  }

  async sign(method, url, { body, payloadHash, headers = {} } = {}) {
    const credentials = typeof this.credentials === 'function' ? await this.credentials() : this.credentials;
    return signHeaders({ method, url, headers, body, payloadHash, region: this.region, service: 's3', credentials });
  }

  /** A signed fetch; throws AwsError from S3's error XML. */
  async request(method, url, opts = {}) {
    const headers = await this.sign(method, url, opts);
    const res = await fetch(url, { method, headers, body: opts.body });
    if (!res.ok) {
      const text = await res.text();
      throw xmlError(parseXml(text), res.status);
    }
    return res;
  }

  /** ListObjectsV2 (one page per call; follows continuation up to `max` keys). */
  async list(bucket, prefix = '', max = 1000) {
    const out = [];
    let token = '';
    do {
      const q = { 'list-type': '2', prefix, 'max-keys': String(Math.min(1000, max - out.length)) };
      if (token) q['continuation-token'] = token;
      const doc = parseXml(await (await this.request('GET', this.url(bucket, '', q))).text());
      for (const c of doc.getElementsByTagName('Contents')) {
        out.push({ key: child(c, 'Key'), size: Number(child(c, 'Size')), lastModified: new Date(child(c, 'LastModified')), etag: child(c, 'ETag') });
      }
      token = doc.getElementsByTagName('IsTruncated')[0]?.textContent === 'true'
        ? doc.getElementsByTagName('NextContinuationToken')[0]?.textContent : '';
    } while (token && out.length < max);
    return out;
  }

  /** ListBuckets → [{name, created}] */
  async listBuckets() {
    const doc = parseXml(await (await this.request('GET', new URL(this.endpoint + '/'))).text());
    return [...doc.getElementsByTagName('Bucket')].map((b) => ({ name: child(b, 'Name'), created: child(b, 'CreationDate') }));
  }

  /** GetObject → Blob */
  async get(bucket, key) {
    return (await this.request('GET', this.url(bucket, key))).blob();
  }

  /**
   * PUT a body with XHR so the browser reports upload progress. `onProgress(loadedBytes)`.
   * Returns the ETag (needs `ETag` exposed by the bucket's CORS rule when cross-origin).
   */
  async putXhr(url, body, { contentType, onProgress, signal } = {}) {
    const extra = contentType ? { 'content-type': contentType } : {};
    // The payload is not hashed: hashing a large file in the page would double the work;
    // TLS (or the local link) protects it in transit, as with presigned URLs.
    const headers = await this.sign('PUT', url, { payloadHash: 'UNSIGNED-PAYLOAD', headers: extra });
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('PUT', url);
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => onProgress?.(e.loaded);
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.getResponseHeader('ETag'));
        else reject(xmlError(parseXml(xhr.responseText), xhr.status));
      };
      xhr.onerror = () => reject(new AwsError('NetworkError', 'The upload failed (network or CORS).', 0));
      xhr.onabort = () => reject(new AwsError('Aborted', 'The upload was cancelled.', 0));
      if (signal?.aborted) { reject(new AwsError('Aborted', 'The upload was cancelled.', 0)); return; }
      signal?.addEventListener('abort', () => xhr.abort());
      xhr.send(body);
    });
  }

  /** PutObject with progress. */
  putObject(bucket, key, blob, opts = {}) {
    return this.putXhr(this.url(bucket, key), blob, { ...opts, contentType: opts.contentType || blob.type || 'application/octet-stream' });
  }

  /**
   * Multipart upload (CreateMultipartUpload, UploadPart × n with `concurrency` in flight,
   * CompleteMultipartUpload); aborts the upload on failure. `onProgress(loadedBytes)` over the whole file.
   */
  async multipartUpload(bucket, key, blob, { partSize = 8 * 1024 * 1024, concurrency = 3, onProgress, signal, contentType } = {}) {
    const ct = contentType || blob.type || 'application/octet-stream';
    const created = parseXml(await (await this.request('POST', this.url(bucket, key, { uploads: '' }), { headers: { 'content-type': ct } })).text());
    const uploadId = created.getElementsByTagName('UploadId')[0]?.textContent;
    if (!uploadId) throw new AwsError('InternalError', 'CreateMultipartUpload returned no UploadId', 0);
    const count = Math.max(1, Math.ceil(blob.size / partSize));
    const loaded = new Array(count).fill(0);
    const etags = new Array(count);
    let next = 0;
    let failed = false;
    const report = () => onProgress?.(loaded.reduce((a, b) => a + b, 0));
    const worker = async () => {
      while (next < count && !failed) {
        const i = next++;
        const part = blob.slice(i * partSize, Math.min(blob.size, (i + 1) * partSize));
        const url = this.url(bucket, key, { partNumber: String(i + 1), uploadId });
        try {
          etags[i] = await this.putXhr(url, part, { signal, onProgress: (n) => { loaded[i] = n; report(); } });
        } catch (e) {
          failed = true; // the other workers stop taking parts
          throw e;
        }
        if (!etags[i]) throw new AwsError('MissingETag', 'UploadPart answered without a readable ETag (is ETag in the CORS ExposeHeaders?)', 0);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
      const xml = '<CompleteMultipartUpload>' +
        etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</ETag></Part>`).join('') +
        '</CompleteMultipartUpload>';
      const res = await this.request('POST', this.url(bucket, key, { uploadId }), { body: xml, headers: { 'content-type': 'application/xml' } });
      // Complete may answer 200 with an error document (as on AWS).
      const doc = parseXml(await res.text());
      if (doc.documentElement.localName === 'Error') throw xmlError(doc, 200);
      return doc.getElementsByTagName('ETag')[0]?.textContent;
    } catch (e) {
      await this.request('DELETE', this.url(bucket, key, { uploadId })).catch(() => {});
      throw e;
    }
  }
}
