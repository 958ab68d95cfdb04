/**
 * TTL expiry and forged snapshot reports against the real S3 server. The bubblewrap isolation
 * test (SECURITY.md 37) is in tests/security/isolation.test.ts.
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { testWithApi } from '../helpers/fixtures.js';
import { runtimeFetch } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait.js';
import { routes } from '../../api/contract/routes.js';

const it = testWithApi({ env: { CATTY_SWEEP_INTERVAL_MS: '300' } });

describe('inactivity TTL', () => {
  it('an idle session is stopped as timed_out after its ttl', async ({ api }) => {
    const s = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false, ttlSec: 10 } });
    const ended = await waitFor(async () => {
      const got = await api.client.call(routes.getSession, { params: { ref: s.label } });
      return got.status === 'running' ? null : got;
    }, 'the session to time out', { timeoutMs: 40_000, everyMs: 100 });
    expect(ended.status).toBe('timed_out');
    expect(ended.detail).toMatch(/no activity for 10 s/);
    const started = Date.parse(s.createdAt);
    expect(Date.parse(ended.endedAt!) - started).toBeGreaterThanOrEqual(10_000);
    await expect(runtimeFetch(s, '/healthz')).rejects.toThrow();
  }, 60_000);
});

describe('forged snapshot reports', () => {
  it('are refused: a key never minted, a minted key with no object, or an object of another size', async ({ api }) => {
    const s = await api.client.call(routes.createSession, { body: { cmd: 'sleep 600', upload: false } });
    // A compromised machine holds its own machine token. The runtime keeps it out of reach, so
    // give this "machine" a second token for the same session, straight in the state file.
    const machineToken = `cat_mt_${randomBytes(32).toString('base64url')}`;
    const db = await api.openDb();
    try {
      const { owner_id: owner } = await db.k.selectFrom('sessions').select('owner_id').where('id', '=', s.id).executeTakeFirstOrThrow();
      await db.k
        .insertInto('tokens')
        .values({ hash: createHash('sha256').update(machineToken).digest('hex'), kind: 'machine', user_id: owner, session_id: s.id, expires_at: null, revoked: 0, created_at: new Date().toISOString() })
        .execute();
    } finally {
      await db.close();
    }
    const post = (path: string, body: unknown) =>
      fetch(`${api.url}/v1/runtime/${path}`, { method: 'POST', headers: { authorization: `Bearer ${machineToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const sha256 = 'd'.repeat(64);

    const notMinted = await post('snapshots', { key: `sessions/${s.id}/snapshots/forged.tar.gz`, size: 10, sha256 });
    expect(notMinted.status).toBe(400);
    const presign = (await (await post('snapshots/presign', { size: 10 })).json()) as { key: string; url: string };
    const noObject = await post('snapshots', { key: presign.key, size: 10, sha256 });
    expect(noObject.status).toBe(400);
    // 4 bytes where 10 were presigned: the embedded S3 refuses them (the length is signed); an
    // object of another size stored there anyway (with the storage's own key, as a store that
    // ignored the signed length would keep it) is caught by the HEAD check
    expect((await fetch(presign.url, { method: 'PUT', body: 'tiny' })).status).toBe(403);
    const storageUrl = new URL(presign.url);
    const s3 = new S3Client({ region: 'us-east-1', endpoint: storageUrl.origin, forcePathStyle: true, credentials: JSON.parse(readFileSync(join(api.dataDir, 's3-credentials.json'), 'utf8')) });
    await s3.send(new PutObjectCommand({ Bucket: storageUrl.pathname.split('/')[1], Key: presign.key, Body: 'tiny' }));
    s3.destroy();
    const wrongSize = await post('snapshots', { key: presign.key, size: 10, sha256 });
    expect(wrongSize.status).toBe(400);
    expect(((await wrongSize.json()) as { error: { message: string } }).error.message).toMatch(/different size/);
    const lying = await post('snapshots', { key: presign.key, size: 4, sha256 });
    expect(lying.status).toBe(400);
    await expect(api.client.call(routes.download, { params: { ref: s.label } })).rejects.toMatchObject({ status: 404 });
    await api.client.call(routes.stop, { params: { ref: s.label } });
    // after the stop the machine token is dead
    expect((await post('snapshots/presign', { size: 10 })).status).toBe(401);
  });
});
