/**
 * Verifies AWS Signature Version 4 on a request to the embedded S3 server, in the header form
 * (`Authorization: AWS4-HMAC-SHA256 …`, what the API's S3 client sends) and the query form (a
 * presigned URL: the runtime's snapshot PUTs, `catty download`'s GETs). s3rver itself accepts
 * any V4 signature whose access key id it knows ("calculation is unimplemented") and serves
 * unsigned requests to anyone, so this is the check that closes it (issue 20, item 7).
 *
 * Refused: no signature at all, any other scheme (V2, both forms at once), another key, a scope
 * not for s3, a header-signed request more than 15 minutes off the clock, a presigned URL past
 * its X-Amz-Expires (at most a week) or dated in the future, an `x-amz-*` header left out of
 * the signature (as S3 does: such headers steer s3rver, e.g. x-amz-copy-source), and any
 * mismatch. The canonical request is built from what s3rver will act on: the path decoded and
 * encoded again per segment, the query decoded as its parser does ('+' is a space). The payload
 * hash is taken as signed, not recomputed (presigned PUTs are UNSIGNED-PAYLOAD, as on S3, with
 * their Content-Length signed; the API's own header-signed requests carry no body worth forging,
 * and none can be made without the secret).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SignedRequest {
  method: string;
  /** The request target as received: path and query, still encoded. */
  url: string;
  /** Header name (lower case) → its values, as node's `headersDistinct`. */
  headers: Record<string, string[] | undefined>;
}

export type Verdict = { ok: true } | { ok: false; code: 'AccessDenied' | 'SignatureDoesNotMatch' | 'InvalidAccessKeyId'; message: string };

const ALGORITHM = 'AWS4-HMAC-SHA256';
const MAX_SKEW_MS = 15 * 60_000;
const MAX_EXPIRES_SEC = 7 * 24 * 3600;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

const deny = (message: string, code: 'AccessDenied' | 'SignatureDoesNotMatch' | 'InvalidAccessKeyId' = 'AccessDenied'): Verdict => ({ ok: false, code, message });

/** RFC 3986 unreserved characters stay, everything else is %XX (upper case), as SigV4 wants. */
function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

const sha256Hex = (data: string): string => createHash('sha256').update(data, 'utf8').digest('hex');

function parseAmzDate(value: string): number | null {
  const m = AMZ_DATE.exec(value);
  if (!m) return null;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isNaN(ms) ? null : ms;
}

/** The query as decoded pairs, in order; null when an escape is malformed. */
function parseQuery(raw: string): Array<[string, string]> | null {
  const pairs: Array<[string, string]> = [];
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const [name, value] = eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
    try {
      pairs.push([decodeURIComponent(name.replace(/\+/g, ' ')), decodeURIComponent(value.replace(/\+/g, ' '))]);
    } catch {
      return null;
    }
  }
  return pairs;
}

function canonicalUri(rawPath: string): string | null {
  try {
    return rawPath.split('/').map((segment) => encodeRfc3986(decodeURIComponent(segment))).join('/');
  } catch {
    return null;
  }
}

