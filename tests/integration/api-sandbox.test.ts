/**
 * SECURITY.md 37 for the local provisioner with bubblewrap, TTL expiry, and forged snapshot
 * reports against the real S3 server.
 */
import Database from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bwrapProblem, findBwrap } from '../../api/provisioners/bwrap.js';
import { startTestApi, type TestApi } from '../helpers/api.js';

const CANARY = 'api-env-canary-6f1d2c';
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi({ env: { CATTY_SWEEP_INTERVAL_MS: '300', CATTY_TEST_CANARY: CANARY } });
}, 60_000);
afterAll(async () => {
  await api?.close();
});

async function poll<T>(what: string, fn: () => Promise<T | null>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const bwrap = findBwrap();
const sandboxWorks = bwrap !== null && bwrapProblem(bwrap) === null;

describe.skipIf(!sandboxWorks)('local sessions under bubblewrap', () => {
  it("an agent cannot read another session's workspace, the data dir, the API's environment, and has no capabilities", async () => {
    const other = await api.client.createSession({ cmd: 'echo other-secret > /workspace/secret.txt; sleep 600', upload: false });
    const otherSecret = join(api.dataDir, 'machines', other.id, 'workspace', 'secret.txt');
    await poll('the other workspace file', async () => (existsSync(otherSecret) ? true : null));
    const probe = [
      `cat ${otherSecret} && echo READ-OTHER-WORKSPACE`,
      `ls ${join(api.dataDir, 'machines')} && echo LISTED-MACHINES`,
      `cat ${join(api.dataDir, 'catty.db')} >/dev/null && echo READ-DB`,
      `cat ${join(api.dataDir, 'secret.key')} && echo READ-KEY`,
      `cat /proc/${api.pid}/environ && echo READ-API-ENV`,
      // every environ visible (a [Y] class so no command line, grep's own included, matches)
      `cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -q "CATTY_TEST_CANAR[Y]=" && echo FOUND-CANARY`,
      // the runtime's tokens (cat_ct_…, cat_mt_…): in no environment or command line here
      `cat /proc/*/environ /proc/*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -q "cat_[cm]t_" && echo FOUND-TOKEN`,
      `echo probe > /usr/probe && echo WROTE-USR`,
      `echo "uid=$(id -u)"`,
      `grep CapEff /proc/self/status`,
      `echo mine > /workspace/mine.txt && echo WROTE-OWN-WORKSPACE`,
      'echo PROBE-DONE',
    ].map((c) => `(${c}) 2>/dev/null`);
    const s = await api.client.createSession({ cmd: `${probe.join('; ')}; sleep 600`, upload: false });
    const out = await poll('the probe output', async () => {
      const text = (await api.client.logs(s.label)).toString();
      return text.includes('PROBE-DONE') ? text : null;
    });
    for (const forbidden of ['READ-OTHER-WORKSPACE', 'other-secret', 'LISTED-MACHINES', 'READ-DB', 'READ-KEY', 'READ-API-ENV', 'FOUND-CANARY', 'FOUND-TOKEN', 'WROTE-USR']) {
      expect(out, forbidden).not.toContain(forbidden);
    }
    expect(out).toContain('uid=1000');
    expect(out).toMatch(/CapEff:\s+0000000000000000/);
    expect(out).toContain('WROTE-OWN-WORKSPACE');
    expect(readFileSync(join(api.dataDir, 'machines', s.id, 'workspace', 'mine.txt'), 'utf8')).toBe('mine\n');
    await api.client.stop(s.label);
    await api.client.stop(other.label);
  });
});

describe('inactivity TTL', () => {
  it('an idle session is stopped as timed_out after its ttl', async () => {
    const s = await api.client.createSession({ cmd: 'sleep 600', upload: false, ttlSec: 10 });
    const ended = await poll('the session to time out', async () => {
      const got = await api.client.getSession(s.label);
      return got.status === 'running' ? null : got;
    }, 40_000);
    expect(ended.status).toBe('timed_out');
    expect(ended.detail).toMatch(/no activity for 10 s/);
    const started = Date.parse(s.createdAt);
    expect(Date.parse(ended.endedAt!) - started).toBeGreaterThanOrEqual(10_000);
    await expect(fetch(`${s.connectUrl}/healthz`)).rejects.toThrow();
  }, 60_000);
});

describe('forged snapshot reports', () => {
  it('are refused: a key never minted, a minted key with no object, or an object of another size', async () => {
    const s = await api.client.createSession({ cmd: 'sleep 600', upload: false });
    // A compromised machine holds its own machine token. The runtime keeps it out of reach, so
    // give this "machine" a second token for the same session, straight in the state file.
    const machineToken = `cat_mt_${randomBytes(32).toString('base64url')}`;
    const db = new Database(join(api.dataDir, 'catty.db'));
    try {
      const owner = (db.prepare('SELECT owner_id FROM sessions WHERE id = ?').get(s.id) as { owner_id: string }).owner_id;
      db.prepare("INSERT INTO tokens (hash, kind, user_id, session_id, expires_at, revoked, created_at) VALUES (?, 'machine', ?, ?, NULL, 0, ?)").run(
        createHash('sha256').update(machineToken).digest('hex'), owner, s.id, new Date().toISOString());
    } finally {
      db.close();
    }
    const post = (path: string, body: unknown) =>
      fetch(`${api.url}/v1/runtime/${path}`, { method: 'POST', headers: { authorization: `Bearer ${machineToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const sha256 = 'd'.repeat(64);

    const notMinted = await post('snapshots', { key: `sessions/${s.id}/snapshots/forged.tar.gz`, size: 10, sha256 });
    expect(notMinted.status).toBe(400);
    const presign = (await (await post('snapshots/presign', { size: 10 })).json()) as { key: string; url: string };
    const noObject = await post('snapshots', { key: presign.key, size: 10, sha256 });
    expect(noObject.status).toBe(400);
    // an object of 4 bytes where 10 were presigned (the embedded S3 does not enforce the signed
    // length; the HEAD check catches it)
    const put = await fetch(presign.url, { method: 'PUT', body: 'tiny' });
    expect(put.ok).toBe(true);
    const wrongSize = await post('snapshots', { key: presign.key, size: 10, sha256 });
    expect(wrongSize.status).toBe(400);
    expect(((await wrongSize.json()) as { error: { message: string } }).error.message).toMatch(/different size/);
    const lying = await post('snapshots', { key: presign.key, size: 4, sha256 });
    expect(lying.status).toBe(400);
    await expect(api.client.download(s.label)).rejects.toMatchObject({ status: 404 });
    await api.client.stop(s.label);
    // after the stop the machine token is dead
    expect((await post('snapshots/presign', { size: 10 })).status).toBe(401);
  });
});
