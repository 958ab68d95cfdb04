/**
 * Cases 70–72: the runtime's read-only files API (GET /files, GET /files/diff?path=; issue 24)
 * reads what the agent made and sends it to a browser, maybe a share link's. The built
 * `catty-session` with a hostile fixture agent (tests/fixtures/agents/files-hostile.mjs, the
 * runtime's own uid, as in every sandbox): links out of the workspace (`-> /etc/passwd`, `-> /`,
 * `-> /proc/self/environ`, whose content only the runtime could read), a directory swapped for
 * a link in a loop while the API asks; hostile `path` values as a browser could send them; the
 * base store rewritten or relinked by the agent; a huge file and a 100k-entry tree.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect } from 'vitest';
import { BaseStore } from '../../session-runtime/files/base.js';
import { WorkspaceTree } from '../../session-runtime/files/tree.js';
import { FileDiff, FileTree, MAX_TREE_ENTRIES, RuntimePath } from '../../session-runtime/wire/protocol.js';
import { cliZip, sha256, writeTree } from '../helpers/files-base.js';
import { test as it } from '../helpers/fixtures.js';
import { TestClient, agentCmd, rssKiB, runtimeFetch, upload, type RuntimeProcess } from '../helpers/runtime.js';
import { tempDir } from '../helpers/temp-dir.js';
import { elapse, waitFor } from '../helpers/wait.js';

const OUTSIDE = 'OUTSIDE-THE-WORKSPACE';

/** 100,000 files in 200 directories under `root`, those of one directory hard links of one file
 * ("one\n") in `sources` (a file has at most 65,000 links); their paths. */
function manyFiles(root: string, sources: string): string[] {
  const paths: string[] = [];
  for (let d = 0; d < 200; d++) {
    const dir = `d${String(d).padStart(3, '0')}`;
    const one = path.join(sources, `${dir}.txt`);
    fs.writeFileSync(one, 'one\n');
    fs.mkdirSync(path.join(root, dir));
    for (let f = 0; f < 500; f++) {
      fs.linkSync(one, path.join(root, dir, `f${f}.txt`));
      paths.push(`${dir}/f${f}.txt`);
    }
  }
  return paths;
}

async function run(c: TestClient, command: string): Promise<void> {
  const before = (c.text().match(/OK \d+/g) ?? []).length;
  c.send(Buffer.from(`${command}\r`));
  await waitFor(() => (c.text().match(/OK \d+/g) ?? []).length > before || /ERR .*/.exec(c.text().slice(-300))?.[0], `agent to run "${command.slice(0, 60)}"`);
  expect(c.text().slice(-300)).not.toMatch(/ERR /);
}

interface Started {
  rt: RuntimeProcess;
  agent: TestClient;
  /** The runtime's temp dir (where its base store is), outside the workspace. */
  tmp: string;
  /** A directory beside the workspace holding OUTSIDE in `inner.txt`. */
  outside: string;
}

/** A runtime with the hostile agent, its workspace uploaded (the CLI's zip of `files`); `beforeUpload` may put more there first. */
async function start(startRuntime: (o: object) => Promise<RuntimeProcess>, files: Record<string, string>, beforeUpload?: (rt: RuntimeProcess) => void): Promise<Started> {
  const tmp = tempDir('files-rt-tmp');
  const rt = await startRuntime({ env: { CATTY_AGENT_CMD: agentCmd('files-hostile.mjs'), TMPDIR: tmp } });
  beforeUpload?.(rt);
  const src = tempDir('files-src');
  writeTree(src, files);
  expect((await upload(rt, await cliZip(src))).status).toBe(200);
  const outside = path.join(rt.dir, 'outside');
  writeTree(outside, { 'inner.txt': OUTSIDE, 'only-outside.txt': OUTSIDE });
  const agent = new TestClient(rt);
  await agent.opened;
  await agent.waitForText('READY');
  return { rt, agent, tmp, outside };
}

async function get(rt: RuntimeProcess, pathAndQuery: string): Promise<{ status: number; text: string }> {
  const res = await runtimeFetch(rt, pathAndQuery, { headers: rt.headers() });
  return { status: res.status, text: await res.text() };
}

const diffOf = (rt: RuntimeProcess, rel: string): Promise<{ status: number; text: string }> => get(rt, `${RuntimePath.fileDiff}?path=${encodeURIComponent(rel)}`);

