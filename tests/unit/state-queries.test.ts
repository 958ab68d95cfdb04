/**
 * The state functions' behaviour, the same on SQLite and Postgres: numbers that stay numbers
 * (sizes past 2^31, counts), timestamps compared and ordered as text, transactions (nested ones
 * join, a throw rolls back), and the conditional updates that make a race have one winner.
 */
import { describe, expect, it } from 'vitest';
import type { Db } from '../../api/state/db.js';
import { deviceCodeByHash, insertDeviceCode, moveDeviceCode } from '../../api/state/device-codes.js';
import { appendRefusals, listRefusals } from '../../api/state/egress-refusals.js';
import { takeAttempt, throttleRow, uncountAttempt } from '../../api/state/login-throttle.js';
import { countLive, endSession, insertSession, listOwned, ownedSession } from '../../api/state/sessions.js';
import { agentKeyMinted, latestRecorded, mintAgentKey, mintSnapshot, recordAgentPart, latestSnapshotTimes, recordedBeyond, recordSnapshot } from '../../api/state/snapshots.js';
import { insertToken, liveToken, revokeToken } from '../../api/state/tokens.js';
import { insertUser, listUsersWithSessions, revokeUserLogins } from '../../api/state/users.js';
import { openTestDb } from '../helpers/postgres.js';

const T0 = '2026-01-01T00:00:00.000Z';
const at = (s: number) => new Date(Date.parse(T0) + s * 1000).toISOString();

async function withUser(db: Db, id = 'u1') {
  await insertUser(db, { id, email: `${id}@example.com`, password_hash: 'h', created_at: T0 });
}

async function session(db: Db, id: string, status: 'running' | 'stopped' | 'provisioning', createdAt = T0, owner = 'u1') {
  await insertSession(db, { id, owner_id: owner, label: `label-${id}`, status, agent: 'shell', provisioner: 'local', connect_token_enc: 'sealed', ttl_sec: 60, created_at: createdAt, last_activity_at: createdAt });
}

