/**
 * Each session's way out (issue 20, items 2 and 4), as the API sees it: the egress proxy runs in
 * catty-node (api/node/), a process of its own that outlives the API (SECURITY.md 35); this is
 * its client. The API finds the node through its control socket (`<dataDir>/node/control.sock`)
 * or starts one, opens each session's listener there (the node answers with the directory to
 * bind into the machine, `<dataDir>/node/egress/<id>/`, given to the machine's uid when the
 * provisioner's machines run as another: Provisioner.machineUid), and keeps in memory what it
 * asked for: each session's policy, credentials and machine uid.
 *
 * The API watches the node (a long-lived stream): when it ends, the node is gone — the API starts
 * another and opens every session again in the same directories (a machine's bind follows the
 * directory), with its policy and the credentials it holds. Meanwhile agents get connection
 * errors (the runtime's bridge answers 502); the terminal and sync-back do not go through here.
 * After an API restart it has no credentials: the node kept them; only if the node is gone too
 * does a session reopen without them (a warning names it).
 *
 * Refusals (`catty logs --net`) wait in the node until the API has written them to the database
 * and acknowledged them, so an API killed at any moment loses none; the watch says when some
 * are waiting (written at most once per `flushMs`, the first after a quiet period at once).
 * Replicas sharing the data directory share the node: one drains it at a time (./refusal-drain.ts).
 */
import { join } from 'node:path';
import type { EgressRefusal, NetworkPolicy } from '../../session-runtime/wire/network-policy.js';
import { MAX_SOCKET_PATH_BYTES } from '../../session-runtime/wire/runtime-address.js';
import { EGRESS_SOCKET_NAME } from '../../session-runtime/wire/runtime-env.js';
import { NO_CREDENTIALS, type SessionCredentials } from '../egress/index.js';
import type { Logger } from '../logger.js';
import { NodeCallError } from '../node/client.js';
import { nodeRoutes } from '../node/contract.js';
import { connectOrStartNode, type NodeConnection } from '../node/launch.js';
import { egressRootOf, nodeDirOf } from '../node/paths.js';
import type { Provisioner } from '../provisioners/types.js';
import type { Db } from '../state/db.js';
import { listRefusals } from '../state/egress-refusals.js';
import { liveSessions } from '../state/sessions.js';
import { createClusterRefusals } from './cluster-refusals.js';
import { drainNodeRefusals, newDrainerId } from './refusal-drain.js';

export interface SessionEgress {
  /** Finds or starts the node and starts watching it (also done by the first call that needs it). */
  start(): Promise<void>;
  /**
   * Opens the session's listener with its credentials; returns the directory to bind into its
   * machine. `machineUid`: the uid the machine runs as when it is not the node's (a Docker
   * container's user), to whom the node gives the directory's socket.
   */
  open(sessionId: string, policy: NetworkPolicy, credentials?: SessionCredentials, machineUid?: number): Promise<string>;
  /** Closes the listener (the node removes its directory) and writes its last refusals. Idempotent. */
  close(sessionId: string): Promise<void>;
  /**
   * After an API start: the node keeps listening for the sessions still running (or listens
   * again, at their old paths, if it was replaced); every other session it holds is closed.
   */
  restore(running: ReadonlyArray<{ id: string; policy: NetworkPolicy; machineUid?: number }>): Promise<void>;
  /**
   * The session's refusals, newest last (those still waiting in this host's node included, and
   * on the replica collecting cluster nodes, theirs).
   */
  refusals(sessionId: string): Promise<EgressRefusal[]>;
  /**
   * The background work's tick (one replica: the lease holder): collects, for `forMs`, the
   * refusals of the provisioner's cluster nodes (Provisioner.clusterNodes, ./cluster-refusals.ts).
   * Nothing for a provisioner without.
   */
  collectCluster?(provisioner: Provisioner, forMs: number): Promise<void>;
  /** API shutdown: stops watching and writes the refusals waiting. The node and its listeners stay. */
  shutdown(): Promise<void>;
}

export interface SessionEgressOptions {
  dataDir: string;
  db: Db;
  logger: Logger;
  /** The node's log level (default: info). */
  logLevel?: string;
  /** Run the node's server in this process, behind the same client (tests that do not care). */
  inProcessNode?: boolean;
  /** Refusals are written at most once in this period (default 1 s), those between together. */
  flushMs?: number;
}