/** Nothing of what lies outside the workspace, of the runtime's environment, or of /etc/passwd. */
function expectNothingOutside(text: string, rt: RuntimeProcess): void {
  expect(text).not.toContain(OUTSIDE);
  expect(text).not.toContain(rt.token);
  expect(text).not.toMatch(/root:x?:0:0/);
  expect(text).not.toContain('only-outside');
}

describe('the files API reads nothing outside the workspace', () => {
  it('70: links out (file, directory, /proc/self/environ, relative) are listed as links and never read', async ({ startRuntime }) => {
    const { rt, agent, outside } = await start(startRuntime, { 'a.txt': 'a\n', 'dir/inner.txt': 'inside\n' });
    await run(agent, 'link /etc/passwd passwd');
    await run(agent, 'link / root');
    await run(agent, 'link /proc/self/environ env');
    await run(agent, `link ${outside} out`);
    await run(agent, 'link ../outside up');
    await run(agent, `link ${path.join(outside, 'inner.txt')} dir/deep-link`);
    for (const rel of ['passwd', 'root/etc/passwd', 'env', 'out/inner.txt', 'up/inner.txt', 'dir/deep-link', 'root/proc/self/environ']) {
      const { status, text } = await diffOf(rt, rel);
      expect(status, rel).toBe(409);
      expect(JSON.parse(text)).toMatchObject({ error: { code: 'symlink' } });
      expectNothingOutside(text, rt);
    }
    const tree = await get(rt, RuntimePath.files);
    expectNothingOutside(tree.text, rt);
    const entries = FileTree.parse(JSON.parse(tree.text)).entries;
    expect(entries.filter((e) => e.kind === 'symlink').map((e) => e.path)).toEqual(['dir/deep-link', 'env', 'out', 'passwd', 'root', 'up']);
    expect(entries.some((e) => /^(root|out|up)\//.test(e.path))).toBe(false);
    expect(FileDiff.parse(JSON.parse((await diffOf(rt, 'dir/inner.txt')).text)).current?.text).toBe('inside\n');
  });

  it('70: a directory swapped for a link to outside, in a loop, while the API reads: never outside', async ({ startRuntime }) => {
    const { rt, agent, outside } = await start(startRuntime, { 'dir/inner.txt': 'inside\n', 'dir/x.txt': 'x\n' });
    await run(agent, `swap dir ${outside}`);
    const statuses = new Map<number, number>();
    const deadline = Date.now() + 4_000;
    let requests = 0;
    while (Date.now() < deadline || requests < 100) {
      const { status, text } = requests % 10 === 9 ? await get(rt, RuntimePath.files) : await diffOf(rt, 'dir/inner.txt');
      expectNothingOutside(text, rt);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      requests += 1;
    }
    await run(agent, 'stop');
    // The race was live: the file was read at times and refused (a link, or gone) at others.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
    expect((statuses.get(409) ?? 0) + (statuses.get(404) ?? 0)).toBeGreaterThan(0);
    console.log(`70 swap race: ${requests} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  });

  it('71: hostile paths — `..`, absolute, encoded, NUL, backslash, over-long, too deep — are refused', async ({ startRuntime }) => {
    const { rt } = await start(startRuntime, { 'a.txt': 'a\n', 'dir/inner.txt': 'inside\n' });
    // The query as a browser or a share link could send it, byte for byte.
    const cases: Array<[string, number]> = [
      ['path=../outside/inner.txt', 400],
      ['path=..%2Foutside%2Finner.txt', 400],
      ['path=dir%2F..%2F..%2Foutside%2Finner.txt', 400],
      ['path=dir/../../outside/inner.txt', 400],
      ['path=%2Fetc%2Fpasswd', 400],
      ['path=/etc/passwd', 400],
      ['path=/proc/self/environ', 400],
      ['path=a.txt%00', 400],
      ['path=a.txt%00../../outside/inner.txt', 400],
      ['path=..%5Coutside%5Cinner.txt', 400],
      ['path=dir/./inner.txt', 400],
      ['path=dir//inner.txt', 400],
      ['path=.', 400],
      ['path=', 400],
      ['', 400],
      [`path=${'x'.repeat(5000)}`, 400],
      [`path=${Array(70).fill('d').join('/')}`, 400],
      ['path=%0a..%2Foutside', 400],
      // Decoded once, as every URL is: a literal name, not a way up.
      ['path=%252e%252e%252Foutside%252Finner.txt', 404],
      ['path=%C0%AE%C0%AE/outside/inner.txt', 404],
      ['path=.git/config', 404],
      // The same file, properly encoded: read.
      ['path=dir%2Finner.txt', 200],
    ];
    for (const [query, status] of cases) {
      const res = await get(rt, `${RuntimePath.fileDiff}?${query}`);
      expect(res.status, query.slice(0, 60)).toBe(status);
      expectNothingOutside(res.text, rt);
      if (status !== 200) expect(JSON.parse(res.text)).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
    }
    // Only GET, and only with the connect token.
    expect((await runtimeFetch(rt, `${RuntimePath.fileDiff}?path=a.txt`, { method: 'POST', headers: rt.headers() })).status).toBe(404);
    expect((await runtimeFetch(rt, `${RuntimePath.fileDiff}?path=a.txt`)).status).toBe(401);
  });
});

describe('the base cannot be altered by the agent, and the API stays bounded', () => {
  it('72: the agent rewrites and relinks the base store: the page never shows a forged base', async ({ startRuntime }) => {
    const original = 'the uploaded base\n';
    const { rt, agent, tmp } = await start(startRuntime, { 'notes.txt': original, 'other.txt': 'other\n' });
    fs.writeFileSync(path.join(rt.workspace, 'notes.txt'), 'changed by the agent\n');
    const before = FileDiff.parse(JSON.parse((await diffOf(rt, 'notes.txt')).text));
    expect(before.base).toEqual({ size: original.length, sha256: sha256(original), kind: 'text', text: original });
    // The store is in the runtime's temp dir, outside the workspace; the agent (same uid) finds and rewrites it.
    expect(fs.readdirSync(tmp).some((n) => n.startsWith('catty-base-'))).toBe(true);
    await run(agent, `tamper ${tmp}`);
    const tampered = await diffOf(rt, 'notes.txt');
    expect(tampered.text).not.toContain('FORGED');
    expect(FileDiff.parse(JSON.parse(tampered.text))).toMatchObject({ change: 'modified', base: { size: original.length, sha256: sha256(original), kind: 'not_kept' } });
    expect(FileDiff.parse(JSON.parse((await diffOf(rt, 'other.txt')).text)).base).toMatchObject({ kind: 'not_kept', sha256: sha256('other\n') });
    await run(agent, `relink ${tmp} /etc/passwd`);
    const relinked = await diffOf(rt, 'notes.txt');
    expectNothingOutside(relinked.text, rt);
    expect(FileDiff.parse(JSON.parse(relinked.text)).base).toMatchObject({ kind: 'not_kept', sha256: sha256(original) });
    // The manifest is in the runtime's memory: the tree still knows what changed.
    const tree = FileTree.parse(JSON.parse((await get(rt, RuntimePath.files)).text));
    expect(tree.entries.find((e) => e.path === 'notes.txt')?.change).toBe('modified');
    expect(tree.entries.find((e) => e.path === 'other.txt')?.change).toBeUndefined();
  });

  it('72: a 100k-entry tree and a 3 GiB file: bounded answers, time and memory; the runtime stays responsive', { timeout: 180_000 }, async ({ startRuntime }) => {
    // 100,000 files in 200 directories (hard links of one file: each a regular file to the walk,
    // made ~20x faster than new files), there before the upload: the measure below is of the
    // files API, not of the watcher taking in 100,000 new files.
    const { rt } = await start(startRuntime, { 'a.txt': 'a\n' }, (runtime) => manyFiles(runtime.workspace, tempDir('files-sources')));
    await waitFor(() => /workspace watcher ready/.test(rt.stderr()), 'the watcher to have scanned the workspace', { timeoutMs: 120_000 });
    const fd = fs.openSync(path.join(rt.workspace, 'huge.bin'), 'w');
    fs.ftruncateSync(fd, 3 * 1024 ** 3);
    fs.closeSync(fd);
    const pid = rt.proc.pid as number;
    const rssBefore = rssKiB(pid);
    let peakRss = rssBefore;
    let worstHealthMs = 0;
    let listing = true;
    // /healthz while the tree is walked: the event loop keeps answering (the walk yields).
    const probe = (async () => {
      while (listing) {
        const t = performance.now();
        await runtimeFetch(rt, RuntimePath.health);
        worstHealthMs = Math.max(worstHealthMs, performance.now() - t);
        peakRss = Math.max(peakRss, rssKiB(pid));
      }
    })();
    const t0 = performance.now();
    const res = await get(rt, RuntimePath.files).catch((err: Error) => {
      throw new Error(`${err.message}; the runtime said: ${rt.stderr().slice(-2000)}`);
    });
    const firstMs = performance.now() - t0;
    listing = false;
    await probe;
    const t1 = performance.now();
    await get(rt, RuntimePath.files);
    const secondMs = performance.now() - t1;
    const tree = FileTree.parse(JSON.parse(res.text));
    expect(tree.truncated).toBe(true);
    expect(tree.entries).toHaveLength(MAX_TREE_ENTRIES);
    expect(tree.entries.every((e) => e.change === 'added')).toBe(true);
    const t2 = performance.now();
    const huge = await diffOf(rt, 'huge.bin');
    const hugeMs = performance.now() - t2;
    expect(FileDiff.parse(JSON.parse(huge.text))).toEqual({ path: 'huge.bin', change: 'added', base: null, current: { size: 3 * 1024 ** 3, sha256: '', kind: 'too_large' } });
    console.log(`72 100k tree via catty-session: first ${Math.round(firstMs)} ms, second ${Math.round(secondMs)} ms, worst /healthz during it ${Math.round(worstHealthMs)} ms, RSS ${Math.round(rssBefore / 1024)} → peak ${Math.round(peakRss / 1024)} MiB, answer ${(res.text.length / 1e6).toFixed(1)} MB; 3 GiB diff ${Math.round(hugeMs)} ms`);
    // Bounds with room for a loaded CI machine; the figures above are what it measured.
    expect(firstMs).toBeLessThan(30_000);
    expect(worstHealthMs).toBeLessThan(2_000);
    expect(peakRss - rssBefore).toBeLessThan(150 * 1024);
    expect(hugeMs).toBeLessThan(2_000);
  });

  it('72: against a 102k-file base, an unchanged tree is told from status alone; changed files are hashed', { timeout: 180_000 }, async () => {
    const workspace = tempDir('files-100k');
    const store = new BaseStore(tempDir('files-store'));
    const rec = store.record('upload');
    for (const rel of manyFiles(workspace, tempDir('files-sources'))) rec.file(rel, Buffer.from('one\n'));
    // 2,000 files of their own among them (a change to a hard link changes the ctime of all its names).
    const own = (i: number): string => `d${String(i % 200).padStart(3, '0')}/own${i}.txt`;
    for (let i = 0; i < 2000; i++) {
      fs.writeFileSync(path.join(workspace, own(i)), `own ${i}\n`);
      rec.file(own(i), Buffer.from(`own ${i}\n`));
    }
    await elapse(100); // the base completes after its files were written, as an upload's does
    rec.commit();
    const tree = new WorkspaceTree(workspace, store);
    let t = performance.now();
    const unchanged = await tree.list();
    const unchangedMs = performance.now() - t;
    expect(unchanged.truncated).toBe(true);
    expect(unchanged.entries.some((e) => e.change)).toBe(false);
    // 1,000 files rewritten (same size, other bytes) and 1,000 deleted: every one of them listed.
    for (let i = 0; i < 1000; i++) fs.writeFileSync(path.join(workspace, own(i)), `OWN ${i}\n`);
    for (let i = 1000; i < 2000; i++) fs.rmSync(path.join(workspace, own(i)));
    t = performance.now();
    const changed = await tree.list();
    const changedMs = performance.now() - t;
    t = performance.now();
    await tree.list();
    const cachedMs = performance.now() - t;
    const counts = { modified: 0, deleted: 0 };
    for (const e of changed.entries) if (e.change === 'modified' || e.change === 'deleted') counts[e.change] += 1;
    expect(counts).toEqual({ modified: 1000, deleted: 1000 });
    console.log(`72 102k base in-process: unchanged ${Math.round(unchangedMs)} ms, 1,000 same-size edits + 1,000 deletions ${Math.round(changedMs)} ms, again (hashes remembered) ${Math.round(cachedMs)} ms`);
    expect(unchangedMs).toBeLessThan(30_000);
  });
});
