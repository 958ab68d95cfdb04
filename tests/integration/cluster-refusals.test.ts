/**
 * Refusals of sessions whose egress proxy is in a cluster node (issue 22: Swarm sessions), and in
 * a host node that replicas share (shared mode on Docker: one data dir, one catty-node), written
 * into the database once however many API-side collectors watch the node, acknowledged in the
 * node after the write, and answered by `GET /v1/sessions/:ref/net-log`. The node is the built
 * catty-node in cluster mode (mutual TLS); the database a real Postgres. And appendRefusals from
 * many writers at once for one session: every refusal kept, numbered without a gap.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { issueTokenPair } from '../../api/auth/tokens.js';
import { routes } from '../../api/contract/routes.js';
import { NetLog } from '../../api/contract/schemas.js';
import { silentLogger } from '../../api/logger.js';
import { nodeRoutes } from '../../api/node/contract.js';
import { loadApiTls, remoteNode } from '../../api/node/remote.js';
import type { Provisioner } from '../../api/provisioners/types.js';
import { createClusterRefusals } from '../../api/services/cluster-refusals.js';
import { createSessionEgress } from '../../api/services/egress.js';
import { drainNodeRefusals, newDrainerId } from '../../api/services/refusal-drain.js';
import { createUser } from '../../api/services/users.js';
import type { Db } from '../../api/state/db.js';
import { appendRefusals, listRefusals } from '../../api/state/egress-refusals.js';
import { insertSession } from '../../api/state/sessions.js';
import type { EndpointTls } from '../../session-runtime/wire/runtime-address.js';
import { makeTestDeps, call } from '../helpers/api-fakes.js';
import { onCleanup } from '../helpers/cleanup.js';
import { makeCerts, startClusterNode, type ClusterCerts } from '../helpers/cluster-node.js';
import { policy, viaProxy } from '../helpers/egress.js';
import { openTestDb } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const T0 = '2026-01-01T00:00:00.000Z';
let root: string;
let certs: ClusterCerts;
let apiTls: EndpointTls;

beforeAll(() => {
  root = tempDir('cluster-refusals');
  certs = makeCerts(root);
  apiTls = loadApiTls(certs.apiDir);
}, 60_000);

async function session(db: Db, id: string, ownerId: string): Promise<void> {
  await insertSession(db, { id, owner_id: ownerId, label: `label-${id}`, status: 'running', agent: 'shell', provisioner: 'swarm', connect_token_enc: 'sealed', ttl_sec: 600, created_at: T0, last_activity_at: T0 });
}

/** `count` requests the session's policy ('none') refuses, through its proxy socket. */
async function knock(socketPath: string, count: number, tag: string): Promise<void> {
  for (let i = 0; i < count; i++) expect((await viaProxy(socketPath, `http://${tag}-${i}.example/`)).status).toBe(403);
}

