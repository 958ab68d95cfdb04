/** Waits until a runtime's /healthz answers 200, polling; false on timeout, on abort, or as
 * soon as `stillWanted` says the wait is pointless (the session ended meanwhile). */
import { Health, RuntimePath } from '../../session-runtime/wire/protocol.js';

export async function waitForHealthy(runtimeUrl: string, timeoutMs: number, signal?: AbortSignal, stillWanted: () => boolean = () => true): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delayMs = 25;
  while (Date.now() < deadline && !signal?.aborted && stillWanted()) {
    try {
      const res = await fetch(`${runtimeUrl}${RuntimePath.health}`, { signal: AbortSignal.timeout(Math.min(2000, Math.max(1, deadline - Date.now()))) });
      if (res.ok && Health.safeParse(await res.json()).success) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    delayMs = Math.min(250, delayMs * 2);
  }
  return false;
}
