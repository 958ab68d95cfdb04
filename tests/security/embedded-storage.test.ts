/**
 * SECURITY case 45 (issue 20, item 7): the embedded S3 server of the local control plane listens
 * on loopback, where every process of every user of the machine can reach it. It answers only
 * requests signed (AWS Signature V4) with its data directory's own random key: anonymous,
 * wrongly signed, well-known-key, expired, tampered or partly unsigned requests get a 403 and
 * change nothing; the API's client and URLs presigned with the key work. The real s3rver behind
 * the real front handler (api/storage/embedded-s3.ts), over real HTTP on 127.0.0.1.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, ListBucketsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedS3, type EmbeddedS3 } from '../../api/storage/embedded-s3.js';
import { createS3Storage } from '../../api/storage/s3.js';
import type { ObjectStorage } from '../../api/storage/types.js';
import { tempDir } from '../helpers/temp-dir.js';

const BUCKET = 'catty';
const KEY = 'sessions/s_other/snapshots/1.tar.gz';
const BODY = 'the other session’s only recovery copy';

let dataDir: string;
let s3: EmbeddedS3;
let storage: ObjectStorage;

/** A client of the embedded server signing with the given key. */
function clientWith(accessKeyId: string, secretAccessKey: string): S3Client {
  const client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
  return client;
}

/** One raw HTTP exchange (no SDK, nothing added but what is given). */
function raw(method: string, target: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; body: string }> {
  const url = new URL(target, s3.endpoint);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: `${url.pathname}${url.search}`, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function statusOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (err) {
    return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? -1;
  }
}

/** The object is there, whole (read with the API's own key). */
async function stillThere(): Promise<void> {
  expect(await storage.head(KEY)).toEqual({ size: Buffer.byteLength(BODY) });
  const res = await fetch(await storage.presignGet(KEY, 60));
  expect(await res.text()).toBe(BODY);
}

beforeAll(async () => {
  dataDir = tempDir('embedded-s3');
  s3 = await startEmbeddedS3(dataDir);
  storage = createS3Storage({ endpoint: s3.endpoint, region: 'us-east-1', bucket: BUCKET, forcePathStyle: true, ...s3.credentials });
  await storage.ensureBucket();
  const put = await storage.presignPut(KEY, Buffer.byteLength(BODY), 60);
  const res = await fetch(put.url, { method: 'PUT', headers: put.headers, body: BODY });
  expect(res.status).toBe(200);
});

afterAll(async () => {
  await storage?.close();
  await s3?.close();
});

