/**
 * Sync-back through the built catty-session: an agent writes and deletes files on command and
 * the client receives file_change messages (chunked when large, skipped past the cap).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { FILE_CHUNK_BYTES } from '../../session-runtime/wire/protocol.js';
import { test as it } from '../helpers/fixtures.js';
import { TestClient, agentCmd, sha256, syncedState, type RuntimeProcess, type StartOptions } from '../helpers/runtime.js';
import { elapse, waitFor } from '../helpers/wait.js';

/** A runtime whose agent is files.mjs (writes, deletes and bursts on command). */
const filesAgent = (env: Record<string, string> = {}): StartOptions => ({ env: { CATTY_NO_UPLOAD: '1', CATTY_AGENT_CMD: agentCmd('files.mjs'), ...env } });

async function run(c: TestClient, command: string): Promise<void> {
  const before = (c.text().match(/OK \d+/g) ?? []).length;
  c.send(Buffer.from(`${command}\r`));
  await waitFor(() => (c.text().match(/OK \d+/g) ?? []).length > before, `agent to run "${command.slice(0, 40)}"`);
}

async function attach(rt: RuntimeProcess): Promise<TestClient> {
  const c = new TestClient(rt);
  await c.opened;
  await c.waitForText('READY');
  c.control({ type: 'sync_back', enabled: true });
  return c;
}

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');

describe('catty-session sync-back', () => {
  it('sends writes, binary content, the exec bit and deletes', async ({ startRuntime }) => {
    const rt = await startRuntime(filesAgent());
    const c = await attach(rt);
    const binary = Buffer.from([0, 255, 1, 254, 10, 13, 0]);
    await run(c, `write notes/a.txt ${b64('hello\n')}`);
    await run(c, `write bin.dat ${b64(binary)}`);
    await run(c, `exec tool.sh ${b64('#!/bin/sh\n')}`);
    await waitFor(() => syncedState(c).files.size === 3, 'three files synced');
    const { files } = syncedState(c);
    expect(files.get('notes/a.txt')).toMatchObject({ action: 'write', executable: false, sha256: sha256('hello\n') });
    expect(files.get('notes/a.txt')!.content!.toString()).toBe('hello\n');
    expect(files.get('bin.dat')!.content).toEqual(binary);
    expect(files.get('tool.sh')!.executable).toBe(true);
    await run(c, 'delete notes/a.txt');
    await waitFor(() => syncedState(c).files.get('notes/a.txt')?.action === 'delete', 'the delete');
  });

  it('ignores .git, dependency folders and .gitignored paths; honours a changed .gitignore', async ({ startRuntime }) => {
    const rt = await startRuntime(filesAgent());
    const c = await attach(rt);
    await run(c, `write .git/config ${b64('[core]')}`);
    await run(c, `write node_modules/x/index.js ${b64('x')}`);
    await run(c, `write .gitignore ${b64('build/\n')}`);
    await run(c, `write build/out.js ${b64('out')}`);
    await run(c, `write .env ${b64('SECRET=1')}`);
    await run(c, `write src/ok.ts ${b64('ok')}`);
    await waitFor(() => syncedState(c).files.has('src/ok.ts'), 'src/ok.ts');
    // The agent's exit sends every pending change before `exit`: an ignored path would be here.
    c.send(Buffer.from('exit 0\r'));
    await c.closed;
    expect(c.ofType('exit')).toHaveLength(1);
    expect([...syncedState(c).files.keys()].sort()).toEqual(['.gitignore', 'src/ok.ts']);
  });

  it('sends a large file in chunks and announces one past the cap as skipped', async ({ startRuntime }) => {
    const size = FILE_CHUNK_BYTES * 2 + 12345;
    const rt = await startRuntime(filesAgent({ CATTY_MAX_SYNC_FILE_BYTES: String(4 * 1024 * 1024) }));
    const c = await attach(rt);
    await run(c, `big large.bin ${size}`);
    await run(c, `big huge.bin ${5 * 1024 * 1024}`);
    // A copy read while the agent's write was still going may come first; the whole file follows.
    await waitFor(() => syncedState(c).files.get('large.bin')?.content?.length === size && syncedState(c).skipped.includes('huge.bin'), 'large file and skip');
    const onDisk = fs.readFileSync(path.join(rt.workspace, 'large.bin'));
    const got = syncedState(c).files.get('large.bin')!;
    expect(sha256(got.content!)).toBe(sha256(onDisk));
    expect(got.sha256).toBe(sha256(onDisk));
    const heads = c.ofType('file_change').filter((m) => m.path === 'large.bin');
    expect(heads.at(-1)).toMatchObject({ chunks: 3, size });
  });

  it('delivers a burst of 1,000 files', async ({ startRuntime }) => {
    const rt = await startRuntime(filesAgent());
    const c = await attach(rt);
    const t0 = Date.now();
    await run(c, 'burst many 1000');
    await waitFor(() => syncedState(c).files.size === 1000, 'all 1,000 files', { timeoutMs: 30_000 });
    const ms = Date.now() - t0;
    const { files } = syncedState(c);
    for (let i = 0; i < 1000; i++) expect(files.get(`many/f${i}.txt`)?.content?.toString()).toBe(`file ${i}\n`);
    console.log(`burst of 1,000 files synced in ${ms} ms`);
  });

  it('keeps changes made while detached and sends them (latest content, once) on re-attach', async ({ startRuntime }) => {
    const rt = await startRuntime(filesAgent());
    const c = await attach(rt);
    await run(c, `write keep.txt ${b64('v1')}`);
    await waitFor(() => syncedState(c).files.has('keep.txt'), 'first write');
    // Sync off: changes accumulate while this client stays attached (sync disabled)...
    c.control({ type: 'sync_back', enabled: false });
    await run(c, `write keep.txt ${b64('v2')}`);
    await run(c, `write keep.txt ${b64('v3')}`);
    await run(c, `write gone.txt ${b64('x')}`);
    await run(c, 'delete gone.txt');
    await c.close();
    // ...and while nobody is attached at all (the agent keeps running).
    const writer = new TestClient(rt);
    await writer.opened;
    await writer.waitForHello();
    await run(writer, `write later.txt ${b64('later')}`);
    await writer.close();
    // On purpose: the write settles (its debounce runs out) while nobody is attached.
    await elapse(200);
    const back = new TestClient(rt, { offset: 0 });
    await back.opened;
    back.control({ type: 'sync_back', enabled: true });
    await waitFor(() => syncedState(back).files.has('later.txt') && syncedState(back).files.has('keep.txt'), 'pending changes');
    // The agent's exit sends whatever is still pending before `exit`: a second keep.txt would be here.
    back.send(Buffer.from('exit 0\r'));
    await back.closed;
    expect(back.ofType('exit')).toHaveLength(1);
    const { files } = syncedState(back);
    expect(files.get('keep.txt')!.content!.toString()).toBe('v3');
    expect(back.ofType('file_change').filter((m) => m.path === 'keep.txt')).toHaveLength(1);
    expect(files.get('later.txt')!.content!.toString()).toBe('later');
    expect(files.get('gone.txt')?.action).not.toBe('write');
  });
});
