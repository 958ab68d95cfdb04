/**
 * The one way tests wait: poll a condition until it holds, with a deadline that names what was
 * awaited. A test never sleeps to let something happen; it waits for it (or for a barrier the
 * product offers: a `hello`, an `OK n` from a fixture agent, `POST /snapshot`'s answer).
 * `elapse` is for the few waits whose point is the time itself (a heartbeat period, a stall).
 */
import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long (default 15 s). */
  timeoutMs?: number;
  /** Look again this often (default 20 ms). */
  everyMs?: number;
}

/** What `waitFor` resolves with: the check's value once it is truthy. */
export type Truthy<T> = Exclude<T, null | undefined | false | 0 | ''>;

/**
 * Calls `check` until it returns a truthy value, and resolves with it; throws after `timeoutMs`
 * naming `what` (a function is called then, so it can show the state at the time). A check that
 * throws ends the wait with its error.
 */
export async function waitFor<T>(check: () => T | Promise<T>, what: string | (() => string), options: WaitOptions = {}): Promise<Truthy<T>> {
  const { timeoutMs = 15_000, everyMs = 20 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as Truthy<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await delay(everyMs);
  }
}

/** Lets `ms` pass on purpose: the test creates a timing condition (say why at the call). */
export function elapse(ms: number): Promise<void> {
  return delay(ms);
}
