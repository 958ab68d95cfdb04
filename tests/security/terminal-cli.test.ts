/**
 * SECURITY.md 23–25 on the CLI side with a scripted runtime: a real `catty connect`
 * (in-process) against a fake runtime speaking the real protocol module
 * (tests/helpers/fake-runtime.ts), which cuts sockets mid-stream, resumes earlier than asked,
 * or closes with 4000/4001. The same cases against the real runtime are in terminal.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAttachHarness, outputLog, type AttachHarness } from '../helpers/attach-harness.js';
import type { FakeApi } from '../helpers/cli-fake-api.js';
import type { FakeRuntime } from '../helpers/fake-runtime.js';
import { startCli } from '../helpers/cli.js';

const LABEL = 'steady-heron-0002';
let harness: AttachHarness;
let api: FakeApi;
let runtime: FakeRuntime;

beforeAll(async () => {
  harness = await startAttachHarness(LABEL);
  ({ api, runtime } = harness);
});
afterAll(() => harness.close());

const connect: AttachHarness['connect'] = (onConnect, options) => harness.connect(onConnect, options);

describe('SECURITY.md 23–25: catty connect against a scripted runtime', () => {
  it('23: (catty connect, scripted runtime) resumes byte-exact after the socket is cut mid-stream, again and again', async () => {
    const log = outputLog(300_000);
    let cuts = 0;
    let seed = 7;
    const run = await connect((client) => {
      const from = client.offset ?? 0;
      client.hello(from);
      void (async () => {
        // Send a slice in small frames, then cut without a close frame (or finish).
        seed = (seed * 1103515245 + 12345) % 2 ** 31; // seeded: the same cuts every run
        const until = Math.min(log.length, from + 20_000 + (seed % 30_000));
        for (let at = from; at < until; at += 4096) client.output(log.subarray(at, Math.min(until, at + 4096)));
        await client.flush();
        if (until >= log.length) return client.exit(0);
        cuts++;
        client.cut();
      })();
    });
    const code = await run.code;
    expect(code).toBe(0);
    expect(cuts).toBeGreaterThanOrEqual(5);
    expect(run.stdout.buffer.equals(log)).toBe(true);
    expect(runtime.clients.at(-1)?.offset).toBeGreaterThan(0);
  }, 60_000);


  it('23: (catty connect, scripted runtime) drops the overlap when the runtime resumes earlier than asked: no duplicates', async () => {
    const log = outputLog(50_000);
    let first = true;
    const run = await connect((client) => {
      if (first) {
        first = false;
        client.hello(0);
        client.output(log.subarray(0, 30_000));
        void client.flush().then(() => client.cut());
        return;
      }
      const from = Math.max(0, (client.offset ?? 0) - 1000);
      client.hello(from);
      client.output(log.subarray(from));
      client.exit(0);
    });
    expect(await run.code).toBe(0);
    expect(run.stdout.buffer.equals(log)).toBe(true);
  });


  it('24: (catty connect, scripted runtime) 4001 without an exit message: "session ended", exit 4, no retry', async () => {
    let connects = 0;
    const run = await connect((client) => {
      connects++;
      client.hello(0);
      client.close(4001, 'session stopped');
    });
    expect(await run.code).toBe(4);
    expect(connects).toBe(1);
    expect(run.stderr.text).toContain('has ended: session stopped');
  });


  it('24: (catty connect) a stopped session: the last output and how to download, exit 4, no retry', async () => {
    api.addSession({ label: 'done-crane-0003', status: 'stopped' });
    api.state.logs = Buffer.from('final words');
    const home = harness.loggedInHome('attach');
    const run = startCli(['connect', 'done-crane-0003'], { home, env: { CATTY_API_URL: api.url } });
    expect(await run.code).toBe(4);
    expect(run.stdout.text).toContain('final words');
    expect(run.stderr.text).toContain('catty download done-crane-0003');
  });

  it('25: (catty connect, scripted runtime) 4000: stops at once and says another client took over', async () => {
    let connects = 0;
    const run = await connect((client) => {
      connects++;
      client.hello(0);
      client.send({ type: 'error', code: 'replaced', message: 'another client attached' });
      client.close(4000, 'replaced by a newer client');
    });
    expect(await run.code).toBe(255);
    expect(connects).toBe(1);
    expect(run.stderr.text).toContain('another client took over');
    expect(run.stderr.text).toContain('replaced by a newer client');
  });

});
