/**
 * Sync-back across network cuts: file messages sent just before a cut are lost with the
 * connection (nothing acknowledges them), so on a resume the runtime sends again every change
 * the client cannot have seen — those sent after the last output byte the client reports having
 * (its offset). Found by the soak (a delete lost in a cut; tests/soak/run.mjs).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test as it } from '../helpers/fixtures.js';
import { TestClient, agentCmd, upload } from '../helpers/runtime.js';
import { buildZip } from '../helpers/runtime-zip.js';
import { elapse, waitFor } from '../helpers/wait.js';

/** Applies a client's file messages (small files only) to `tree`. */
function apply(tree: Map<string, string>, c: TestClient): void {
  for (const m of c.messages) {
    if (m.type !== 'file_change') continue;
    if (m.action === 'delete') tree.delete(m.path);
    else tree.set(m.path, Buffer.from(m.content ?? '', 'base64').toString('utf8'));
  }
}

function workspaceTree(root: string): Map<string, string> {
  const tree = new Map<string, string>();
  for (const rel of fs.readdirSync(root, { recursive: true, encoding: 'utf8' })) {
    const abs = path.join(root, rel);
    if (fs.statSync(abs).isFile()) tree.set(rel.split(path.sep).join('/'), fs.readFileSync(abs, 'utf8'));
  }
  return tree;
}

const same = (a: Map<string, string>, b: Map<string, string>): boolean => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

describe('catty-session sync-back resume', () => {
  it('resends the changes a cut connection may have lost, so the client converges on the workspace', async ({ startRuntime }) => {
    const rt = await startRuntime({ env: { CATTY_AGENT_CMD: agentCmd('files.mjs') } });
    const up = await upload(rt, buildZip([{ name: 'README.md', data: '# hi\n', deflate: true }]));
    expect(up.status, JSON.stringify(up.json)).toBe(200);
    const tree = new Map<string, string>([['README.md', '# hi\n']]);
    let have = 0;
    let commands = 0;
    let earlier = '';
    for (let round = 0; round < 8; round++) {
      const c = new TestClient(rt, have === 0 ? {} : { offset: have });
      await c.opened;
      c.control({ type: 'sync_back', enabled: true });
      // New files, then deletes of half of the previous round's: writes and deletes in flight.
      let cmd = `burst r${round} 150\r`;
      if (round > 0) for (let i = 0; i < 150; i += 2) cmd += `delete r${round - 1}/f${i}.txt\r`;
      c.send(Buffer.from(cmd));
      commands += round > 0 ? 76 : 1;
      // Cut as soon as this round's file messages start arriving: some are in flight.
      await waitFor(() => c.ofType('file_change').some((m) => m.path.startsWith(`r${round}/`)), `round ${round} changes`, { timeoutMs: 20_000, everyMs: 1 });
      // Stop reading, let the runtime send more into the kernel buffers (on purpose: 150 ms of
      // sending), then cut: whatever was in flight is lost with the connection, as on a real
      // network drop.
      (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      await elapse(150);
      await c.drop();
      apply(tree, c);
      have += c.bytes;
      earlier += c.text();
    }
    const last = new TestClient(rt, { offset: have });
    await last.opened;
    last.control({ type: 'sync_back', enabled: true });
    await waitFor(() => (earlier + last.text()).includes(`OK ${commands}\r`), 'every command done', { timeoutMs: 20_000 });
    const disk = workspaceTree(rt.workspace);
    await waitFor(() => {
      const t = new Map(tree);
      apply(t, last);
      return same(t, disk);
    }, 'the client tree to converge on the workspace', { timeoutMs: 20_000, everyMs: 50 }).catch((err: unknown) => {
      const t = new Map(tree);
      apply(t, last);
      const missing = [...disk.keys()].filter((k) => t.get(k) !== disk.get(k));
      const extra = [...t.keys()].filter((k) => !disk.has(k));
      throw new Error(`${(err as Error).message}: ${missing.length} missing/stale (${missing.slice(0, 5).join(', ')}), ${extra.length} extra (${extra.slice(0, 5).join(', ')})`);
    });
  });
});
