/**
 * Case 60: the snapshot a resumed or forked session starts from is hostile input to the new
 * machine. The old machine made the archive (its agent could shape every byte of the
 * workspace, and a runtime it took over could shape the archive itself); the API only checks
 * that storage gives back what the old machine reported. So the built `catty-session` gets
 * crafted tar.gz bodies (raw ustar headers, tests/helpers/tar-raw.ts) on `POST /upload` as the
 * API sends them (application/gzip): traversal and absolute names, an entry under a symlink (in
 * either order), links leaving the workspace, hard links and devices, a repeated name, a file
 * where a directory goes, a gzip bomb past the cap, a body that is not a tar — refused whole
 * with nothing left, or the bad entries skipped, and nothing written outside the workspace.
 * The API side (a tampered object refused before any machine starts): ../e2e/resume-fork.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect } from 'vitest';
import { test as it } from '../helpers/fixtures.js';
import { agentCmd, runtimeFetch, type RuntimeProcess } from '../helpers/runtime.js';
import { tarGz, type TarEntry } from '../helpers/tar-raw.js';

const CAP = 4 * 1024 * 1024;
const start = (startRuntime: (o: object) => Promise<RuntimeProcess>) => startRuntime({ env: { CATTY_AGENT_CMD: agentCmd('echo.mjs'), CATTY_MAX_UPLOAD_BYTES: String(CAP) } });

async function restore(rt: RuntimeProcess, body: Buffer, agentPart?: Buffer | { bytes: string }): Promise<{ status: number; code: string | undefined; text: string }> {
  const agent = agentPart instanceof Buffer ? agentPart : null;
  const extra: Record<string, string> = agentPart ? { 'x-catty-agent-state-bytes': agent ? String(agent.length) : (agentPart as { bytes: string }).bytes } : {};
  const res = await runtimeFetch(rt, '/upload', { method: 'POST', headers: rt.headers({ 'content-type': 'application/gzip', ...extra }), body: new Uint8Array(agent ? Buffer.concat([body, agent]) : body) });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status: res.status, code, text };
}

/** Every path under `dir` (relative), links not followed. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      out.push(child);
      if (entry.isDirectory()) walk(child);
    }
  };
  walk('');
  return out.sort();
}

/** The runtime's temp dir holds the workspace and the agent's home: nothing may appear beside them. */
function outside(rt: RuntimeProcess): string[] {
  return fs.readdirSync(rt.dir).filter((name) => !['workspace', 'home', 'runtime.sock'].includes(name));
}

const REFUSED: Array<[string, TarEntry[]]> = [
  ['a ../ name', [{ name: 'ok.txt', body: 'fine\n' }, { name: '../escape.txt', body: 'out\n' }]],
  ['an absolute name', [{ name: 'ok.txt', body: 'fine\n' }, { name: '/tmp/catty-restore-escape.txt', body: 'out\n' }]],
  ['a file under a symlink listed before it', [{ name: 'up', type: '2', linkname: '..' }, { name: 'up/escape.txt', body: 'out\n' }, { name: 'last.txt', body: 'x\n' }]],
  ['a symlink over a directory listed before it', [{ name: 'up/escape.txt', body: 'out\n' }, { name: 'up', type: '2', linkname: '..' }]],
  ['a repeated name', [{ name: 'twice.txt', body: 'one\n' }, { name: 'twice.txt', body: 'two\n' }]],
  ['a file where a directory goes', [{ name: 'a', body: 'file\n' }, { name: 'a/b.txt', body: 'under\n' }]],
  ['a link under a link', [{ name: 'dir/', type: '5' }, { name: 'lnk', type: '2', linkname: 'dir' }, { name: 'lnk/inner', type: '2', linkname: 'x' }]],
  ['a name with a control character', [{ name: 'bad\u001b[2Jname.txt', body: 'x\n' }]],
];