describe('SECURITY 45: the embedded S3 server answers only its own key', () => {
  it('45: anonymous requests (list, get, put, delete) are refused with 403 and change nothing', async () => {
    for (const [method, target] of [
      ['GET', '/'],
      ['GET', `/${BUCKET}`],
      ['GET', `/${BUCKET}?list-type=2`],
      ['GET', `/${BUCKET}/${KEY}`],
      ['HEAD', `/${BUCKET}/${KEY}`],
      ['DELETE', `/${BUCKET}/${KEY}`],
      ['DELETE', `/${BUCKET}`],
      ['PUT', `/${BUCKET}/${KEY}`],
      ['PUT', '/another-bucket'],
    ] as const) {
      const res = await raw(method, target, method === 'PUT' ? { 'content-length': '4' } : {}, method === 'PUT' ? 'evil' : undefined);
      expect(res.status, `${method} ${target}`).toBe(403);
      if (method !== 'HEAD') {
        expect(res.body, `${method} ${target}`).toContain('<Code>AccessDenied</Code>');
        expect(res.body).not.toContain(KEY);
      }
    }
    await stillThere();
  });

  it('45: signed with the right key id but a wrong secret, or with s3rver’s well-known S3RVER key → 403', async () => {
    for (const client of [clientWith(s3.credentials.accessKeyId, 'not-the-secret-not-the-secret-not-the-se'), clientWith('S3RVER', 'S3RVER'), clientWith('AKIAIOSFODNN7EXAMPLE', s3.credentials.secretAccessKey)]) {
      try {
        expect(await statusOf(client.send(new ListBucketsCommand({})))).toBe(403);
        expect(await statusOf(client.send(new ListObjectsV2Command({ Bucket: BUCKET })))).toBe(403);
        expect(await statusOf(client.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY })))).toBe(403);
        expect(await statusOf(client.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: 'evil' })))).toBe(403);
        expect(await statusOf(client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: KEY })))).toBe(403);
        // Presigned by the wrong key: refused as well.
        const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: BUCKET, Key: KEY }), { expiresIn: 60 });
        expect((await fetch(url)).status).toBe(403);
      } finally {
        client.destroy();
      }
    }
    // A V2 query signature (which s3rver checks itself) with the well-known key.
    expect((await raw('GET', `/${BUCKET}/${KEY}?AWSAccessKeyId=S3RVER&Expires=${Math.floor(Date.now() / 1000) + 60}&Signature=x`)).status).toBe(403);
    await stillThere();
  });

  it('45: the API’s own key works, and so does a presigned GET; an expired or tampered presigned URL → 403', async () => {
    const own = clientWith(s3.credentials.accessKeyId, s3.credentials.secretAccessKey);
    try {
      const listed = await own.send(new ListObjectsV2Command({ Bucket: BUCKET }));
      expect(listed.Contents?.map((o) => o.Key)).toEqual([KEY]);

      const good = await storage.presignGet(KEY, 60);
      const res = await fetch(good);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(BODY);

      // Signed two minutes ago for one minute: expired.
      const expired = await getSignedUrl(own, new GetObjectCommand({ Bucket: BUCKET, Key: KEY }), { expiresIn: 60, signingDate: new Date(Date.now() - 120_000) });
      const refused = await fetch(expired);
      expect(refused.status).toBe(403);
      expect(await refused.text()).toMatch(/expired/);
      // Dated an hour ahead, to outlive its expiry: not yet valid.
      const early = await getSignedUrl(own, new GetObjectCommand({ Bucket: BUCKET, Key: KEY }), { expiresIn: 60, signingDate: new Date(Date.now() + 3_600_000) });
      expect((await fetch(early)).status).toBe(403);

      // The same signature for another object, or another method.
      expect((await fetch(good.replace('/1.tar.gz?', '/2.tar.gz?'))).status).toBe(403);
      expect((await fetch(good, { method: 'DELETE' })).status).toBe(403);
      // A longer life written into the URL.
      expect((await fetch(good.replace('X-Amz-Expires=60', 'X-Amz-Expires=6000'))).status).toBe(403);
    } finally {
      own.destroy();
    }
    await stillThere();
  });

  it('45: a presigned PUT uploads exactly what was signed: another length, or an unsigned x-amz header steering s3rver → 403', async () => {
    const put = await storage.presignPut('sessions/s_mine/snapshots/1.tar.gz', 10, 60);
    const url = new URL(put.url);
    const target = `${url.pathname}${url.search}`;
    // Four bytes where ten were signed.
    expect((await raw('PUT', target, { ...put.headers, 'content-length': '4' }, 'tiny')).status).toBe(403);
    // The holder of a PUT URL copying another session's snapshot into its own key.
    const copy = await raw('PUT', target, { ...put.headers, 'content-length': '0', 'x-amz-copy-source': `/${BUCKET}/${KEY}` });
    expect(copy.status).toBe(403);
    expect(copy.body).toContain('x-amz-copy-source');
    expect(await storage.head('sessions/s_mine/snapshots/1.tar.gz')).toBeNull();
    const ok = await raw('PUT', target, put.headers, '0123456789');
    expect(ok.status).toBe(200);
    expect(await storage.head('sessions/s_mine/snapshots/1.tar.gz')).toEqual({ size: 10 });
  });

  it('45: the key is this data directory’s own, random, kept 0600 (the objects’ directory 0700), and the same after a restart', async () => {
    const file = path.join(dataDir, 's3-credentials.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dataDir, 's3')).mode & 0o777).toBe(0o700);
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as { accessKeyId: string; secretAccessKey: string };
    expect(stored).toEqual(s3.credentials);
    expect(stored.accessKeyId).not.toBe('S3RVER');
    expect(stored.secretAccessKey).toMatch(/^[A-Za-z0-9_-]{40}$/);

    // Another data directory gets another key, which this server refuses.
    const other = await startEmbeddedS3(tempDir('embedded-s3-other'));
    try {
      expect(other.credentials.accessKeyId).not.toBe(s3.credentials.accessKeyId);
      expect(other.credentials.secretAccessKey).not.toBe(s3.credentials.secretAccessKey);
      const stranger = clientWith(other.credentials.accessKeyId, other.credentials.secretAccessKey);
      expect(await statusOf(stranger.send(new ListObjectsV2Command({ Bucket: BUCKET })))).toBe(403);
      stranger.destroy();
    } finally {
      await other.close();
    }

    // Loosened by hand, it is tightened again at the next start, which keeps the key.
    fs.chmodSync(file, 0o644);
    const again = await startEmbeddedS3(dataDir);
    try {
      expect(again.credentials).toEqual(stored);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      await again.close();
    }
  });
});
