/**
 * Every refusal of a session's proxy, kept for `catty logs --net`: the last `capacity` in memory
 * (a ring, so a session that hammers a refused host costs a fixed amount), each also handed to
 * the owner's callback, which persists them. A callback that throws does not stop the proxy.
 */
import type { EgressRefusal } from '../../session-runtime/wire/network-policy.js';

export type RefusalListener = (refusal: EgressRefusal) => void;

export interface RefusalLog {
  add(refusal: EgressRefusal): void;
  /** Oldest first. */
  list(): EgressRefusal[];
  /** Every refusal since the listener opened, including those the ring has forgotten. */
  readonly total: number;
}

export function createRefusalLog(capacity: number, onRefusal: RefusalListener = () => {}): RefusalLog {
  const ring: EgressRefusal[] = [];
  let next = 0;
  let total = 0;
  return {
    add(refusal) {
      total++;
      if (ring.length < capacity) ring.push(refusal);
      else ring[next] = refusal;
      next = (next + 1) % capacity;
      try {
        onRefusal(refusal);
      } catch {
        // The owner's persistence failing must not turn a 403 into a crash.
      }
    },
    list: () => (ring.length < capacity ? [...ring] : [...ring.slice(next), ...ring.slice(0, next)]),
    get total() {
      return total;
    },
  };
}