describe('case 60: a snapshot restored into a new machine is hostile input', () => {
  for (const [what, entries] of REFUSED) {
    it(`refuses ${what} and leaves nothing`, async ({ startRuntime }) => {
      const rt = await start(startRuntime);
      const res = await restore(rt, tarGz(entries));
      expect(res.status, res.text).toBe(400);
      expect(tree(rt.workspace)).toEqual([]);
      expect(outside(rt)).toEqual([]);
      expect(fs.existsSync('/tmp/catty-restore-escape.txt')).toBe(false);
      // Refused whole: the one upload is still to come, and a good snapshot is taken.
      const good = await restore(rt, tarGz([{ name: 'ok.txt', body: 'fine\n' }]));
      expect(good.status, good.text).toBe(200);
      expect(tree(rt.workspace)).toEqual(['ok.txt']);
    });
  }

  it('skips links that leave the workspace, hard links and devices; keeps links inside, made after every file', async ({ startRuntime }) => {
    const rt = await start(startRuntime);
    const res = await restore(
      rt,
      tarGz([
        { name: 'src/', type: '5' },
        // Listed before its target: links are made once every file is written.
        { name: 'readme-link', type: '2', linkname: 'README.md' },
        { name: 'README.md', body: '# hi\n' },
        { name: 'src/app.ts', body: 'x\n', mode: 0o755 },
        { name: 'src/up', type: '2', linkname: '../README.md' },
        { name: 'root', type: '2', linkname: '/' },
        { name: 'parent', type: '2', linkname: '..' },
        { name: 'deep/er/out', type: '2', linkname: '../../..' },
        { name: 'hard', type: '1', linkname: '/etc/passwd' },
        { name: 'dev', type: '3' },
      ]),
    );
    expect(res.status, res.text).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ ok: true, files: 2 });
    expect(fs.readlinkSync(path.join(rt.workspace, 'readme-link'))).toBe('README.md');
    expect(fs.readFileSync(path.join(rt.workspace, 'src/up'), 'utf8')).toBe('# hi\n');
    expect(fs.statSync(path.join(rt.workspace, 'src/app.ts')).mode & 0o777).toBe(0o755);
    for (const gone of ['root', 'parent', 'deep/er/out', 'hard', 'dev']) expect(fs.existsSync(path.join(rt.workspace, gone))).toBe(false);
    expect(outside(rt)).toEqual([]);
  });

  it('restores the agent state part under the agent home only; a hostile one refuses the whole snapshot', async ({ startRuntime }) => {
    const transcripts = (rt: RuntimeProcess) => path.join(rt.dir, 'home', '.claude', 'projects');
    const workspace = tarGz([{ name: 'ok.txt', body: 'fine\n' }]);
    // Hostile parts: each refused, nothing of the workspace or the home kept.
    const hostile: Array<Buffer | { bytes: string }> = [
      tarGz([{ name: '../../.bashrc', body: 'evil\n' }]),
      tarGz([{ name: '../settings.json', body: '{}' }]),
      tarGz([{ name: 'up', type: '2', linkname: '../..' }, { name: 'up/.credentials.json', body: 'x' }]),
      zlib.gzipSync(Buffer.from('not a tar '.repeat(100))),
      { bytes: '999999' },
      { bytes: '-1' },
    ];
    const rt = await start(startRuntime);
    for (const agent of hostile) {
      const res = await restore(rt, workspace, agent);
      expect(res.status, res.text).toBe(400);
      expect(tree(rt.workspace)).toEqual([]);
      expect(fs.existsSync(path.join(rt.dir, '.bashrc'))).toBe(false);
      if (fs.existsSync(transcripts(rt))) expect(tree(transcripts(rt))).toEqual([]);
    }
    const good = await restore(rt, workspace, tarGz([{ name: '-workspace/', type: '5' }, { name: '-workspace/t.jsonl', body: '{"turn":1}\n' }]));
    expect(good.status, good.text).toBe(200);
    expect(tree(rt.workspace)).toEqual(['ok.txt']);
    expect(fs.readFileSync(path.join(transcripts(rt), '-workspace/t.jsonl'), 'utf8')).toBe('{"turn":1}\n');
  });

  it('refuses a gzip bomb past the cap without inflating it to the end, and leaves nothing', async ({ startRuntime }) => {
    const rt = await start(startRuntime);
    // 64 MiB of zeros in ~64 KiB: 16 times the runtime's cap.
    const bomb = tarGz([{ name: 'small.txt', body: 'x\n' }, { name: 'zeros.bin', body: Buffer.alloc(64 * 1024 * 1024) }]);
    expect(bomb.length).toBeLessThan(CAP);
    const res = await restore(rt, bomb);
    expect(res.status, res.text).toBe(413);
    expect(res.code).toBe('too_large');
    expect(tree(rt.workspace)).toEqual([]);
  });

  it('refuses a body that is not a tar, and one past the cap before reading it', async ({ startRuntime }) => {
    const rt = await start(startRuntime);
    const notTar = await restore(rt, zlib.gzipSync(Buffer.from('this is not a tar archive at all, just text '.repeat(40))));
    expect(notTar.status, notTar.text).toBe(400);
    const notGzip = await restore(rt, Buffer.from('plain bytes'));
    expect(notGzip.status, notGzip.text).toBe(400);
    const tooBig = await restore(rt, Buffer.alloc(CAP + 1));
    expect(tooBig.status).toBe(413);
    expect(tree(rt.workspace)).toEqual([]);
  });
});