interface Wanted {
  policy: NetworkPolicy;
  /** Unknown after an API restart (the node has them, if it still runs). */
  credentials?: SessionCredentials;
  /** What the node said, when the API does not hold the credentials itself. */
  nodeHadCredentials?: boolean;
  /** The machine's uid, when the node must give it the socket (open()). */
  machineUid?: number;
}

/** The node's open request for what is wanted (no credentials held: a restarted API's session). */
const openBody = (want: Wanted) => ({ policy: want.policy, credentials: want.credentials ?? NO_CREDENTIALS, machineUid: want.machineUid });

const FLUSH_MS = 1_000;
/** Backoff between attempts to start a node again after it died. */
const RESTART_DELAY_MS = { first: 250, max: 10_000 };
/** The API's session ids (api/crypto.ts newId): 12 random bytes in hex. */
const SESSION_ID_CHARS = 24;

export function createSessionEgress(options: SessionEgressOptions): SessionEgress {
  const { db, logger } = options;
  const nodeDir = nodeDirOf(options.dataDir);
  const log = logger.child({ component: 'egress' });
  const flushMs = options.flushMs ?? FLUSH_MS;
  const wanted = new Map<string, Wanted>();
  let conn: Promise<NodeConnection> | null = null;
  let stopped = false;
  let unwatch: (() => void) | null = null;
  const cluster = createClusterRefusals({ db, logger, flushMs });
  const drainer = newDrainerId();

  // --- the node: found or started, watched, started again when it goes ---------------------

  const connect = (): Promise<NodeConnection> => {
    // Shutting down: the node found is used, none is started.
    if (stopped && !conn) return Promise.reject(new Error('the API is shutting down'));
    conn ??= (async () => {
      // Said before a node is started: no session could ever listen under a data dir this deep.
      const longest = join(egressRootOf(nodeDir), 'x'.repeat(SESSION_ID_CHARS), EGRESS_SOCKET_NAME);
      if (Buffer.byteLength(longest) > MAX_SOCKET_PATH_BYTES) {
        throw new Error(`the egress socket path ${longest} is longer than a Unix socket allows (${MAX_SOCKET_PATH_BYTES} bytes): use a shorter CATTY_DATA_DIR`);
      }
      const found = await connectOrStartNode({ nodeDir, logger: log, logLevel: options.logLevel, inProcess: options.inProcessNode });
      if (!found.started) log.info({ pid: found.health.pid, sessions: found.health.sessions }, 'catty-node found running');
      watch(found);
      return found;
    })();
    conn.catch(() => (conn = null));
    return conn;
  };

  function watch(found: NodeConnection): void {
    const handle = found.client.watch(
      (event) => {
        if (event.type === 'refusals') scheduleDrain();
      },
      (err) => {
        if (stopped) return;
        log.error({ err: err?.message, pid: found.health.pid }, 'catty-node is gone: sessions have no network until it is started again');
        conn = null;
        void recover();
      },
    );
    unwatch = () => handle.close();
  }

  let recovering: Promise<void> | null = null;
  function recover(): Promise<void> {
    recovering ??= (async () => {
      let delay = RESTART_DELAY_MS.first;
      while (!stopped) {
        try {
          await connect();
          await resync();
          log.info({ sessions: wanted.size }, 'catty-node is back: every live session listens again');
          return;
        } catch (err) {
          log.error({ err: err instanceof Error ? err.message : String(err), retryInMs: delay }, 'could not start catty-node again');
          await new Promise((r) => setTimeout(r, delay).unref());
          delay = Math.min(delay * 2, RESTART_DELAY_MS.max);
        }
      }
    })().finally(() => (recovering = null));
    return recovering;
  }

  /** The node listens for exactly the sessions wanted: missing ones opened, others closed. */
  async function resync(): Promise<void> {
    const { client } = await connect();
    const listed = await client.call(nodeRoutes.listSessions);
    const held = new Map(listed.sessions.map((s) => [s.id, s]));
    // A live session this API did not open is another replica's (shared mode, one node for the
    // host): its listener stays. Unknown liveness (the database down): nothing is closed.
    const live = await liveSessions(db).then(
      (rows) => new Set(rows.map((row) => row.id)),
      () => null,
    );
    for (const id of [...held.keys(), ...listed.stale]) {
      if (wanted.has(id) || !live || live.has(id)) continue;
      await client.call(nodeRoutes.closeSession, { id }).catch((err: unknown) => log.error({ err: String(err), sessionId: id }, 'could not close a session the API no longer has'));
    }
    for (const [id, want] of wanted) {
      const there = held.get(id);
      if (there) {
        if (want.credentials === undefined) want.nodeHadCredentials = there.credentials;
        if (JSON.stringify(there.policy) !== JSON.stringify(want.policy)) await client.call(nodeRoutes.setPolicy, { id, body: { policy: want.policy } });
        continue;
      }
      if (want.credentials === undefined && want.nodeHadCredentials !== false) {
        log.warn({ sessionId: id }, "this session's credentials are gone (both catty-api and catty-node restarted): its egress listens again with its policy only, and requests that needed a credential go without it");
      }
      try {
        await client.call(nodeRoutes.openSession, { id, body: openBody(want) });
      } catch (err) {
        if (err instanceof NodeCallError && err.status === 409) continue; // opened meanwhile
        log.error({ err: String(err), sessionId: id }, 'could not listen again for a running session: it has no egress');
      }
    }
    await drain();
  }

  // --- refusals: fetched from the node, written, then acknowledged ------------------------

  async function drainOnce(): Promise<void> {
    const { client, health } = await connect();
    // 'busy': another replica sharing this node (and the data directory) drains it now.
    await drainNodeRefusals(db, client, health.instance, log, drainer);
  }

  let queued: Promise<void> | null = null;
  let tail: Promise<void> = Promise.resolve();
  /** One drain at a time; a call while one runs gets the next. */
  function drain(): Promise<void> {
    queued ??= tail.then(() => {
      queued = null;
      lastDrainMs = Date.now();
      return drainOnce();
    });
    const mine = queued;
    tail = mine.catch(() => undefined);
    return mine;
  }

  let timer: NodeJS.Timeout | null = null;
  let lastDrainMs = 0;
  function scheduleDrain(): void {
    if (timer) return;
    const run = (): void => {
      timer = null;
      drain().catch((err: unknown) => log.error({ err: String(err) }, 'could not fetch egress refusals from catty-node'));
    };
    const wait = lastDrainMs + flushMs - Date.now();
    if (wait <= 0) run();
    else timer = setTimeout(run, wait).unref();
  }

  return {
    async start() {
      await connect();
    },
    async open(sessionId, policy, credentials, machineUid) {
      const want: Wanted = { policy, credentials: credentials ?? NO_CREDENTIALS, machineUid };
      wanted.set(sessionId, want);
      try {
        const { client } = await connect();
        const { egressDir } = await client.call(nodeRoutes.openSession, { id: sessionId, body: openBody(want) });
        return egressDir;
      } catch (err) {
        wanted.delete(sessionId);
        throw err;
      }
    },
    async close(sessionId) {
      wanted.delete(sessionId);
      try {
        const { client } = await connect();
        await client.call(nodeRoutes.closeSession, { id: sessionId });
        await drain();
      } catch (err) {
        // The node is down: the one started next closes it (resync), its refusals still queued there.
        log.warn({ err: String(err), sessionId }, 'could not close the session egress in catty-node now');
      }
    },
    async restore(running) {
      for (const { id, policy, machineUid } of running) if (!wanted.has(id)) wanted.set(id, { policy, machineUid });
      await resync();
    },
    async refusals(sessionId) {
      const said = (err: unknown) => log.warn({ err: String(err) }, 'catty-node did not hand over its refusals; answering those already written');
      await Promise.all([drain().catch(said), cluster.drainAll().catch(said)]);
      return await listRefusals(db, sessionId);
    },
    async collectCluster(provisioner, forMs) {
      if (stopped || !provisioner.clusterNodes) return;
      await cluster.collect(await provisioner.clusterNodes(), forMs);
    },
    async shutdown() {
      if (stopped) return;
      stopped = true;
      cluster.close();
      if (conn) await drain().catch(() => undefined);
      if (timer) clearTimeout(timer);
      unwatch?.();
      const local = await conn?.then((c) => c.local).catch(() => undefined);
      await local?.close();
    },
  };
}
