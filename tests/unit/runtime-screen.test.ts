/** The headless screen kept for restores: exact when quiet, only a flood's tail parsed. */
import { afterEach, describe, expect, it } from 'vitest';
import { OutputLog } from '../../session-runtime/output-log.js';
import { DRAIN_INTERVAL_MS, FLOOD_TAIL_BYTES, PARSE_BUDGET_BYTES, Screen } from '../../session-runtime/screen.js';
import { elapse, waitFor } from '../helpers/wait.js';

/** A screen fed as the relay feeds it: each chunk appended to the output log first. */
class Fed {
  readonly log: OutputLog;
  readonly screen: Screen;
  constructor(cols = 80, rows = 24, logBytes?: number) {
    this.log = new OutputLog(logBytes);
    this.screen = new Screen(cols, rows, this.log);
  }
  write(data: Buffer | string): void {
    const bytes = Buffer.from(data);
    this.log.append(bytes);
    this.screen.write(bytes);
  }
  /** Every byte written is parsed or skipped. */
  get handled(): number {
    return this.screen.parsedBytes + this.screen.skippedBytes;
  }
}

const fed: Fed[] = [];
async function started(cols = 80, rows = 24, logBytes?: number): Promise<Fed> {
  const f = new Fed(cols, rows, logBytes);
  fed.push(f);
  await f.screen.snapshot(); // the emulator exists from here on
  return f;
}
afterEach(() => {
  for (const f of fed.splice(0)) f.screen.dispose();
});

const until = (check: () => boolean, what: string): Promise<true> => waitFor(check, what, { timeoutMs: 5_000, everyMs: 5 });

const line = (n: number) => `flood line ${String(n).padStart(10, '0')} ${'.'.repeat(40)}\r\n`;

/** Writes numbered 64-byte lines for `durationMs`, PARSE_BUDGET_BYTES at a time, every few ms
 * (the pace is the point: a flood is output faster than the screen's drain interval). */
async function flood(f: Fed, durationMs: number): Promise<{ bytes: number; lines: number }> {
  const end = Date.now() + durationMs;
  let lines = 0;
  let bytes = 0;
  while (Date.now() < end) {
    const chunk: string[] = [];
    for (let i = 0; i < PARSE_BUDGET_BYTES / 64; i++) chunk.push(line(lines++));
    const data = Buffer.from(chunk.join(''));
    f.write(data);
    bytes += data.length;
    await elapse(2);
  }
  return { bytes, lines };
}

describe('Screen', () => {
  it('parses quiet output byte for byte and reports the offset it corresponds to', async () => {
    const f = await started();
    f.write('hello ');
    f.screen.resize(100, 30);
    f.write('world\r\n');
    await until(() => f.screen.parsedBytes === 13, 'the timer to hand the output over');
    const snap = await f.screen.snapshot();
    expect(snap.offset).toBe(13);
    expect(snap.screen).toContain('hello world');
    expect(f.screen.skippedBytes).toBe(0);
  });

  it('before the emulator exists, keeps what the log has already dropped', async () => {
    const f = new Fed(80, 24, 64);
    fed.push(f);
    f.write('0123456789');
    f.write('x'.repeat(100)); // the 64-byte log no longer holds the digits
    const snap = await f.screen.snapshot();
    expect(snap.offset).toBe(110);
    expect(snap.screen).toContain('0123456789xxxx');
  });

  it('parses nothing of a flood while it lasts, then its tail from the log', async () => {
    const f = await started();
    f.write('\x1b[?1049h'); // a mode switched on before the flood
    await until(() => f.screen.parsedBytes === 8, 'the quiet bytes to be parsed');
    const { bytes, lines } = await flood(f, 20 * DRAIN_INTERVAL_MS);
    // At most its first interval was parsed (it was not a flood yet then).
    const duringFlood = f.screen.parsedBytes - 8;
    expect(duringFlood).toBeLessThanOrEqual(2 * PARSE_BUDGET_BYTES);
    expect(bytes).toBeGreaterThan(8 * FLOOD_TAIL_BYTES);
    await until(() => f.handled === bytes + 8, 'the tail to be parsed after the flood');
    expect(f.screen.parsedBytes - 8 - duringFlood).toBe(FLOOD_TAIL_BYTES);
    const snap = await f.screen.snapshot();
    expect(snap.offset).toBe(bytes + 8);
    expect(snap.screen).toContain(line(lines - 1).trim());
    expect(snap.screen).toContain('\x1b[?1049h'); // still on the alternate screen
  });

  it('a flood over before the emulator has looked still leaves its tail on the screen', async () => {
    // All of it written before the emulator exists (no client needed a screen yet): the first
    // tick finds it queued, calls it a flood and skips it; the tail must still be read back.
    const f = new Fed(80, 24, 4 * 1024 * 1024);
    fed.push(f);
    // Fast enough to be over before the emulator (loaded once 1 MiB is queued) first ticks.
    const chunk = Buffer.from(Array.from({ length: 256 }, (_, i) => line(i)).join(''));
    while (f.log.end < 5 * 1024 * 1024) {
      f.write(chunk);
      await new Promise((r) => setImmediate(r));
    }
    await until(() => f.screen.parsedBytes > 0 && f.handled === f.log.end, 'the flood to be skipped and its tail parsed');
    expect(f.screen.parsedBytes).toBe(FLOOD_TAIL_BYTES);
    const snap = await f.screen.snapshot();
    expect(snap.offset).toBe(f.log.end);
    expect(snap.screen).toContain(line(255).trim());
  });

  it('a snapshot during a flood parses its tail at once and matches its offset', async () => {
    const f = await started();
    const running = flood(f, 15 * DRAIN_INTERVAL_MS);
    await elapse(8 * DRAIN_INTERVAL_MS); // on purpose: half way through the flood
    const before = f.log.end;
    const snap = await f.screen.snapshot();
    // Everything written when it was asked for (the flood goes on while it serializes).
    expect(snap.offset).toBeGreaterThanOrEqual(before);
    expect(snap.offset).toBeLessThanOrEqual(f.log.end);
    expect(snap.screen).toMatch(/flood line \d{10}/);
    const { bytes } = await running;
    await until(() => f.handled === bytes, 'the rest to be handled');
    expect((await f.screen.snapshot()).offset).toBe(bytes);
  });

  it('output after a flood is parsed once, exactly', async () => {
    const f = await started();
    await flood(f, 6 * DRAIN_INTERVAL_MS);
    f.write('after the flood\r\n');
    await until(() => f.handled === f.log.end, 'everything to be handled');
    const parsed = f.screen.parsedBytes;
    await elapse(3 * DRAIN_INTERVAL_MS); // on purpose: three drains in which nothing may be parsed again
    expect(f.screen.parsedBytes).toBe(parsed);
    const snap = await f.screen.snapshot();
    expect(snap.screen.match(/after the flood/g)).toHaveLength(1);
  });

  it('keeps the last size across a flood full of resizes', async () => {
    const f = await started();
    const running = flood(f, 10 * DRAIN_INTERVAL_MS);
    for (let i = 0; i < 50; i++) {
      f.screen.resize(40 + (i % 20), 10 + (i % 5));
      await elapse(2); // on purpose: resizes spread over the flood
    }
    const { bytes } = await running;
    f.screen.resize(20, 5);
    f.write('\r\nA\x1b[999CZ'); // the cursor stops at the last column: the 20th
    const snap = await f.screen.snapshot();
    expect(snap.offset).toBe(bytes + 10);
    expect([`A\x1b[18CZ`, `A${' '.repeat(18)}Z`].some((cell) => snap.screen.includes(cell))).toBe(true);
  });
});