function canonicalQuery(pairs: Array<[string, string]>, omitSignature: boolean): string {
  return pairs
    .filter(([name]) => !(omitSignature && name === 'X-Amz-Signature'))
    .map(([name, value]) => [encodeRfc3986(name), encodeRfc3986(value)] as const)
    .sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

const headerValue = (values: string[] | undefined): string => (values ?? []).map((v) => v.trim().replace(/ +/g, ' ')).join(',');

/** The three parts of `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. */
function parseAuthorization(value: string): { credential: string; signedHeaders: string; signature: string } | null {
  if (!value.startsWith(`${ALGORITHM} `)) return null;
  const parts = new Map<string, string>();
  for (const component of value.slice(ALGORITHM.length + 1).split(',')) {
    const eq = component.indexOf('=');
    if (eq < 0) return null;
    const name = component.slice(0, eq).trim();
    if (parts.has(name)) return null;
    parts.set(name, component.slice(eq + 1).trim());
  }
  const [credential, signedHeaders, signature] = [parts.get('Credential'), parts.get('SignedHeaders'), parts.get('Signature')];
  if (parts.size !== 3 || !credential || !signedHeaders || !signature) return null;
  return { credential, signedHeaders, signature };
}

function sameSecret(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}

export function verifySigV4(req: SignedRequest, credentials: S3Credentials, nowMs: number): Verdict {
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const pairs = parseQuery(q < 0 ? '' : req.url.slice(q + 1));
  const uri = canonicalUri(rawPath);
  if (!pairs || uri === null || !rawPath.startsWith('/')) return deny('malformed request target');
  const query = new Map<string, string[]>();
  for (const [name, value] of pairs) query.set(name, [...(query.get(name) ?? []), value]);
  const one = (name: string): string | undefined => (query.get(name)?.length === 1 ? query.get(name)?.[0] : undefined);

  const authorization = req.headers.authorization;
  const inHeader = authorization !== undefined;
  const inQuery = query.has('X-Amz-Signature') || query.has('X-Amz-Algorithm');
  if (query.has('Signature') || query.has('AWSAccessKeyId') || (inHeader && !authorization.every((v) => v.startsWith(`${ALGORITHM} `)))) {
    return deny('only AWS Signature Version 4 is accepted');
  }
  if (!inHeader && !inQuery) return deny('anonymous requests are refused: sign the request');
  if (inHeader && inQuery) return deny('only one authentication mechanism is allowed');

  let credential: string | undefined;
  let signedHeaderList: string | undefined;
  let signature: string | undefined;
  let amzDate: string | undefined;
  let payloadHash: string | undefined;
  if (inHeader) {
    const parsed = authorization.length === 1 ? parseAuthorization(authorization[0] ?? '') : null;
    if (!parsed) return deny('malformed Authorization header');
    ({ credential, signedHeaders: signedHeaderList, signature } = parsed);
    amzDate = req.headers['x-amz-date']?.length === 1 ? req.headers['x-amz-date'][0] : undefined;
    payloadHash = req.headers['x-amz-content-sha256']?.length === 1 ? req.headers['x-amz-content-sha256'][0] : undefined;
    if (!payloadHash) return deny('x-amz-content-sha256 is required');
  } else {
    if (one('X-Amz-Algorithm') !== ALGORITHM) return deny(`X-Amz-Algorithm must be ${ALGORITHM}`);
    [credential, signedHeaderList, signature, amzDate] = [one('X-Amz-Credential'), one('X-Amz-SignedHeaders'), one('X-Amz-Signature'), one('X-Amz-Date')];
    payloadHash = query.has('X-Amz-Content-Sha256') ? one('X-Amz-Content-Sha256') : 'UNSIGNED-PAYLOAD';
    if (!payloadHash) return deny('X-Amz-Content-Sha256 given twice');
  }
  if (!credential || !signedHeaderList || !signature || !amzDate) return deny('the signature is incomplete (credential, signed headers, signature and date are required)');

  const signedAt = parseAmzDate(amzDate);
  if (signedAt === null) return deny('the request date must be yyyyMMddTHHmmssZ');
  if (inHeader) {
    if (Math.abs(nowMs - signedAt) > MAX_SKEW_MS) return deny('the difference between the request time and the current time is too large');
  } else {
    const expiresText = one('X-Amz-Expires');
    const expires = expiresText !== undefined && /^\d{1,7}$/.test(expiresText) ? Number(expiresText) : NaN;
    if (!(expires >= 1 && expires <= MAX_EXPIRES_SEC)) return deny(`X-Amz-Expires must be 1 to ${MAX_EXPIRES_SEC} seconds`);
    if (signedAt - nowMs > MAX_SKEW_MS) return deny('the request is not yet valid');
    if (nowMs > signedAt + expires * 1000) return deny('request has expired');
  }

  const scope = credential.split('/');
  const [keyId, day, region, service, terminator] = scope;
  if (scope.length !== 5 || !keyId || !region || service !== 's3' || terminator !== 'aws4_request' || day !== amzDate.slice(0, 8)) {
    return deny('malformed credential scope');
  }
  if (!sameSecret(keyId, credentials.accessKeyId)) return deny('the access key id does not exist in our records', 'InvalidAccessKeyId');

  const signedHeaders = signedHeaderList.split(';');
  if (!signedHeaders.includes('host') || signedHeaders.some((h) => h === '' || h !== h.toLowerCase())) return deny('SignedHeaders must name host, in lower case');
  const unsigned = Object.keys(req.headers).filter((h) => h.startsWith('x-amz-') && !signedHeaders.includes(h));
  if (unsigned.length > 0) return deny(`there were headers present in the request which were not signed: ${unsigned.join(', ')}`);

  const canonicalRequest = [
    req.method,
    uri,
    canonicalQuery(pairs, !inHeader),
    signedHeaders.map((h) => `${h}:${headerValue(req.headers[h])}\n`).join(''),
    signedHeaderList,
    payloadHash,
  ].join('\n');
  const credentialScope = scope.slice(1).join('/');
  const stringToSign = [ALGORITHM, amzDate, credentialScope, sha256Hex(canonicalRequest)].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, day), region), service), terminator);
  const expected = hmac(signingKey, stringToSign).toString('hex');
  if (!sameSecret(signature, expected)) return deny('the request signature we calculated does not match the signature you provided', 'SignatureDoesNotMatch');
  return { ok: true };
}
