/**
 * The refusals the node holds until the API has written them (`catty logs --net`): each gets a
 * sequence number; the API fetches them, writes them to its database, then acknowledges up to
 * the last it wrote, and only then are they forgotten — so a refusal survives an API killed at
 * any point (at worst one batch is written twice). Bounded: at most `perSession` per session
 * (the newest; the API's table keeps no more either).
 */
import type { EgressRefusal } from '../../session-runtime/wire/network-policy.js';
import type { QueuedRefusal } from './contract.js';

/** At most this many in one answer (the API asks again while there are more). */
export const MAX_REFUSALS_PER_FETCH = 1000;

export interface RefusalQueue {
  add(sessionId: string, refusal: EgressRefusal): void;
  /** Oldest first, at most `limit`. */
  pending(limit?: number): { refusals: QueuedRefusal[]; more: boolean };
  ack(upTo: number): void;
  readonly size: number;
}

export function createRefusalQueue(perSession: number): RefusalQueue {
  let seq = 0;
  // Per session, oldest first; each list at most perSession long.
  const bySession = new Map<string, QueuedRefusal[]>();
  let size = 0;
  return {
    add(sessionId, refusal) {
      const list = bySession.get(sessionId) ?? [];
      list.push({ seq: ++seq, sessionId, refusal });
      size++;
      if (list.length > perSession) {
        list.shift();
        size--;
      }
      bySession.set(sessionId, list);
    },
    pending(limit = MAX_REFUSALS_PER_FETCH) {
      const all = [...bySession.values()].flat().sort((a, b) => a.seq - b.seq);
      return { refusals: all.slice(0, limit), more: all.length > limit };
    },
    ack(upTo) {
      for (const [id, list] of bySession) {
        const kept = list.filter((q) => q.seq > upTo);
        size -= list.length - kept.length;
        if (kept.length === 0) bySession.delete(id);
        else bySession.set(id, kept);
      }
    },
    get size() {
      return size;
    },
  };
}
