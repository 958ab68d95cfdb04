/**
 * The Files view's runtime routes through the built catty-session: a zip uploaded (the CLI's own
 * writer) or a snapshot restored, a fixture agent (files.mjs) changing, adding and deleting
 * files, then GET /files and GET /files/diff?path= as the API calls them (the connect token).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { FileDiff, FileTree, RuntimePath } from '../../session-runtime/wire/protocol.js';
import { ErrorBody } from '../../session-runtime/wire/errors.js';
import { cliZip, sha256, writeTree } from '../helpers/files-base.js';
import { test as it } from '../helpers/fixtures.js';
import { TestClient, agentCmd, runtimeFetch, upload, type RuntimeProcess } from '../helpers/runtime.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function run(c: TestClient, command: string): Promise<void> {
  const before = (c.text().match(/OK \d+/g) ?? []).length;
  c.send(Buffer.from(`${command}\r`));
  await waitFor(() => (c.text().match(/OK \d+/g) ?? []).length > before, `agent to run "${command.slice(0, 40)}"`);
}

async function getTree(rt: RuntimeProcess): Promise<FileTree> {
  const res = await runtimeFetch(rt, RuntimePath.files, { headers: rt.headers() });
  expect(res.status).toBe(200);
  return FileTree.parse(await res.json());
}

async function getDiff(rt: RuntimeProcess, rel: string): Promise<{ status: number; diff?: FileDiff; error?: ErrorBody }> {
  const res = await runtimeFetch(rt, `${RuntimePath.fileDiff}?path=${encodeURIComponent(rel)}`, { headers: rt.headers() });
  const json: unknown = await res.json();
  return res.status === 200 ? { status: 200, diff: FileDiff.parse(json) } : { status: res.status, error: ErrorBody.parse(json) };
}

const changes = (tree: FileTree): Record<string, string | undefined> => Object.fromEntries(tree.entries.filter((e) => e.kind !== 'dir').map((e) => [e.path, e.change]));

describe('catty-session GET /files and /files/diff', () => {
  it('after an upload: the agent’s edits, additions and deletions against the zip', async ({ startRuntime }) => {
    const rt = await startRuntime({ env: { CATTY_AGENT_CMD: agentCmd('files.mjs') } });
    // Before any upload: no base, nothing there.
    expect(await getTree(rt)).toEqual({ entries: [], truncated: false, base: 'none' });
    const src = tempDir('files-src');
    writeTree(src, { 'src/main.ts': 'console.log(1);\n', 'README.md': '# project\n', 'old.txt': 'to be deleted\n', 'logo.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]) });
    const up = await upload(rt, await cliZip(src));
    expect(up.status).toBe(200);
    const c = new TestClient(rt);
    await c.opened;
    await c.waitForText('READY');
    await run(c, `write src/main.ts ${b64('console.log(2);\n')}`);
    await run(c, `write src/new.ts ${b64('export {};\n')}`);
    await run(c, 'delete old.txt');
    await run(c, `write .git/config ${b64('[core]\n')}`);
    const tree = await getTree(rt);
    expect(tree.base).toBe('upload');
    expect(changes(tree)).toEqual({ 'README.md': undefined, 'logo.png': undefined, 'old.txt': 'deleted', 'src/main.ts': 'modified', 'src/new.ts': 'added' });
    expect((await getDiff(rt, 'src/main.ts')).diff).toEqual({
      path: 'src/main.ts',
      change: 'modified',
      base: { size: 16, sha256: sha256('console.log(1);\n'), kind: 'text', text: 'console.log(1);\n' },
      current: { size: 16, sha256: sha256('console.log(2);\n'), kind: 'text', text: 'console.log(2);\n' },
    });
    expect((await getDiff(rt, 'old.txt')).diff).toMatchObject({ change: 'deleted', base: { kind: 'text', text: 'to be deleted\n' }, current: null });
    expect((await getDiff(rt, 'src/new.ts')).diff).toMatchObject({ change: 'added', base: null, current: { text: 'export {};\n' } });
    expect((await getDiff(rt, 'logo.png')).diff).toMatchObject({ base: { kind: 'binary', size: 7 }, current: { kind: 'binary', size: 7 } });
    expect(await getDiff(rt, 'nope.txt')).toMatchObject({ status: 404, error: { error: { code: 'not_found' } } });
    expect(await getDiff(rt, '../../etc/passwd')).toMatchObject({ status: 400, error: { error: { code: 'invalid_path' } } });
    expect(await getDiff(rt, '.git/config')).toMatchObject({ status: 404 });
    // The connect token, like /logs.
    for (const p of [RuntimePath.files, `${RuntimePath.fileDiff}?path=README.md`]) {
      expect((await runtimeFetch(rt, p, {})).status).toBe(401);
      expect((await runtimeFetch(rt, p, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    }
    await c.close();
  });

  it('after a restore (resume/fork): changes against the snapshot, its links compared by target', async ({ startRuntime }) => {
    const rt = await startRuntime({ env: { CATTY_AGENT_CMD: agentCmd('files.mjs') } });
    const src = tempDir('files-snap');
    writeTree(src, { 'notes.md': 'v1\n', 'keep.txt': 'k\n' });
    fs.symlinkSync('notes.md', path.join(src, 'latest'));
    const tarball = path.join(tempDir('files-tar'), 'snap.tar.gz');
    execFileSync('tar', ['-czf', tarball, '-C', src, 'notes.md', 'keep.txt', 'latest']);
    const res = await runtimeFetch(rt, RuntimePath.upload, { method: 'POST', headers: rt.headers({ 'content-type': 'application/gzip' }), body: new Uint8Array(fs.readFileSync(tarball)) });
    expect(res.status).toBe(200);
    const c = new TestClient(rt);
    await c.opened;
    await c.waitForText('READY');
    await run(c, `write notes.md ${b64('v2\n')}`);
    const tree = await getTree(rt);
    expect(tree.base).toBe('restore');
    expect(changes(tree)).toEqual({ 'keep.txt': undefined, latest: undefined, 'notes.md': 'modified' });
    expect((await getDiff(rt, 'notes.md')).diff).toMatchObject({ change: 'modified', base: { text: 'v1\n' }, current: { text: 'v2\n' } });
    expect(await getDiff(rt, 'latest')).toMatchObject({ status: 409, error: { error: { code: 'symlink' } } });
    await c.close();
  });
});
