/**
 * What replicas share through the database, on SQLite and on a real Postgres (the run's test
 * server, tests/helpers/postgres.ts): leases (api/state/leases.ts) — one holder at a time, among
 * claims racing on separate connections too, renewed by its holder, taken over once expired,
 * released; the stop claim — of many stops of one session, one wins; and the key canary
 * (api/state/key-canary.ts) — written once, opened by the same key, a wrong key refused with
 * the message naming CATTY_SECRET_KEY, a rotation accepted and sealed again (connect tokens too).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { decryptWith, encrypt } from '../../api/crypto.js';
import { silentLogger } from '../../api/logger.js';
import { openDatabase, type Db } from '../../api/state/db.js';
import { checkKeyCanary, WRONG_KEY_MESSAGE } from '../../api/state/key-canary.js';
import { claimLease, claimStop, leaseHolder, releaseLease } from '../../api/state/leases.js';
import { insertSession, sessionById } from '../../api/state/sessions.js';
import { insertUser } from '../../api/state/users.js';
import { freshDatabaseUrl } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp-dir.js';

const open: Db[] = [];
afterAll(async () => {
  for (const db of open) await db.close();
});

/** Two handles on one database (two replicas' pools), SQLite file or Postgres. */
async function twoHandles(kind: 'sqlite' | 'postgres', dir: string): Promise<[Db, Db]> {
  const target = kind === 'postgres' ? await freshDatabaseUrl() : `${dir}/catty.db`;
  const a = await openDatabase(target);
  const b = await openDatabase(target);
  open.push(a, b);
  return [a, b];
}

async function aSession(db: Db, status: 'running' | 'stopped' = 'running'): Promise<string> {
  const owner = `u_${randomBytes(4).toString('hex')}`;
  await insertUser(db, { id: owner, email: `${owner}@example.com`, password_hash: 'x', created_at: new Date(0).toISOString() });
  const id = randomBytes(12).toString('hex');
  await insertSession(db, { id, owner_id: owner, label: `l-${id}`, status, agent: 'shell', provisioner: 'docker', connect_token_enc: null, ttl_sec: 60, created_at: new Date(0).toISOString(), last_activity_at: new Date(0).toISOString() });
  return id;
}

describe.each(['sqlite', 'postgres'] as const)('on %s', (kind) => {
  it('a lease has one holder: claims race, the holder renews, an expired lease is taken over, a released one is free', async () => {
    const [a, b] = await twoHandles(kind, tempDir('leases'));
    const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => claimLease(i % 2 ? a : b, 'sweep', `r${i}`, 1000, 0)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    const holder = `r${claims.indexOf(true)}`;
    expect(await leaseHolder(b, 'sweep', 10)).toBe(holder);
    expect(await claimLease(a, 'sweep', 'other', 1000, 500)).toBe(false);
    expect(await claimLease(b, 'sweep', holder, 1000, 900)).toBe(true); // renewed to 1900
    expect(await claimLease(a, 'sweep', 'other', 1000, 1500)).toBe(false);
    // The holder stops renewing (a crash): past expiry another replica takes it.
    expect(await claimLease(a, 'sweep', 'other', 1000, 1900)).toBe(true);
    expect(await leaseHolder(a, 'sweep', 1901)).toBe('other');
    // Release by a non-holder changes nothing; by the holder frees it at once.
    await releaseLease(b, 'sweep', holder);
    expect(await leaseHolder(a, 'sweep', 1901)).toBe('other');
    await releaseLease(b, 'sweep', 'other');
    expect(await leaseHolder(a, 'sweep', 1901)).toBeNull();
    expect(await claimLease(b, 'sweep', holder, 1000, 1902)).toBe(true);
  });

  it('a stop is claimed once across replicas; an ended session cannot be claimed; a stale claim can be taken again', async () => {
    const [a, b] = await twoHandles(kind, tempDir('stops'));
    const id = await aSession(a);
    const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => claimStop(i % 2 ? a : b, id, 1000, 60_000)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await claimStop(a, id, 30_000, 60_000)).toBe(false);
    // The replica that claimed it died mid-stop: after the stale period another may.
    expect(await claimStop(b, id, 61_001, 60_000)).toBe(true);
    const ended = await aSession(a, 'stopped');
    expect(await claimStop(a, ended, 1000, 60_000)).toBe(false);
    expect((await sessionById(a, id))?.status).toBe('running');
  });

  it('the key canary: written once, opened by the same key, a wrong key refused by name, a rotation sealed again', async () => {
    const [a, b] = await twoHandles(kind, tempDir('canary'));
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const first = await Promise.all([checkKeyCanary(a, { current: oldKey, previous: null }, 1, silentLogger()), checkKeyCanary(b, { current: oldKey, previous: null }, 2, silentLogger())]);
    expect(first.map((r) => r.outcome).sort()).toEqual(['opened', 'written']);
    expect((await checkKeyCanary(b, { current: oldKey, previous: null }, 3, silentLogger())).outcome).toBe('opened');
    const wrong = checkKeyCanary(b, { current: newKey, previous: null }, 4, silentLogger());
    await expect(wrong).rejects.toThrow(WRONG_KEY_MESSAGE);
    await expect(wrong).rejects.toThrow(/CATTY_SECRET_KEY/);
    // A live session's connect token sealed under the old key.
    const id = randomBytes(12).toString('hex');
    const sessionId = await aSession(a);
    await a.k.updateTable('sessions').set({ connect_token_enc: encrypt(oldKey, `cat_ct_${id}`, `connect:${sessionId}`) }).where('id', '=', sessionId).execute();
    const rotated = await checkKeyCanary(b, { current: newKey, previous: oldKey }, 5, silentLogger());
    expect(rotated).toEqual({ outcome: 'rotated', resealed: 1 });
    const row = await sessionById(a, sessionId);
    expect(decryptWith(newKey, row!.connect_token_enc!, `connect:${sessionId}`)).toBe(`cat_ct_${id}`);
    // The new key alone now opens it; the old key alone no longer does.
    expect((await checkKeyCanary(a, { current: newKey, previous: null }, 6, silentLogger())).outcome).toBe('opened');
    await expect(checkKeyCanary(a, { current: oldKey, previous: null }, 7, silentLogger())).rejects.toThrow(WRONG_KEY_MESSAGE);
  });
});
