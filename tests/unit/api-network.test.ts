/**
 * A session's network policy in the API (issue 20, item 4): taken with the create request
 * (checked by the seam's schema), stored, answered with the session, handed to the egress
 * listener opened for it before its machine starts (MachineSpec.egressDir), closed when it ends,
 * opened again by reconcile; refusals kept per session (newest 500) and served by GET net-log.
 * Fakes for the provisioner and the listeners (tests/helpers/api-fakes.ts); the real listeners
 * and their directories in the second half (services/egress.ts over a temp data dir).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { routes } from '../../api/contract/routes.js';
import { CreatedSession, NetLog, Session, SessionList } from '../../api/contract/schemas.js';
import { createSessionEgress } from '../../api/services/egress.js';
import { reconcile } from '../../api/services/reconcile.js';
import { openTestDb } from '../helpers/postgres.js';
import { appendRefusals, listRefusals } from '../../api/state/egress-refusals.js';
import { insertSession } from '../../api/state/sessions.js';
import { silentLogger } from '../../api/logger.js';
import type { EgressRefusal } from '../../session-runtime/wire/network-policy.js';
import { appWithTwoUsers, call } from '../helpers/api-fakes.js';
import { policy } from '../helpers/egress.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const refusal = (host: string, n = 0): EgressRefusal => ({
  time: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
  method: 'CONNECT',
  host,
  port: 443,
  reason: 'not-allowed',
  message: `${host}:443: ${host} is not in this session's network policy (--net trusted)`,
});

describe('the network policy of a session', () => {
  it('is taken with the request, stored, answered, and given to the listener opened before the machine', async () => {
    const { deps, app, alice } = await appWithTwoUsers();
    const network = policy('none', 'registry.npmjs.org', '127.0.0.1:8443');
    const res = await call(app, routes.createSession, { token: alice, body: { network } });
    expect(res.status).toBe(201);
    const created = CreatedSession.parse(res.body);
    expect(created.network).toEqual(network);
    expect(deps.egress.opened.get(created.id)).toEqual(network);
    const [machine] = [...deps.provisioner.machines.values()];
    expect(machine!.spec.egressDir).toBe(`/nonexistent/egress/${created.id}`);
    const listed = SessionList.parse((await call(app, routes.listSessions, { token: alice })).body).sessions;
    expect(listed.find((s) => s.id === created.id)?.network).toEqual(network);
    expect(Session.parse((await call(app, routes.getSession, { params: { ref: created.label }, token: alice })).body).network).toEqual(network);
  });

  it('is the trusted preset when the request has none (a CLI older than policies)', async () => {
    const { deps, app, alice } = await appWithTwoUsers();
    const created = CreatedSession.parse((await call(app, routes.createSession, { token: alice, body: {} })).body);
    expect(created.network).toEqual({ preset: 'trusted', allow: [] });
    expect(deps.egress.opened.get(created.id)).toEqual({ preset: 'trusted', allow: [] });
  });

  it('is refused with a 400 when it is not one the seam would make (unknown preset, a URL, an uncanonical host, a bad port)', async () => {
    const { deps, app, alice } = await appWithTwoUsers();
    for (const network of [
      { preset: 'open', allow: [] },
      { preset: 'trusted', allow: [{ host: 'https://example.com', ports: [443] }] },
      { preset: 'trusted', allow: [{ host: 'Example.COM', ports: [443] }] },
      { preset: 'trusted', allow: [{ host: 'example.com', ports: [70000] }] },
      { preset: 'trusted', allow: [{ host: 'example.com', ports: [443] }, { host: 'example.com', ports: [80] }] },
      { preset: 'trusted' },
    ]) {
      const res = await call(app, routes.createSession, { token: alice, body: { network } });
      expect(res.status, JSON.stringify(network)).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
    expect(deps.provisioner.machines.size).toBe(0);
    expect(deps.egress.opened.size).toBe(0);
  });

  it('loses its listener when the session ends (stopped, or its start failed) or is deleted; reconcile opens those of running sessions again', async () => {
    const { deps, app, alice } = await appWithTwoUsers();
    const stopped = CreatedSession.parse((await call(app, routes.createSession, { token: alice, body: {} })).body);
    const kept = CreatedSession.parse((await call(app, routes.createSession, { token: alice, body: { network: policy('full') } })).body);
    await call(app, routes.stop, { params: { ref: stopped.label }, token: alice });
    await Promise.all(deps.background);
    expect(deps.egress.closed).toContain(stopped.id);
    expect(deps.egress.opened.has(stopped.id)).toBe(false);

    deps.provisioner.unhealthy = true;
    const failed = await call(app, routes.createSession, { token: alice, body: {} });
    expect(failed.status).toBe(503);
    await Promise.all(deps.background);
    expect(deps.egress.opened.size).toBe(1);

    // An API restart: its listeners are gone; the running session gets its own back.
    deps.egress.opened.clear();
    expect((await reconcile(deps)).kept).toEqual([kept.id]);
    expect(deps.egress.restored).toEqual([kept.id]);
    expect(deps.egress.opened.get(kept.id)).toEqual({ preset: 'full', allow: [] });

    deps.egress.refused.set(kept.id, [refusal('example.com')]);
    await call(app, routes.deleteSession, { params: { ref: kept.label }, token: alice });
    expect(deps.egress.opened.has(kept.id)).toBe(false);
  });
});

describe('GET /v1/sessions/:ref/net-log', () => {
  it("answers the session's refusals, newest last; another user's session is a 404", async () => {
    const { deps, app, alice, bob } = await appWithTwoUsers();
    const s = CreatedSession.parse((await call(app, routes.createSession, { token: alice, body: {} })).body);
    expect(NetLog.parse((await call(app, routes.netLog, { params: { ref: s.label }, token: alice })).body)).toEqual({ refusals: [] });
    deps.egress.refused.set(s.id, [refusal('a.example', 1), { ...refusal('localhost', 2), reason: 'private-address', address: '127.0.0.1' }]);
    const log = NetLog.parse((await call(app, routes.netLog, { params: { ref: s.label }, token: alice })).body);
    expect(log.refusals.map((r) => r.host)).toEqual(['a.example', 'localhost']);
    expect(log.refusals[1]?.address).toBe('127.0.0.1');
    expect((await call(app, routes.netLog, { params: { ref: s.label }, token: bob })).status).toBe(404);
    expect((await call(app, routes.netLog, { params: { ref: s.label } })).status).toBe(401);
  });
});

describe('refusals in the database', () => {
  it('are numbered per session, newest last, and only the newest 500 are kept', async () => {
    const db = await openTestDb();
    await db.k.insertInto('users').values({ id: 'u', email: 'u@x', password_hash: 'h', created_at: 'now' }).execute();
    for (const id of ['s1', 's2']) await insertSession(db, { id, owner_id: 'u', label: id, status: 'running', agent: 'shell', provisioner: 'local', connect_token_enc: null, ttl_sec: 60, created_at: 'x', last_activity_at: 'x' });
    await appendRefusals(db, 's1', Array.from({ length: 300 }, (_, i) => refusal(`h${i}.example`)));
    await appendRefusals(db, 's2', [refusal('other.example')]);
    await appendRefusals(db, 's1', Array.from({ length: 300 }, (_, i) => refusal(`h${300 + i}.example`)));
    const kept = await listRefusals(db, 's1');
    expect(kept).toHaveLength(500);
    expect(kept[0]?.host).toBe('h100.example');
    expect(kept.at(-1)?.host).toBe('h599.example');
    expect((await listRefusals(db, 's2')).map((r) => r.host)).toEqual(['other.example']);
    expect(kept[0]).not.toHaveProperty('address');
  });
});

describe('the listeners (services/egress.ts)', () => {
  async function setup() {
    const dataDir = tempDir('egress-svc');
    const db = await openTestDb();
    await db.k.insertInto('users').values({ id: 'u', email: 'u@x', password_hash: 'h', created_at: 'now' }).execute();
    const session = (id: string, status: 'running' | 'stopped' = 'running') =>
      insertSession(db, { id, owner_id: 'u', label: id, status, agent: 'shell', provisioner: 'local', connect_token_enc: null, ttl_sec: 60, created_at: 'x', last_activity_at: 'x' });
    const egress = createSessionEgress({ dataDir, db, logger: silentLogger(), flushMs: 200, inProcessNode: true });
    onCleanup(() => egress.shutdown());
    return { dataDir, db, session, egress };
  }

  /** A CONNECT through the session's socket; resolves with the status line's code. */
  const connectThrough = (socketPath: string, authority: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const socket = net.connect(socketPath);
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('error', reject);
      socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`);
    });

  it('listen at <dataDir>/node/egress/<id>/proxy.sock in 0700 directories; refusals reach the database; close removes the directory', async () => {
    const { dataDir, session, egress } = await setup();
    await session('s1');
    const dir = await egress.open('s1', policy('none'));
    expect(dir).toBe(path.join(dataDir, 'node', 'egress', 's1'));
    for (const d of [path.join(dataDir, 'node'), path.join(dataDir, 'node', 'egress'), dir]) expect(fs.statSync(d).mode & 0o777, d).toBe(0o700);
    const socketPath = path.join(dir, 'proxy.sock');
    expect(fs.lstatSync(socketPath).isSocket()).toBe(true);
    // The first refusal is written at once; those that follow within the period together.
    expect(await connectThrough(socketPath, 'api.anthropic.com:443')).toBe(403);
    expect((await egress.refusals('s1')).map((r) => [r.host, r.reason])).toEqual([['api.anthropic.com', 'net-none']]);
    expect(await connectThrough(socketPath, 'example.com:443')).toBe(403);
    expect(await connectThrough(socketPath, 'example.org:443')).toBe(403);
    expect((await egress.refusals('s1')).map((r) => r.host)).toEqual(['api.anthropic.com', 'example.com', 'example.org']);
    await egress.close('s1');
    expect(fs.existsSync(dir)).toBe(false);
    expect(await egress.refusals('s1')).toHaveLength(3);
    await egress.close('s1'); // idempotent
  });

  it('restore() listens again at the same path in the same directory (what a machine bound) and removes the directories of ended sessions', async () => {
    const first = await setup();
    await first.session('running1');
    await first.session('ended1');
    const dir = await first.egress.open('running1', policy('none'));
    await first.egress.open('ended1', policy('none'));
    const inode = fs.statSync(dir).ino;
    await first.db.k.updateTable('sessions').set({ status: 'stopped' }).where('id', '=', 'ended1').execute();
    // The API and its (in-process) node gone: listeners closed, directories left.
    await first.egress.shutdown();

    const again = createSessionEgress({ dataDir: first.dataDir, db: first.db, logger: silentLogger(), inProcessNode: true });
    onCleanup(() => again.shutdown());
    await again.restore([{ id: 'running1', policy: policy('none') }]);
    expect(fs.statSync(dir).ino).toBe(inode);
    expect(await connectThrough(path.join(dir, 'proxy.sock'), 'example.com:443')).toBe(403);
    expect(fs.existsSync(path.join(first.dataDir, 'node', 'egress', 'ended1'))).toBe(false);
    await waitFor(async () => (await again.refusals('running1')).length === 1, 'the refusal recorded');
  });

  it('refuses a data directory whose socket paths would not fit sockaddr_un, saying which setting to change', async () => {
    const dataDir = path.join(tempDir('egress-long'), 'x'.repeat(80));
    const egress = createSessionEgress({ dataDir, db: await openTestDb(), logger: silentLogger(), inProcessNode: true });
    await expect(egress.open('0123456789abcdef01234567', policy('none'))).rejects.toThrow(/longer than a Unix socket allows.*CATTY_DATA_DIR/);
  });
});
