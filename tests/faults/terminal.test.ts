/**
 * Terminal faults between a client and the built catty-session, through a fault proxy
 * (SECURITY.md 20, 23, long forms):
 *   - the connection cut mid-flood many times in a row: the client resumes from its offset each
 *     time; at the end the output is byte-exact (checksum), with no duplicates, and the agent
 *     never noticed (same process, still running, its record counter continuous);
 *   - the client stalled for 30 s while the agent floods: runtime memory bounded (VmRSS), the
 *     PTY paused, then everything delivered.
 */
import fs from 'node:fs';
import { describe, expect } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { test as it } from '../helpers/fixtures.js';
import { TestClient, agentCmd, floodBytes, peakRssKiB, rssKiB, sha256, type RuntimeProcess, type StartOptions } from '../helpers/runtime.js';
import { StreamClient } from '../helpers/stream-client.js';
import { elapse, waitFor } from '../helpers/wait.js';

type StartRuntime = (options: StartOptions) => Promise<RuntimeProcess>;

async function setup(startRuntime: StartRuntime, agent: string, env: Record<string, string> = {}): Promise<{ rt: RuntimeProcess; proxy: FaultProxy; wsUrl: string }> {
  const rt = await startRuntime({ env: { CATTY_NO_UPLOAD: '1', CATTY_AGENT_CMD: agent, ...env } });
  const proxy = await startFaultProxy(Number(new URL(rt.url).port));
  onCleanup(() => proxy.close());
  return { rt, proxy, wsUrl: `ws://127.0.0.1:${proxy.port}` };
}
const logTail = async (rt: RuntimeProcess): Promise<string> =>
  Buffer.from(await (await fetch(`${rt.url}/logs`, { headers: rt.headers() })).arrayBuffer()).toString('latin1');
const health = async (rt: RuntimeProcess): Promise<{ agent: string }> => (await (await fetch(`${rt.url}/healthz`)).json()) as { agent: string };

describe('terminal faults', () => {
  it('cut mid-flood many times in a row → byte-exact output, no duplicates, the agent never noticed', async ({ startRuntime }) => {
    // 400,000 records = 6.4 MB (inside the 8 MiB resume log) over ~10 s.
    const records = 400_000;
    const { rt, proxy, wsUrl } = await setup(startRuntime, agentCmd('ticker.mjs', String(records), '200', '5'));
    const agentPidsBefore = await agentPids(rt);
    const expected = floodBytes(records);
    const received: Buffer[] = [];
    let have = 0;
    let cuts = 0;
    let connects = 0;
    let cutting = true;
    const cutter = (async () => {
      while (cutting) {
        await elapse(150 + Math.random() * 300); // on purpose: cuts at random moments
        if (cutting && proxy.cut() > 0) cuts += 1;
      }
    })();
    const deadline = Date.now() + 120_000;
    while (have < expected.length) {
      if (Date.now() > deadline) throw new Error(`gave up after ${cuts} cuts with ${have}/${expected.length} bytes`);
      const c = new TestClient({ wsUrl, token: rt.token }, have === 0 ? {} : { offset: have });
      connects += 1;
      try {
        await c.opened;
      } catch {
        await elapse(50); // cut during the upgrade: try again after a pause, as the CLI does
        continue;
      }
      await Promise.race([c.closed, waitFor(() => have + c.bytes >= expected.length, 'the rest', { timeoutMs: 120_000, everyMs: 20 })]);
      const hello = c.hello();
      // A resume never restores a screen here (the log holds everything), and starts exactly at
      // the offset asked for: no byte is sent twice.
      if (hello) {
        expect(hello.offset).toBe(have);
        expect(hello.screen).toBeUndefined();
      }
      await c.drop();
      received.push(c.output());
      have += c.bytes;
    }
    cutting = false;
    await cutter;
    const all = Buffer.concat(received);
    console.log(`cuts: ${cuts} cuts, ${connects} connects, ${all.length} bytes`);
    expect(all.length).toBe(expected.length);
    expect(sha256(all)).toBe(sha256(expected));
    expect(cuts).toBeGreaterThanOrEqual(10);
    // The agent never noticed: the same process is still running.
    expect((await health(rt)).agent).toBe('running');
    expect(await agentPids(rt)).toEqual(agentPidsBefore);
  });

  it('client stalled for 30 s while the agent floods → runtime memory bounded, PTY paused, then everything delivered', { timeout: 180_000 }, async ({ startRuntime }) => {
    const records = 4_000_000; // 64 MB
    // Pings every 25 s: a 30 s stall is not yet a dead peer (two silent periods).
    const { rt, proxy, wsUrl } = await setup(startRuntime, agentCmd('flood.mjs', String(records)), { CATTY_HEARTBEAT_INTERVAL_MS: '25000' });
    const baseline = rssKiB(rt.proc.pid!);
    const c = new StreamClient(wsUrl, rt.token);
    onCleanup(() => c.kill());
    await c.hello();
    await waitFor(() => c.last.bytes > 1024 * 1024, 'some output');
    proxy.stall();
    // The 30 s stall itself, on purpose: memory during it is what this measures.
    const [peak] = (await peakRssKiB([rt.proc.pid!], 30_000, 200)) as [number];
    const stalledAt = c.last.bytes;
    // The PTY is paused: the agent's output (the log tail) does not move while the client stalls
    // (half a second on purpose: a running flood would write megabytes in it).
    const tailBefore = await logTail(rt);
    await elapse(500);
    expect(await logTail(rt)).toBe(tailBefore);
    proxy.pass();
    await waitFor(() => c.last.bytes === records * 16, 'everything delivered after the stall', { timeoutMs: 120_000, everyMs: 100 });
    console.log(`stall: runtime VmRSS baseline ${baseline} KiB, peak ${peak} KiB during a 30 s stall at ${stalledAt} bytes delivered`);
    expect(peak - baseline).toBeLessThan(60 * 1024);
    expect(c.last.sha256).toBe(sha256(floodBytes(records)));
    expect(c.closeCode).toBeNull(); // the same connection carried on
  });
});

/** Pids of the runtime's child processes (the agent), from /proc. */
async function agentPids(rt: RuntimeProcess): Promise<number[]> {
  const children = fs.readFileSync(`/proc/${rt.proc.pid}/task/${rt.proc.pid}/children`, 'utf8').trim();
  return children ? children.split(/\s+/).map(Number).sort() : [];
}