describe('refusals collected from catty-nodes by two API-side collectors on one Postgres', () => {
  it('land in the database once, acknowledged in the node, and net-log answers them (cluster node, and a host node replicas share)', async () => {
    const deps = await makeTestDeps({}, 'postgres');
    const { db } = deps;
    onCleanup(() => db.close());
    const alice = await createUser(deps, 'alice@example.com', 'password-alice');
    const token = (await issueTokenPair(deps, alice.id)).access_token;
    const [onCluster, onHost] = ['a1'.repeat(12), 'b2'.repeat(12)];
    await session(db, onCluster, alice.id);
    await session(db, onHost, alice.id);

    // The cluster node holds onCluster's proxy; refusals queue there before anyone watches.
    const node = await startClusterNode(certs.nodeDir, path.join(root, 'nd'), { CATTY_NODE_DOCKER_SOCKET: path.join(root, 'no-engine.sock') });
    const admin = remoteNode(node.url, apiTls);
    const { egressDir } = await admin.call(nodeRoutes.openSession, { id: onCluster, body: { policy: policy('none'), credentials: { inject: [] } } });
    await knock(path.join(egressDir, 'proxy.sock'), 3, 'early');

    // Two replicas: each its egress service (one data dir: one host node between them) and the
    // provisioner's cluster nodes, each through its own TLS client.
    const dataDir = tempDir('shared-data');
    const replicas = [0, 1].map(() => createSessionEgress({ dataDir, db, logger: silentLogger(), inProcessNode: true, flushMs: 20 }));
    for (const r of replicas) await r.start();
    onCleanup(async () => {
      await replicas[1]!.shutdown();
      await replicas[0]!.shutdown();
    });
    const provisioner = { clusterNodes: () => Promise.resolve([remoteNode(node.url, apiTls)]) } as Pick<Provisioner, 'clusterNodes'> as Provisioner;
    await Promise.all(replicas.map((r) => r.collectCluster!(provisioner, 60_000)));
    await knock(path.join(egressDir, 'proxy.sock'), 5, 'late');
    const hostDir = await replicas[0]!.open(onHost, policy('none'));
    await knock(path.join(hostDir, 'proxy.sock'), 4, 'host');

    // Both replicas watch both nodes; each refusal is written once.
    const hosts = async (id: string) => (await listRefusals(db, id)).map((r) => r.host).sort();
    await waitFor(async () => (await hosts(onCluster)).length >= 8 && (await hosts(onHost)).length >= 4, 'every refusal in the database', { timeoutMs: 10_000, everyMs: 50 });
    // Every drain finished (those queued by the last events too): nothing more is written.
    await Promise.all(replicas.map((r) => r.refusals(onCluster)));
    expect(await hosts(onCluster)).toEqual([...['early-0', 'early-1', 'early-2'], ...['late-0', 'late-1', 'late-2', 'late-3', 'late-4']].map((h) => `${h}.example`));
    expect(await hosts(onHost)).toEqual(['host-0', 'host-1', 'host-2', 'host-3'].map((h) => `${h}.example`));
    // Acknowledged: the nodes hold none of them any more.
    expect((await admin.call(nodeRoutes.refusals)).refusals).toEqual([]);

    // `catty logs --net` through either replica answers them from the database, in order.
    for (const egress of replicas) {
      const app = createApp({ ...deps, egress });
      const log = NetLog.parse((await call(app, routes.netLog, { params: { ref: onCluster }, token })).body);
      expect(log.refusals.map((r) => r.host)).toEqual([0, 1, 2].map((i) => `early-${i}.example`).concat([0, 1, 2, 3, 4].map((i) => `late-${i}.example`)));
    }
  }, 60_000);

  it('two drains of one node at once: the batch is written by one, the other finds the node busy', async () => {
    const db = await openTestDb('postgres');
    onCleanup(() => db.close());
    const node = await startClusterNode(certs.nodeDir, path.join(root, 'nd-race'), { CATTY_NODE_DOCKER_SOCKET: path.join(root, 'no-engine.sock') });
    const remote = remoteNode(node.url, apiTls);
    const id = 'c3'.repeat(12);
    await db.k.insertInto('users').values({ id: 'u1', email: 'u1@example.com', password_hash: 'h', created_at: T0 }).execute();
    await session(db, id, 'u1');
    const { egressDir } = await remote.call(nodeRoutes.openSession, { id, body: { policy: policy('none'), credentials: { inject: [] } } });
    await knock(path.join(egressDir, 'proxy.sock'), 6, 'race');
    const { instance } = await remote.call(nodeRoutes.health);
    const results = await Promise.all([0, 1].map(() => drainNodeRefusals(db, remoteNode(node.url, apiTls), instance, silentLogger(), newDrainerId())));
    expect(results.sort()).toEqual(['busy', 'drained']);
    expect((await listRefusals(db, id)).map((r) => r.host)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `race-${i}.example`));
    expect((await remote.call(nodeRoutes.refusals)).refusals).toEqual([]);
  }, 30_000);

  it('a collector watches for forMs past its last collect, then lets the nodes go', async () => {
    const db = await openTestDb('postgres');
    onCleanup(() => db.close());
    const node = await startClusterNode(certs.nodeDir, path.join(root, 'nd-expiry'), { CATTY_NODE_DOCKER_SOCKET: path.join(root, 'no-engine.sock') });
    const collector = createClusterRefusals({ db, logger: silentLogger(), flushMs: 20 });
    onCleanup(() => collector.close());
    const id = 'd4'.repeat(12);
    await db.k.insertInto('users').values({ id: 'u1', email: 'u1@example.com', password_hash: 'h', created_at: T0 }).execute();
    await session(db, id, 'u1');
    const remote = remoteNode(node.url, apiTls);
    const { egressDir } = await remote.call(nodeRoutes.openSession, { id, body: { policy: policy('none'), credentials: { inject: [] } } });
    await collector.collect([remoteNode(node.url, apiTls)], 300);
    await knock(path.join(egressDir, 'proxy.sock'), 1, 'watched');
    await waitFor(async () => (await listRefusals(db, id)).length === 1, 'the refusal written while watched', { timeoutMs: 5_000, everyMs: 20 });
    // Past forMs with no collect (the lease went elsewhere): the collector holds no node, and a
    // refusal now stays queued in the node for the next collector.
    const deadline = Date.now() + 300;
    await waitFor(() => Date.now() > deadline + 50, 'forMs to pass', { timeoutMs: 2_000, everyMs: 20 });
    await knock(path.join(egressDir, 'proxy.sock'), 1, 'unwatched');
    await collector.drainAll();
    expect((await listRefusals(db, id)).map((r) => r.host)).toEqual(['watched-0.example']);
    expect((await remote.call(nodeRoutes.refusals)).refusals.map((q) => q.refusal.host)).toEqual(['unwatched-0.example']);
  }, 30_000);
});

describe.each(['sqlite', 'postgres'] as const)('appendRefusals on %s', (kind) => {
  it('twenty writers at once for one session: every refusal kept, numbered 1..n', async () => {
    const db = await openTestDb(kind);
    onCleanup(() => db.close());
    await db.k.insertInto('users').values({ id: 'u1', email: 'u1@example.com', password_hash: 'h', created_at: T0 }).execute();
    await session(db, 's1', 'u1');
    const refusal = (host: string) => ({ time: T0, method: 'CONNECT', host, port: 443, reason: 'not-allowed' as const, message: 'no' });
    const written = await Promise.all(Array.from({ length: 20 }, (_, i) => appendRefusals(db, 's1', [refusal(`w${i}-a`), refusal(`w${i}-b`)])));
    expect(written.every(Boolean)).toBe(true);
    const rows = await db.k.selectFrom('egress_refusals').select(['seq', 'host']).where('session_id', '=', 's1').orderBy('seq').execute();
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    // Each writer's batch stays together, in its order.
    for (let i = 0; i < 40; i += 2) expect(rows[i + 1]!.host).toBe(rows[i]!.host.replace(/-a$/, '-b'));
    // A session the database does not know: nothing written, no error.
    expect(await appendRefusals(db, 'gone', [refusal('x')])).toBe(false);
  });
});
