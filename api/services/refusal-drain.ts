/**
 * Moving one catty-node's refusals into the database (`catty logs --net`), as every API does it:
 * fetched, written, then acknowledged, so a replica killed in between loses none (the node keeps
 * them until acknowledged). Several APIs may drain one node — replicas sharing a data directory
 * share the host's node; any replica may drain a cluster node — so a drain holds the node's lease
 * (state/leases.ts, named after the node's instance: a node started again is another queue) and
 * writes each batch in a transaction that renews it first: a drainer that lost it (stalled past
 * its TTL) writes nothing, and another cannot fetch the same batch before the ack. What is left:
 * a replica killed between its write and its ack has that batch written twice by the next drain.
 */
import { randomBytes } from 'node:crypto';
import type { EgressRefusal } from '../../session-runtime/wire/network-policy.js';
import type { Logger } from '../logger.js';
import type { NodeClient } from '../node/client.js';
import { nodeRoutes } from '../node/contract.js';
import type { Db } from '../state/db.js';
import { appendRefusals } from '../state/egress-refusals.js';
import { claimLease, releaseLease } from '../state/leases.js';

/** Longer than a fetch, a write and an ack can take (each call's timeout is 10 s). */
export const DRAIN_LEASE_MS = 60_000;
/** One drainer (an egress service, a cluster collector) among those of every API: the lease's holder. */
export const newDrainerId = (): string => `drain:${process.pid}:${randomBytes(6).toString('hex')}`;

export const drainLeaseName = (nodeInstance: string): string => `refusals:${nodeInstance}`;

export type DrainResult = 'drained' | 'busy';

/** Drains the node until it has nothing left; 'busy' when another API drains it now. */
export async function drainNodeRefusals(db: Db, client: NodeClient, nodeInstance: string, log: Logger, drainer: string): Promise<DrainResult> {
  const lease = drainLeaseName(nodeInstance);
  if (!(await claimLease(db, lease, drainer, DRAIN_LEASE_MS, Date.now()))) return 'busy';
  try {
    for (;;) {
      const { refusals, more } = await client.call(nodeRoutes.refusals);
      if (refusals.length === 0) return 'drained';
      const bySession = new Map<string, EgressRefusal[]>();
      for (const q of refusals) bySession.set(q.sessionId, [...(bySession.get(q.sessionId) ?? []), q.refusal]);
      const unknown = await db.transaction(async (tx) => {
        if (!(await claimLease(tx, lease, drainer, DRAIN_LEASE_MS, Date.now()))) throw new Error(`lost the lease on catty-node ${nodeInstance}'s refusals while draining them (stalled past ${DRAIN_LEASE_MS} ms): another API drains them`);
        const gone: string[] = [];
        for (const [sessionId, batch] of bySession) if (!(await appendRefusals(tx, sessionId, batch))) gone.push(sessionId);
        return gone;
      });
      // A session the database does not know (deleted meanwhile): nothing to keep them for.
      if (unknown.length > 0) log.warn({ sessionIds: unknown, node: client.address }, 'egress refusals of sessions the database does not know: dropped');
      await client.call(nodeRoutes.ackRefusals, { body: { upTo: refusals.at(-1)!.seq } });
      if (!more) return 'drained';
    }
  } finally {
    await releaseLease(db, lease, drainer).catch(() => undefined);
  }
}
