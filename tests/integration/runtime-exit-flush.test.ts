/**
 * What the agent did just before exiting must reach the client before `exit`: the files it
 * wrote (sync-back) and the last of its output.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { FILE_CHUNK_BYTES } from '../../session-runtime/wire/protocol.js';
import { test as it } from '../helpers/fixtures.js';
import { TestClient, agentCmd, floodBytes, sha256, syncedState } from '../helpers/runtime.js';
import { elapse, waitFor } from '../helpers/wait.js';

describe('catty-session at agent exit', () => {
  it('sends every file the agent wrote right before exiting, then exit', async ({ startRuntime }) => {
    const rt = await startRuntime({ env: { CATTY_NO_UPLOAD: '1', CATTY_AGENT_CMD: agentCmd('files.mjs') } });
    const c = new TestClient(rt);
    await c.opened;
    await c.waitForText('READY');
    // Sync-back is on before the agent reads the commands below: same socket, handled in order.
    c.control({ type: 'sync_back', enabled: true });
    const bigBytes = FILE_CHUNK_BYTES * 3 + 777;
    // One write: the agent runs all three commands in the same turn and exits at once.
    c.send(Buffer.from(`burst out 200\rbig out/big.bin ${bigBytes}\rexit 0\r`));
    await c.closed;
    expect(c.closeCode).toBe(4001);
    const exitIndex = c.messages.findIndex((m) => m.type === 'exit');
    expect(exitIndex).toBeGreaterThan(0);
    // Everything file-related came before exit.
    expect(c.messages.slice(exitIndex + 1).filter((m) => m.type.startsWith('file_'))).toEqual([]);
    const { files } = syncedState(c);
    for (let i = 0; i < 200; i++) expect(files.get(`out/f${i}.txt`)?.content?.toString(), `out/f${i}.txt`).toBe(`file ${i}\n`);
    const big = files.get('out/big.bin');
    expect(big?.content?.length).toBe(bigBytes);
    expect(sha256(big!.content!)).toBe(sha256(fs.readFileSync(path.join(rt.workspace, 'out/big.bin'))));
  });

  it('delivers every byte of a flood that ends with an immediate exit, before exit (10 runs)', async ({ startRuntime }) => {
    const records = 262_144; // 4 MiB: more than the TCP buffers and the relay's high water
    const expected = sha256(floodBytes(records));
    for (let run = 0; run < 10; run++) {
      const rt = await startRuntime({ env: { CATTY_NO_UPLOAD: '1', CATTY_AGENT_CMD: agentCmd('flood.mjs', String(records), 'exit') } });
      const c = new TestClient(rt, { offset: 0 });
      // A slow reader: the runtime pauses the PTY while the client lags, so the agent's exit
      // can come while its last bytes still sit unread in the PTY.
      await c.opened;
      const sock = (c.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      sock.pause();
      await waitFor(async () => ((await (await fetch(`${rt.url}/healthz`)).json()) as { agent: string }).agent !== 'waiting', 'agent start', { everyMs: 10 });
      // On purpose: the reader lags long enough for the PTY to be paused with the flood unread.
      await elapse(400);
      sock.resume();
      await c.closed;
      expect(c.ofType('exit')).toHaveLength(1);
      const got = c.output();
      let firstBad = -1;
      for (let i = 0; i < got.length && firstBad < 0; i += 16) if (got.toString('latin1', i, i + 15) !== String(i / 16).padStart(15, '0')) firstBad = i;
      expect({ run, bytes: c.bytes, firstBad }).toEqual({ run, bytes: records * 16, firstBad: -1 });
      expect(sha256(c.output()), `run ${run}`).toBe(expected);
      await rt.stop();
    }
  }, 120_000);
});
