/**
 * Security case 58 (issue 21, item 7): the /device sign-in's brake on password guessing, through
 * the built catty-api over HTTP. Parallel guesses are counted before any password is checked
 * (at most 10 per account, 100 per client address, per 15 minutes); a flood of failures on
 * other emails never clears a blocked account; an unknown email costs what a known one does.
 * Clients come from distinct loopback addresses (127.0.0.x), as distinct machines would.
 */
import { describe, expect } from 'vitest';
import { LoginThrottle } from '../../api/auth/throttle.js';
import { openDatabase } from '../../api/state/db.js';
import { freshDatabaseUrl, testDatabaseKind } from '../helpers/postgres.js';
import type { TestApi } from '../helpers/api.js';
import { testWithApi } from '../helpers/fixtures.js';
import { signInClient, type SignInAnswer } from '../helpers/sign-in-client.js';

const it = testWithApi();

/** A browser at `from` signing in on this API (tests/helpers/sign-in-client.ts). */
const signInAt = (api: TestApi, from: string) => signInClient(api.url, from, 64);

const count = (answers: SignInAnswer[], status: number) => answers.filter((a) => a.status === status).length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

describe('58: the sign-in throttle (issue 21, item 7)', () => {
  it('58: 200 parallel guesses at one account: 10 are checked, 190 refused; then even the right password waits', async ({ api }) => {
    const client = await signInAt(api, '127.0.0.2');
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => client.login(api.email, `guess-${i}`)));
    expect({ checked: count(answers, 401), refused: count(answers, 429) }).toEqual({ checked: 10, refused: 190 });
    expect((await client.login(api.email, api.password)).status).toBe(429);
    // From another address too: the block is the account's.
    const other = await signInAt(api, '127.0.0.3');
    expect((await other.login(api.email.toUpperCase(), api.password)).status).toBe(429);
    client.close();
    other.close();
  });

  it('58: 200 parallel guesses at 200 unknown emails from one address: 100 are checked', async ({ api }) => {
    const client = await signInAt(api, '127.0.0.4');
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => client.login(`nobody-${i}@example.com`, 'guess')));
    expect({ checked: count(answers, 401), refused: count(answers, 429) }).toEqual({ checked: 100, refused: 100 });
    client.close();
  }, 60_000);

  it('58: 2,000 failures on unknown emails never clear a blocked account (10,001 on the database below)', async ({ api }) => {
    const victim = 'victim@example.com';
    await api.addUser(victim, 'victim password 1');
    const attacker = await signInAt(api, '127.0.0.5');
    for (let i = 0; i < 10; i++) expect((await attacker.login(victim, `guess-${i}`)).status).toBe(401);
    expect((await attacker.login(victim, 'victim password 1')).status).toBe(429);
    // The flood, 32 at a time (each check is a real scrypt, ~90 ms of a core here).
    const clients = [attacker];
    let next = 0;
    const statuses = new Map<number, number>();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < 2_000) {
          const i = next++;
          const { status } = await clients[i % clients.length]!.login(`flood-${i}@example.com`, 'x');
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }),
    );
    // The address had 100 checks (10 used on the victim); the rest were refused without a hash.
    expect(Object.fromEntries(statuses)).toEqual({ 401: 90, 429: 2_000 - 90 });
    expect((await attacker.login(victim, 'victim password 1')).status).toBe(429);
    const elsewhere = await signInAt(api, '127.0.2.1');
    expect((await elsewhere.login(victim, 'victim password 1')).status).toBe(429);
    for (const c of [elsewhere, attacker]) c.close();
  }, 120_000);

  it('58: an unknown email takes as long to refuse as a wrong password for a known one (medians of 21, within 1.5×)', async ({ api }) => {
    const email = 'timed@example.com';
    await api.addUser(email, 'timed password 1');
    const client = await signInAt(api, '127.0.0.6');
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 21; i++) {
      const wrong = await client.login(email, `wrong-${i}`);
      expect(wrong.status).toBe(401);
      known.push(wrong.ms);
      // A right password between the rounds keeps the account under its limit.
      expect((await client.login(email, 'timed password 1')).status).toBe(303);
      const nobody = await client.login(`nobody-${i}@example.com`, `wrong-${i}`);
      expect(nobody.status).toBe(401);
      unknown.push(nobody.ms);
    }
    const [k, u] = [median(known), median(unknown)];
    console.log(`58: median ${k.toFixed(1)} ms for a known email, ${u.toFixed(1)} ms for an unknown one`);
    expect(Math.max(k, u) / Math.min(k, u)).toBeLessThan(1.5);
    client.close();
  }, 60_000);
});

describe('58: the throttle keeps its counts in the database', () => {
  it('58: two API processes on one database share the count, and no number of other keys evicts one', async () => {
    const target = testDatabaseKind() === 'postgres' ? await freshDatabaseUrl() : `${process.env.TMPDIR ?? '/tmp'}/catty-throttle-${process.pid}-${Date.now()}.db`;
    const [a, b] = [await openDatabase(target), await openDatabase(target)];
    const [one, two] = [new LoginThrottle(a), new LoginThrottle(b)];
    const now = Date.parse('2026-01-01T00:00:00Z');
    for (let i = 0; i < 10; i++) expect((await (i % 2 ? one : two).take('ada@example.com', `10.0.0.${i}`, now)).ok).toBe(true);
    expect((await one.take('ada@example.com', '10.0.1.1', now)).ok).toBe(false);
    // Taken 50 at a time (one connection on SQLite serialises them anyway; Postgres's pool runs them).
    for (let start = 0; start < 10_001; start += 50) {
      await Promise.all(Array.from({ length: Math.min(50, 10_001 - start) }, (_, j) => start + j).map((i) => two.take(`flood-${i}@example.com`, `10.1.${i >> 8}.${i & 255}`, now + 1)));
    }
    expect(await one.take('ada@example.com', '10.0.1.2', now + 2)).toMatchObject({ ok: false });
    expect((await two.take('ada@example.com', '10.0.1.2', now + 15 * 60 * 1000)).ok).toBe(true);
    await a.close();
    await b.close();
  }, 120_000);

  it('58: attempts taken at once never pass the limit together', async () => {
    // Postgres: two pools, as two replicas have. SQLite: one connection, as one API process has
    // (two in one process would wait on each other's lock synchronously; across processes its
    // write lock serialises them).
    const target = testDatabaseKind() === 'postgres' ? await freshDatabaseUrl() : ':memory:';
    const a = await openDatabase(target);
    const b = testDatabaseKind() === 'postgres' ? await openDatabase(target) : a;
    const [one, two] = [new LoginThrottle(a), new LoginThrottle(b)];
    const now = Date.parse('2026-01-01T00:00:00Z');
    const taken = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? one : two).take('ada@example.com', `10.0.0.${i}`, now)));
    expect(taken.filter((t) => t.ok)).toHaveLength(10);
    await a.close();
    if (b !== a) await b.close();
  });
});
