/**
 * The whole product as a new user meets it, through the built `catty` binary under a real PTY:
 * the embedded local control plane, the local provisioner, upload, a scripted agent editing the
 * workspace, sync-back with a conflict, detach, reconnect, list, stop, download, logs, and a
 * secret that reaches the agent and nothing else.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededBytes, treeHash } from '../fixtures/tree-hash.mjs';
import { FIXTURES } from '../helpers/paths.js';
import { PtyProcess } from '../helpers/pty.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';
import { filesContaining, runCatty } from './harness.js';

const SECRET = `e2e-secret-${crypto.randomBytes(12).toString('hex')}`;
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const sha256 = (b: string | Buffer) => crypto.createHash('sha256').update(b).digest('hex');

let home: string;
let project: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  home = tempDir('home');
  project = tempDir('project');
  env = { PATH: process.env.PATH, HOME: home, CATTY_HOME: path.join(home, '.catty'), TERM: 'xterm-256color', LANG: 'C.UTF-8' };
  fs.mkdirSync(path.join(project, 'src'));
  fs.writeFileSync(path.join(project, 'README.md'), '# demo\n');
  fs.writeFileSync(path.join(project, 'src/app.js'), 'console.log("v1");\n');
  fs.writeFileSync(path.join(project, 'keep.txt'), 'to be deleted remotely\n');
  fs.writeFileSync(path.join(project, '.gitignore'), '*.log\n');
  fs.writeFileSync(path.join(project, 'debug.log'), 'ignored\n');
  fs.writeFileSync(path.join(project, '.env'), 'LOCAL_ONLY=1\n');
  // The scripted agent travels with the project: the sandbox sees nothing of this checkout
  // beyond what the runtime itself needs.
  fs.mkdirSync(path.join(project, 'tools/agents'), { recursive: true });
  fs.copyFileSync(path.join(FIXTURES, 'agents/e2e-agent.mjs'), path.join(project, 'tools/agents/e2e-agent.mjs'));
  fs.copyFileSync(path.join(FIXTURES, 'tree-hash.mjs'), path.join(project, 'tools/tree-hash.mjs'));
});

afterAll(async () => {
  await runCatty(['server', 'stop'], { cwd: project, env }).catch(() => undefined);
});

async function listJson(): Promise<Array<{ label: string; status: string }>> {
  const result = await runCatty(['list', '--json'], { cwd: project, env });
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Array<{ label: string; status: string }>;
}

/** `catty <args>` in the project, under a PTY (killed when the test ends). */
function attach(args: string[]): PtyProcess {
  return PtyProcess.catty(args, { cwd: project, env });
}

describe('catty new → sync-back → detach → connect → stop → download', () => {
  it('runs the whole loop through the built binary', async () => {
    const set = await runCatty(['secrets', 'set', 'E2E_SECRET'], { cwd: project, env, input: SECRET });
    expect(set.code, set.stderr).toBe(0);

    const first = attach(['new', '--cmd', 'node tools/agents/e2e-agent.mjs']);
    await first.waitForScreen('AGENT READY', 60_000);

    // The secret reaches the agent's environment; the agent prints only its hash.
    first.write('secret E2E_SECRET\r');
    await first.waitForScreen(`SECRET_SHA=${sha256(SECRET)}`);

    // Creates, edits, deletes and chmods land locally, byte-exact.
    // A terminal line holds at most 4 KiB, so the large binary (sent back in chunks) is made
    // inside the session from a seed rather than typed.
    const binary = seededBytes('e2e', 3_000_000);
    first.write(`w src/new.txt ${b64('brand new\n')}\r`);
    first.write(`w README.md ${b64('# demo, edited remotely\n')}\r`);
    first.write('g bin/data.bin e2e 3000000\r');
    first.write('d keep.txt\r');
    first.write(`w run.sh ${b64('#!/bin/sh\necho hi\n')}\r`);
    first.write('x run.sh\r');
    await first.waitForScreen('DONE 7');
    const local = (rel: string) => path.join(project, rel);
    await waitFor(() => {
      try {
        return (
          fs.readFileSync(local('src/new.txt'), 'utf8') === 'brand new\n' &&
          fs.readFileSync(local('README.md'), 'utf8') === '# demo, edited remotely\n' &&
          fs.readFileSync(local('bin/data.bin')).equals(binary) &&
          !fs.existsSync(local('keep.txt')) &&
          (fs.statSync(local('run.sh')).mode & 0o100) !== 0
        );
      } catch {
        return false;
      }
    }, 'synced files', { timeoutMs: 20_000 });

    // A local edit made meanwhile survives; the remote version lands beside it.
    fs.writeFileSync(local('src/app.js'), 'console.log("my local edit");\n');
    first.write(`w src/app.js ${b64('console.log("remote");\n')}\r`);
    const label = (await listJson())[0]?.label ?? '';
    const conflict = local(`src/app.catty-conflict-${label}.js`);
    await waitFor(() => fs.existsSync(conflict) && fs.readFileSync(conflict, 'utf8') === 'console.log("remote");\n', 'conflict copy', { timeoutMs: 20_000 });
    expect(fs.readFileSync(local('src/app.js'), 'utf8')).toBe('console.log("my local edit");\n');
    expect(fs.readFileSync(local('debug.log'), 'utf8')).toBe('ignored\n');

    // Detach with Ctrl-]: exit 0, the session keeps running.
    first.write('\x1d');
    expect(await first.waitForExit()).toBe(0);
    expect((await listJson()).find((s) => s.label === label)?.status).toBe('running');

    // Reconnect from another directory: the screen comes back and the agent still answers.
    const second = PtyProcess.catty(['connect', label], { cwd: home, env });
    await second.waitForScreen('DONE 8');
    second.write('tree\r');
    const screen = await second.waitForScreen(/TREE=[0-9a-f]{64}/);
    const workspaceTree = /TREE=([0-9a-f]{64})/.exec(screen)?.[1];
    second.write('\x1d');
    expect(await second.waitForExit()).toBe(0);

    const stop = await runCatty(['stop', label], { cwd: project, env });
    expect(stop.code, stop.stderr).toBe(0);
    expect((await listJson()).find((s) => s.label === label)?.status).toBe('stopped');

    // The snapshot is the workspace, byte for byte.
    const dest = path.join(home, 'restored');
    const download = await runCatty(['download', label, dest], { cwd: project, env });
    expect(download.code, download.stderr).toBe(0);
    expect(treeHash(dest)).toBe(workspaceTree);
    const tarball = path.join(home, 'restored-archive');
    const archive = await runCatty(['download', label, tarball, '--format', 'tar.gz'], { cwd: project, env });
    expect(archive.code, archive.stderr).toBe(0);
    const tarPath = fs.existsSync(tarball) ? tarball : `${tarball}.tar.gz`;
    const tarBytes = zlib.gunzipSync(fs.readFileSync(tarPath));

    const logs = await runCatty(['logs', label], { cwd: project, env });
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('TREE=');

    // The secret is nowhere but the agent's environment.
    expect(filesContaining(project, SECRET)).toEqual([]);
    expect(filesContaining(dest, SECRET)).toEqual([]);
    expect(tarBytes.includes(SECRET)).toBe(false);
    expect(filesContaining(path.join(home, '.catty'), SECRET)).toEqual([]);
  }, 240_000);

  it('exits with the agent’s exit code', async () => {
    const session = attach(['new', '--no-upload', '--cmd', 'echo bye-bye; exit 7']);
    await session.waitForScreen('bye-bye', 60_000);
    expect(await session.waitForExit()).toBe(7);
  }, 120_000);
});
