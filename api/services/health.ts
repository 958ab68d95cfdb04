/** Waits until a runtime's /healthz answers 200, polling; false on timeout, on abort, or as
 * soon as `stillWanted` says the wait is pointless (the session ended meanwhile). */
import { Health, RuntimePath } from '../../session-runtime/wire/protocol.js';
import type { RuntimeEndpoint } from '../../session-runtime/wire/runtime-address.js';
import { requestRuntime } from './runtime-client.js';

/** /healthz answers a small JSON object. */
const MAX_HEALTH_BYTES = 64 * 1024;

export async function waitForHealthy(runtime: RuntimeEndpoint, timeoutMs: number, signal?: AbortSignal, stillWanted: () => boolean | Promise<boolean> = () => true): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delayMs = 25;
  while (Date.now() < deadline && !signal?.aborted && (await stillWanted())) {
    try {
      const res = await requestRuntime(runtime, RuntimePath.health, { timeoutMs: Math.min(2000, Math.max(1, deadline - Date.now())), maxBytes: MAX_HEALTH_BYTES });
      if (res.status === 200 && Health.safeParse(JSON.parse(res.body.toString('utf8'))).success) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    delayMs = Math.min(250, delayMs * 2);
  }
  return false;
}
