/**
 * `catty-api s3-server` (api/storage/s3-server.ts): the store API replicas share. Its key comes
 * from the environment (or _FILE variants); a missing or weak key is refused with what to set;
 * the API's client signs with it and the objects outlive the process (same --dir); unsigned
 * requests other than the health check get 403. Real s3rver, real HTTP on 127.0.0.1.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runS3Server, s3ServerCredentials, S3_HEALTH_PATH } from '../../api/storage/s3-server.js';
import { createS3Storage } from '../../api/storage/s3.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const KEY = { CATTY_S3_ACCESS_KEY_ID: 'CATTYTESTKEY0000ABCD', CATTY_S3_SECRET_ACCESS_KEY: 'x'.repeat(20) + 'y'.repeat(20) };
const stops: EventEmitter[] = [];

afterEach(() => {
  for (const s of stops.splice(0)) s.emit('SIGTERM');
});

/** Starts the server in this process on a free port; resolves with its endpoint. */
async function start(dir: string, env: Record<string, string>): Promise<{ endpoint: string; exited: Promise<number> }> {
  const signals = new EventEmitter();
  stops.push(signals);
  const writes: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stdout.write;
  let exited: Promise<number>;
  try {
    exited = runS3Server({ listen: '127.0.0.1:0', dir }, env, signals);
    const line = await waitFor(() => writes.find((w) => w.includes('listening on')), 'the listening line');
    return { endpoint: /listening on (\S+)/.exec(line)![1]!, exited };
  } finally {
    process.stdout.write = write;
  }
}

describe('catty-api s3-server', () => {
  it('refuses to start without a key, or with a weak or well-known one, naming what to set', () => {
    expect(() => s3ServerCredentials({})).toThrow(/needs its key/);
    try {
      s3ServerCredentials({});
    } catch (err) {
      expect((err as { hint?: string }).hint).toMatch(/CATTY_S3_ACCESS_KEY_ID .* CATTY_S3_SECRET_ACCESS_KEY/);
    }
    expect(() => s3ServerCredentials({ ...KEY, CATTY_S3_ACCESS_KEY_ID: 'S3RVER' })).toThrow(/CATTY_S3_ACCESS_KEY_ID must be/);
    expect(() => s3ServerCredentials({ ...KEY, CATTY_S3_SECRET_ACCESS_KEY: 'short' })).toThrow(/CATTY_S3_SECRET_ACCESS_KEY must be/);
    expect(() => s3ServerCredentials({ ...KEY, CATTY_S3_SECRET_ACCESS_KEY_FILE: '/nonexistent' })).toThrow(/both CATTY_S3_SECRET_ACCESS_KEY and CATTY_S3_SECRET_ACCESS_KEY_FILE/);
  });

  it('reads the key from _FILE variants (Docker secrets)', () => {
    const dir = tempDir('s3-key');
    fs.writeFileSync(path.join(dir, 'id'), `${KEY.CATTY_S3_ACCESS_KEY_ID}\n`);
    fs.writeFileSync(path.join(dir, 'secret'), `${KEY.CATTY_S3_SECRET_ACCESS_KEY}\n`);
    const env = { CATTY_S3_ACCESS_KEY_ID_FILE: path.join(dir, 'id'), CATTY_S3_SECRET_ACCESS_KEY_FILE: path.join(dir, 'secret') };
    expect(s3ServerCredentials(env)).toEqual({ accessKeyId: KEY.CATTY_S3_ACCESS_KEY_ID, secretAccessKey: KEY.CATTY_S3_SECRET_ACCESS_KEY });
  });

  it('replicas started together each make sure of the bucket: all succeed (one creates it)', async () => {
    const server = await start(tempDir('s3-race'), KEY);
    const clients = Array.from({ length: 8 }, () => createS3Storage({ endpoint: server.endpoint, region: 'us-east-1', bucket: 'catty', forcePathStyle: true, accessKeyId: KEY.CATTY_S3_ACCESS_KEY_ID, secretAccessKey: KEY.CATTY_S3_SECRET_ACCESS_KEY }));
    const outcomes = await Promise.allSettled(clients.map((c) => c.ensureBucket()));
    expect(outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason))).toEqual([]);
    for (const c of clients) await c.close();
  });

  it('serves the API client signing with its key; objects outlive a restart; unsigned requests get 403', async () => {
    const dir = tempDir('s3-dir');
    const first = await start(dir, KEY);
    const client = () => createS3Storage({ endpoint: first.endpoint, region: 'us-east-1', bucket: 'catty', forcePathStyle: true, accessKeyId: KEY.CATTY_S3_ACCESS_KEY_ID, secretAccessKey: KEY.CATTY_S3_SECRET_ACCESS_KEY });
    const storage = client();
    await storage.ensureBucket();
    const put = await storage.presignPut('a/b.tar.gz', 5, 60);
    expect((await fetch(put.url, { method: 'PUT', headers: put.headers, body: 'hello' })).status).toBe(200);
    expect((await fetch(`${first.endpoint}/catty/a/b.tar.gz`)).status).toBe(403);
    expect((await fetch(`${first.endpoint}${S3_HEALTH_PATH}`)).status).toBe(200);
    await storage.close();
    stops.shift()!.emit('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await start(dir, KEY);
    const again = createS3Storage({ endpoint: second.endpoint, region: 'us-east-1', bucket: 'catty', forcePathStyle: true, accessKeyId: KEY.CATTY_S3_ACCESS_KEY_ID, secretAccessKey: KEY.CATTY_S3_SECRET_ACCESS_KEY });
    expect(await again.head('a/b.tar.gz')).toEqual({ size: 5 });
    expect(await (await fetch(await again.presignGet('a/b.tar.gz', 60))).text()).toBe('hello');
    const wrong = createS3Storage({ endpoint: second.endpoint, region: 'us-east-1', bucket: 'catty', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
    await expect(wrong.head('a/b.tar.gz')).rejects.toThrow();
    await again.close();
    await wrong.close();
  });
});
