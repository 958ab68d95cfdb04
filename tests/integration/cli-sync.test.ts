/**
 * Sync-back applying good changes through a real `catty connect` (in-process) fed by a fake
 * runtime (tests/helpers/sync-harness.ts). The hostile cases (SECURITY.md 10–18) are in
 * tests/security/sync-back.test.ts.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FILE_CHUNK_BYTES, type RuntimeMessage } from '../../session-runtime/wire/protocol.js';
import { SYNC_LABEL, del, listAll, sha, useSyncHarness, write } from '../helpers/sync-harness.js';

const h = useSyncHarness();

describe('sync-back applies good changes', () => {
  it('writes new files (creating parents), updates unchanged ones, deletes unchanged ones, and records the base', async () => {
    const s = h.setup({ 'keep.txt': 'v1', 'gone.txt': 'bye' }, { 'keep.txt': 'v1', 'gone.txt': 'bye' });
    const result = await h.connectWith(s, [write('new/dir/file.ts', 'hello'), write('keep.txt', 'v2'), write('tool.sh', '#!/bin/sh', true), del('gone.txt')]);
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(s.local, 'new/dir/file.ts'), 'utf8')).toBe('hello');
    expect(fs.readFileSync(path.join(s.local, 'keep.txt'), 'utf8')).toBe('v2');
    expect(fs.existsSync(path.join(s.local, 'gone.txt'))).toBe(false);
    expect(fs.statSync(path.join(s.local, 'tool.sh')).mode & 0o7777).toBe(0o755);
    expect(result.stderr).toContain('sync-back: 3 written, 1 deleted, 0 conflicts, 0 refused');
    const manifest = JSON.parse(fs.readFileSync(path.join(s.home, 'sessions', `${SYNC_LABEL}.manifest.json`), 'utf8')) as { files: Record<string, { sha256: string }> };
    expect(manifest.files['keep.txt']?.sha256).toBe(sha('v2'));
    expect(manifest.files['gone.txt']).toBeUndefined();
    expect(fs.readFileSync(path.join(s.home, 'logs', `${SYNC_LABEL}.log`), 'utf8')).toContain('wrote new/dir/file.ts');
  });

  it('reassembles a chunked file and verifies it', async () => {
    const s = h.setup();
    const content = crypto.randomBytes(FILE_CHUNK_BYTES * 2 + 1234);
    const chunks = Math.ceil(content.length / FILE_CHUNK_BYTES);
    const result = await h.connectWith(s, async (client) => {
      client.send({ type: 'file_change', path: 'big.bin', action: 'write', executable: false, size: content.length, sha256: sha(content), chunks, transfer: 7 });
      for (let i = 0; i < chunks; i++) client.send({ type: 'file_chunk', transfer: 7, index: i, data: content.subarray(i * FILE_CHUNK_BYTES, (i + 1) * FILE_CHUNK_BYTES).toString('base64') });
    });
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(s.local, 'big.bin')).equals(content)).toBe(true);
  });

  it('drops a transfer cut by a reconnect and takes the resent file', async () => {
    const s = h.setup();
    const content = crypto.randomBytes(FILE_CHUNK_BYTES * 2 + 10);
    const chunk = (i: number) => content.subarray(i * FILE_CHUNK_BYTES, (i + 1) * FILE_CHUNK_BYTES).toString('base64');
    const announce = (transfer: number): RuntimeMessage => ({ type: 'file_change', path: 'big.bin', action: 'write', executable: false, size: content.length, sha256: sha(content), chunks: 3, transfer });
    let connection = 0;
    const result = await h.connectWith(s, async (client) => {
      if (++connection === 1) {
        client.send(announce(1));
        client.send({ type: 'file_chunk', transfer: 1, index: 0, data: chunk(0) });
        await client.flush();
        client.cut();
        return;
      }
      client.send(announce(2));
      for (let i = 0; i < 3; i++) client.send({ type: 'file_chunk', transfer: 2, index: i, data: chunk(i) });
    });
    expect(result.code).toBe(0);
    expect(connection).toBe(2);
    expect(fs.readFileSync(path.join(s.local, 'big.bin')).equals(content)).toBe(true);
    expect(result.stderr).toContain('1 written, 0 deleted, 0 conflicts, 0 refused');
    expect(listAll(s.local)).toEqual(['big.bin']);
  });

  it('does nothing with --no-sync-back', async () => {
    const s = h.setup();
    h.expectSync = false;
    const result = await h.connectWith(s, [write('x.txt', 'x')], ['--no-sync-back']).finally(() => (h.expectSync = true));
    expect(result.code).toBe(0);
    expect(listAll(s.local)).toEqual([]);
    expect(h.runtime.clients.at(-1)?.control.some((m) => m.type === 'sync_back')).toBe(false);
  });
});