describe.each(['sqlite', 'postgres'] as const)('state on %s', (kind) => {
  const open = async () => {
    const db = await openTestDb(kind);
    await withUser(db);
    return db;
  };

  it('knows its dialect', async () => {
    const db = await open();
    expect(db.dialect).toBe(kind);
    await db.close();
  });

  it('sizes past 2^31 (and past 2^32) come back as the same numbers', async () => {
    const db = await open();
    await session(db, 's1', 'running');
    const size = 3 * 2 ** 32 + 7;
    await mintSnapshot(db, { key: 'k1', session_id: 's1', expected_size: size, created_at: at(1) });
    expect(await recordSnapshot(db, 'k1', size + 1, 'a'.repeat(64), at(2))).toBe(true);
    await mintAgentKey(db, { key: 'a1', session_id: 's1', expected_size: size + 2, created_at: at(2) });
    expect(await agentKeyMinted(db, 'a1')).toEqual({ session_id: 's1', expected_size: size + 2 });
    await recordAgentPart(db, 'k1', { key: 'a1', size: size + 2, sha256: 'b'.repeat(64) });
    const row = await latestRecorded(db, 's1');
    expect(row).toMatchObject({ expected_size: size, size: size + 1, agent_size: size + 2, recorded: 1 });
    expect(typeof row!.size).toBe('number');
    expect(await agentKeyMinted(db, 'a1')).toBeUndefined();
    await db.close();
  });

  it('counts are numbers', async () => {
    const db = await open();
    await session(db, 's1', 'running');
    await session(db, 's2', 'provisioning');
    await session(db, 's3', 'stopped');
    expect(await countLive(db, 'u1')).toBe(2);
    expect(await listUsersWithSessions(db)).toMatchObject([{ id: 'u1', sessions: 3, live: 2 }]);
    const [user] = await listUsersWithSessions(db);
    expect(typeof user!.sessions).toBe('number');
    await insertToken(db, { hash: 'r1', kind: 'refresh', user_id: 'u1', session_id: null, expires_at: at(100), created_at: T0 });
    const signedOut = await revokeUserLogins(db, 'u1', at(1));
    expect(signedOut).toBe(1);
    expect(typeof signedOut).toBe('number');
    await db.close();
  });

  it('timestamps compare and order as time (fixed-width ISO text, byte order)', async () => {
    const db = await open();
    // Created out of order; one in a later year, one a millisecond apart.
    await session(db, 'b', 'stopped', '2026-01-01T00:00:00.001Z');
    await session(db, 'c', 'stopped', '2027-01-01T00:00:00.000Z');
    await session(db, 'a', 'stopped', '2026-01-01T00:00:00.000Z');
    expect((await listOwned(db, 'u1')).map((r) => r.id)).toEqual(['c', 'b', 'a']);
    await insertToken(db, { hash: 't1', kind: 'access', user_id: 'u1', session_id: null, expires_at: '2026-01-01T00:00:10.000Z', created_at: T0 });
    expect(await liveToken(db, 't1', 'access', '2026-01-01T00:00:09.999Z')).toBeDefined();
    expect(await liveToken(db, 't1', 'access', '2026-01-01T00:00:10.000Z')).toBeUndefined();
    await db.close();
  });

  it('a nested transaction joins the outer one; a throw rolls back all of it', async () => {
    const db = await open();
    await expect(
      db.transaction(async (tx) => {
        await session(tx, 's1', 'running');
        await tx.transaction(async (inner) => session(inner, 's2', 'running'));
        expect(await countLive(tx, 'u1')).toBe(2);
        throw new Error('undo');
      }),
    ).rejects.toThrow('undo');
    expect(await countLive(db, 'u1')).toBe(0);
    await db.transaction(async (tx) => session(tx, 's3', 'running'));
    expect(await countLive(db, 'u1')).toBe(1);
    await db.close();
  });

  it('conditional updates have one winner: a device code consumed, a session ended, a token revoked, a snapshot recorded', async () => {
    const db = await open();
    await insertDeviceCode(db, { hash: 'd1', user_code: 'BCDF-GHJK', interval_sec: 5, expires_at: at(600), created_at: T0 });
    expect(await moveDeviceCode(db, 'd1', 'pending', { status: 'approved', user_id: 'u1' })).toBe(true);
    const consumed = await Promise.all(Array.from({ length: 8 }, () => moveDeviceCode(db, 'd1', 'approved', { status: 'consumed' })));
    expect(consumed.filter(Boolean)).toHaveLength(1);
    expect(await deviceCodeByHash(db, 'd1')).toMatchObject({ status: 'consumed', user_id: 'u1' });

    await session(db, 's1', 'running');
    const ends = await Promise.all([1, 2, 3].map((n) => endSession(db, 's1', { status: 'stopped', ended_at: at(n), detail: `end ${n}` })));
    expect(ends.filter(Boolean)).toHaveLength(1);
    expect(await ownedSession(db, 'u1', 'label-s1')).toMatchObject({ status: 'stopped', connect_token_enc: null });

    await insertToken(db, { hash: 't1', kind: 'refresh', user_id: 'u1', session_id: null, expires_at: null, created_at: T0 });
    expect((await Promise.all([revokeToken(db, 't1'), revokeToken(db, 't1')])).filter(Boolean)).toHaveLength(1);

    await mintSnapshot(db, { key: 'k1', session_id: 's1', expected_size: 1, created_at: T0 });
    expect((await Promise.all([recordSnapshot(db, 'k1', 1, 'a'.repeat(64), at(1)), recordSnapshot(db, 'k1', 1, 'a'.repeat(64), at(2))])).filter(Boolean)).toHaveLength(1);
    await db.close();
  });

  it('snapshots: newest kept, the rest listed oldest first; which sessions have one', async () => {
    const db = await open();
    await session(db, 's1', 'stopped');
    await session(db, 's2', 'stopped');
    for (let i = 0; i < 4; i++) {
      await mintSnapshot(db, { key: `k${i}`, session_id: 's1', expected_size: 1, created_at: at(i) });
      await recordSnapshot(db, `k${i}`, 1, 'a'.repeat(64), at(i));
    }
    expect((await recordedBeyond(db, 's1', 2)).map((r) => r.key)).toEqual(['k0', 'k1']);
    expect([...(await latestSnapshotTimes(db, 'u1'))]).toEqual([['s1', at(3)]]);
    await db.close();
  });

  it('refusals keep the newest, numbered per session; the throttle counts up and down', async () => {
    const db = await open();
    await session(db, 's1', 'running');
    const refusal = (host: string) => ({ time: T0, method: 'CONNECT', host, port: 443, reason: 'not-allowed' as const, message: 'no' });
    await appendRefusals(db, 's1', [refusal('a'), refusal('b'), refusal('c')], 2);
    await appendRefusals(db, 's1', [refusal('d')], 2);
    expect((await listRefusals(db, 's1')).map((r) => r.host)).toEqual(['c', 'd']);

    // Twenty at once against a limit of 5: five taken, in the first window.
    const taken = await Promise.all(Array.from({ length: 20 }, () => takeAttempt(db, 'k', 5, at(0), at(60))));
    expect(taken.filter(Boolean)).toHaveLength(5);
    expect(await throttleRow(db, 'k')).toEqual({ key: 'k', attempts: 5, window_ends_at: at(60) });
    // Once the window has passed, it starts again.
    expect(await takeAttempt(db, 'k', 5, at(60), at(120))).toBe(true);
    expect(await throttleRow(db, 'k')).toEqual({ key: 'k', attempts: 1, window_ends_at: at(120) });
    await uncountAttempt(db, 'k');
    await uncountAttempt(db, 'k');
    expect((await throttleRow(db, 'k'))!.attempts).toBe(0);
    await db.close();
  });
});
