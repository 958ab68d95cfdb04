/** Process helpers: liveness and bounded polling. */
import { setTimeout as sleep } from 'node:timers/promises';

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls `check` until it returns non-null or `timeoutMs` passes (then null). */
export async function waitFor<T>(check: () => T | null | Promise<T | null>, timeoutMs: number, intervalMs = 50): Promise<T | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== null) return value;
    if (Date.now() >= deadline) return null;
    await sleep(intervalMs);
  }
}
