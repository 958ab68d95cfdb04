/**
 * The real PTY agent (session-runtime/pty.ts): output the agent wrote just before exiting is delivered before
 * the exit, even when reading was paused (a slow client) at the moment it exited.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnPtyAgent, type AgentExit } from '../../session-runtime/agent.js';
import { FIXTURE_AGENTS } from '../helpers/paths.js';
import { floodBytes } from '../helpers/runtime.js';
import { elapse, waitFor } from '../helpers/wait.js';

describe('spawnPtyAgent', () => {
  // 3,200 bytes: all in the line discipline's buffer; 16,000: most of it still in the PTY's
  // flip buffers, which Linux discards when the slave's last descriptor closes.
  it.each([200, 1000])('reads the PTY to its end after the agent exited while paused (%i records)', async (records) => {
    const agent = spawnPtyAgent({
      argv: [process.execPath, path.join(FIXTURE_AGENTS, 'flood.mjs'), String(records), 'exit'],
      cwd: FIXTURE_AGENTS,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      cols: 80,
      rows: 24,
    });
    const chunks: Buffer[] = [];
    let bytesAtExit = -1;
    let exit: AgentExit | null = null;
    agent.onData((d) => chunks.push(Buffer.from(d)));
    agent.onExit((e) => {
      bytesAtExit = Buffer.concat(chunks).length;
      exit = e;
    });
    agent.pause();
    // On purpose: paused well past node-pty's 200 ms wait for the socket to close after the
    // child exited.
    await elapse(1_000);
    agent.resume();
    await waitFor(() => exit, 'exit', { timeoutMs: 15_000 });
    expect(exit).toEqual({ code: 0, signal: null });
    expect(bytesAtExit).toBe(records * 16);
    expect(Buffer.concat(chunks).equals(floodBytes(records))).toBe(true);
  });
});
