/**
 * Refusals of sessions on cluster nodes (Swarm: each session's egress proxy is in the catty-node
 * of the node that runs it, Provisioner.egressAtNode), collected into the database for
 * `catty logs --net`. The replica holding the background lease calls collect() at each tick with
 * the nodes the provisioner lists: it watches each (over mutual TLS) and drains a node when the
 * watch says refusals wait, at most once per `flushMs`. A node gone from the list is let go; a
 * watch that ends is opened again at the next tick. The watches last `forMs` past the last
 * collect(): a replica that lost the lease stops watching by itself. Two replicas draining one
 * node meanwhile are safe: the drain holds the node's lease (./refusal-drain.ts).
 */
import type { Logger } from '../logger.js';
import type { NodeWatch } from '../node/client.js';
import { NODE_PROTOCOL, nodeRoutes } from '../node/contract.js';
import type { RemoteNode } from '../node/remote.js';
import type { Db } from '../state/db.js';
import { drainNodeRefusals, newDrainerId } from './refusal-drain.js';

export interface ClusterRefusals {
  /** Watches exactly these nodes until `forMs` from now (each drained once it answers). */
  collect(nodes: readonly RemoteNode[], forMs: number): Promise<void>;
  /** Drains every node watched now (`catty logs --net` on the collecting replica). */
  drainAll(): Promise<void>;
  close(): void;
}

interface Watched {
  node: RemoteNode;
  instance: string;
  handle: NodeWatch | null;
  queued: Promise<void> | null;
  tail: Promise<void>;
  timer: NodeJS.Timeout | null;
  lastDrainMs: number;
}

export function createClusterRefusals(options: { db: Db; logger: Logger; flushMs?: number }): ClusterRefusals {
  const { db } = options;
  const log = options.logger.child({ component: 'cluster-refusals' });
  const flushMs = options.flushMs ?? 1_000;
  const watched = new Map<string, Watched>();
  let expiry: NodeJS.Timeout | null = null;
  const drainer = newDrainerId();

  /** One drain at a time per node; a call while one runs gets the next. */
  function drain(w: Watched): Promise<void> {
    w.queued ??= w.tail.then(async () => {
      w.queued = null;
      w.lastDrainMs = Date.now();
      await drainNodeRefusals(db, w.node, w.instance, log, drainer);
    });
    const mine = w.queued;
    w.tail = mine.catch(() => undefined);
    return mine;
  }

  function scheduleDrain(w: Watched): void {
    if (w.timer) return;
    const run = (): void => {
      w.timer = null;
      drain(w).catch((err: unknown) => log.error({ err: String(err), node: w.node.url }, 'could not fetch egress refusals from a cluster node'));
    };
    const wait = w.lastDrainMs + flushMs - Date.now();
    if (wait <= 0) run();
    else w.timer = setTimeout(run, wait).unref();
  }

  function letGo(url: string): void {
    const w = watched.get(url);
    if (!w) return;
    watched.delete(url);
    if (w.timer) clearTimeout(w.timer);
    w.handle?.close();
  }

  async function watch(node: RemoteNode): Promise<void> {
    const health = await node.call(nodeRoutes.health);
    if (health.protocol !== NODE_PROTOCOL) {
      throw new Error(`the catty-node at ${node.url} speaks protocol ${health.protocol}, not ${NODE_PROTOCOL}: deploy the catty-node image of this catty-api on every node`);
    }
    if (watched.has(node.url)) return; // a collect() meanwhile
    const w: Watched = { node, instance: health.instance, handle: null, queued: null, tail: Promise.resolve(), timer: null, lastDrainMs: 0 };
    watched.set(node.url, w);
    w.handle = node.watch(
      (event) => {
        if (event.type === 'hello') w.instance = event.instance;
        // hello: what waited while nobody watched.
        if (event.type === 'hello' || event.type === 'refusals') scheduleDrain(w);
      },
      (err) => {
        if (watched.get(node.url) !== w) return; // let go
        log.warn({ err: err?.message, node: node.url }, 'lost the watch on a cluster node: watched again at the next tick');
        letGo(node.url);
      },
    );
  }

  function closeAll(): void {
    if (expiry) clearTimeout(expiry);
    expiry = null;
    for (const url of [...watched.keys()]) letGo(url);
  }

  return {
    async collect(nodes, forMs) {
      const wanted = new Set(nodes.map((n) => n.url));
      for (const url of [...watched.keys()]) if (!wanted.has(url)) letGo(url);
      const results = await Promise.allSettled(nodes.filter((n) => !watched.has(n.url)).map((n) => watch(n)));
      for (const r of results) if (r.status === 'rejected') log.error({ err: String(r.reason) }, 'cannot collect the egress refusals of a cluster node');
      if (expiry) clearTimeout(expiry);
      expiry = setTimeout(closeAll, forMs).unref();
    },
    async drainAll() {
      await Promise.all([...watched.values()].map((w) => drain(w)));
    },
    close: closeAll,
  };
}
