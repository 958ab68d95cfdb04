/**
 * SECURITY.md 48 (issue 21, item 4): every record the CLI keeps or logs per sync message is
 * bounded. A fake runtime floods the built `catty connect` for 30 s with valid `file_skipped`
 * messages and writes it must refuse, each under a new name, as fast as the socket takes them;
 * the CLI's resident memory and its log file stay bounded, the summary lists the first paths and
 * counts the rest, and the terminal keeps working. Before the fix (8521180^) this test measured
 * 68 → 671 MiB and a 290 MiB log (the issue: 241 → 689 MiB, 1.9 GB); after it, 64–66 → 108–119
 * MiB and 0.3 MiB over four runs (the 2-core test machine, loaded: 0.2–1.1 million messages in
 * the 30 s).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FakeClient } from '../helpers/fake-runtime.js';
import { rssBytes, useSyncBinary } from '../helpers/sync-binary.js';
import { write } from '../helpers/sync-harness.js';
import { elapse, waitFor } from '../helpers/wait.js';

const LABEL = 'flooded-newt-0048';
const FLOOD_MS = 30_000;
const MiB = 1024 * 1024;
/** What the socket may hold unsent before the fake runtime waits: the CLI sets the pace. */
const SEND_BUFFER_BYTES = 4 * MiB;

const h = useSyncBinary(LABEL);

/** Sends for `ms`, as fast as the CLI reads, a new name each time; returns how many went. */
async function flood(client: FakeClient, ms: number): Promise<number> {
  const filler = 'x'.repeat(180);
  const end = Date.now() + ms;
  let sent = 0;
  while (Date.now() < end && client.ws.readyState === 1) {
    for (let i = 0; i < 200; i++, sent++) {
      const name = `${filler}/${sent}`;
      if (sent % 4 === 0) client.send(write(`.git/hooks/${name}`, '#!/bin/sh\necho pwned'));
      else if (sent % 4 === 1) client.send(write(`../outside/${name}`, 'pwned'));
      else if (sent % 4 === 2) client.send(write(`node_modules/${name}/index.js`, 'pwned'));
      else client.send({ type: 'file_skipped', path: `media/${name}.mp4`, size: 9e9, reason: 'too_large' });
    }
    // Waits for the CLI to read (it pauses the socket while its queue is full).
    while (client.ws.bufferedAmount > SEND_BUFFER_BYTES && client.ws.readyState === 1) await elapse(5);
  }
  return sent;
}

describe('SECURITY.md 48: a flood of refused and skipped messages stays bounded', () => {
  it('48: 30 s of refused writes and file_skipped: the CLI\'s RSS and its log stay bounded, the summary counts past its list', async () => {
    let sent = 0;
    let floodStarted = false;
    let floodDone = false;
    let pid = 0;
    const run = await h.start({ 'keep.txt': 'mine' }, async (client) => {
      await waitFor(() => pid !== 0, 'pid');
      floodStarted = true;
      sent = await flood(client, FLOOD_MS);
      floodDone = true;
      // Keystrokes still reach the session after the flood.
      await waitFor(() => client.inputText.includes('still here'), 'keystroke after the flood', { timeoutMs: 60_000 });
    });
    pid = run.child.pid as number;
    await waitFor(() => floodStarted, 'flood to start', { timeoutMs: 20_000 });
    const before = rssBytes(pid) as number;
    let peak = before;
    const logFiles = () => fs.readdirSync(path.join(run.home, 'logs')).filter((n) => n.startsWith(`${LABEL}.log`));
    const logBytes = () => logFiles().reduce((sum, n) => sum + fs.statSync(path.join(run.home, 'logs', n)).size, 0);
    let peakLog = 0;
    await waitFor(
      () => {
        peak = Math.max(peak, rssBytes(pid) ?? 0);
        if (fs.existsSync(path.join(run.home, 'logs'))) peakLog = Math.max(peakLog, logBytes());
        return floodDone;
      },
      'the flood to end',
      { timeoutMs: FLOOD_MS + 30_000, everyMs: 250 },
    );
    run.child.stdin?.write('still here');
    const result = await run.done;
    peakLog = Math.max(peakLog, logBytes());
    const summary = /sync-back: .*/.exec(result.stderr)?.[0];
    console.log(`48: ${sent} messages in ${FLOOD_MS / 1000} s; RSS ${(before / MiB).toFixed(0)} MiB before, peak ${(peak / MiB).toFixed(0)} MiB; log peak ${(peakLog / MiB).toFixed(1)} MiB in ${logFiles().join(', ')}; ${summary}`);
    expect(result.code).toBe(0);
    expect(sent).toBeGreaterThan(50_000);
    expect(peak - before).toBeLessThan(100 * MiB);
    expect(peakLog).toBeLessThan(9 * MiB);
    expect(logFiles().length).toBeLessThanOrEqual(2);
    // Counted past the list: every refused path, though only the first ones are kept.
    const refused = Number(/(\d+) refused/.exec(result.stderr)?.[1]);
    expect(refused).toBeGreaterThan(sent / 2);
    expect(result.stderr).toMatch(/… and \d+ more/);
    expect(result.stderr.length).toBeLessThan(64 * 1024);
    expect(fs.readFileSync(path.join(run.local, 'keep.txt'), 'utf8')).toBe('mine');
    expect(fs.readdirSync(run.local)).toEqual(['keep.txt']);
  }, FLOOD_MS + 90_000);
});
