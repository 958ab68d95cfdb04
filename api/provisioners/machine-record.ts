/** `<machine dir>/machine.json` and reading the runtime's ready line from its log file. */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from '../../session-runtime/wire/zod.js';

const MachineRecord = z.object({
  sessionId: z.string(),
  /** The spawned process: bwrap, or the runtime itself without a sandbox. */
  pid: z.int(),
  /** The runtime's own pid (inside bwrap a grandchild); null until found. */
  runtimePid: z.nullable(z.int()),
  runtimeUrl: z.nullable(z.string()),
  /** The runtime's Unix socket as the host reaches it; absent in records of runtimes on TCP. */
  runtimeSocket: z.optional(z.nullable(z.string())),
  /** The API the machine calls back (CATTY_API_URL): a restarted API reopens its route out. */
  apiUrl: z.optional(z.string()),
  sandbox: z.enum(['bwrap', 'none']),
  startedAt: z.string(),
});
export type MachineRecord = z.infer<typeof MachineRecord>;

export function writeMachineRecord(dir: string, record: MachineRecord): void {
  const path = join(dir, 'machine.json');
  writeFileSync(`${path}.tmp`, JSON.stringify(record), { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

export function readMachineRecord(dir: string): MachineRecord | null {
  try {
    const parsed = MachineRecord.safeParse(JSON.parse(readFileSync(join(dir, 'machine.json'), 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * Polls the log until a line starts with `prefix`; returns the rest (the runtime's address). Every 10 ms for
 * the first READY_FAST_POLL_MS (a runtime is ready in ~150 ms, and each poll is one small read:
 * a 50 ms period cost a session start 25 ms on average), every 50 ms after that.
 */
const READY_FAST_POLL_MS = 2_000;

export async function waitForReadyLine(logPath: string, prefix: string, options: { timeoutMs: number; abort?: AbortSignal; exited: () => boolean }): Promise<string> {
  const startedMs = Date.now();
  const deadline = startedMs + options.timeoutMs;
  for (;;) {
    let text = '';
    try {
      text = readFileSync(logPath, 'utf8');
    } catch {
      // not created yet
    }
    const line = text.split('\n').find((l) => l.startsWith(prefix));
    if (line) return line.slice(prefix.length).trim().replace(/\/+$/, '');
    const tail = () => text.trim().split('\n').slice(-5).join(' | ').slice(0, 500);
    if (options.exited()) throw new Error(`the session runtime exited before it was ready: ${tail()}`);
    if (options.abort?.aborted) throw new Error('starting the session runtime was cancelled');
    if (Date.now() > deadline) throw new Error(`the session runtime was not ready within ${options.timeoutMs} ms: ${tail()}`);
    await new Promise((r) => setTimeout(r, Date.now() - startedMs < READY_FAST_POLL_MS ? 10 : 50));
  }
}
